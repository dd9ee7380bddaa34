"""Event files: the checksum against its published check value, the records against a
reader written from the format's definition, and (when installed) TensorBoard's own reader."""

import struct

import pytest

from jaxgan import tensorboard


def test_crc32c_check_value():
  # The CRC catalogue's check value for CRC-32C (iSCSI, RFC 3720 B.4).
  assert tensorboard.crc32c(b"123456789") == 0xE3069283
  assert tensorboard.crc32c(b"") == 0
  assert tensorboard.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


def read_records(path):
  """Splits a TFRecord file and verifies both checksums of every record."""
  with open(path, "rb") as f:
    data = f.read()
  records, offset = [], 0
  while offset < len(data):
    (length,) = struct.unpack_from("<Q", data, offset)
    (length_crc,) = struct.unpack_from("<I", data, offset + 8)
    assert length_crc == tensorboard.masked_crc32c(data[offset : offset + 8])
    body = data[offset + 12 : offset + 12 + length]
    (body_crc,) = struct.unpack_from("<I", data, offset + 12 + length)
    assert body_crc == tensorboard.masked_crc32c(body)
    records.append(body)
    offset += 16 + length
  return records


def test_records_and_scalars_decode(tmp_path):
  writer = tensorboard.EventWriter(str(tmp_path))
  writer.scalars(7, {"d_loss": 0.25, "g_loss": -1.5, "label": "x", "nan": float("nan")})
  writer.close()
  header, scalars = read_records(writer.path)
  assert b"brain.Event:2" in header
  # Event{wall_time=1 (double), step=2 (varint 7), summary=5{value=1{tag=1, simple_value=2}}}
  assert scalars[0] == 0x09 and scalars[9:11] == b"\x10\x07" and scalars[11] == 0x2A
  assert b"\x0a\x06d_loss\x15" + struct.pack("<f", 0.25) in scalars
  assert b"\x0a\x06g_loss\x15" + struct.pack("<f", -1.5) in scalars
  assert b"label" not in scalars and b"nan" not in scalars


def test_varint_encoding():
  assert tensorboard._varint(1) == b"\x01"
  assert tensorboard._varint(300) == b"\xac\x02"  # the protobuf documentation's example
  assert len(tensorboard._varint(-1)) == 10


def test_tensorboard_reads_them(tmp_path):
  accumulator_module = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  writer = tensorboard.EventWriter(str(tmp_path))
  for step in (1, 2, 3):
    writer.scalars(step, {"d_loss": step / 4, "eval_fid": 10.0 * step})
  import io

  import matplotlib.pyplot as plt

  buffer = io.BytesIO()
  plt.imsave(buffer, [[0.0, 1.0], [1.0, 0.0]], format="png")
  writer.image(3, "samples", buffer.getvalue(), 2, 2)
  writer.close()
  accumulator = accumulator_module.EventAccumulator(str(tmp_path))
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
