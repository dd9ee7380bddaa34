"""Adversarial autoencoders: the priors and the kernel two-sample test against numpy, each phase
updating only its own networks by the gradient of its own loss, the semi-supervised data (no
label but the chosen few reaches the step), and the script."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, fake_devices, np_softplus, one_line_error, run

from jaxgan import metrics, models, priors
from jaxgan.data import images as image_data
from jaxgan.data import semi_supervised
from jaxgan.errors import ConfigError
from jaxgan.kinds import aae
from jaxgan.models import vae

RNG = np.random.default_rng(0)


def _phi(x):
  from scipy.stats import norm

  return np.clip(norm.cdf(x), 1e-7, 1 - 1e-7)


def test_the_mixture_prior_is_the_papers_ten_rotated_gaussians():
  noise = RNG.normal(size=(500, 3)).astype(np.float32)
  mixture = priors.get("mixture10", 2)
  labels = np.arange(500) % 10  # guided: each point on its label's component

  def expected(k):
    angle = 2 * np.pi * k / 10
    x, y = 0.5 * noise[:, 0] + 1.4, 0.05 * noise[:, 1]  # along the radius, across it
    return np.stack(
      [x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle)], axis=1
    )

  z = np.asarray(mixture.transform(jnp.asarray(noise)))
  np.testing.assert_allclose(
    z, expected(np.minimum(np.floor(10 * _phi(noise[:, 2])), 9)), atol=1e-5
  )
  guided = np.asarray(mixture.transform(jnp.asarray(noise), jnp.asarray(labels)))
  np.testing.assert_allclose(guided, expected(labels), atol=1e-5)


def test_the_swiss_roll_prior_and_its_labeled_tenths():
  noise = RNG.normal(size=(400, 1)).astype(np.float32)
  u = _phi(noise[:, 0])
  expected = (
    3
    * np.sqrt(u)[:, None]
    * np.stack([np.cos(4 * np.pi * np.sqrt(u)), np.sin(4 * np.pi * np.sqrt(u))], axis=1)
  )
  roll = priors.get("swissroll", 2)
  np.testing.assert_allclose(np.asarray(roll.transform(jnp.asarray(noise))), expected, atol=1e-5)
  labels = np.arange(400) % 10
  radius = np.linalg.norm(
    np.asarray(roll.transform(jnp.asarray(noise), jnp.asarray(labels))), axis=1
  )
  u_guided = (radius / 3) ** 2  # each label owns its tenth of u
  assert np.all((u_guided >= labels / 10 - 1e-5) & (u_guided <= (labels + 1) / 10 + 1e-5))


def test_priors_reject_unknown_names_and_wrong_sizes():
  with pytest.raises(ConfigError, match="unknown prior 'laplace'"):
    priors.get("laplace", 2)
  with pytest.raises(ConfigError, match="--latent_dim=2"):
    priors.get("mixture10", 8)
  z = np.asarray(priors.get("gaussian", 5).sample(jax.random.key(0), 20000))
  assert z.shape == (20000, 5) and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_the_kernel_two_sample_test_against_numpy():
  x, y = RNG.normal(size=(30, 2)), RNG.normal(size=(25, 2)) + 0.3
  result = metrics.mmd_two_sample_test(x, y, num_permutations=50)
  pooled = np.concatenate([x, y])
  distances = [np.linalg.norm(a - b) for i, a in enumerate(pooled) for b in pooled[i + 1 :]]
  sigma = np.median(distances)

  def k(a, b):
    return np.exp(-np.sum((a - b) ** 2) / (2 * sigma**2))

  within_x = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (30 * 29)
  within_y = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (25 * 24)
  across = sum(k(a, b) for a in x for b in y) / (30 * 25)
  assert result.bandwidth == pytest.approx(sigma)
  assert result.mmd2 == pytest.approx(within_x + within_y - 2 * across, rel=1e-9)
  far = metrics.mmd_two_sample_test(RNG.normal(size=(200, 2)), RNG.normal(size=(200, 2)) + 1)
  same = metrics.mmd_two_sample_test(RNG.normal(size=(200, 2)), RNG.normal(size=(200, 2)))
  assert far.p_value < 0.01 and same.p_value > 0.01 and abs(same.mmd2) < far.mmd2 / 10


def _spec(variant="unsupervised", prior_labels=False):
  semi = variant == "semi_supervised"
  return aae.AAESpec(
    encoder=vae.MLPEncoder((12,), 2, 3 if semi else 0),
    decoder=models.MLPGenerator(
      hidden_dims=(12,), output_shape=(4, 4, 1), output_activation="tanh"
    ),
    discriminator=models.MLPDiscriminator(hidden_dims=(12,), num_classes=3 if prior_labels else 0),
    prior=priors.get("mixture10", 2),
    autoencoder_optimizer=optax.sgd(1.0),
    discriminator_optimizer=optax.sgd(1.0),
    variant=variant,
    num_classes=3,
    category_discriminator=models.MLPDiscriminator(hidden_dims=(12,)) if semi else None,
    prior_labels=prior_labels,
  )


def _batch(semi=False):
  x = jnp.asarray(RNG.uniform(-1, 1, (1, 6, 4, 4, 1)), jnp.float32)
  labels = jnp.asarray([[0, 1, 2, 0, 1, 2]], jnp.int32)
  if semi:
    return {"x": x, "labeled_x": jnp.flip(x, 1), "labeled_label": labels}
  return {"x": x, "label": labels}


def _changed(old, new) -> set[str]:
  fields = ("encoder", "generator", "discriminator", "category_discriminator")
  return {
    f
    for f in fields
    if getattr(old, f) is not None
    and any(
      not np.array_equal(a, b)
      for a, b in zip(
        jax.tree.leaves(getattr(old, f).params),
        jax.tree.leaves(getattr(new, f).params),
        strict=True,
      )
    )
  }


def _assert_descended(old_params, new_params, grads):
  """With SGD at rate 1 the update is −∇ of the loss computed here."""
  for a, b, g in zip(*(jax.tree.leaves(t) for t in (old_params, new_params, grads)), strict=True):
    np.testing.assert_allclose(np.asarray(a) - np.asarray(b), g, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("variant", ["unsupervised", "supervised", "semi_supervised"])
def test_each_phase_updates_only_its_own_networks(variant):
  """The reconstruction phase moves the encoder and the decoder; the adversaries' phase the
  adversaries; the generator phase and the classification phase the encoder alone. Each update
  is −∇ of that phase's loss, computed here from the formulas."""
  spec, semi = _spec(variant), variant == "semi_supervised"
  batch = _batch(semi)
  state = aae.init_state(spec, jax.random.key(0), batch)
  x = batch["x"][0]
  labels = None if semi else batch["label"][0]
  e, g, d = state.encoder, state.generator, state.discriminator

  def encoder_out(params, images):
    return spec.encoder.apply({"params": params}, images, train=True)

  def decoded(e_params, g_params):
    out = encoder_out(e_params, x)
    z, classes = out if semi else (out, None)
    if variant == "supervised":
      classes = jax.nn.one_hot(labels, 3)
    elif semi:
      classes = jax.nn.softmax(classes)
    code = z if classes is None else jnp.concatenate([z, classes], -1)
    return spec.decoder.apply({"params": g_params}, code, train=True)

  after, out = aae.reconstruction_phase(spec, state, x, labels)
  assert _changed(state, after) == {"encoder", "generator"}
  grads = jax.grad(lambda p, q: jnp.mean((decoded(p, q) - x) ** 2), argnums=(0, 1))(
    e.params, g.params
  )
  _assert_descended(e.params, after.encoder.params, grads[0])
  _assert_descended(g.params, after.generator.params, grads[1])
  np.testing.assert_allclose(
    out["reconstruction"], np.mean((decoded(e.params, g.params) - x) ** 2), rtol=1e-5
  )

  key = jax.random.key(3)
  after, _ = aae.discriminator_phase(spec, state, x, labels, key)
  assert _changed(state, after) == (
    {"discriminator", "category_discriminator"} if semi else {"discriminator"}
  )
  real = spec.prior.sample(jax.random.split(key)[0], 6)
  z = encoder_out(e.params, x)[0] if semi else encoder_out(e.params, x)

  def d_loss(params):
    scores = spec.discriminator.apply({"params": params}, jnp.concatenate([real, z]), train=True)
    return jnp.mean(jax.nn.softplus(-scores[:6])) + jnp.mean(jax.nn.softplus(scores[6:]))

  _assert_descended(d.params, after.discriminator.params, jax.grad(d_loss)(d.params))

  after, out = aae.generator_phase(spec, state, x, labels)
  assert _changed(state, after) == {"encoder"}

  def g_loss(params):
    out = encoder_out(params, x)
    z = out[0] if semi else out
    scores = spec.discriminator.apply({"params": d.params}, z, train=True)
    total = jnp.mean(jax.nn.softplus(-scores))
    if semi:
      c = state.category_discriminator
      scores = spec.category_discriminator.apply(
        {"params": c.params}, jax.nn.softmax(out[1]), train=True
      )
      total = total + jnp.mean(jax.nn.softplus(-scores))
    return total

  _assert_descended(e.params, after.encoder.params, jax.grad(g_loss)(e.params))
  if semi:
    labeled_x, labeled = batch["labeled_x"][0], batch["labeled_label"][0]
    after, out = aae.classification_phase(spec, state, labeled_x, labeled)
    assert _changed(state, after) == {"encoder"}

    def ce(params):
      logits = encoder_out(params, labeled_x)[1]
      return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labeled[:, None], 1))

    _assert_descended(e.params, after.encoder.params, jax.grad(ce)(e.params))
  new, out = aae.make_train_step(spec, donate=False)(state, batch, jax.random.key(1))
  assert float(out["finite"]) == 1 and int(new.step) == 1


