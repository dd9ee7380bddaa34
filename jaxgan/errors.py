"""The exceptions that end a run with one line and an exit status of their own.

Entry points (experiments, `python -m jaxgan.sample`) catch them and print the
message as one line, without a traceback: the message says what was wrong and
what to do instead. jaxgan.cli maps them to exit statuses: ConfigError 2,
NonFiniteError 3, DiskFullError 4.
"""


class ConfigError(ValueError):
  """Bad input from the user: a flag value, a path, a dataset or a checkpoint."""


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN or infinite: the run diverged."""


class DiskFullError(OSError):
  """A checkpoint could not be written because its disk is full (or over its quota); the
  partial checkpoint was removed and the earlier ones are intact."""
