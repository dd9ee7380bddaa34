"""VQGAN's first stage: the adaptive weight, the perceptual distances and LPIPS's loader, the
step's gradient routing and discriminator start, the reconstruction metrics, and the tools."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import fake_torchvision_vgg, one_line_error, run

from jaxgan import models, perceptual
from jaxgan.errors import ConfigError
from jaxgan.kinds import autoencoding, vqgan
from jaxgan.models import vgg
from jaxgan.models import vqgan as vqgan_models

RNG = np.random.default_rng(0)


def test_adaptive_weight_is_the_ratio_of_gradient_norms_clipped():
  rec, gan = RNG.normal(size=(3, 3, 4, 2)), RNG.normal(size=(3, 3, 4, 2))
  expected = 0.8 * np.linalg.norm(rec) / (np.linalg.norm(gan) + 1e-4)
  got = vqgan.adaptive_weight(jnp.asarray(rec), jnp.asarray(gan), 0.8)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  huge = vqgan.adaptive_weight(jnp.ones(4), jnp.zeros(4), 1.0)  # 2 / 1e-4 > 1e4
  np.testing.assert_allclose(huge, 1e4)


def _normalize(f):
  return f / (np.sqrt((f**2).sum(-1, keepdims=True)) + 1e-10)


def test_lpips_distance_is_the_formula():
  fx = [RNG.normal(size=(2, 4, 4, 3)), RNG.normal(size=(2, 2, 2, 5))]
  fy = [RNG.normal(size=(2, 4, 4, 3)), RNG.normal(size=(2, 2, 2, 5))]
  w = [RNG.uniform(size=3), RNG.uniform(size=5)]
  expected = sum(
    ((_normalize(a) - _normalize(b)) ** 2 * wl).sum(-1).mean(axis=(1, 2))
    for a, b, wl in zip(fx, fy, w, strict=True)
  )
  got = perceptual.lpips_distance(
    [jnp.asarray(f) for f in fx], [jnp.asarray(f) for f in fy], [jnp.asarray(v) for v in w]
  )
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_digits_perceptual_distance_is_zero_on_copies_and_grows_with_noise():
  images = jnp.asarray(RNG.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
  distance = perceptual.perceptual_for("auto", "digits")
  np.testing.assert_allclose(distance(images, images), 0.0, atol=1e-6)
  small = distance(images, images + 0.05 * jnp.asarray(RNG.normal(size=images.shape)))
  large = distance(images, images + 0.5 * jnp.asarray(RNG.normal(size=images.shape)))
  assert np.all(np.asarray(small) < np.asarray(large))
  grad = jax.grad(lambda y: jnp.sum(distance(images, y)))(images + 0.1)
  assert np.all(np.isfinite(np.asarray(grad))) and np.abs(np.asarray(grad)).sum() > 0
  assert perceptual.perceptual_for("auto", "faces100") is None


def _fake_lpips_file(path):
  """torchvision-named VGG16 tensors and LPIPS lin layers, random, in PyTorch's layouts."""
  arrays = fake_torchvision_vgg(vgg.VGG16, RNG)
  for i, width in enumerate((64, 128, 256, 512, 512)):
    arrays[f"lin{i}.model.1.weight"] = RNG.uniform(0, 1, (1, width, 1, 1))
  np.savez(path, **arrays)
  return arrays


def test_lpips_weights_load_in_torchvisions_layout(tmp_path):
  # torchvision's vgg16().features: convolutions at these indices
  indices = [vgg.torchvision_index(vgg.VGG16, i) for i in range(1, 14)]
  assert indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
  arrays = _fake_lpips_file(tmp_path / "lpips.npz")
  variables, lins = vgg.load_lpips(str(tmp_path / "lpips.npz"))
  assert [w.shape for w in lins] == [(64,), (128,), (256,), (512,), (512,)]
  # the first convolution against numpy: relu(Σ W[o, i, dy, dx]·x[y+dy−1, x+dx−1, i] + b[o])
  x = RNG.normal(size=(1, 5, 5, 3))
  first = vgg.VGG(taps=(1,)).apply(variables, jnp.asarray(x, jnp.float32))[0]
  w, b = arrays["features.0.weight"], arrays["features.0.bias"]
  padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
  expected = np.zeros((5, 5, 64))
  for dy in range(3):
    for dx in range(3):
      expected += padded[dy : dy + 5, dx : dx + 5] @ w[:, :, dy, dx].T
  np.testing.assert_allclose(first[0], np.maximum(expected + b, 0), rtol=1e-4, atol=1e-4)
  distance = perceptual.perceptual_for(f"lpips:{tmp_path / 'lpips.npz'}", "any")
  images = jnp.asarray(RNG.uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)
  assert distance(images, images).shape == (2,)
  del arrays["lin3.model.1.weight"]
  np.savez(tmp_path / "broken.npz", **arrays)
  with pytest.raises(ConfigError, match="lacks lin3.model.1.weight"):
    vgg.load_lpips(str(tmp_path / "broken.npz"))
  with pytest.raises(ConfigError, match="no file"):
    perceptual.perceptual_for("lpips:/no/such.npz", "digits")


