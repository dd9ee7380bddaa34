"""`jaxgan-train EXPERIMENT [flags]`: runs a shipped experiment by name (the wheel's entry point).

    jaxgan-train wgan_gp --flagfile=wgan_gp_grid25 --workdir=/tmp/grid25
    jaxgan-train dcgan --flagfile=dcgan_digits --num_steps=200
    jaxgan-train --list                                   # the experiments and the recipes

It is `python experiments/EXPERIMENT.py [flags]` of the checkout, for an installed wheel:
the experiment module runs as `__main__` (`jaxgan.experiments.EXPERIMENT`), and its
`--flagfile` recipes are found by name (`jaxgan.recipes`). An unknown experiment is one line
and exit status 2.
"""

from __future__ import annotations

import pkgutil
import runpy
import sys

from jaxgan import recipes
from jaxgan.cli import EXIT_BAD_INPUT

USAGE = "usage: jaxgan-train EXPERIMENT [--flagfile=RECIPE] [--flag=value ...]  (--list: choices)"


def experiment_names() -> list[str]:
  """The shipped experiments: the modules of jaxgan.experiments."""
  import jaxgan.experiments

  return sorted(m.name for m in pkgutil.iter_modules(jaxgan.experiments.__path__))


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(EXIT_BAD_INPUT)


def main(argv: list[str] | None = None) -> None:
  """Runs the experiment argv[0] names with the rest of argv as its flags."""
  argv = sys.argv[1:] if argv is None else argv
  experiments = experiment_names()
  if argv[:1] == ["--list"]:
    print("experiments:", " ".join(experiments))
    print("recipes (--flagfile=NAME):", " ".join(recipes.names()))
    return
  if not argv or argv[0].startswith("-"):
    _fail(f"name the experiment first: {USAGE}")
  name = argv[0]
  if name not in experiments:
    _fail(f"unknown experiment {name!r}: choose one of {', '.join(experiments)}")
  sys.argv = [f"jaxgan-train {name}", *argv[1:]]
  runpy.run_module(f"jaxgan.experiments.{name}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main()
