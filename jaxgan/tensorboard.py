"""TensorBoard event files through TensorBoard's own writer (no TensorFlow needed).

    writer = EventWriter(workdir)           # workdir/events.out.tfevents.TIME.HOST.PID.N
    writer.scalars(step, {"d_loss": 0.3, "g_loss": 1.2})
    writer.image(step, "samples", png_bytes, height, width)
    writer.close()

then `tensorboard --logdir WORKDIR`.

The file, the TFRecord framing and its CRC-32C checksums are `tensorboard`'s own
(`tensorboard.summary.writer.event_file_writer.EventFileWriter`, the writer TensorBoard's
PyTorch and TF-free summary paths use); this module only builds the `Event` protocol buffers
(`tensorboard.compat.proto`) from the loop's numbers and pictures, and flushes after every
event, so that a running TensorBoard sees each log line and a killed run loses nothing it
logged.
"""

from __future__ import annotations

import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def _is_finite_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def scalars_event(step: int, values: dict[str, float]) -> event_pb2.Event | None:
  """One Event holding every finite scalar of `values` (None when there is none).

  Non-numbers (labels, flags) and NaN are skipped: a plot cannot draw them.
  """
  summary = summary_pb2.Summary(
    value=[
      summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
      for tag, value in values.items()
      if _is_finite_number(value)
    ]
  )
  if not summary.value:
    return None
  return event_pb2.Event(wall_time=time.time(), step=step, summary=summary)


def image_event(step: int, tag: str, png: bytes, shape: tuple[int, int, int]) -> event_pb2.Event:
  """One Event holding an encoded image for the images tab.

  Args:
    step: the step.
    tag: the image's tag (samples, translations, ...).
    png: the encoded PNG.
    shape: its (height, width, channels); channels is the colorspace (1 gray, 3 RGB, 4 RGBA).

  Returns:
    The Event.
  """
  height, width, channels = shape
  image = summary_pb2.Summary.Image(
    height=height, width=width, colorspace=channels, encoded_image_string=png
  )
  summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
  return event_pb2.Event(wall_time=time.time(), step=step, summary=summary)


class EventWriter:
  """Appends events to one new event file in `logdir`, flushed after every event."""

  def __init__(self, logdir: str):
    self._writer = EventFileWriter(logdir)
    self.path = self._writer._file_name  # the writer names its file; tests read it back

  def _write(self, event: event_pb2.Event) -> None:
    self._writer.add_event(event)
    self._writer.flush()

  def scalars(self, step: int, values: dict[str, float]) -> None:
    """One event holding every finite scalar of `values` (non-numbers are skipped)."""
    event = scalars_event(step, values)
    if event is not None:
      self._write(event)

  def image(self, step: int, tag: str, png: bytes, height: int, width: int, channels=4) -> None:
    """Writes a PNG as an image of the run's TensorBoard images tab.

    Args:
      step: the step.
      tag: the image's tag (samples, translations, ...).
      png: the encoded PNG.
      height: its height.
      width: its width.
      channels: its channels (4: RGBA, as matplotlib saves).
    """
    self._write(image_event(step, tag, png, (height, width, channels)))

  def close(self) -> None:
    self._writer.close()
