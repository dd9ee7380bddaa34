"""GAN-CLS text-to-image (jaxgan.kinds.text2image, jaxgan.models.text2image) and the digit
captions: the matching-aware loss, GAN-INT's mixing and the attributes against numpy; the
captions, their vocabulary and bad captions; a few training steps and sampling from a typed
caption end to end."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import caption_embedding_folder, run

from jaxgan.data import digit_captions
from jaxgan.errors import ConfigError
from jaxgan.kinds import text2image
from jaxgan.models import text2image as text2image_models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)


def numpy_bce(logits, label):
  p = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
  return np.mean(-label * np.log(p) - (1 - label) * np.log(1 - p))


@pytest.mark.parametrize("c", [0.5, 0.0, 0.3])
def test_matching_aware_loss_against_numpy(c):
  real, wrong, fake = (RNG.normal(size=16).astype(np.float32) for _ in range(3))
  expected = numpy_bce(real, 1) + c * numpy_bce(wrong, 0) + (1 - c) * numpy_bce(fake, 0)
  got = text2image.matching_aware_discriminator_loss(real, wrong, fake, c)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_interpolation_mix_averages_the_batchs_two_halves():
  mix = np.asarray(text2image.interpolation_mix(6))
  phi = RNG.normal(size=(6, 5))
  expected = np.concatenate([phi, (phi[:3] + phi[3:]) / 2])
  np.testing.assert_allclose(mix @ phi, expected, atol=1e-6)


def test_attributes_against_hand_made_digits():
  # a vertical bar, and the same bar sheared so that its top is 3.5 pixels right of its bottom
  upright = np.zeros((8, 8))
  upright[:, 3] = 1.0
  sheared = np.zeros((8, 8))
  for y in range(8):
    sheared[y, round(3.5 - 0.5 * (y - 3.5))] = 1.0  # 0.5 px right per row up, rounded
  thick = np.zeros((8, 8))
  thick[:, 2:5] = 1.0
  raw = digit_captions.measure(np.stack([upright, sheared, thick]))
  np.testing.assert_allclose(raw[:, 0], [8, 8, 24])  # ink
  assert raw[0, 1] == 0.0
  ys, xs = np.nonzero(sheared)
  slope = -np.polyfit(ys, xs, 1)[0]  # least squares x on y: what −cov(x, y)/var(y) is
  np.testing.assert_allclose(raw[1, 1], slope, rtol=1e-9)
  np.testing.assert_allclose(raw[:, 2], [1, 4, 3])  # columns holding ink: 3, 2–5, 2–4


def test_captions_say_only_what_the_digit_is():
  train, _ = digit_captions.load_captions()
  texts, tokens, said = train.captions(np.arange(300), np.random.default_rng(1))
  assert np.all((said == 0) | (said == train.levels[:300]))
  assert np.mean(said != 0) > 0.3
  for text, label, levels in zip(texts, train.labels, said, strict=False):
    words = set(text.split())
    assert words & {digit_captions.NUMBER_NAMES[label], str(label)}
    thick = words & {"thick", "bold", "heavy"}
    thin = words & {"thin", "light", "faint"}
    assert bool(thick) == (levels[0] == 1) and bool(thin) == (levels[0] == -1)
    assert ("right" in words) == (levels[1] == 1) and ("left" in words) == (levels[1] == -1)
  np.testing.assert_array_equal(tokens[0], train.vocabulary.encode(texts[0]))
  assert train.vocabulary.decode(tokens[0]) == texts[0]


def test_held_out_captions_use_templates_training_never_writes():
  train, test = digit_captions.load_captions()
  held_out = digit_captions.held_out()
  assert len(held_out.texts) == digit_captions.HELD_OUT_CAPTIONS * len(test.labels)
  training_texts = set(train.captions(np.arange(len(train.labels)), np.random.default_rng(0))[0])
  assert any("handwritten" in t for t in held_out.texts)
  assert not any("handwritten" in t for t in training_texts)
  np.testing.assert_array_equal(held_out.labels, test.labels[held_out.digits])


def test_the_stream_resumes_exactly_and_its_wrong_text_names_another_class():
  train, _ = digit_captions.load_captions()
  stream = digit_captions.CaptionStream(train, 16, seed=3)
  a, b = stream.local_batch_at(7), stream.local_batch_at(7)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  names = {w: k for k, w in enumerate(digit_captions.NUMBER_NAMES)} | {str(k): k for k in range(10)}
  for right, wrong in zip(a["text"][0], a["wrong_text"][0], strict=True):
    right_class = [names[w] for w in train.vocabulary.decode(right).split() if w in names]
    wrong_class = [names[w] for w in train.vocabulary.decode(wrong).split() if w in names]
    assert right_class != wrong_class


@pytest.mark.parametrize(
  "caption, fragment",
  [("", "empty"), ("a bold zebra", "'zebra' is not in"), ("three " * 13, "13 words")],
)
def test_bad_captions_get_one_line(caption, fragment):
  with pytest.raises(ConfigError, match=fragment):
    digit_captions.vocabulary().encode(caption)


def test_networks_read_words_or_embeddings_and_mix_them():
  tokens = jnp.asarray(
    np.stack([digit_captions.vocabulary().encode(t) for t in ["a thin 7", "a wide one"]])
  )
  z = jnp.ones((2, 8))
  for text, vocab in ((tokens, digit_captions.vocabulary().size), (jnp.ones((2, 12)), 0)):
    g = text2image_models.CaptionGenerator(16, 1, 4, vocab, 8)
    d = text2image_models.MatchingDiscriminator(16, 4, vocab, 8)
    g_vars = g.init(jax.random.key(0), z, text, train=False)
    images = g.apply(g_vars, z, text, train=False)
    assert images.shape == (2, 16, 16, 1)
    same = g.apply(g_vars, z, text, train=False, mix=jnp.eye(2))
    np.testing.assert_allclose(same, images, atol=1e-6)
    d_vars = d.init(jax.random.key(1), images, text, train=False)
    assert d.apply(d_vars, images, text, train=False).shape == (2,)
    mixed = d.apply(d_vars, images[:1], text, train=False, mix=jnp.full((1, 2), 0.5))
    assert mixed.shape == (1,)


def small_spec(**kwargs):
  vocab = digit_captions.vocabulary().size
  return text2image.TextToImageSpec(
    text2image_models.CaptionGenerator(16, 1, 4, vocab, 8),
    text2image_models.MatchingDiscriminator(16, 4, vocab, 8),
    optax.adam(2e-4, 0.5),
    optax.adam(2e-4, 0.5),
    latent_dim=8,
    **kwargs,
  )


@pytest.mark.parametrize("wrong_text_weight, interpolation_weight", [(0.5, 1.0), (0.0, 0.0)])
def test_train_steps_update_both_players(wrong_text_weight, interpolation_weight):
  spec = small_spec(wrong_text_weight=wrong_text_weight, interpolation_weight=interpolation_weight)
  stream = digit_captions.CaptionStream(digit_captions.load_captions()[0], 8, seed=0)
  state = text2image.init_state(spec, jax.random.key(0), stream.batch_at(0))
  before = jax.tree.map(np.array, (state.generator.params, state.discriminator.params))
  step = text2image.make_train_step(spec)
  for i in range(2):
    state, metrics = step(state, stream.batch_at(i), jax.random.key(1))
  assert float(metrics["finite"]) == 1.0 and int(state.step) == 2
  assert ("g_interpolation_loss" in metrics) == bool(interpolation_weight)
  after = (state.generator.params, state.discriminator.params)
  for old, new in zip(before, after, strict=True):
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), old, new)
    assert all(jax.tree.leaves(changed))


def test_experiment_trains_and_draws_a_typed_caption(tmp_path):
  workdir = str(tmp_path / "run")
  flags = [
    "--num_steps=2",
    "--batch_size=4",
    "--g_width=4",
    "--d_width=4",
    "--text_features=8",
    "--latent_dim=8",
    "--eval_every=2",
    "--plot_every=2",
    "--checkpoint_every=2",
    "--num_eval_samples=40",
    "--log_every=1",
    f"--workdir={workdir}",
  ]
  proc = run([os.path.join("experiments", "text2image.py"), *flags])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "held-out captions: judge" in proc.stdout
  for picture in ("captions", "interpolations"):
    assert os.path.exists(os.path.join(workdir, "plots", f"{picture}_0000002.png"))

  from jaxgan import runs

  restored = runs.restore(workdir)
  threes = runs.draw(restored, 5, seed=0, caption="a bold three")
  assert threes.shape == (5, 16, 16, 1) and np.all(np.abs(threes) <= 1)
  assert not np.allclose(threes[0], runs.draw(restored, 5, seed=0, caption="a thin seven")[0])
  held_out = runs.draw(restored, 3, seed=0)  # the held-out captions in turn
  assert held_out.shape == (3, 16, 16, 1)
  with pytest.raises(ConfigError, match="'zebra' is not in"):
    runs.draw(restored, 1, seed=0, caption="a zebra")
  # what python -m jaxgan.evaluate runs: the evaluators config.json names, from the Model
  from jaxgan import evaluators

  names = restored.config["evaluators"]
  settings = evaluators.EvalSettings(jax.random.key(0), 40)
  results = evaluators.run_all(evaluators.build(names, restored.model, settings), restored.state)
  assert 0 <= results["judge_accuracy"] <= 1 and results["real_judge_accuracy"] > 0.9

  out = tmp_path / "bad.png"
  sample = ["-m", "jaxgan.sample", f"--workdir={workdir}", f"--output={out}"]
  bad = run([*sample, "--caption="])
  assert bad.returncode == 2 and "empty" in bad.stderr.strip().splitlines()[-1]
  assert not out.exists()


def test_bad_flags_get_one_line():
  from conftest import experiment_module

  config = experiment_module("text2image.py").Config
  with pytest.raises(ConfigError, match="must be even"):
    config(batch_size=7)
  with pytest.raises(ConfigError, match="--image_size=16"):
    config(image_size=32)


def test_a_folder_of_images_and_embeddings_trains_and_is_drawn(tmp_path):
  from conftest import experiment_module

  from jaxgan.data import caption_embeddings

  caption_embedding_folder(tmp_path / "birds")
  train, test = caption_embeddings.load_embedding_folder(str(tmp_path / "birds"), 16)
  assert train.embeddings.shape == (6, 10, 16) and test.caption(1).startswith("a small bird")
  stream = caption_embeddings.EmbeddingStream(train, 4, seed=0)
  batch = stream.local_batch_at(2)
  assert batch["x"].shape == (1, 4, 16, 16, 3) and batch["text"].shape == (1, 4, 16)
  np.testing.assert_array_equal(batch["text"], stream.local_batch_at(2)["text"])
  # each text is the mean of CAPTIONS_PER_TEXT of its image's ten embeddings
  rows = digit_captions.image_data.example_indices(0, 6, 8, 4)
  for row, text in zip(rows, batch["text"][0], strict=True):
    residual = np.linalg.lstsq(train.embeddings[row].T, text, rcond=None)[1]
    assert residual.size == 0 or residual[0] < 1e-8

  module = experiment_module("text2image.py")
  workdir = str(tmp_path / "run")
  config = module.Config(
    dataset="folder",
    data_dir=str(tmp_path / "birds"),
    image_size=16,
    num_steps=2,
    batch_size=4,
    g_width=4,
    d_width=4,
    text_features=8,
    latent_dim=8,
    eval_every=2,
    plot_every=2,
    checkpoint_every=2,
    log_every=1,
    num_devices=1,
    workdir=workdir,
  )
  module.main(config)
  for picture in ("captions", "interpolations"):
    assert os.path.exists(os.path.join(workdir, "plots", f"{picture}_0000002.png"))
  from jaxgan import runs

  restored = runs.restore(workdir)
  assert runs.draw(restored, 3, seed=0).shape == (3, 16, 16, 3)
  with pytest.raises(ConfigError, match="reads no text"):
    runs.draw(restored, 1, seed=0, caption="a red bird")


def test_a_folder_without_embeddings_gets_one_line(tmp_path):
  from jaxgan.data import caption_embeddings

  caption_embedding_folder(tmp_path / "birds")
  os.remove(tmp_path / "birds" / "test" / "char-CNN-RNN-embeddings.pickle")
  with pytest.raises(ConfigError, match="is missing"):
    caption_embeddings.load_embedding_folder(str(tmp_path / "birds"), 16)
  (tmp_path / "birds" / "test" / "char-CNN-RNN-embeddings.pickle").write_bytes(b"\x80\x02garbage")
  with pytest.raises(ConfigError, match="corrupt"):
    caption_embeddings.load_embedding_folder(str(tmp_path / "birds"), 16)