def test_the_losses_are_the_gan_losses_of_numpy():
  real, fake = RNG.normal(size=7), RNG.normal(size=7)
  d_loss, g_loss = aae._gan_losses(jnp.asarray(real), jnp.asarray(fake))
  np.testing.assert_allclose(
    d_loss, np.mean(np_softplus(-real)) + np.mean(np_softplus(fake)), rtol=1e-5
  )
  np.testing.assert_allclose(g_loss, np.mean(np_softplus(-fake)), rtol=1e-5)


def test_prior_labels_guide_the_adversary():
  spec = _spec(prior_labels=True)
  batch = _batch()
  state = aae.init_state(spec, jax.random.key(0), batch)
  new, out = aae.make_train_step(spec, donate=False)(state, batch, jax.random.key(1))
  assert float(out["finite"]) == 1
  with pytest.raises(ConfigError, match="unsupervised"):
    _spec("supervised", prior_labels=True)


def test_the_semi_supervised_stream_serves_only_the_chosen_labels():
  train = image_data.load_image_dataset("digits", 16, split="train80")
  labeled = semi_supervised.labeled_subset(train, 100, seed=3)
  _, labels = labeled.source.read(np.arange(len(labeled.source)))
  assert len(labeled.source) == 100 and np.all(np.bincount(labels, minlength=10) == 10)
  stream = semi_supervised.SemiSupervisedStream(
    image_data.ImageStream(train, 32, 1, 0), image_data.ImageStream(labeled, 32, 1, 1)
  )
  batch = stream.local_batch_at(5)
  assert set(batch) == {"x", "labeled_x", "labeled_label"}  # the unlabeled batch has no "label"
  assert batch["x"].shape == batch["labeled_x"].shape == (1, 32, 16, 16, 1)
  chosen_images = labeled.examples(np.arange(100))[0].reshape(100, -1)
  for image, label in zip(batch["labeled_x"][0], batch["labeled_label"][0], strict=True):
    match = np.flatnonzero(np.all(chosen_images == image.reshape(-1), axis=1))
    assert len(match) >= 1 and label in labels[match]
  with pytest.raises(ConfigError, match="multiple of the 10 classes"):
    semi_supervised.labeled_subset(train, 105, seed=0)


