"""Inpainting: the dilated convolution against lax's, holes and compositing (known pixels kept
exactly), the hole errors against numpy, the three phases updating the right networks, and the
script."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, one_line_error, run
from PIL import Image

from jaxgan import masks
from jaxgan.errors import ConfigError
from jaxgan.kinds import inpaint
from jaxgan.models import inpainting
from jaxgan.models.conv import conv2d

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dilation", [1, 2, 4, 8])
@pytest.mark.parametrize("stride", [1, 2])
def test_the_dilated_convolution_is_laxs(dilation, stride):
  x = jnp.asarray(RNG.normal(size=(2, 13, 11, 3)), jnp.float32)
  kernel = jnp.asarray(RNG.normal(size=(3, 3, 3, 5)), jnp.float32)
  pad = ((dilation, dilation),) * 2
  ours = conv2d(x, kernel, stride, pad, dilation)
  reference = jax.lax.conv_general_dilated(
    x,
    kernel,
    (stride, stride),
    pad,
    rhs_dilation=(dilation, dilation),
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )
  np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_holes_compositing_and_the_local_patch():
  size, patch = 32, 16
  holes = np.asarray(masks.rectangle_masks(jax.random.key(0), 64, size))
  sides = [(np.any(h[..., 0], 1).sum(), np.any(h[..., 0], 0).sum()) for h in holes]
  assert all(12 <= a <= 16 and 12 <= b <= 16 for a, b in sides)  # 3/8 to 1/2 of the side
  assert set(np.unique(holes)) == {0.0, 1.0}
  free = np.asarray(masks.free_form_masks(jax.random.key(1), 16, size))
  assert set(np.unique(free)) == {0.0, 1.0} and 0 < free.mean() < 0.9
  x = RNG.uniform(-1, 1, (64, size, size, 3)).astype(np.float32)
  completed = RNG.uniform(-1, 1, x.shape).astype(np.float32)
  out = np.asarray(masks.composite(jnp.asarray(x), jnp.asarray(completed), jnp.asarray(holes)))
  known = np.broadcast_to(holes == 0, x.shape)
  np.testing.assert_array_equal(out[known], x[known])  # exactly the known pixels
  np.testing.assert_array_equal(out[~known], completed[~known])
  fill = np.array([0.1, -0.2, 0.3], np.float32)
  inputs = np.asarray(masks.masked_input(jnp.asarray(x), jnp.asarray(holes), jnp.asarray(fill)))
  assert inputs.shape == (64, size, size, 4)
  np.testing.assert_array_equal(inputs[..., 3:], holes)
  np.testing.assert_array_equal(inputs[..., :3][~known], np.broadcast_to(fill, x.shape)[~known])
  corners = np.asarray(masks.patch_corners(jnp.asarray(holes), patch))
  patches = np.asarray(masks.crop_patches(jnp.asarray(holes), jnp.asarray(corners), patch))
  np.testing.assert_array_equal(patches.sum(axis=(1, 2, 3)), holes.sum(axis=(1, 2, 3)))  # inside


def test_hole_errors_against_numpy():
  x = RNG.uniform(-1, 1, (3, 8, 8, 1))
  y = x + RNG.normal(0, 0.1, x.shape)
  holes = np.zeros_like(x)
  holes[:, 2:5, 3:7] = 1
  errors = inpaint.hole_errors(y, x, holes)
  d = (y - x)[:, 2:5, 3:7]
  assert errors["l1"] == pytest.approx(np.mean(np.abs(d)))
  psnr = np.mean([10 * np.log10(4 / np.mean(di**2)) for di in d])
  assert errors["psnr"] == pytest.approx(psnr)


def _spec(completion_steps=1, discriminator_steps=1):
  return inpaint.InpaintSpec(
    completion=inpainting.CompletionNetwork(16, 1, 4, (2, 4)),
    discriminator=inpainting.GlobalLocalDiscriminator(16, 4),
    g_optimizer=optax.sgd(0.1),
    d_optimizer=optax.sgd(0.1),
    image_size=16,
    fill=(0.0,),
    completion_steps=completion_steps,
    discriminator_steps=discriminator_steps,
  )


def _changed(old, new):
  return any(
    not np.array_equal(a, b)
    for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True)
  )


def test_the_three_phases_update_the_right_networks():
  spec = _spec()
  batch = {"x": jnp.asarray(RNG.uniform(-1, 1, (1, 4, 16, 16, 1)), jnp.float32)}
  state = inpaint.init_state(spec, jax.random.key(0), batch)
  step = inpaint.make_train_step(spec, donate=False)
  history = [state]
  for _ in range(3):
    state, metrics = step(state, batch, jax.random.key(1))
    history.append(state)
    assert float(metrics["finite"]) == 1
  (s0, s1, s2, s3) = history
  assert _changed(s0.generator.params, s1.generator.params)  # 1: completion alone
  assert not _changed(s0.discriminator.params, s1.discriminator.params)
  assert not _changed(s1.generator.params, s2.generator.params)  # 2: D alone
  assert _changed(s1.discriminator.params, s2.discriminator.params)
  assert _changed(s2.generator.params, s3.generator.params)  # 3: both
  assert _changed(s2.discriminator.params, s3.discriminator.params)
  for kept in (s1, s2, s3):  # the network as the completion-only phase left it
    jax.tree.map(np.testing.assert_array_equal, kept.completion_only["params"], s1.generator.params)


def test_the_script_trains_fills_and_refuses_bad_input(tmp_path):
  workdir = tmp_path / "run"
  flags = [
    "--num_steps=3",
    "--completion_steps=1",
    "--discriminator_steps=1",
    "--width=4",
    "--batch_size=8",
    "--image_size=16",
    "--num_eval_samples=40",
    "--dilations=2,4",
  ]
  proc = run(["experiments/inpaint.py", f"--workdir={workdir}", *flags])
  assert_ok(proc)
  assert "hole L1 / PSNR" in proc.stdout and "digits judge" in proc.stdout
  assert (workdir / "plots" / "inpainting_0000003.png").exists()
  out = tmp_path / "filled.npy"
  assert_ok(run(["-m", "jaxgan.translate", f"--workdir={workdir}", f"--output={out}"]))
  assert np.load(out).shape == (16, 16, 16, 1)
  hole, mine = tmp_path / "hole.png", tmp_path / "mine.npy"  # a user's digit and hole
  original = RNG.uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
  np.save(mine, original)
  square = np.zeros((16, 16), np.uint8)
  square[4:10, 5:12] = 255
  Image.fromarray(square).save(hole)
  user = ["-m", "jaxgan.translate", f"--workdir={workdir}", f"--input={mine}"]
  assert_ok(run([*user, f"--mask={hole}", f"--output={out}"]))
  known = square == 0
  np.testing.assert_array_equal(np.load(out)[0, ..., 0][known], original[0, ..., 0][known])
  Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
  one_line_error(run([*user, f"--mask={tmp_path / 'big.png'}", f"--output={out}"]), "larger than")
  one_line_error(run(["experiments/inpaint.py", "--mask=circles"]), "unknown --mask 'circles'")
  one_line_error(run(["experiments/inpaint.py", "--image_size=24"]), "a power of two")


def test_a_folder_of_images_is_a_dataset(tmp_path):
  for split in ("train", "test"):
    (tmp_path / split).mkdir()
    for i in range(2):
      Image.fromarray(RNG.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
        tmp_path / split / f"{i}.png"
      )
  train, test = inpaint.load_splits("folder", 16, str(tmp_path))
  assert train.examples(np.arange(2))[0].shape == (2, 16, 16, 3) and len(test.source) == 2
  with pytest.raises(ConfigError, match="--data_dir=DIR"):
    inpaint.load_splits("folder", 16, None)
  photos = inpaint.load_splits("photos", 32)
  assert [len(d.source) for d in photos] == [4000, 200] and photos[0].channels == 3
