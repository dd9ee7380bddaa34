"""ADA: its transformations against numpy, its differentiability, and the adjustment of p."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import ada, augment
from jaxgan.errors import ConfigError

RNG = np.random.default_rng(0)


def images(shape=(2, 6, 6, 3)):
  return jnp.asarray(RNG.uniform(-1, 1, shape), jnp.float32)


def test_p_zero_is_the_identity_and_p_one_changes_every_image():
  x = images((6, 8, 8, 3))
  np.testing.assert_allclose(ada.augment(x, jax.random.key(0), jnp.float32(0.0)), x, atol=1e-6)
  y = ada.augment(x, jax.random.key(0), jnp.float32(1.0))
  assert np.all(np.abs(np.asarray(y - x)).reshape(6, -1).max(1) > 1e-2)


def test_warp_by_flip_quarter_turn_and_integer_shift_matches_numpy():
  x = images((1, 5, 5, 2))
  flip = ada._scale2d(jnp.array([-1.0]), jnp.array([1.0]))
  np.testing.assert_allclose(ada.warp(x, flip), x[:, :, ::-1], atol=1e-5)
  quarter = ada._rotate2d(jnp.array([-jnp.pi / 2]))
  turned = ada.warp(x, quarter)
  assert any(np.allclose(turned, np.rot90(x, k, axes=(1, 2)), atol=1e-5) for k in (1, 3))
  shift = ada._translate2d(jnp.array([1.0]), jnp.array([0.0]))
  np.testing.assert_allclose(ada.warp(x, shift)[:, :, :-1], x[:, :, 1:], atol=1e-5)


def test_colour_matrices_on_rgb_and_grey_images_match_numpy():
  x = images((3, 4, 4, 3))
  m = ada.color_matrix(jax.random.key(1), 3, jnp.float32(1.0))
  expected = np.einsum("bij,bhwj->bhwi", m[:, :3, :3], x) + np.asarray(m)[:, None, None, :3, 3]
  np.testing.assert_allclose(ada.apply_color(x, m), expected, atol=1e-5)
  grey = x[..., :1]
  row = np.asarray(m)[:, :3].mean(1)
  expected = np.asarray(grey) * row[:, :3].sum(1)[:, None, None, None] + row[:, None, None, 3:]
  np.testing.assert_allclose(ada.apply_color(grey, m), expected, atol=1e-5)


def test_hue_rotation_keeps_luma_and_saturation_zero_makes_grey():
  theta = jnp.asarray([0.3, 2.0])
  r = np.asarray(ada._rotate3d(ada.LUMA_AXIS, theta))
  v = np.asarray(ada.LUMA_AXIS)
  np.testing.assert_allclose(v @ r, np.broadcast_to(v, (2, 4)), atol=1e-6)
  np.testing.assert_allclose(
    r[:, :3, :3] @ r[:, :3, :3].transpose(0, 2, 1), np.eye(3)[None].repeat(2, 0), atol=1e-6
  )
  vv = np.outer(v, v)
  desaturate = vv + (np.eye(4) - vv) * 0.0
  x = np.asarray(images((1, 2, 2, 3)))
  grey = ada.apply_color(jnp.asarray(x), jnp.asarray(desaturate)[None])
  np.testing.assert_allclose(grey, np.repeat(x.mean(-1, keepdims=True), 3, -1), atol=1e-6)


def test_ada_is_differentiable_in_the_images():
  x = images((4, 8, 8, 1))
  grads = jax.grad(lambda x: jnp.sum(ada.augment(x, jax.random.key(2), jnp.float32(0.8)) ** 2))(x)
  assert np.all(np.isfinite(grads)) and np.abs(np.asarray(grads)).sum() > 0


def test_p_rises_while_d_overfits_and_falls_back_when_it_stops():
  state = ada.init_state()
  ps = []
  for step in range(40):
    scores = jnp.full((8,), 2.0 if step < 20 else -2.0)  # sign +1: r_t = 1 > 0.6, then −1
    state, metrics = ada.update_state(state, scores, jnp.int32(step), interval=4, speed_images=320)
    ps.append(float(metrics["ada_p"]))
  # every 4 steps p moves by 32 images / 320 = 0.1
  np.testing.assert_allclose(ps[3], 0.1, atol=1e-6)
  np.testing.assert_allclose(ps[19], 0.5, atol=1e-6)
  assert ps[2] == 0.0 and ps[4] == ps[3]  # moves only at the end of an interval
  np.testing.assert_allclose(ps[39], 0.0, atol=1e-6)
  assert float(metrics["ada_rt"]) == -1.0


def test_the_policy_names_ada_alone():
  assert augment.parse_policy("ada") == ("ada",)
  with pytest.raises(ConfigError, match="on its own"):
    augment.parse_policy("ada,color")
  with pytest.raises(ConfigError, match="unknown augmentation 'flip'"):
    augment.parse_policy("flip")
