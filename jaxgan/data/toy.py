"""The 2-D toy distributions of the GAN literature, generated in JAX.

- ring8: 8 Gaussians with means on the unit circle, std 0.01.
- grid25: 25 Gaussians with means {−4, −2, 0, 2, 4}², std 0.05.
  Both as in PacGAN (Lin et al. 2018, §5) and VEEGAN (Srivastava et al. 2017);
  the modes are chosen uniformly.
- swissroll: the 2-D swiss roll of Gulrajani et al.'s gan_toy.py
  (scikit-learn's make_swiss_roll with noise 0.25, axes 0 and 2, divided by 7.5).

Sampling is a pure function of a PRNG key and a shape, so the same key gives
the same data on any device count, and a run can resume its data stream
exactly from the step number.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Mixture(NamedTuple):
  """A uniform mixture of isotropic Gaussians: the modes that mode coverage counts."""

  means: np.ndarray  # [K, 2]
  std: float


def ring8_mixture() -> Mixture:
  angles = 2.0 * math.pi * np.arange(8) / 8
  return Mixture(np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32), 0.01)


def grid25_mixture() -> Mixture:
  coords = np.array([-4.0, -2.0, 0.0, 2.0, 4.0], np.float32)
  means = np.stack(np.meshgrid(coords, coords, indexing="ij"), axis=-1).reshape(-1, 2)
  return Mixture(means, 0.05)


def sample_mixture(mixture: Mixture, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Points of a Gaussian mixture: a uniformly chosen mode plus std·N(0, I).

  Args:
    mixture: the means and the std.
    key: the key.
    shape: the batch shape.

  Returns:
    Points `[*shape, 2]`.
  """
  mode_key, noise_key = jax.random.split(key)
  means = jnp.asarray(mixture.means)
  modes = jax.random.randint(mode_key, shape, 0, means.shape[0])
  noise = jax.random.normal(noise_key, (*shape, 2), jnp.float32)
  return means[modes] + mixture.std * noise


SWISSROLL_NOISE = 0.25
SWISSROLL_SCALE = 7.5


def sample_swissroll(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Points `[*shape, 2]` on the swiss roll t·(cos t, sin t), t ~ U(1.5π, 4.5π), plus noise."""
  t_key, noise_key = jax.random.split(key)
  t = 1.5 * math.pi * (1.0 + 2.0 * jax.random.uniform(t_key, shape, jnp.float32))
  points = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=-1)
  points = points + SWISSROLL_NOISE * jax.random.normal(noise_key, (*shape, 2), jnp.float32)
  return points / SWISSROLL_SCALE


class ToyDataset(NamedTuple):
  """A 2-D toy distribution: how to sample it, its modes (None if it has none), its size."""

  name: str
  mixture: Mixture | None
  extent: float  # the plots show [−extent, extent]²
  scale: float  # the size of the data: the models' output/input scale (see models.MLPGenerator)

  def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    if self.mixture is None:
      return sample_swissroll(key, shape)
    return sample_mixture(self.mixture, key, shape)


TOY_DATASETS = {
  "ring8": ToyDataset("ring8", ring8_mixture(), extent=1.5, scale=1.0),
  "grid25": ToyDataset("grid25", grid25_mixture(), extent=5.5, scale=4.0),
  "swissroll": ToyDataset("swissroll", None, extent=2.2, scale=2.0),
}
