"""The priors an adversarial autoencoder imposes on its code (Makhzani et al. 2015, §2, Fig. 2
and 4): each a push-forward of standard normal noise, so that a run's decoder samples through
`jaxgan.sample` like any generator (its noise is the prior's noise).

    prior = priors.get("mixture10", latent_dim=2)
    z = prior.transform(noise)                  # noise ~ N(0, I) [B, prior.noise_dim] → z [B, 2]
    z = prior.transform(noise, labels)          # each z on its label's component (Fig. 4)

- gaussian: z = noise, N(0, I) in any dimension.
- mixture10: the paper's mixture of 10 2-D Gaussians. Component k (uniform, or the label) has
  its mean at radius 1.4 and angle 2πk/10, standard deviations 0.5 along the radius and 0.05
  across it (the shapes of the paper's Fig. 2b, as the widely used Chainer reimplementation,
  musyoku/adversarial-autoencoder, draws them: the authors released no code).
- swissroll: the paper's 2-D swiss roll (Fig. 4c): u ~ U(0, 1) (or U(k/10, (k + 1)/10) for label
  k), r = 3√u, z = r·(cos 4π√u, sin 4π√u); each label owns a tenth of the roll's length.

The component choice and u come from the noise through Φ, the standard normal CDF, so one
draw of noise is one draw of the prior.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgan.errors import ConfigError

Array = jax.Array
NUM_COMPONENTS = 10  # the paper's 10 components, and the tenths of the swiss roll
MIXTURE_RADIUS, MIXTURE_STD_RADIAL, MIXTURE_STD_TANGENTIAL = 1.4, 0.5, 0.05
SWISSROLL_RADIUS, SWISSROLL_TURNS = 3.0, 2.0


@dataclasses.dataclass(frozen=True)
class Prior:
  """A prior p(z) on codes of latent_dim, drawn as transform(noise[, labels]) with noise of
  noise_dim standard normals; extent: the plots show [−extent, extent]²."""

  name: str
  latent_dim: int
  noise_dim: int
  transform: Callable[..., Array]
  extent: float

  def sample(self, key: Array, n: int, labels: Array | None = None) -> Array:
    """n draws [n, latent_dim] (on the labels' components when given).

    Args:
      key: the key of the noise.
      n: how many.
      labels: [n] ints in [0, 10) for the label-guided mixture and roll, or None.

    Returns:
      z [n, latent_dim].
    """
    return self.transform(jax.random.normal(key, (n, self.noise_dim)), labels)


def _uniform(noise: Array) -> Array:
  """Φ(noise), kept inside (0, 1)."""
  return jnp.clip(jax.scipy.stats.norm.cdf(noise), 1e-7, 1.0 - 1e-7)


def _component(noise: Array, labels: Array | None) -> Array:
  """The component index: the label, or ⌊10·Φ(noise)⌋ (uniform over the 10)."""
  if labels is not None:
    return jnp.asarray(labels, jnp.int32)
  return jnp.minimum(jnp.floor(NUM_COMPONENTS * _uniform(noise)), NUM_COMPONENTS - 1).astype(
    jnp.int32
  )


def gaussian_transform(noise: Array, labels: Array | None = None) -> Array:
  """N(0, I): the noise itself (labels are ignored: one component)."""
  del labels
  return noise


def mixture10_transform(noise: Array, labels: Array | None = None) -> Array:
  """noise [B, 3] → the mixture of 10 2-D Gaussians (see the module docstring).

  Args:
    noise: [B, 3] standard normals: the radial and tangential offsets, then the component's.
    labels: [B] components, or None for uniform ones.

  Returns:
    z [B, 2].
  """
  k = _component(noise[:, 2], labels)
  angle = 2.0 * math.pi * k.astype(jnp.float32) / NUM_COMPONENTS
  radial = MIXTURE_RADIUS + MIXTURE_STD_RADIAL * noise[:, 0]
  tangential = MIXTURE_STD_TANGENTIAL * noise[:, 1]
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  return jnp.stack([radial * cos - tangential * sin, radial * sin + tangential * cos], axis=-1)


def swissroll_transform(noise: Array, labels: Array | None = None) -> Array:
  """noise [B, 1] → the 2-D swiss roll (see the module docstring).

  Args:
    noise: [B, 1] standard normals (u = Φ(noise)).
    labels: [B] tenths of the roll, or None for the whole roll.

  Returns:
    z [B, 2].
  """
  u = _uniform(noise[:, 0])
  if labels is not None:
    u = (jnp.asarray(labels, jnp.float32) + u) / NUM_COMPONENTS
  radius = SWISSROLL_RADIUS * jnp.sqrt(u)
  angle = 2.0 * math.pi * SWISSROLL_TURNS * jnp.sqrt(u)
  return jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)


def _gaussian(latent_dim: int) -> Prior:
  return Prior("gaussian", latent_dim, latent_dim, gaussian_transform, 3.5)


def _two_dimensional(name: str, noise_dim: int, transform, extent: float):
  def make(latent_dim: int) -> Prior:
    if latent_dim != 2:
      raise ConfigError(f"the {name} prior is 2-D: set --latent_dim=2 (got {latent_dim})")
    return Prior(name, 2, noise_dim, transform, extent)

  return make


PRIORS: dict[str, Callable[[int], Prior]] = {
  "gaussian": _gaussian,
  "mixture10": _two_dimensional("mixture10", 3, mixture10_transform, 3.0),
  "swissroll": _two_dimensional("swissroll", 1, swissroll_transform, 3.5),
}


def get(name: str, latent_dim: int) -> Prior:
  """The prior called name on codes of latent_dim, or a one-line error naming the known ones.

  Args:
    name: gaussian, mixture10 or swissroll.
    latent_dim: the code's dimension (2 for the mixture and the roll).

  Returns:
    The Prior.
  """
  if name not in PRIORS:
    raise ConfigError(f"unknown prior {name!r}: choose one of {', '.join(PRIORS)} (--prior)")
  return PRIORS[name](latent_dim)
