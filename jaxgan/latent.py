"""Where a generator's inputs come from: the noise, the classes, InfoGAN's codes.

    space = LatentSpace(latent_dim=62, num_classes=0, categorical_codes=(10,), continuous_codes=2)
    latent = space.sample(key, (batch,))           # Latent(z, labels, categorical, continuous)
    images = G.apply(variables, latent.z, train=False)

A LatentSpace is JSON-able (`space._asdict()`), so a workdir's config.json
records it and `jaxgan.sample` draws from the same space after training.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Latent(NamedTuple):
  """What a batch of fakes was generated from.

  z is G's whole input vector: the noise, then one-hot categorical codes,
  then continuous codes (InfoGAN's c). labels: the classes G is conditioned
  on ([B] ints), or None. categorical: [B, n_categorical] ints; continuous:
  [B, n_continuous] in [−1, 1]; both empty without InfoGAN codes.
  """

  z: Array
  labels: Array | None
  categorical: Array
  continuous: Array


class LatentSpace(NamedTuple):
  """Where G's inputs come from: noise size, classes, InfoGAN codes. JSON-able, for sampling."""

  latent_dim: int
  num_classes: int = 0
  categorical_codes: tuple[int, ...] = ()
  continuous_codes: int = 0

  def assemble(self, noise: Array, categorical: Array, continuous: Array) -> Array:
    """G's input vector: noise, one-hot categorical codes, continuous codes.

    Args:
      noise: [..., latent_dim].
      categorical: [..., n_categorical] ints.
      continuous: [..., continuous_codes].

    Returns:
      z [..., latent_dim + Σ categorical sizes + continuous_codes].
    """
    one_hots = [
      jax.nn.one_hot(categorical[..., i], n, dtype=jnp.float32)
      for i, n in enumerate(self.categorical_codes)
    ]
    return jnp.concatenate([noise, *one_hots, continuous], axis=-1)

  def sample(
    self,
    key: Array,
    shape: tuple[int, ...],
    labels: Array | None = None,
    truncation: float | None = None,
  ) -> Latent:
    """G's input for a batch of the given shape (e.g. (B,) or (n_critic, B)).

    noise ~ N(0, I) `[*shape, latent_dim]` (truncated to [−t, t] with
    truncation t, BigGAN's truncation trick, Brock et al. 2019 §3.1);
    InfoGAN codes: categorical uniform over their classes, continuous
    U(−1, 1) (Chen et al. 2016, §6).

    Args:
      key: the random key.
      shape: the batch shape.
      labels: the classes to generate (default: uniform, when the space has classes).
      truncation: t > 0 to truncate the noise, None for the plain normal.

    Returns:
      The Latent.
    """
    noise_key, cat_key, cont_key, label_key = jax.random.split(key, 4)
    noise_shape = (*shape, self.latent_dim)
    if truncation is None:
      noise = jax.random.normal(noise_key, noise_shape, jnp.float32)
    else:
      noise = jax.random.truncated_normal(noise_key, -truncation, truncation, noise_shape)
    counts = tuple(self.categorical_codes)
    categorical = jnp.zeros((*shape, 0), jnp.int32)
    if counts:
      keys = jax.random.split(cat_key, len(counts))
      draws = [jax.random.randint(k, shape, 0, n) for k, n in zip(keys, counts, strict=True)]
      categorical = jnp.stack(draws, axis=-1)
    continuous = jax.random.uniform(
      cont_key, (*shape, self.continuous_codes), jnp.float32, -1.0, 1.0
    )
    if self.num_classes and labels is None:
      labels = jax.random.randint(label_key, shape, 0, self.num_classes)
    z = self.assemble(noise, categorical, continuous)
    return Latent(z, labels if self.num_classes else None, categorical, continuous)

  @classmethod
  def from_json(cls, fields: dict) -> LatentSpace:
    """The space of `space._asdict()` read back from JSON (lists become tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
