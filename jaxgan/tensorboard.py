"""TensorBoard event files, written without TensorFlow (or protobuf).

    writer = EventWriter(workdir)           # workdir/events.out.tfevents.TIME.HOST.PID
    writer.scalars(step, {"d_loss": 0.3, "g_loss": 1.2})
    writer.image(step, "samples", png_bytes, height, width)
    writer.close()

then `tensorboard --logdir WORKDIR` (pip install tensorboard; no TensorFlow).

The format, written by hand so that a reader can check every byte:
  - the file is a sequence of TFRecords:
        uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
    (little-endian; masked crc = ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2³², with c
    the CRC-32C (Castagnoli) checksum);
  - each record's data is a serialized `tensorflow.Event` protocol buffer:
        Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
                  Summary summary = 5; }
        Summary { repeated Value value = 1; }
        Value   { string tag = 1; float simple_value = 2; Image image = 4; }
        Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
                  bytes encoded_image_string = 4; }
    and the first record is an Event whose file_version is "brain.Event:2".
"""

from __future__ import annotations

import os
import socket
import struct
import time


def _crc32c_table() -> list[int]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # reversed Castagnoli polynomial
    table.append(crc)
  return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli): crc32c(b"123456789") == 0xE3069283."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
  """One TFRecord: length, its checksum, the data, its checksum."""
  length = struct.pack("<Q", len(data))
  return (
    length
    + struct.pack("<I", masked_crc32c(length))
    + data
    + struct.pack("<I", masked_crc32c(data))
  )


# -- protocol buffer encoding: the four wire types the Event message uses --------------


def _varint(value: int) -> bytes:
  value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
  return _varint((field << 3) | wire_type)


def _int_field(field: int, value: int) -> bytes:
  return _key(field, 0) + _varint(value)


def _double_field(field: int, value: float) -> bytes:
  return _key(field, 1) + struct.pack("<d", value)


def _bytes_field(field: int, value: bytes) -> bytes:
  return _key(field, 2) + _varint(len(value)) + value


def _float_field(field: int, value: float) -> bytes:
  return _key(field, 5) + struct.pack("<f", value)


def scalar_value(tag: str, value: float) -> bytes:
  """A Summary.Value holding a simple_value."""
  return _bytes_field(1, tag.encode()) + _float_field(2, float(value))


def image_value(tag: str, png: bytes, height: int, width: int, channels: int) -> bytes:
  """A Summary.Value holding an encoded image (colorspace = channels: 1 gray, 3 RGB, 4 RGBA).

  Args:
    tag: the image's tag.
    png: the encoded PNG.
    height: its height.
    width: its width.
    channels: its channels.

  Returns:
    The serialized Summary.Value.
  """
  image = (
    _int_field(1, height) + _int_field(2, width) + _int_field(3, channels) + _bytes_field(4, png)
  )
  return _bytes_field(1, tag.encode()) + _bytes_field(4, image)


def event(step: int, *, values: list[bytes] = (), file_version: str = "", wall_time=None) -> bytes:
  """A serialized Event with a Summary of `values` (or the file_version header).

  Args:
    step: the step.
    values: serialized Summary.Values (none for the header).
    file_version: the header's version string ("" for none).
    wall_time: seconds since the epoch (default: now).

  Returns:
    The serialized Event.
  """
  body = _double_field(1, time.time() if wall_time is None else wall_time) + _int_field(2, step)
  if file_version:
    body += _bytes_field(3, file_version.encode())
  if values:
    body += _bytes_field(5, b"".join(_bytes_field(1, v) for v in values))
  return body


class EventWriter:
  """Appends events to one new event file in `logdir` (flushed after every write, so a
  running TensorBoard sees them and a killed run loses nothing written)."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")
    self._write(event(0, file_version="brain.Event:2"))

  def _write(self, data: bytes) -> None:
    self._file.write(tfrecord(data))
    self._file.flush()

  def scalars(self, step: int, values: dict[str, float]) -> None:
    """One event holding every finite scalar of `values` (non-numbers are skipped)."""
    encoded = [
      scalar_value(tag, value)
      for tag, value in values.items()
      if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    ]
    if encoded:
      self._write(event(step, values=encoded))

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
    self._write(event(step, values=[image_value(tag, png, height, width, channels)]))

  def close(self) -> None:
    self._file.close()
