"""The adversarial losses of both players as one value, chosen by name.

    loss = loss_pair("wasserstein")                 # or "hinge", "least_squares", "began", ...
    d_loss = loss.discriminator(real_out, fake_out, loss_state)
    g_loss = loss.generator(real_out, fake_out, loss_state)

A LossPair's functions take D's output dicts ({"adv": scores [B], and heads
such as "features"}), so that one pair serves every kind of training: the GAN
step, pix2pix, CycleGAN. The formulas live in jaxgan.losses; this module
pairs them up, with the state a loss may keep (BEGAN's k_t).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import losses
from jaxgan.errors import ConfigError

Array = jax.Array
Outputs = dict[str, Any]  # D's outputs: "adv" [B] and any heads


class LossPair(NamedTuple):
  """The adversarial losses of both players, as functions of D's outputs.

  discriminator(real_out, fake_out, loss_state) and generator(real_out,
  fake_out, loss_state) take D's output dicts. generator_uses_real says
  whether the generator's loss reads D(x) (relativistic losses, feature
  matching); when it does not, the generator update skips D(x) and passes
  None. A stateful loss (BEGAN's k_t) starts from init_state() and, after
  every discriminator update, update_state(loss_state, real_out, fake_out)
  returns the next state and metrics to log.
  """

  discriminator: Callable[[Outputs, Outputs, Any], Array]
  generator: Callable[[Outputs | None, Outputs, Any], Array]
  generator_uses_real: bool = False
  init_state: Callable[[], Any] = tuple
  update_state: Callable[[Any, Outputs, Outputs], tuple[Any, dict]] | None = None


def _on_scores(loss: Callable[[Array, Array], Array]):
  """A loss of (real scores, fake scores) as a LossPair function of output dicts."""
  return lambda real_out, fake_out, state: loss(real_out["adv"], fake_out["adv"])


def _on_fake_scores(loss: Callable[[Array], Array]):
  return lambda real_out, fake_out, state: loss(fake_out["adv"])


def _feature_matching_generator(real_out, fake_out, state):
  return losses.feature_matching_loss(
    jax.lax.stop_gradient(real_out["features"]), fake_out["features"]
  )


def began_loss_pair(gamma: float = 0.5, lambda_k: float = 1e-3) -> LossPair:
  """BEGAN (Berthelot et al. 2017): D's "adv" output is each example's reconstruction loss.

  L_D = L(x) − k_t·L(G(z)), L_G = L(G(z)), and after each D update
  k_{t+1} = clip(k_t + λ_k(γL(x) − L(G(z))), 0, 1); logs k and the
  convergence measure M.
  """

  def update(k, real_out, fake_out):
    real, fake = jax.lax.stop_gradient(real_out["adv"]), jax.lax.stop_gradient(fake_out["adv"])
    new_k = losses.began_k_update(k, real, fake, gamma=gamma, lambda_k=lambda_k)
    return new_k, {"began_k": new_k, "began_m": losses.began_convergence(real, fake, gamma=gamma)}

  return LossPair(
    discriminator=lambda r, f, k: losses.began_discriminator_loss(r["adv"], f["adv"], k),
    generator=lambda r, f, k: losses.began_generator_loss(f["adv"]),
    init_state=lambda: jnp.zeros([], jnp.float32),
    update_state=update,
  )


LOSS_NAMES = (
  "minimax",
  "non_saturating",
  "wasserstein",
  "least_squares",
  "hinge",
  "relativistic",
  "relativistic_average",
  "feature_matching",
  "began",
)


def loss_pair(name: str, *, label_smoothing: float = 0.0) -> LossPair:
  """The (D, G) losses called `name`; label_smoothing applies to the minimax D loss.

  "minimax" is the original saturating game, "non_saturating" the same D with
  G minimizing −log D(G(z)) (Goodfellow et al. 2014); "feature_matching" the
  same D with G matching the mean of D's "features" output on real and fake
  batches (Salimans et al. 2016, §3.1); "began" the defaults of
  began_loss_pair.
  """
  if label_smoothing and name not in ("minimax", "non_saturating", "feature_matching"):
    raise ConfigError(
      f"label smoothing applies to the minimax/non_saturating losses, not to {name!r}"
    )

  def minimax_d(real, fake):
    return losses.minimax_discriminator_loss(real, fake, label_smoothing=label_smoothing)

  if name == "began":
    return began_loss_pair()
  pairs = {
    "minimax": (minimax_d, losses.minimax_generator_loss),
    "non_saturating": (minimax_d, losses.non_saturating_generator_loss),
    "wasserstein": (losses.wasserstein_discriminator_loss, losses.wasserstein_generator_loss),
    "least_squares": (
      losses.least_squares_discriminator_loss,
      losses.least_squares_generator_loss,
    ),
    "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss),
  }
  if name in pairs:
    d_loss, g_loss = pairs[name]
    return LossPair(_on_scores(d_loss), _on_fake_scores(g_loss))
  if name == "relativistic":
    return LossPair(
      _on_scores(losses.relativistic_discriminator_loss),
      _on_scores(losses.relativistic_generator_loss),
      generator_uses_real=True,
    )
  if name == "relativistic_average":
    return LossPair(
      _on_scores(losses.relativistic_average_discriminator_loss),
      _on_scores(losses.relativistic_average_generator_loss),
      generator_uses_real=True,
    )
  if name == "feature_matching":
    return LossPair(_on_scores(minimax_d), _feature_matching_generator, generator_uses_real=True)
  raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
