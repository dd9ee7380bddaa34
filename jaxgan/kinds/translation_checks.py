"""The translation evaluator: how an image-to-image model (pix2pix, CycleGAN, or any kind whose
Model has translators) does on the held-out split, and its input | output | target grids.

Registered as "translation" (jaxgan.evaluators.register) when imported; the image-to-image
kinds import it, so training and `python -m jaxgan.evaluate` find it by name.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxgan import judges, parallel, plots
from jaxgan import metrics as metrics_lib
from jaxgan.data.pairs import jitter
from jaxgan.errors import ConfigError
from jaxgan.evaluators import EvalSettings, Evaluator, in_chunks, plot_path, register
from jaxgan.trainer import Model

TRANSLATION_COLUMNS = 8  # test examples in each translations_STEP.png


def translation(model: Model, settings: EvalSettings) -> Evaluator:
  """Held-out translation checks and input | output | target grids.

  Always: G(a) against b on the test split when it is paired (the digits demos'
  split is aligned), beside the input-as-output baseline ‖a − b‖₁. When the model
  also translates B → A (F): the cycle errors ‖F(G(a)) − a‖₁ and ‖G(F(b)) − b‖₁,
  and how many translations an independent domain classifier (logistic regression
  on real A vs real B training images) puts in the target domain. When domain B
  is the digits, the digits judge reads the class of every G(a) against the
  source's label.
  """
  if "a_to_b" not in model.translators:
    raise ConfigError(
      "the translation evaluator judges image-to-image models, and this run draws from noise: "
      "use mode_coverage, features, digits_judge"
    )
  data = model.datasets()
  test, crop_size = data.test, model.image_size
  both_ways = "b_to_a" in model.translators
  n = min(settings.num_samples, len(test.domain_a.source), len(test.domain_b.source))

  def crop(images):
    return np.stack([jitter(image, crop_size, None, False) for image in images])

  a, labels = test.domain_a.examples(np.arange(n))
  a, b = crop(a), crop(test.domain_b.examples(np.arange(n))[0])
  judge = judges.digits_judge() if test.names[1] == "digits" and crop_size % 8 == 0 else None
  domains = None
  if both_ways:
    train_a, train_b = data.train.domain_a, data.train.domain_b
    sample = np.arange(min(1000, len(train_a.source), len(train_b.source)))
    domains = judges.domain_judge(
      crop(train_a.examples(sample)[0]), crop(train_b.examples(sample)[0])
    )

  def translate(state, direction: str, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    return in_chunks(
      lambda start, part: model.translators[direction](
        state, part, jax.random.fold_in(settings.key, start)
      ),
      chunk,
      images,
    )

  def run(state):
    fake_b = translate(state, "a_to_b", a)
    results: dict[str, Any] = {"num_samples": n}
    parts = []
    if test.paired and a.shape == b.shape:
      results["l1"] = float(np.mean(np.abs(fake_b - b)))
      results["input_l1"] = float(np.mean(np.abs(a - b)))
      parts.append(f"held-out L1 {results['l1']:.4f} (input as output: {results['input_l1']:.4f})")
    if both_ways:
      cycled_a = translate(state, "b_to_a", fake_b)
      fake_a = translate(state, "b_to_a", b)
      cycled_b = translate(state, "a_to_b", fake_a)
      results["cycle_l1_a"] = float(np.mean(np.abs(cycled_a - a)))
      results["cycle_l1_b"] = float(np.mean(np.abs(cycled_b - b)))
      results["a_to_b_in_b"] = float(np.mean(domains.predict(fake_b) == 1))
      results["b_to_a_in_a"] = float(np.mean(domains.predict(fake_a) == 0))
      parts.append(
        f"cycle L1 {results['cycle_l1_a']:.4f} (A) {results['cycle_l1_b']:.4f} (B); the domain "
        f"classifier puts {100 * results['a_to_b_in_b']:.1f}% of A→B in B and "
        f"{100 * results['b_to_a_in_a']:.1f}% of B→A in A"
      )
    if judge is not None:
      results["class_accuracy"] = metrics_lib.class_accuracy(judge.predict(fake_b), labels)
      parts.append(f"{100 * results['class_accuracy']:.1f}% of outputs read as the input's digit")
    return {"summary": f"evaluated {n} test images: " + "; ".join(parts), **results}

  def draw(workdir, state, step):
    names = test.names
    columns = slice(0, TRANSLATION_COLUMNS)
    a_row, b_row = a[columns], b[columns]
    fake_b = translate(state, "a_to_b", a_row)
    if both_ways:
      fake_a = translate(state, "b_to_a", b_row)
      rows = [a_row, fake_b, translate(state, "b_to_a", fake_b)]
      rows += [b_row, fake_a, translate(state, "a_to_b", fake_a)]
      labels = [names[0], f"→ {names[1]}", f"→ {names[0]}", names[1], f"→ {names[0]}"]
      labels.append(f"→ {names[1]}")
      title = "A → B → A and B → A → B"
    else:
      rows = [a_row, fake_b, b_row]
      labels = [f"input ({names[0]})", "output", f"target ({names[1]})"]
      title = "input | output | target"
    path = plot_path(workdir, "translations", step)
    if parallel.is_primary():
      plots.save_image_grid(
        path, plots.stack_rows(rows), row_labels=labels, title=f"{test.name}, step {step}: {title}"
      )
    return [path]

  return Evaluator("translation", run, draw)


register("translation", translation)
