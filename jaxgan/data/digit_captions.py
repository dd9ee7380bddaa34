"""Digit captions: an offline text-to-image task for GAN-CLS. Each shipped digit gets captions
written from its class and three attributes measured on its pixels, in several templates and
with synonyms ("a thick seven leaning right", "2, thin strokes, narrow").

    train, test = load_captions()            # the digits' 80% / 20% splits, 16×16
    vocabulary = train.vocabulary
    tokens = vocabulary.encode("a bold three")          # int32 [MAX_WORDS]; 0 pads
    stream = CaptionStream(train, batch_size=64, seed=0)
    batch = stream.batch_at(0)   # {"x": [1, B, 16, 16, 1], "text", "wrong_text": [1, B, MAX_WORDS]}

The attributes, measured on the 8×8 digit (intensities p(y, x) in [0, 1]):
- thickness: the ink Σ p, the stroke's weight;
- slant: −cov(x, y) / var(y) under p (x right, y down): how far the top leans right of the
  bottom, in pixels per row;
- width: the columns holding a pixel above ¼ (the digits are all 8 rows tall, so width is
  their size).
Each is z-scored within the digit's class over the training split (a 1 has less ink than an 8
and a 7 leans right by its shape), and z > 0.6 is said (thick, leaning right, wide), z < −0.6
the opposite (thin, leaning left, narrow), about a quarter of the digits each way; the middle
is not said. A caption names the class and says each said attribute with probability ¾, so the
same digit gets many captions, as each CUB bird has ten.

The held-out captions (for the judge) describe the 20% split's digits with two templates the
training captions never use, so the generator is measured on sentences it has not seen (one
of them adds "handwritten", a word no training caption holds: its embedding stays as
initialized, noise the encoders must ignore). The
wrong caption of a training pair (GAN-CLS's mismatched text) describes a digit of another class.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

from jaxgan import parallel
from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError

IMAGE_SIZE = 16  # the 8×8 digits up-sampled ×2, as the other digit GANs see them
MAX_WORDS = 12  # tokens per caption; longer captions are an error
ATTRIBUTES = ("thickness", "slant", "width")
SAID_Z = 0.6  # an attribute is said when its within-class z-score is beyond ±SAID_Z
SAY_PROBABILITY = 0.75  # each said attribute appears in a caption with this probability
HELD_OUT_CAPTIONS = 2  # captions per held-out digit

NUMBER_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Words for an attribute at level −1 and +1; each a list of synonyms.
ADJECTIVES = {
  "thickness": (("thin", "light", "faint"), ("thick", "bold", "heavy")),
  "width": (("narrow", "slim"), ("wide", "broad")),
}
SLANT_PHRASES = (
  ("leaning left", "slanted to the left", "tilted left"),
  ("leaning right", "slanted to the right", "tilted right"),
)
STROKES = ("strokes", "lines")

SLOTS = ("number", "thickness", "width", "slant", "thickness_strokes", "with_strokes")
# A template is a sequence of slots: a literal word, "number", "<attribute>" (an adjective),
# "slant" (a phrase), "thickness_strokes" ("thin strokes") or "with_strokes" ("with thin
# strokes"). Slots of unsaid attributes drop.
TRAIN_TEMPLATES = (
  ("a", "thickness", "width", "number", "slant"),
  ("number", "thickness_strokes", "width", "slant"),
  ("a", "width", "number", "with_strokes", "slant"),
  ("the", "digit", "number", "thickness", "width", "slant"),
)
HELD_OUT_TEMPLATES = (
  ("thickness", "width", "number", "slant"),
  ("a", "handwritten", "number", "slant", "thickness_strokes", "width"),
)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """The words captions are written in: id 0 pads, ids 1.. the words in sorted order."""

  words: tuple[str, ...]

  @functools.cached_property
  def ids(self) -> dict[str, int]:
    return {w: i + 1 for i, w in enumerate(self.words)}

  @property
  def size(self) -> int:
    return len(self.words) + 1

  def encode(self, caption: str) -> np.ndarray:
    """A caption → int32 [MAX_WORDS] word ids, zero-padded: lower case, split at anything
    but letters and digits. A ConfigError for an empty caption, a word not in the
    vocabulary (named, with the nearest words known) or more than MAX_WORDS words."""
    words = split_words(caption)
    if not words:
      raise ConfigError("the caption is empty: describe a digit, e.g. --caption='a bold three'")
    unknown = [w for w in words if w not in self.ids]
    if unknown:
      raise ConfigError(
        f"the caption's word {unknown[0]!r} is not in this run's vocabulary of "
        f"{len(self.words)} words; use words such as: {', '.join(self.words[:40])}"
      )
    if len(words) > MAX_WORDS:
      raise ConfigError(f"the caption has {len(words)} words; this run reads {MAX_WORDS} at most")
    tokens = np.zeros(MAX_WORDS, np.int32)
    tokens[: len(words)] = [self.ids[w] for w in words]
    return tokens

  def decode(self, tokens: np.ndarray) -> str:
    return " ".join(self.words[t - 1] for t in np.asarray(tokens) if t > 0)


def split_words(caption: str) -> list[str]:
  return re.findall(r"[a-z0-9]+", caption.lower())


@functools.cache
def vocabulary() -> Vocabulary:
  """Every word a template or a synonym can write."""
  words = set(NUMBER_NAMES) | {str(d) for d in range(10)} | set(STROKES) | {"with"}
  for levels in (*ADJECTIVES.values(), SLANT_PHRASES):
    for synonyms in levels:
      for phrase in synonyms:
        words.update(split_words(phrase))
  for template in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES:
    words.update(s for s in template if s not in SLOTS)
  return Vocabulary(tuple(sorted(words)))


# ---------------------------------------------------------------------------
# Measuring the digits.
# ---------------------------------------------------------------------------


def measure(images: np.ndarray) -> np.ndarray:
  """The raw attributes of 8×8 digits [N, 8, 8(, 1)] with intensities in [0, 1] → float
  [N, 3]: thickness Σp, slant −cov(x, y)/var(y), width (columns with a pixel above ¼)."""
  p = np.asarray(images, np.float64).reshape(len(images), 8, 8)
  ys, xs = np.mgrid[0:8, 0:8].astype(np.float64)
  mass = np.maximum(p.sum(axis=(1, 2)), 1e-9)
  cx = (p * xs).sum(axis=(1, 2)) / mass
  cy = (p * ys).sum(axis=(1, 2)) / mass
  dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
  cov = (p * dx * dy).sum(axis=(1, 2)) / mass
  var_y = np.maximum((p * dy * dy).sum(axis=(1, 2)) / mass, 1e-9)
  columns = (p > 0.25).any(axis=1)
  width = np.array([np.ptp(np.flatnonzero(c)) + 1 if c.any() else 0 for c in columns])
  return np.stack([p.sum(axis=(1, 2)), -cov / var_y, width], axis=1)


@dataclasses.dataclass(frozen=True)
class ClassStatistics:
  """Each class's mean and standard deviation of the raw attributes [10, 3] (training split)."""

  mean: np.ndarray
  std: np.ndarray

  def z_scores(self, raw: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (raw - self.mean[labels]) / self.std[labels]


def class_statistics(raw: np.ndarray, labels: np.ndarray) -> ClassStatistics:
  mean = np.stack([raw[labels == k].mean(axis=0) for k in range(10)])
  std = np.stack([raw[labels == k].std(axis=0) for k in range(10)])
  return ClassStatistics(mean, np.maximum(std, 1e-6))


def levels(z: np.ndarray) -> np.ndarray:
  """z-scores → int levels: −1 below −SAID_Z, +1 above SAID_Z, else 0 (not said)."""
  return np.where(z > SAID_Z, 1, np.where(z < -SAID_Z, -1, 0)).astype(np.int32)


# ---------------------------------------------------------------------------
# Writing captions.
# ---------------------------------------------------------------------------


def write_caption(
  digit: int, attribute_levels: np.ndarray, template: tuple[str, ...], rng: np.random.Generator
) -> tuple[str, np.ndarray]:
  """One caption of a digit: the template's slots filled with random synonyms.

  Args:
    digit: the class.
    attribute_levels: int [3], the levels of ATTRIBUTES (0: not said).
    template: the slots.
    rng: the synonyms' and the omissions' randomness.

  Returns:
    (the caption, the levels it says [3]: 0 where it says nothing).
  """
  said = np.where(rng.random(3) < SAY_PROBABILITY, attribute_levels, 0)
  thickness, slant, width = (int(v) for v in said)
  words = []
  for slot in template:
    if slot == "number":
      words.append(NUMBER_NAMES[digit] if rng.random() < 0.7 else str(digit))
    elif slot == "thickness" and thickness:
      words.append(rng.choice(ADJECTIVES["thickness"][thickness > 0]))
    elif slot in ("thickness_strokes", "with_strokes") and thickness:
      with_ = ["with"] if slot == "with_strokes" else []
      words += [*with_, rng.choice(ADJECTIVES["thickness"][thickness > 0]), rng.choice(STROKES)]
    elif slot == "width" and width:
      words.append(rng.choice(ADJECTIVES["width"][width > 0]))
    elif slot == "slant" and slant:
      words.append(rng.choice(SLANT_PHRASES[slant > 0]))
    elif slot not in SLOTS:
      words.append(slot)
  return " ".join(words), said


@dataclasses.dataclass(frozen=True)
class CaptionedDigits:
  """Digits with what captions say about them: images uint8 [N, 16, 16, 1], labels [N],
  levels int [N, 3] (of ATTRIBUTES), z float [N, 3] (their within-class z-scores)."""

  name: str
  images: np.ndarray
  labels: np.ndarray
  levels: np.ndarray
  z: np.ndarray
  statistics: ClassStatistics
  vocabulary: Vocabulary

  @property
  def image_size(self) -> int:
    return self.images.shape[1]

  @property
  def channels(self) -> int:
    return self.images.shape[-1]

  def captions(self, indices: np.ndarray, rng: np.random.Generator, templates=TRAIN_TEMPLATES):
    """Random captions of the digits at `indices`.

    Args:
      indices: the digits.
      rng: the templates', synonyms' and omissions' randomness.
      templates: the templates to draw from (TRAIN_TEMPLATES or HELD_OUT_TEMPLATES).

    Returns:
      (texts, tokens int32 [n, MAX_WORDS], the levels they say [n, 3]).
    """
    texts, said = [], []
    for i in indices:
      template = templates[rng.integers(len(templates))]
      text, levels_said = write_caption(int(self.labels[i]), self.levels[i], template, rng)
      texts.append(text)
      said.append(levels_said)
    tokens = np.stack([self.vocabulary.encode(t) for t in texts])
    return texts, tokens, np.stack(said)


@functools.cache
def load_captions() -> tuple[CaptionedDigits, CaptionedDigits]:
  """(train, test): the digits' 80% and 20% splits at 16×16, their attributes measured and
  levelled by the training split's class statistics."""
  train80, test20 = image_data.load_digits("train80"), image_data.load_digits("test20")
  statistics = class_statistics(measure(train80.images / 255.0), train80.labels)

  def split(name, source):
    z = statistics.z_scores(measure(source.images / 255.0), source.labels)
    images = image_data.resize(source.images, IMAGE_SIZE)
    return CaptionedDigits(name, images, source.labels, levels(z), z, statistics, vocabulary())

  return split("digit_captions", train80), split("digit_captions:test", test20)


@dataclasses.dataclass(frozen=True)
class HeldOutCaptions:
  """The captions the judge scores: texts, tokens [n, MAX_WORDS], the classes they name [n],
  the levels they say [n, 3], and the digits they were written from (indices into test)."""

  texts: list[str]
  tokens: np.ndarray
  labels: np.ndarray
  said: np.ndarray
  digits: np.ndarray


@functools.cache
def held_out(seed: int = 0) -> HeldOutCaptions:
  """HELD_OUT_CAPTIONS captions of every held-out digit, in the held-out templates."""
  test = load_captions()[1]
  digits = np.repeat(np.arange(len(test.labels)), HELD_OUT_CAPTIONS)
  texts, tokens, said = test.captions(digits, np.random.default_rng(seed), HELD_OUT_TEMPLATES)
  return HeldOutCaptions(texts, tokens, test.labels[digits], said, digits)


class CaptionStream(image_data.StepStream):
  """Training batches {"x": [1, B, 16, 16, 1] in [−1, 1], "text": [1, B, MAX_WORDS] int32
  (a fresh caption of each digit), "wrong_text": [1, B, MAX_WORDS] (a caption of a random digit
  of another class)}, by (seed, step): shuffled epochs, exactly resumable."""

  def __init__(self, digits: CaptionedDigits, batch_size: int, seed: int, mesh=None):
    self.digits, self.batch_size, self.seed, self.mesh = digits, batch_size, seed, mesh
    self.by_class = [np.flatnonzero(digits.labels == k) for k in range(10)]

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    b, n = self.batch_size, len(self.digits.labels)
    indices = image_data.example_indices(self.seed, n, step * b, b)
    rng = np.random.default_rng([self.seed, step])
    _, text, _ = self.digits.captions(indices, rng)
    other = (self.digits.labels[indices] + rng.integers(1, 10, size=b)) % 10
    wrong = np.array([rng.choice(self.by_class[k]) for k in other])
    _, wrong_text, _ = self.digits.captions(wrong, rng)
    x = image_data.to_model_range(self.digits.images[indices])
    if self.mesh is not None:
      rows = parallel.process_rows(b)
      x, text, wrong_text = x[rows], text[rows], wrong_text[rows]
    return {"x": x[None], "text": text[None], "wrong_text": wrong_text[None]}
