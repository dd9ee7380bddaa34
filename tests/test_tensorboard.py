"""Event files: written by TensorBoard's own writer and read back by TensorBoard's own reader
(`EventAccumulator`), flushed event by event, with the record framing checked against the
format's definition and the CRC-32C check value of RFC 3720."""

import io
import struct

import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2

from jaxgan import tensorboard


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli), bit by bit: the reference the writer's checksums are checked by."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
  return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_reference_crc_check_values():
  assert crc32c(b"123456789") == 0xE3069283  # the CRC catalogue's check value
  assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


def read_events(path):
  """Splits a TFRecord file, verifies both checksums of every record, decodes its Events."""
  with open(path, "rb") as f:
    data = f.read()
  events, offset = [], 0
  while offset < len(data):
    (length,) = struct.unpack_from("<Q", data, offset)
    (length_crc,) = struct.unpack_from("<I", data, offset + 8)
    assert length_crc == masked(data[offset : offset + 8])
    body = data[offset + 12 : offset + 12 + length]
    (body_crc,) = struct.unpack_from("<I", data, offset + 12 + length)
    assert body_crc == masked(body)
    events.append(event_pb2.Event.FromString(body))
    offset += 16 + length
  return events


def test_records_hold_the_finite_scalars_only(tmp_path):
  writer = tensorboard.EventWriter(str(tmp_path))
  writer.scalars(7, {"d_loss": 0.25, "g_loss": -1.5, "label": "x", "nan": float("nan")})
  writer.scalars(8, {"label": "only a label"})  # nothing to plot: no event
  writer.close()
  header, scalars = read_events(writer.path)
  assert header.file_version == "brain.Event:2"
  assert scalars.step == 7
  assert {v.tag: v.simple_value for v in scalars.summary.value} == {"d_loss": 0.25, "g_loss": -1.5}


def test_each_event_is_on_disk_before_close(tmp_path):
  """A killed run loses nothing it logged: every event is flushed as it is written."""
  writer = tensorboard.EventWriter(str(tmp_path))
  writer.scalars(1, {"d_loss": 0.5})
  assert [e.step for e in read_events(writer.path)] == [0, 1]
  writer.close()


def test_tensorboard_reads_them(tmp_path):
  writer = tensorboard.EventWriter(str(tmp_path))
  for step in (1, 2, 3):
    writer.scalars(step, {"d_loss": step / 4, "eval_fid": 10.0 * step})
  buffer = io.BytesIO()
  plt.imsave(buffer, [[0.0, 1.0], [1.0, 0.0]], format="png")
  writer.image(3, "samples", buffer.getvalue(), 2, 2)
  writer.close()
  accumulator = EventAccumulator(str(tmp_path))
  accumulator.Reload()
  assert sorted(accumulator.Tags()["scalars"]) == ["d_loss", "eval_fid"]
  assert [(e.step, e.value) for e in accumulator.Scalars("d_loss")] == [
    (1, 0.25),
    (2, 0.5),
    (3, 0.75),
  ]
  (image,) = accumulator.Images("samples")
  assert (image.step, image.width, image.height) == (3, 2, 2)
  assert image.encoded_image_string == buffer.getvalue()