def _small_spec(optimizer, **kw):
  ae = vqgan_models.VQAutoencoder(
    channels=1,
    width=8,
    channel_multipliers=(1, 2),
    num_res_blocks=1,
    attn_resolutions=(),
    z_channels=8,
    num_codes=16,
    code_dim=4,
  )
  D = models.PatchGANDiscriminator(width=8, num_layers=1, normalization="none")
  return vqgan.VQGANSpec(ae, D, optimizer, optimizer, **kw)


def _batch():
  return {"x": jnp.asarray(RNG.uniform(-1, 1, (1, 4, 8, 8, 1)), jnp.float32)}


def test_the_autoencoder_descends_reconstruction_plus_lambda_times_the_gan_loss():
  """With SGD at rate 1 the update is −∇: it equals the gradient of L_rec + w_q·L_VQ + λ·L_GAN
  with λ from the two losses' gradients at the decoder's last layer, taken apart."""
  spec = _small_spec(optax.sgd(1.0), perceptual=perceptual.perceptual_for("digits", "digits"))
  batch = _batch()
  state = vqgan.init_state(spec, jax.random.key(0), batch)
  ae, d, x = state.autoencoder, state.discriminator, batch["x"][0]

  def losses(params):
    variables = {"params": params, **ae.model_state}
    x_hat, q = spec.autoencoder.apply(variables, x, train=True, mutable=["codebook"])[0]
    rec = jnp.mean(jnp.abs(x - x_hat)) + jnp.mean(spec.perceptual(x, x_hat))
    vq_loss = q.codebook_loss + q.commitment_loss
    gan = -jnp.mean(spec.discriminator.apply({"params": d.params}, x_hat, train=True))
    return rec, vq_loss, gan

  rec_grad = jax.grad(lambda p: losses(p)[0])(ae.params)
  vq_grad = jax.grad(lambda p: losses(p)[1])(ae.params)
  gan_grad = jax.grad(lambda p: losses(p)[2])(ae.params)
  last = np.asarray(vqgan.last_layer(rec_grad)), np.asarray(vqgan.last_layer(gan_grad))
  lam = 0.8 * np.linalg.norm(last[0]) / (np.linalg.norm(last[1]) + 1e-4)
  expected = jax.tree.map(lambda r, q, g: r + q + lam * g, rec_grad, vq_grad, gan_grad)
  new_state, metrics = vqgan.make_train_step(spec, donate=False)(state, batch, jax.random.key(1))
  np.testing.assert_allclose(metrics["adaptive_weight"], lam, rtol=1e-4)
  steps = jax.tree.map(lambda a, b: a - b, ae.params, new_state.autoencoder.params)
  # float32 sums in another order; the biases before a GroupNorm have a zero gradient in
  # exact arithmetic and rounding noise here: an absolute tolerance on the gradient's scale
  scale = max(np.abs(np.asarray(g)).max() for g in jax.tree.leaves(expected))
  for step, grad in zip(jax.tree.leaves(steps), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(step, grad, rtol=1e-3, atol=1e-5 * scale)


def test_the_discriminator_and_its_loss_wait_for_their_start_step():
  spec = _small_spec(optax.adam(1e-2), discriminator_start=2)
  batch = _batch()
  state = vqgan.init_state(spec, jax.random.key(0), batch)
  step = vqgan.make_train_step(spec, donate=False)
  d0 = state.discriminator.params
  state, m0 = step(state, batch, jax.random.key(1))
  state, m1 = step(state, batch, jax.random.key(1))
  jax.tree.map(np.testing.assert_array_equal, state.discriminator.params, d0)
  assert float(m0["discriminator_on"]) == 0 and float(m1["d_loss"]) == 0
  state, m2 = step(state, batch, jax.random.key(1))
  assert float(m2["discriminator_on"]) == 1 and float(m2["d_loss"]) > 0
  changed = jax.tree.map(
    lambda a, b: np.abs(np.asarray(a - b)).max(), state.discriminator.params, d0
  )
  assert max(jax.tree.leaves(changed)) > 0


def test_reconstruction_metrics_against_numpy():
  x = RNG.uniform(-1, 1, (3, 16, 16, 1))
  y = np.clip(x + RNG.normal(0, 0.1, x.shape), -1, 1)
  got = autoencoding.image_quality(x, y)
  np.testing.assert_allclose(got["l1"], np.abs(x - y).mean(), rtol=1e-6)
  psnr = np.mean([10 * np.log10(4.0 / np.mean((a - b) ** 2)) for a, b in zip(x, y, strict=True)])
  np.testing.assert_allclose(got["psnr"], psnr, rtol=1e-6)
  assert 0 < got["ssim"] < 1 and autoencoding.image_quality(x, x)["ssim"] == pytest.approx(1.0)
  codes = np.array([[0, 0], [1, 3]])
  stats = autoencoding.codebook_statistics(codes, 8)
  p = np.array([0.5, 0.25, 0.25])
  assert stats["codebook_usage"] == 3 / 8
  np.testing.assert_allclose(stats["perplexity"], np.exp(-np.sum(p * np.log(p))))


@pytest.mark.parametrize(
  "flags, fragment",
  [
    (["--num_codes=1"], "--num_codes must be at least 2"),
    (["--perceptual=vgg"], "--perceptual='vgg' is unknown"),
    (["--image_size=10", "--channel_multipliers=1,2,2"], "does not halve 2 times"),
  ],
)
def test_bad_vqgan_flags_fail_in_one_line(flags, fragment):
  one_line_error(run(["experiments/vqgan.py", *flags]), fragment)
