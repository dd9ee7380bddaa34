"""VQGAN's second stage: the causal transformer, the sampler, the prior's training, and the two
stages end to end from the command line."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, one_line_error, run

from jaxgan.data.images import ArraySource, ImageStream
from jaxgan.kinds import vqgan_transformer
from jaxgan.models import transformer
from jaxgan.models import vqgan as vqgan_models

RNG = np.random.default_rng(0)


def _prior(**kw):
  settings = dict(vocab_size=7, num_start_tokens=3, context=6, num_layers=2, num_heads=2)
  return transformer.CodeTransformer(**{**settings, "embed_dim": 8, **kw})


def test_position_t_reads_no_input_after_t():
  prior = _prior()
  tokens = jnp.asarray(RNG.integers(0, 10, (2, 6)), jnp.int32)
  variables = prior.init(jax.random.key(0), tokens)
  logits = prior.apply(variables, tokens)
  for t in range(5):
    changed = tokens.at[:, t + 1 :].set((tokens[:, t + 1 :] + 3) % 10)
    after = prior.apply(variables, changed)
    np.testing.assert_allclose(after[:, : t + 1], logits[:, : t + 1], atol=1e-6)
    assert not np.allclose(after[:, t + 1 :], logits[:, t + 1 :])
  with pytest.raises(ValueError, match="longer than the context of 6"):
    prior.apply(variables, jnp.zeros((1, 7), jnp.int32))


def test_causal_attention_is_the_formula():
  attention = transformer.CausalSelfAttention(num_heads=2)
  x = jnp.asarray(RNG.normal(size=(1, 4, 6)), jnp.float32)
  params = attention.init(jax.random.key(0), x)["params"]
  got = attention.apply({"params": params}, x)
  a = np.asarray(x[0], np.float64)
  qkv = a @ np.asarray(params["qkv"]["kernel"]) + np.asarray(params["qkv"]["bias"])
  q, k, v = qkv[:, :6], qkv[:, 6:12], qkv[:, 12:]
  heads = []
  for h in range(2):
    cols = slice(3 * h, 3 * h + 3)
    scores = q[:, cols] @ k[:, cols].T / np.sqrt(3) + np.triu(np.full((4, 4), -np.inf), 1)
    weights = np.exp(scores - scores.max(1, keepdims=True))
    heads.append((weights / weights.sum(1, keepdims=True)) @ v[:, cols])
  expected = np.concatenate(heads, 1) @ np.asarray(params["proj"]["kernel"])
  np.testing.assert_allclose(got[0], expected + np.asarray(params["proj"]["bias"]), atol=1e-5)


def test_top_k_and_the_inverse_cdf_draw():
  logits = jnp.asarray([[0.0, 2.0, 1.0, -1.0]])
  kept = transformer.filtered_logits(logits, 0.5, 2)
  np.testing.assert_array_equal(np.isfinite(kept[0]), [False, True, True, False])
  np.testing.assert_allclose(kept[0, 1:3], [4.0, 2.0])
  p = np.array([0.1, 0.2, 0.3, 0.4])
  u = RNG.uniform(size=20000)
  draws = transformer.inverse_cdf(jnp.tile(jnp.asarray(p), (len(u), 1)), jnp.asarray(u))
  np.testing.assert_array_equal(draws, np.searchsorted(np.cumsum(p), u))
  np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(u), p, atol=0.01)


def test_sampling_draws_each_position_from_the_prefix_drawn_so_far():
  prior = _prior()
  variables = prior.init(jax.random.key(1), jnp.zeros((1, 6), jnp.int32))
  starts = jnp.asarray([7, 9], jnp.int32)
  u = jnp.asarray(RNG.uniform(size=(2, 6)), jnp.float32)
  codes = np.asarray(transformer.sample_codes(prior, variables, starts, u, 0.8, 3))
  expected = np.zeros((2, 6), np.int32)
  for t in range(6):
    inputs = np.concatenate([np.asarray(starts)[:, None], expected[:, :-1]], 1)
    logits = np.asarray(prior.apply(variables, jnp.asarray(inputs)))[:, t] / 0.8
    logits[logits < np.sort(logits, 1)[:, -3:-2]] = -np.inf
    p = np.exp(logits - logits.max(1, keepdims=True))
    cumulative = np.cumsum(p / p.sum(1, keepdims=True), 1)
    expected[:, t] = [np.searchsorted(c, ui) for c, ui in zip(cumulative, u[:, t], strict=True)]
  np.testing.assert_array_equal(codes, expected)


def test_the_prior_learns_class_dependent_sequences():
  """Codes that are a function of the class and the position: after training, the prior
  draws them back for each class asked for."""
  labels = RNG.integers(0, 3, 300)
  codes = (labels[:, None] * 2 + np.arange(4)[None]) % 7
  dataset = vqgan_transformer.CodeDataset("toy", ArraySource(codes, labels))
  autoencoder = vqgan_models.VQAutoencoder(channels=1, width=8, channel_multipliers=(1, 2))
  prior = _prior(context=4)
  spec = vqgan_transformer.PriorSpec(prior, autoencoder, optax.adam(3e-3), (2, 2), num_classes=3)
  stream = ImageStream(dataset, 32, 1, seed=0)
  state = vqgan_transformer.init_state(spec, jax.random.key(0), stream.batch_at(0), {})
  step = vqgan_transformer.make_train_step(spec)
  for i in range(150):
    state, metrics = step(state, stream.batch_at(i), jax.random.key(1))
  assert float(metrics["token_accuracy"]) == 1.0, metrics
  starts = vqgan_transformer.start_tokens(spec, jnp.arange(3), 3)
  u = jnp.asarray(RNG.uniform(size=(3, 4)), jnp.float32)
  drawn = transformer.sample_codes(prior, {"params": state.prior.params}, starts, u, 0.5)
  np.testing.assert_array_equal(drawn, (np.arange(3)[:, None] * 2 + np.arange(4)) % 7)


@pytest.fixture(scope="module")
def tiny_vqgan(tmp_path_factory):
  """A 2-step VQGAN run on the digits with small networks (4×4 codes of 16)."""
  workdir = tmp_path_factory.mktemp("vqgan") / "run"
  small = ["--width=8", "--z_channels=8", "--code_dim=4", "--num_codes=16", "--d_width=8"]
  flags = ["--num_steps=2", "--batch_size=8", "--num_eval_samples=50", "--discriminator_start=1"]
  assert_ok(run(["experiments/vqgan.py", f"--workdir={workdir}", *flags, *small]))
  return workdir


@pytest.mark.xdist_group("tiny_vqgan")
def test_tokenize_writes_code_grids_and_reconstructions(tiny_vqgan, tmp_path):
  assert os.path.exists(tiny_vqgan / "plots" / "reconstructions_0000002.png")
  codes_path, png = tmp_path / "codes.npy", tmp_path / "recon.png"
  command = ["-m", "jaxgan.tokenize", f"--workdir={tiny_vqgan}", f"--output={codes_path}"]
  assert_ok(run([*command, "--num_images=10", f"--reconstructions={png}"]))
  codes = np.load(codes_path)
  assert codes.shape == (10, 4, 4) and codes.dtype == np.int32
  assert 0 <= codes.min() <= codes.max() < 16
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  one_line_error(
    run(["-m", "jaxgan.sample", f"--workdir={tiny_vqgan}", "--output=x.png"]), "translate"
  )


@pytest.mark.xdist_group("tiny_vqgan")
def test_the_second_stage_trains_on_the_codes_and_samples_a_class(tiny_vqgan, tmp_path):
  workdir = tmp_path / "prior"
  small = ["--num_layers=1", "--embed_dim=16", "--num_heads=2", "--batch_size=8"]
  base = ["experiments/vqgan_transformer.py", f"--vqgan_workdir={tiny_vqgan}"]
  proc = run([*base, f"--workdir={workdir}", "--num_steps=2", "--num_eval_samples=50", *small])
  assert_ok(proc)
  assert "classified as the class asked for" in proc.stdout and "held-out NLL" in proc.stdout
  out = tmp_path / "sevens.npy"
  command = ["-m", "jaxgan.sample", f"--workdir={workdir}", "--label=7", "--num_samples=5"]
  assert_ok(run([*command, f"--output={out}"]))
  assert np.load(out).shape == (5, 16, 16, 1)
  one_line_error(run([*base, "--context=8", *small]), "--context=8 is shorter than the code grid")
  one_line_error(run([*base[:1], f"--vqgan_workdir={workdir}"]), "not a VQGAN")
