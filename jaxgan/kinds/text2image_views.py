"""A text-to-image run's generator and its measures, as functions of a state dict: captions
(word ids or pre-computed embeddings) to images, the held-out captions scored, the pictures.

    illustrate = illustrator(spec)                  # spec: a kinds.text2image.TextToImageSpec
    images = illustrate(state, tokens, z)           # G in eval mode, numpy
    generator = caption_generator(spec, bank, vocabulary)   # trainer.Generator, with a prompt
    evaluator = captions_evaluator(model, settings)         # registered as "captions"

The "captions" evaluator generates an image for each held-out digit caption (held-out digits,
templates unseen in training) and measures the digits judge's accuracy for the class the
caption names, and for each attribute a caption can say (thickness, slant, width) Pearson's r
between the level asked for (−1, +1) and the z-score measured on the generated digit; on a
folder of embeddings it draws the held-out captions only. The "interpolations" evaluator of
training draws G between two captions' embeddings (GAN-INT). Split from jaxgan.kinds.text2image
(the training step, the trainer and the kind), which it does not import.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import evaluators, judges, parallel, plots, trainer
from jaxgan.data import digit_captions
from jaxgan.data import images as image_data
from jaxgan.latent import LatentSpace
from jaxgan.step import apply_model, network_variables

Array = jax.Array

# ---------------------------------------------------------------------------
# The trained generator: captions to images.
# ---------------------------------------------------------------------------


PAINT_BATCH = 500  # captions per call of G when generating


def illustrator(spec):
  """illustrate(state, text [N, ...], z [N, latent_dim], mix=None) → images as numpy: the
  generator of spec (a TextToImageSpec) in eval mode (BatchNorm's running averages),
  PAINT_BATCH captions at a time."""

  @jax.jit
  def apply(variables, text, z, mix):
    return apply_model(
      spec.generator, variables["params"], variables["model_state"], z, False, text, mix=mix
    )[0]

  def illustrate(state, text, z, mix=None) -> np.ndarray:
    variables = network_variables(state["generator"])
    if mix is not None:
      return np.asarray(apply(variables, jnp.asarray(text), jnp.asarray(z), jnp.asarray(mix)))
    return evaluators.in_chunks(
      lambda _, part, noise: apply(variables, jnp.asarray(part), jnp.asarray(noise), None),
      PAINT_BATCH,
      text,
      z,
    )

  return illustrate


def caption_generator(spec, bank: np.ndarray, vocabulary) -> trainer.Generator:
  """The run's trainer.Generator: "class" k of its LatentSpace is the caption bank's row k
  (its held-out captions), so jaxgan.sample and the generic evaluators draw from them; with a
  vocabulary, prompt(text) gives the generator of a caption typed by the user.

  Args:
    spec: the run's TextToImageSpec.
    bank: G's text inputs of the held-out captions (word ids or embeddings) [K, ...].
    vocabulary: a digit_captions.Vocabulary, or None (runs on pre-computed embeddings).

  Returns:
    The Generator.
  """
  illustrate = illustrator(spec)

  def generator_of(captions: np.ndarray, num_captions: int) -> trainer.Generator:
    def generate(state, latent):
      rows = np.zeros(len(latent.z), np.int32) if latent.labels is None else latent.labels
      return illustrate(state, captions[np.asarray(rows)], latent.z)

    space = LatentSpace(spec.latent_dim, num_classes=num_captions)
    return trainer.Generator(space, generate, prompt=prompt if vocabulary else None)

  def prompt(text: str) -> trainer.Generator:
    return generator_of(vocabulary.encode(text)[None], 0)

  return generator_of(bank, len(bank))


# ---------------------------------------------------------------------------
# Measuring on the held-out captions.
# ---------------------------------------------------------------------------


def attributes_of(images: np.ndarray, labels: np.ndarray, statistics) -> np.ndarray:
  """The within-class z-scores of digit_captions.ATTRIBUTES, measured at the digits' 8×8.

  Args:
    images: 16×16 images in [−1, 1] [N, 16, 16, 1] (block-averaged to 8×8).
    labels: the class each is z-scored in [N].
    statistics: the training split's digit_captions.ClassStatistics.

  Returns:
    float [N, 3].
  """
  small = judges.block_average(np.asarray(images, np.float32), 8)
  return statistics.z_scores(digit_captions.measure((small + 1.0) / 2.0), labels)


def attribute_correlations(said: np.ndarray, z: np.ndarray) -> dict[str, float]:
  """Per attribute, Pearson's r between the level a caption asks for (−1 or +1; captions
  that do not say it are left out) and the z-score measured (scipy.stats.pearsonr)."""
  from scipy import stats

  out = {}
  for i, name in enumerate(digit_captions.ATTRIBUTES):
    asked = said[:, i] != 0
    out[name] = float(stats.pearsonr(said[asked, i], z[asked, i]).statistic)
  return out


CAPTION_ROWS, DRAWS_PER_CAPTION = 10, 8  # captions_STEP.png, interpolations_STEP.png
INTERPOLATIONS = (  # interpolations_STEP.png of digit runs: caption pairs
  ("a thin one", "a thick one"),
  ("a seven leaning left", "a seven leaning right"),
  ("a narrow zero", "a wide zero"),
  ("a bold two", "a bold three"),
  ("a thin four", "a thick nine"),
)


def shorten(text: str, size: int = 60) -> str:
  return text if len(text) <= size else text[: size - 1] + "…"


def folder_texts(folder) -> np.ndarray:
  """Each image's text when drawing: the mean of all its captions' embeddings."""
  return folder.embeddings.mean(axis=1)


def draw_captions(generator: trainer.Generator, texts: list[str], key: Array):
  """captions_STEP.png: a row of DRAWS_PER_CAPTION noise draws for each of the first
  len(texts) captions of the generator's bank, labelled by `texts`.

  Args:
    generator: the run's caption_generator view (bank rows are its "classes").
    texts: the captions of the bank's first rows, one a row of the picture.
    key: the noise draws' key.

  Returns:
    draw(workdir, state, step) → [the PNG's path].
  """
  rows = jnp.repeat(jnp.arange(len(texts)), DRAWS_PER_CAPTION)
  latent = generator.space.sample(key, (len(rows),), rows)

  def draw(workdir, state, step):
    images = generator.generate(state, latent)
    path = evaluators.plot_path(workdir, "captions", step)
    if parallel.is_primary():
      plots.save_image_grid(
        path,
        images.reshape(len(texts), DRAWS_PER_CAPTION, *images.shape[1:]),
        row_labels=[shorten(t) for t in texts],
        title=f"held-out captions × {DRAWS_PER_CAPTION} noise draws, step {step}",
      )
    return [path]

  return draw


def captions_evaluator(model: trainer.Model, settings: evaluators.EvalSettings):
  """The Evaluator "captions" of a text-to-image run (registered: jaxgan.evaluate runs it).

  On digit captions, every held-out caption (the generator's bank) gets an image, scored by
  the judge's accuracy for the class the caption names (and on the digits the captions
  describe, the ceiling); Pearson's r of each attribute asked for against measured (and on the
  real digits); and the noise's diversity, the mean absolute difference of two draws for the same
  captions beside two real digits of each caption's class. On a folder, the picture only (a
  caption's image has no judge here; the papers show samples). Both draw captions_STEP.png.

  Args:
    model: the run's Model (trainer.Model, its generator a caption_generator).
    settings: the evaluation's key and caption count.

  Returns:
    The Evaluator.
  """
  generator = model.generator
  train, test = model.datasets()
  if not isinstance(train, digit_captions.CaptionedDigits):
    rows = range(min(CAPTION_ROWS, len(test.keys)))
    draw = draw_captions(generator, [test.caption(r) for r in rows], settings.key)
    return evaluators.Evaluator("captions", lambda state: {}, draw)
  held_out = digit_captions.held_out()
  n = min(settings.num_samples, len(held_out.texts))
  labels, said, digits = held_out.labels[:n], held_out.said[:n], held_out.digits[:n]
  latent = generator.space.sample(settings.key, (n,), jnp.arange(n))
  again = generator.space.sample(jax.random.fold_in(settings.key, 1), (n,), jnp.arange(n))
  judge = judges.digits_judge()
  real = image_data.to_model_range(test.images[digits])
  rng = np.random.default_rng(1)  # another real digit of each caption's class
  same_class = np.array([rng.choice(np.flatnonzero(test.labels == k)) for k in labels])
  real_scores = {
    "real_judge_accuracy": float(np.mean(judge.predict(real) == labels)),
    "real_diversity": float(
      np.mean(np.abs(real - image_data.to_model_range(test.images[same_class])))
    ),
    **{f"real_{k}_r": v for k, v in attribute_correlations(said, test.z[digits]).items()},
  }

  def run(state) -> dict[str, Any]:
    images = generator.generate(state, latent)
    correlations = attribute_correlations(said, attributes_of(images, labels, test.statistics))
    results = {
      "judge_accuracy": float(np.mean(judge.predict(images) == labels)),
      "diversity": float(np.mean(np.abs(images - generator.generate(state, again)))),
      **{f"{k}_r": v for k, v in correlations.items()},
      **real_scores,
    }
    summary = (
      f"{n} held-out captions: judge {100 * results['judge_accuracy']:.1f}% of the named class "
      f"(real {100 * results['real_judge_accuracy']:.1f}%), r asked/measured: "
      + ", ".join(
        f"{k} {results[k + '_r']:.2f} (real {results['real_' + k + '_r']:.2f})"
        for k in digit_captions.ATTRIBUTES
      )
      + f", two noise draws differ by {results['diversity']:.3f} (two real digits of the class: "
      f"{results['real_diversity']:.3f})"
    )
    return {"summary": summary, **results}

  rows = np.linspace(0, len(held_out.texts) - 1, CAPTION_ROWS).astype(int)
  shown = trainer.Generator(  # the picture's captions: evenly spaced rows of the bank
    LatentSpace(generator.space.latent_dim, len(rows)),
    lambda state, latent: generator.generate(
      state, latent._replace(labels=rows[np.asarray(latent.labels)])
    ),
  )
  draw = draw_captions(shown, [held_out.texts[r] for r in rows], settings.key)
  return evaluators.Evaluator("captions", run, draw)


evaluators.register("captions", captions_evaluator)


def interpolations_evaluator(spec, train, test, key: Array):
  """The Evaluator "interpolations" of training (pictures only): interpolations_STEP.png, G
  between the embeddings of two captions at a fixed z, as GAN-INT trains it. Digit runs show
  INTERPOLATIONS; folder runs pairs of held-out images' texts.

  Args:
    spec: the run's TextToImageSpec.
    train: its training data (what kind of run).
    test: its held-out split.
    key: the rows' z.

  Returns:
    The Evaluator.
  """
  if isinstance(train, digit_captions.CaptionedDigits):
    vocabulary = train.vocabulary
    pairs = np.stack([[vocabulary.encode(a), vocabulary.encode(b)] for a, b in INTERPOLATIONS])
    labels = [f"{a} → {b}" for a, b in INTERPOLATIONS]
  else:
    texts = folder_texts(test)
    firsts = range(0, min(CAPTION_ROWS, len(test.keys)) - 1, 2)
    pairs = np.stack([texts[[a, a + 1]] for a in firsts])
    labels = [
      f"{shorten(test.caption(a), 28)} → {shorten(test.caption(a + 1), 28)}" for a in firsts
    ]
  p, betas = len(pairs), np.linspace(0.0, 1.0, DRAWS_PER_CAPTION)
  # row r, column j: (1 − β_j)·φ(first caption of pair r) + β_j·φ(second), one z per row
  mix = np.zeros((p * len(betas), 2 * p), np.float32)
  for r in range(p):
    mix[r * len(betas) : (r + 1) * len(betas), 2 * r] = 1.0 - betas
    mix[r * len(betas) : (r + 1) * len(betas), 2 * r + 1] = betas
  z = np.repeat(np.asarray(jax.random.normal(key, (p, spec.latent_dim))), len(betas), axis=0)
  illustrate = illustrator(spec)

  def draw(workdir, state, step):
    images = illustrate(state, pairs.reshape(2 * p, *pairs.shape[2:]), z, mix)
    path = evaluators.plot_path(workdir, "interpolations", step)
    if parallel.is_primary():
      plots.save_image_grid(
        path,
        images.reshape(p, len(betas), *images.shape[1:]),
        row_labels=labels,
        title=f"GAN-INT: between two captions' embeddings, one z a row, step {step}",
      )
    return [path]

  return evaluators.Evaluator("interpolations", lambda state: {}, draw)
