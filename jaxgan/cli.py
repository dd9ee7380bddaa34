"""The command line: absl flags made from a config class, read once, and the exit codes.

An experiment script is its config class, a make_spec and a main that takes
the config:

    @dataclasses.dataclass(frozen=True)
    class Config(config.GANConfig):
      num_steps: int = 15_000
      gp_weight: float = config.option(0.1, "λ, the weight of the gradient penalty.")

    def main(config: Config):
      gan.run_experiment("wgan_gp", config, make_spec)

    if __name__ == "__main__":
      cli.run(main, Config)

`run` defines one flag per field of the config class (type, default, help and choices
from the field), parses the command line (--flagfile recipes included, a shipped recipe
also by its name: jaxgan.recipes), builds the frozen config, and calls main(config). Bad
input is one line on stderr and exit status 2: unknown or malformed flags, a missing
flagfile, a ConfigError raised anywhere below. A diverged run (NonFiniteError) exits
with status 3, a full disk (DiskFullError) with 4, each with one line; a run stopped by
SIGTERM or Ctrl-C writes a checkpoint and exits with 128 + the signal number. Only this
module reads FLAGS for the experiments; the tools (python -m jaxgan.sample, ...) read
theirs in their own main.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable

from absl import app, flags

from jaxgan import config as config_lib
from jaxgan import recipes
from jaxgan.errors import ConfigError, DiskFullError, NonFiniteError
from jaxgan.preemption import Preempted

FLAGS = flags.FLAGS

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_DISK_FULL = 4


def define_flags(config_class: type, flag_values: flags.FlagValues = FLAGS) -> None:
  """One absl flag per field of config_class, with the field's default, help and choices.

  bool, int, float and str fields become the flags of their type (a str field with
  choices an enum), tuple fields comma-separated lists."""
  types_of = config_lib.field_types(config_class)
  for field in dataclasses.fields(config_class):
    name, default = field.name, field.default
    metadata = config_lib.field_metadata(config_class, name)
    help_text, choices, kind = metadata["help"], metadata["choices"], types_of[name]
    common = {"flag_values": flag_values, "module_name": sys.argv[0]}
    if kind is bool:
      flags.DEFINE_bool(name, default, help_text, **common)
    elif kind is int:
      flags.DEFINE_integer(name, default, help_text, **common)
    elif kind is float:
      flags.DEFINE_float(name, default, help_text, **common)
    elif kind is tuple:
      flags.DEFINE_list(name, [str(v) for v in default], help_text, **common)
    elif choices:
      flags.DEFINE_enum(name, default, list(choices), help_text, **common)
    else:
      flags.DEFINE_string(name, default, help_text, **common)


def config_from_flags(config_class: type, flag_values: flags.FlagValues = FLAGS):
  """The config of the parsed flags (validated by the class: ConfigError on bad values)."""
  values = {f.name: getattr(flag_values, f.name) for f in dataclasses.fields(config_class)}
  return config_class(**values)


def _parse_flags_or_exit(argv: list[str]) -> list[str]:
  try:
    return FLAGS(recipes.resolve_flagfiles(argv))
  except flags.Error as e:
    print(f"error: {e} (see --helpshort)", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _quiet_library_logs() -> None:
  # JAX logs at INFO that it looked for a TPU; a CPU or GPU user need not read that.
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
  logging.getLogger("jax._src.distributed").setLevel(logging.WARNING)
  logging.getLogger("absl").setLevel(logging.WARNING)


def _exit_now(code: int) -> None:
  """Exits with `code` once stdout and stderr are flushed, skipping the interpreter's teardown:
  after bad input or a full disk there is nothing to save, and library threads torn down
  mid-way (orbax's event loops) would print tracebacks under the one-line error."""
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)


def run(main: Callable, config_class: type | None = None) -> None:
  """absl's app.run, with bad input reported as one line and exit status 2.

  With config_class, the flags are made from it and main(config) gets the config;
  without, main(argv) reads the flags the module defined itself."""
  if config_class is not None:
    define_flags(config_class)

  def guarded_main(argv):
    _quiet_library_logs()
    try:
      if config_class is None:
        main(argv)
      else:
        main(config_from_flags(config_class))
    except ConfigError as e:
      print(f"error: {e}", file=sys.stderr)
      _exit_now(EXIT_BAD_INPUT)
    except NonFiniteError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(EXIT_DIVERGED)
    except DiskFullError as e:
      print(f"error: {e}", file=sys.stderr)
      _exit_now(EXIT_DISK_FULL)
    except Preempted as e:
      print(str(e), file=sys.stderr)
      sys.exit(e.exit_code)

  app.run(guarded_main, flags_parser=_parse_flags_or_exit)
