"""Adversarial and auxiliary GAN losses: discriminator outputs in, scalar out.

Every function here is pure and knows nothing of Flax: it takes the
discriminator's outputs (logits for the probabilistic losses, critic values for
the Wasserstein and hinge losses; shape [B] or [B, ...], e.g. a PatchGAN map)
and returns the scalar mean over every element. Defaults are the plain textbook
formulas; nothing is smoothed or rescaled unless an argument asks for it.

Probabilities never appear explicitly: with D(x) = σ(l) for a logit l,
  −log D(x)      = softplus(−l)
  −log(1 − D(x)) = softplus(l)
which is exact and stable for logits of any size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


def _mean(x: Array) -> Array:
  return jnp.mean(jnp.asarray(x, jnp.float32))


# ---------------------------------------------------------------------------
# The original GAN (Goodfellow et al. 2014, "Generative Adversarial Nets").
# ---------------------------------------------------------------------------


def minimax_discriminator_loss(
  real_logits: Array, fake_logits: Array, *, label_smoothing: float = 0.0
) -> Array:
  r"""Discriminator loss of the minimax GAN, with optional one-sided smoothing.

  .. math::

     L_D = -\mathbb{E}_x\big[t\log D(x) + (1 - t)\log(1 - D(x))\big]
     - \mathbb{E}_z\big[\log(1 - D(G(z)))\big],\qquad t = 1 - \text{label\_smoothing}

  with the real target t = 1 − label_smoothing. label_smoothing = 0 gives the
  textbook −E[log D(x)] − E[log(1 − D(G(z)))]. Only the real target is
  smoothed: one-sided label smoothing (Salimans et al. 2016, "Improved
  Techniques for Training GANs", §3.4) keeps the fake target at 0, since
  smoothing it would reward the generator for staying where it is.

  Args:
    real_logits: D's logits on real examples [B].
    fake_logits: D's logits on fakes [B].
    label_smoothing: 1 − the real target (0: none).

  Returns:
    The scalar loss.
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
  target = 1.0 - label_smoothing
  real = target * jax.nn.softplus(-real_logits) + (1.0 - target) * jax.nn.softplus(real_logits)
  return _mean(real) + _mean(jax.nn.softplus(fake_logits))


def minimax_generator_loss(fake_logits: Array) -> Array:
  r"""The saturating generator loss of the minimax game: E_z[log(1 − D(G(z)))].

  .. math::

     L_G = \mathbb{E}_z\big[\log(1 - D(G(z)))\big]

  The generator minimizes it. Its gradient vanishes when D confidently rejects
  the fakes, i.e. early in training (Goodfellow et al. 2014, §3), which is why
  `non_saturating_generator_loss` is used in practice.
  """
  return -_mean(jax.nn.softplus(fake_logits))


def non_saturating_generator_loss(fake_logits: Array) -> Array:
  r"""The non-saturating generator loss: −E_z[log D(G(z))] (Goodfellow et al. 2014).

  .. math::

     L_G = -\mathbb{E}_z\big[\log D(G(z))\big]
  """
  return _mean(jax.nn.softplus(-fake_logits))


# ---------------------------------------------------------------------------
# Wasserstein GAN (Arjovsky et al. 2017), hinge (Lim & Ye 2017; Miyato et al. 2018).
# ---------------------------------------------------------------------------


def wasserstein_discriminator_loss(real_scores: Array, fake_scores: Array) -> Array:
  r"""Critic loss of WGAN: E_z[D(G(z))] − E_x[D(x)].

  .. math::

     L_D = \mathbb{E}_z[D(G(z))] - \mathbb{E}_x[D(x)]

  Minimizing it maximizes E[D(x)] − E[D(G(z))], the Kantorovich–Rubinstein
  estimate of the Wasserstein-1 distance when D is 1-Lipschitz (Arjovsky et al.
  2017, "Wasserstein GAN", eq. 3).
  """
  return _mean(fake_scores) - _mean(real_scores)


def wasserstein_generator_loss(fake_scores: Array) -> Array:
  r"""Generator loss of WGAN: −E_z[D(G(z))] (Arjovsky et al. 2017).

  .. math::

     L_G = -\mathbb{E}_z[D(G(z))]
  """
  return -_mean(fake_scores)


def hinge_discriminator_loss(real_scores: Array, fake_scores: Array) -> Array:
  r"""Hinge loss for D: E_x[max(0, 1 − D(x))] + E_z[max(0, 1 + D(G(z)))].

  .. math::

     L_D = \mathbb{E}_x\big[\max(0, 1 - D(x))\big] + \mathbb{E}_z\big[\max(0, 1 + D(G(z)))\big]

  Lim & Ye 2017, "Geometric GAN"; used with spectral normalization by Miyato et
  al. 2018 (SNGAN) and by BigGAN.
  """
  return _mean(jax.nn.relu(1.0 - real_scores)) + _mean(jax.nn.relu(1.0 + fake_scores))


def hinge_generator_loss(fake_scores: Array) -> Array:
  r"""Hinge loss for G: −E_z[D(G(z))] (Lim & Ye 2017; Miyato et al. 2018).

  .. math::

     L_G = -\mathbb{E}_z[D(G(z))]
  """
  return -_mean(fake_scores)


# ---------------------------------------------------------------------------
# Least squares GAN (Mao et al. 2017).
# ---------------------------------------------------------------------------


def least_squares_discriminator_loss(
  real_scores: Array,
  fake_scores: Array,
  *,
  real_target: float = 1.0,
  fake_target: float = 0.0,
) -> Array:
  r"""LSGAN loss for D: ½E_x[(D(x) − b)²] + ½E_z[(D(G(z)) − a)²].

  .. math::

     L_D = \tfrac12\mathbb{E}_x\big[(D(x) - b)^2\big]
     + \tfrac12\mathbb{E}_z\big[(D(G(z)) - a)^2\big]

  Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2, with
  the 0-1 coding a = 0 (fake_target), b = 1 (real_target) by default.

  Args:
    real_scores: D(x) [B].
    fake_scores: D(G(z)) [B].
    real_target: b.
    fake_target: a.

  Returns:
    The scalar loss.
  """
  return 0.5 * _mean((real_scores - real_target) ** 2) + 0.5 * _mean(
    (fake_scores - fake_target) ** 2
  )


def least_squares_generator_loss(fake_scores: Array, *, target: float = 1.0) -> Array:
  r"""LSGAN loss for G: ½E_z[(D(G(z)) − c)²], c = 1 by default (Mao et al. 2017).

  .. math::

     L_G = \tfrac12\mathbb{E}_z\big[(D(G(z)) - c)^2\big]
  """
  return 0.5 * _mean((fake_scores - target) ** 2)


# ---------------------------------------------------------------------------
# Relativistic GANs (Jolicoeur-Martineau 2018, "The relativistic discriminator").
# ---------------------------------------------------------------------------


def relativistic_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  r"""RSGAN loss for D: −E_(x,z)[log σ(C(x) − C(G(z)))] (Jolicoeur-Martineau 2018).

  .. math::

     L_D = -\mathbb{E}_{(x,z)}\big[\log\sigma\big(C(x) - C(G(z))\big)\big]

  Real and fake examples are paired element by element, so both batches must
  have the same shape.
  """
  return _mean(jax.nn.softplus(-(real_logits - fake_logits)))


def relativistic_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  r"""RSGAN loss for G: −E_(x,z)[log σ(C(G(z)) − C(x))] (Jolicoeur-Martineau 2018).

  .. math::

     L_G = -\mathbb{E}_{(x,z)}\big[\log\sigma\big(C(G(z)) - C(x)\big)\big]
  """
  return _mean(jax.nn.softplus(-(fake_logits - real_logits)))


def relativistic_average_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  r"""RaSGAN loss for D (Jolicoeur-Martineau 2018, "The relativistic discriminator").

  .. math::

     L_D = -\mathbb{E}_x\Big[\log\sigma\big(C(x) - \mathbb{E}_z C(G(z))\big)\Big]
     - \mathbb{E}_z\Big[\log\Big(1 - \sigma\big(C(G(z)) - \mathbb{E}_x C(x)\big)\Big)\Big]

  """
  real_rel = real_logits - _mean(fake_logits)
  fake_rel = fake_logits - _mean(real_logits)
  return _mean(jax.nn.softplus(-real_rel)) + _mean(jax.nn.softplus(fake_rel))


def relativistic_average_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  r"""RaSGAN loss for G: the D loss with real and fake swapped (Jolicoeur-Martineau 2018).

  .. math::

     L_G = -\mathbb{E}_z\Big[\log\sigma\big(C(G(z)) - \mathbb{E}_x C(x)\big)\Big]
     - \mathbb{E}_x\Big[\log\Big(1 - \sigma\big(C(x) - \mathbb{E}_z C(G(z))\big)\Big)\Big]

  """
  return relativistic_average_discriminator_loss(fake_logits, real_logits)


# ---------------------------------------------------------------------------
# BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium GANs").
# D is an autoencoder; its "output" for an example is the reconstruction loss.
# ---------------------------------------------------------------------------


def began_reconstruction_loss(inputs: Array, reconstructions: Array, *, eta: float = 1.0) -> Array:
  r"""Per-example autoencoder loss L(v) of BEGAN (Berthelot et al. 2017, §3.1); shape [B].

  .. math::

     \mathcal{L}(v) = \operatorname{mean}_{\text{pixels}}\,|v - D(v)|^{\eta}

  This is what a BEGAN discriminator "outputs"; the BEGAN losses below take it.

  Args:
    inputs: the images v [B, ...].
    reconstructions: D(v), the autoencoder's outputs.
    eta: the norm's power η (1 in the paper).

  Returns:
    L(v) per example [B].
  """
  diff = jnp.abs(inputs - reconstructions) ** eta
  return jnp.mean(diff.reshape(diff.shape[0], -1), axis=1)


def began_discriminator_loss(real_recon: Array, fake_recon: Array, k: Array) -> Array:
  r"""BEGAN loss for D: L(x) − k_t·L(G(z)), L the reconstruction loss (Berthelot et al. 2017).

  .. math::

     L_D = \mathcal{L}(x) - k_t\,\mathcal{L}(G(z))

  Args:
    real_recon: L(x) per example [B].
    fake_recon: L(G(z)) per example [B].
    k: the equilibrium control k_t (a scalar, not differentiated).

  Returns:
    The scalar loss.
  """
  return _mean(real_recon) - k * _mean(fake_recon)


def began_generator_loss(fake_recon: Array) -> Array:
  r"""BEGAN loss for G: L(G(z)) (Berthelot et al. 2017, §3.3).

  .. math::

     L_G = \mathcal{L}(G(z))
  """
  return _mean(fake_recon)


def began_k_update(
  k: Array, real_recon: Array, fake_recon: Array, *, gamma: float = 0.5, lambda_k: float = 1e-3
) -> Array:
  r"""Proportional control of the equilibrium: k ← clip(k + λ_k(γL(x) − L(G(z))), 0, 1).

  .. math::

     k_{t+1} = \operatorname{clip}\big(k_t + \lambda_k(\gamma\,\mathcal{L}(x) -
     \mathcal{L}(G(z))),\ 0,\ 1\big)

  γ = E[L(G(z))]/E[L(x)] is the diversity ratio (Berthelot et al. 2017, BEGAN §3.3, eq. 4).

  Args:
    k: k_t.
    real_recon: L(x) [B].
    fake_recon: L(G(z)) [B].
    gamma: γ.
    lambda_k: λ_k, the proportional gain.

  Returns:
    k_{t+1} in [0, 1].
  """
  return jnp.clip(k + lambda_k * (gamma * _mean(real_recon) - _mean(fake_recon)), 0.0, 1.0)


def began_convergence(real_recon: Array, fake_recon: Array, *, gamma: float = 0.5) -> Array:
  r"""BEGAN's global convergence measure M (Berthelot et al. 2017, §3.4.1).

  .. math::

     \mathcal{M} = \mathcal{L}(x) + \big|\gamma\,\mathcal{L}(x) - \mathcal{L}(G(z))\big|

  Args:
    real_recon: L(x) [B].
    fake_recon: L(G(z)) [B].
    gamma: γ.

  Returns:
    The scalar M.
  """
  real = _mean(real_recon)
  return real + jnp.abs(gamma * real - _mean(fake_recon))


# ---------------------------------------------------------------------------
# Losses on features and reconstructions.
# ---------------------------------------------------------------------------


def feature_matching_loss(real_features: Array, fake_features: Array) -> Array:
  r"""Feature matching for G: ‖E_x f(x) − E_z f(G(z))‖²₂.

  .. math::

     L_G = \big\|\mathbb{E}_x f(x) - \mathbb{E}_z f(G(z))\big\|_2^2

  f is an intermediate layer of D (Salimans et al. 2016, "Improved Techniques
  for Training GANs", §3.1). Features have shape [B, ...]; the expectation is
  the mean over the batch axis and the squared norm sums over all the rest.
  """
  diff = jnp.mean(real_features, axis=0) - jnp.mean(fake_features, axis=0)
  return jnp.sum(jnp.asarray(diff, jnp.float32) ** 2)


def l1_reconstruction_loss(predictions: Array, targets: Array) -> Array:
  r"""Mean absolute error between y and G(x), pix2pix's L1 term (Isola et al. 2017, eq. 3).

  .. math::

     L_{L1} = \mathbb{E}_{x,y}\big[\|y - G(x)\|_1\big]
  """
  return _mean(jnp.abs(predictions - targets))


def cycle_consistency_loss(real_a: Array, cycled_a: Array, real_b: Array, cycled_b: Array) -> Array:
  r"""CycleGAN's cycle loss: E_x‖F(G(x)) − x‖₁ + E_y‖G(F(y)) − y‖₁.

  .. math::

     L_{cyc} = \mathbb{E}_x\|F(G(x)) - x\|_1 + \mathbb{E}_y\|G(F(y)) - y\|_1

  Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
  Adversarial Networks", eq. 2, with the norm taken as a per-element mean as in
  the authors' code. cycled_a = F(G(a)), cycled_b = G(F(b)).

  Args:
    real_a: images of domain A.
    cycled_a: F(G(a)).
    real_b: images of domain B.
    cycled_b: G(F(b)).

  Returns:
    The scalar loss.
  """
  return l1_reconstruction_loss(cycled_a, real_a) + l1_reconstruction_loss(cycled_b, real_b)


# ---------------------------------------------------------------------------
# Auxiliary classifier (ACGAN) and InfoGAN mutual information.
# ---------------------------------------------------------------------------


def auxiliary_classifier_loss(class_logits: Array, labels: Array) -> Array:
  r"""ACGAN's class term −E[log P(C = c | X)]: cross-entropy on integer labels.

  .. math::

     L_C = -\mathbb{E}\big[\log P(C = c \mid X)\big]

  Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier
  GANs", eq. 2 (L_C). D minimizes it on real and fake examples, G on fakes.
  class_logits: [B, K]; labels: [B] integers in [0, K).
  """
  return _mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


def infogan_categorical_loss(code_logits: Array, codes: Array) -> Array:
  r"""InfoGAN's term for a categorical code: −E[log Q(c | G(z, c))].

  .. math::

     -\mathbb{E}\big[\log Q(c \mid G(z, c))\big]

  Chen et al. 2016, "InfoGAN", eq. 5: the variational lower bound on the
  mutual information is L_I = E[log Q(c|x)] + H(c); H(c) = log K is constant
  for a uniform code, so minimizing this loss maximizes L_I.
  code_logits: [B, K]; codes: [B] integers in [0, K).
  """
  return auxiliary_classifier_loss(code_logits, codes)


def infogan_continuous_loss(mean: Array, codes: Array, log_std: Array | float = 0.0) -> Array:
  r"""InfoGAN's term for continuous codes under a factored Gaussian Q (Chen et al. 2016).

  .. math::

     -\mathbb{E}\big[\log Q(c \mid x)\big] = \mathbb{E}\Big[\sum_i \tfrac12\Big(\frac{c_i -
     \mu_i}{\sigma_i}\Big)^2 + \log\sigma_i + \tfrac12\log 2\pi\Big]

  mean, codes (and log_std when learned): [B, n_codes]. With log_std = 0
  (σ fixed at 1, as in the authors' code) this is ½‖c − μ‖² + const.

  Args:
    mean: Q's means μ [B, n_codes].
    codes: the codes c the fakes were generated from [B, n_codes].
    log_std: Q's log σ (0: σ = 1).

  Returns:
    The scalar negative log-likelihood.
  """
  log_std = jnp.broadcast_to(jnp.asarray(log_std, jnp.float32), jnp.shape(mean))
  z = (codes - mean) * jnp.exp(-log_std)
  nll = 0.5 * z**2 + log_std + 0.5 * jnp.log(2.0 * jnp.pi)
  return _mean(jnp.sum(nll.reshape(nll.shape[0], -1), axis=1))