def test_the_script_trains_draws_and_samples(tmp_path):
  workdir = tmp_path / "run"
  flags = ["--num_steps=2", "--batch_size=20", "--num_eval_samples=60", "--hidden_width=16"]
  proc = run(  # on 2 devices: the labeled batch is split over them like the unlabeled one
    [
      "experiments/aae.py",
      f"--workdir={workdir}",
      "--variant=semi_supervised",
      "--latent_dim=2",
      "--num_devices=2",
      *flags,
    ],
    env=fake_devices(2),
  )
  assert_ok(proc)
  assert "classification error" in proc.stdout and "MMD²" in proc.stdout
  results = json.loads((workdir / "results.json").read_text())
  assert {"mmd2", "classification_error", "reconstruction_fid", "fid"} <= set(results)
  for picture in ("latent", "styles", "reconstructions", "samples"):
    assert (workdir / "plots" / f"{picture}_0000002.png").exists(), picture
  out = tmp_path / "samples.npy"
  assert_ok(
    run(["-m", "jaxgan.sample", f"--workdir={workdir}", "--num_samples=5", f"--output={out}"])
  )
  assert np.load(out).shape == (5, 16, 16, 1)
  rebuilt = tmp_path / "reconstructions.npy"  # of its held-out digits, the tool's default input
  assert_ok(run(["-m", "jaxgan.translate", f"--workdir={workdir}", f"--output={rebuilt}"]))
  assert np.load(rebuilt).shape == (16, 16, 16, 1)
  one_line_error(run(["experiments/aae.py", "--prior=laplace"]), "unknown prior 'laplace'")
  one_line_error(
    run(["experiments/aae.py", "--prior=swissroll", "--latent_dim=8"]), "--latent_dim=2"
  )
