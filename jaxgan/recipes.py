"""The shipped recipes (`experiments/configs/*.flags`) found by name, in the checkout or a wheel.

    python experiments/wgan_gp.py --flagfile=experiments/configs/wgan_gp_grid25.flags
    jaxgan-train wgan_gp --flagfile=wgan_gp_grid25          # the same recipe, from any directory

A `--flagfile` that names an existing file is read as it is (absl's own behaviour). One that
does not, but whose name (without a folder and `.flags`) is a shipped recipe, is read from the
package: so the documented commands work from any directory and from an installed wheel.
"""

from __future__ import annotations

import importlib.resources
import os

import jaxgan

RECIPE_SUFFIX = ".flags"


def recipes_dir() -> str:
  """The folder of the shipped recipes: the package's, else the checkout's."""
  try:
    return str(importlib.resources.files("jaxgan.experiments") / "configs")
  except ModuleNotFoundError:  # jaxgan on the path without the install that maps experiments/
    return os.path.join(os.path.dirname(os.path.dirname(jaxgan.__file__)), "experiments", "configs")


def names() -> list[str]:
  """Every shipped recipe's name, sorted."""
  folder = recipes_dir()
  if not os.path.isdir(folder):
    return []
  return sorted(f[: -len(RECIPE_SUFFIX)] for f in os.listdir(folder) if f.endswith(RECIPE_SUFFIX))


def resolve(flagfile: str) -> str:
  """`flagfile` itself when it exists, else the shipped recipe of its name, else unchanged
  (absl then reports the missing file)."""
  if os.path.exists(flagfile):
    return flagfile
  name = os.path.basename(flagfile).removesuffix(RECIPE_SUFFIX)
  shipped = os.path.join(recipes_dir(), name + RECIPE_SUFFIX)
  return shipped if os.path.isfile(shipped) else flagfile


def resolve_flagfiles(argv: list[str]) -> list[str]:
  """argv with each `--flagfile=X` (or `--flagfile X`) resolved by `resolve`."""
  resolved, follows_flag = [], False
  for arg in argv:
    if follows_flag:
      arg, follows_flag = resolve(arg), False
    elif arg.startswith(("--flagfile=", "-flagfile=")):
      flag, value = arg.split("=", 1)
      arg = f"{flag}={resolve(value)}"
    elif arg in ("--flagfile", "-flagfile"):
      follows_flag = True
    resolved.append(arg)
  return resolved
