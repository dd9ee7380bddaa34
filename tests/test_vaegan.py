"""VAE-GAN: the KL and the reparameterization against numpy, the equilibrium rule, each network
updated by its own loss only (the authors' routing), the plain VAE baseline, and the script."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, one_line_error, run

from jaxgan import models
from jaxgan.kinds import vaegan
from jaxgan.models import vae

RNG = np.random.default_rng(0)


def test_the_gaussian_kl_and_the_reparameterization():
  mean, log_variance = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
  expected = -0.5 * np.sum(1 + log_variance - mean**2 - np.exp(log_variance), axis=1)
  np.testing.assert_allclose(
    vae.gaussian_kl(jnp.asarray(mean), jnp.asarray(log_variance)), expected, rtol=1e-5
  )
  m, lv = jnp.full((20000, 1), 1.5), jnp.full((20000, 1), np.log(0.25))
  z = np.asarray(vae.reparameterize(m, lv, jax.random.key(0)))
  assert abs(z.mean() - 1.5) < 0.01 and abs(z.std() - 0.5) < 0.01
  grad = jax.grad(lambda m: jnp.sum(vae.reparameterize(m, lv[:3], jax.random.key(1))))(m[:3])
  np.testing.assert_allclose(grad, 1.0)


@pytest.mark.parametrize(
  "real, fake, expected",
  [
    (0.7, 0.7, (True, True)),  # near equilibrium: both train
    (0.2, 0.7, (True, False)),  # D wins on the real half: D rests
    (0.7, 1.2, (False, True)),  # D loses on the generated half: G rests
    (0.2, 1.2, (True, True)),  # both rules fire: neither is skipped
  ],
)
def test_the_equilibrium_rule(real, fake, expected):
  got = vaegan.equilibrium_updates(jnp.asarray(real), jnp.asarray(fake), 0.35)
  assert tuple(bool(v) for v in got) == expected


def _spec(**kw):
  return vaegan.VAEGANSpec(
    encoder=vae.ConvEncoder(8, 4, 3),
    decoder=models.DCGANGenerator(image_size=8, channels=1, width=4),
    discriminator=models.DCGANDiscriminator(
      image_size=8, width=4, normalization="batch", return_features=True
    ),
    optimizer=optax.sgd(1.0),
    latent_dim=3,
    **kw,
  )


def test_each_network_descends_its_own_loss():
  """With SGD at rate 1 each update is −∇ of that network's loss: the encoder's KL + L_llike,
  the decoder's γ·L_llike + (1 − γ)·log(1 − D(x_p) + ε), D's ½(real cost + fake cost),
  computed here apart from the step."""
  spec = _spec(gamma=0.3, equilibrium_margin=0.0)
  batch = {"x": jnp.asarray(RNG.uniform(-1, 1, (1, 6, 8, 8, 1)), jnp.float32)}
  state = vaegan.init_state(spec, jax.random.key(0), batch)
  key = jax.random.key(5)
  new, metrics = vaegan.make_train_step(spec, donate=False)(state, batch, key)
  x, b = batch["x"][0], 6
  eps_key, prior_key = jax.random.split(jax.random.fold_in(key, 0))
  z_p = jax.random.normal(prior_key, (b, 3))
  e, g, d = state.encoder, state.generator, state.discriminator

  def run_d(params, images):
    out = spec.discriminator.apply(
      {"params": params, **d.model_state}, images, train=True, mutable=["batch_stats"]
    )[0]
    return out

  def losses(e_params, g_params):
    (mean, lv), _ = spec.encoder.apply(
      {"params": e_params, **e.model_state}, x, train=True, mutable=["batch_stats"]
    )
    z = mean + jnp.exp(0.5 * lv) * jax.random.normal(eps_key, mean.shape)
    images = spec.decoder.apply(
      {"params": g_params, **g.model_state},
      jnp.concatenate([z, z_p]),
      train=True,
      mutable=["batch_stats"],
    )[0]
    x_tilde, x_p = images[:b], images[b:]
    f = run_d(d.params, jnp.concatenate([x, x_tilde]))["features"]
    llike = jnp.mean(0.5 * jnp.sum((f[b:] - jax.lax.stop_gradient(f[:b])) ** 2, axis=1))
    kl = jnp.mean(-0.5 * jnp.sum(1 + lv - mean**2 - jnp.exp(lv), axis=1))
    logits = run_d(d.params, jnp.concatenate([x, x_p]))["adv"][b:]
    gan = jnp.mean(jnp.log(1 - jax.nn.sigmoid(logits) + 1e-3))
    return kl + llike, 0.3 * llike + 0.7 * gan, x_p

  e_grad = jax.grad(lambda p: losses(p, g.params)[0])(e.params)
  g_grad = jax.grad(lambda p: losses(e.params, p)[1])(g.params)
  x_p = losses(e.params, g.params)[2]

  def d_loss(params):
    logits = run_d(params, jnp.concatenate([x, x_p]))["adv"]
    real = -jnp.mean(jnp.log(jax.nn.sigmoid(logits[:b]) + 1e-3))
    fake = -jnp.mean(jnp.log(1 - jax.nn.sigmoid(logits[b:]) + 1e-3))
    return 0.5 * (real + fake)

  d_grad = jax.grad(d_loss)(d.params)
  for old, updated, grad in (
    (e, new.encoder, e_grad),
    (g, new.generator, g_grad),
    (d, new.discriminator, d_grad),
  ):
    steps = jax.tree.map(lambda a, c: a - c, old.params, updated.params)
    scale = max(np.abs(np.asarray(v)).max() for v in jax.tree.leaves(grad))
    for step, expected in zip(jax.tree.leaves(steps), jax.tree.leaves(grad), strict=True):
      np.testing.assert_allclose(step, expected, rtol=1e-3, atol=1e-5 * scale)
  assert float(metrics["decoder_updated"]) == 1 and float(metrics["d_updated"]) == 1


def test_the_plain_vae_reconstructs_in_pixels_and_leaves_d_alone():
  spec = _spec(adversarial=False)
  batch = {"x": jnp.asarray(RNG.uniform(-1, 1, (1, 6, 8, 8, 1)), jnp.float32)}
  state = vaegan.init_state(spec, jax.random.key(0), batch)
  new, metrics = vaegan.make_train_step(spec, donate=False)(state, batch, jax.random.key(1))
  jax.tree.map(np.testing.assert_array_equal, new.discriminator.params, state.discriminator.params)
  assert float(metrics["g_loss"]) == 0 and float(metrics["llike"]) > 0


def test_the_script_trains_samples_and_reconstructs(tmp_path):
  workdir = tmp_path / "run"
  flags = ["--num_steps=2", "--batch_size=8", "--num_eval_samples=50", "--width=8"]
  proc = run(["experiments/vaegan.py", f"--workdir={workdir}", *flags])
  assert_ok(proc)
  assert "held-out L1" in proc.stdout and "FID" in proc.stdout
  assert (workdir / "plots" / "reconstructions_0000002.png").exists()
  assert (workdir / "plots" / "samples_0000002.png").exists()
  out = tmp_path / "samples.npy"
  assert_ok(
    run(["-m", "jaxgan.sample", f"--workdir={workdir}", "--num_samples=5", f"--output={out}"])
  )
  assert np.load(out).shape == (5, 16, 16, 1)
  one_line_error(run(["experiments/vaegan.py", "--gamma=2"]), "--gamma must be in [0, 1]")
