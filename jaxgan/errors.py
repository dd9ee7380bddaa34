"""The one exception type that means "the user asked for something that cannot work".

Entry points (experiments, `python -m jaxgan.sample`) catch it and print its
message as one line, without a traceback: the message says what was wrong
and what to do instead.
"""


class ConfigError(ValueError):
  """Bad input from the user: a flag value, a path, a dataset or a checkpoint."""


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN or infinite: the run diverged."""
