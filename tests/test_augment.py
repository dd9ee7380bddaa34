"""DiffAugment (jaxgan.augment) against numpy transcriptions of the authors' code, and in the
GAN step: every input of D is augmented, in both updates, and G's gradient flows through it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, one_line_error, run

from jaxgan import augment, data, models
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@pytest.fixture
def images(rng):
  return rng.uniform(-1, 1, (5, 8, 6, 3)).astype(np.float32)


def test_color_against_numpy(images, rng):
  shift, sat, con = rng.uniform(-0.5, 0.5, 5), rng.uniform(0, 2, 5), rng.uniform(0.5, 1.5, 5)
  x = images.astype(np.float64)
  expected = x + shift[:, None, None, None]
  mean_c = expected.mean(axis=3, keepdims=True)
  expected = (expected - mean_c) * sat[:, None, None, None] + mean_c
  mean = expected.mean(axis=(1, 2, 3), keepdims=True)
  expected = (expected - mean) * con[:, None, None, None] + mean
  got = augment.contrast(
    augment.saturation(
      augment.brightness(jnp.asarray(images), jnp.asarray(shift, jnp.float32)),
      jnp.asarray(sat, jnp.float32),
    ),
    jnp.asarray(con, jnp.float32),
  )
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def numpy_translation(x, tx, ty):
  """The authors' rand_translation on NHWC: pad 1 with zeros, gather at clamp(i + t + 1)."""
  b, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  out = np.empty_like(x)
  for n in range(b):
    for i in range(h):
      for j in range(w):
        out[n, i, j] = padded[n, np.clip(i + tx[n] + 1, 0, h + 1), np.clip(j + ty[n] + 1, 0, w + 1)]
  return out


def numpy_cutout(x, ox, oy, size):
  """The authors' rand_cutout on NHWC: a clamped grid of size[0] × size[1] set to 0."""
  b, h, w, _ = x.shape
  mask = np.ones((b, h, w))
  for n in range(b):
    for i in range(size[0]):
      for j in range(size[1]):
        r = np.clip(i + ox[n] - size[0] // 2, 0, h - 1)
        c = np.clip(j + oy[n] - size[1] // 2, 0, w - 1)
        mask[n, r, c] = 0
  return x * mask[..., None]


def test_translation_against_the_authors_padding(images):
  tx, ty = np.array([-1, 0, 1, 1, -1]), np.array([1, -1, 0, 1, -1])
  got = augment.translation(jnp.asarray(images), jnp.asarray(tx), jnp.asarray(ty))
  np.testing.assert_array_equal(got, numpy_translation(images, tx, ty))
  assert augment.translation_range(8, 6) == (1, 1) and augment.translation_range(32, 32) == (4, 4)


def test_cutout_against_the_authors_clamped_grid(images):
  size = augment.cutout_size(8, 6)
  assert size == (4, 3)
  ox, oy = np.array([0, 3, 8, 5, 1]), np.array([0, 5, 2, 6, 3])  # corners clip, centers do not
  got = augment.cutout(jnp.asarray(images), jnp.asarray(ox), jnp.asarray(oy), size)
  np.testing.assert_array_equal(got, numpy_cutout(images, ox, oy, size))


def test_draws_are_per_example_and_in_the_papers_ranges():
  zeros = jnp.zeros((2000, 4, 4, 1))
  shifts = np.asarray(augment.random_color(zeros, jax.random.key(0)))[:, 0, 0, 0]
  assert -0.5 <= shifts.min() < -0.45 and 0.45 < shifts.max() < 0.5  # brightness alone shows
  ones = jnp.ones((2000, 16, 16, 1))
  shifted = np.asarray(augment.random_translation(ones, jax.random.key(1)))
  empty_rows = (shifted[:, :, :, 0].sum(axis=2) == 0).sum(axis=1)
  assert set(np.unique(empty_rows)) == {0, 1, 2}  # |shift| ≤ int(16/8 + 0.5) = 2
  cut = np.asarray(augment.random_cutout(ones, jax.random.key(2)))
  holes = (cut[..., 0] == 0).sum(axis=(1, 2))
  assert holes.max() == 64 and holes.min() > 0  # an 8×8 square, clipped at the borders


def test_diff_augment_is_differentiable_and_keyed():
  policy = augment.diff_augment("color,translation,cutout")
  x = jax.random.uniform(jax.random.key(0), (4, 16, 16, 3), minval=-1, maxval=1)
  grad = jax.grad(lambda x: jnp.sum(policy(x, jax.random.key(1)) ** 2))(x)
  assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
  a, b = policy(x, jax.random.key(1)), policy(x, jax.random.key(2))
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, policy(x, jax.random.key(1)))


def test_unknown_policies_are_one_line_errors():
  with pytest.raises(ConfigError, match="unknown augmentation 'flip': choose from color"):
    augment.diff_augment("color,flip")
  assert augment.parse_policy("") == ()


def tiny_spec(augment_fn):
  return gan.GANSpec(
    generator=models.MLPGenerator(
      hidden_dims=(16,), output_shape=(8, 8, 1), output_activation="tanh"
    ),
    discriminator=models.MLPDiscriminator(hidden_dims=(16,)),
    latent_dim=4,
    loss=loss_pair("non_saturating"),
    generator_optimizer=optax.adam(1e-3),
    discriminator_optimizer=optax.adam(1e-3),
    augment=augment_fn,
  )


def one_step(spec):
  x = jax.random.uniform(jax.random.key(3), (1, 8, 8, 8, 1), minval=-1, maxval=1)
  state = gan.init_state(spec, jax.random.key(0), {"x": x})
  _, metrics = gan.make_train_step(spec)(state, {"x": x}, jax.random.key(1))
  return {k: float(v) for k, v in metrics.items()}


def test_every_input_of_d_is_augmented_in_both_updates():
  """An 'augmentation' that blanks the images: D then sees the same input for real and fake,
  and G's gradient through D is 0; DiffAugment passes a finite, non-zero gradient to G."""
  blank = one_step(tiny_spec(lambda x, key: jnp.zeros_like(x)))
  assert blank["d_real"] == blank["d_fake"] and blank["g_grad_norm"] == 0.0
  diff = one_step(tiny_spec(augment.diff_augment()))
  assert np.isfinite(diff["g_grad_norm"]) and diff["g_grad_norm"] > 0 and diff["finite"] == 1.0
  plain = one_step(tiny_spec(None))
  assert plain["d_real"] != diff["d_real"]


def test_an_experiment_trains_with_augment(tmp_path):
  proc = run(
    [
      "experiments/dcgan.py",
      f"--workdir={tmp_path}",
      "--dataset=faces100",  # the 100-shot faces the augmentations are for
      "--image_size=32",
      "--augment=color,translation,cutout",
      "--num_steps=3",
      "--batch_size=16",
      "--width=8",
      "--log_every=1",
      "--fid_features=none",
      "--num_eval_samples=100",
    ]
  )
  assert_ok(proc)
  assert "step 3/3" in proc.stdout
  assert (tmp_path / "plots" / "samples_0000003.png").exists()
  one_line_error(run(["experiments/dcgan.py", "--augment=flip"]), "unknown augmentation 'flip'")
  one_line_error(
    run(["experiments/wgan_gp.py", "--augment=color", "--num_steps=1"]), "is for images"
  )
  assert data.get_toy("ring8")  # the toy that refuses augmentation above
