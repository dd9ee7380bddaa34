"""Feature extractors for FID, KID and precision/recall, and the reference statistics of real data.

Three kinds, one interface (`FeatureExtractor`: images in [−1, 1] → features, logits):

- `digits_classifier()`: a small CNN trained by jaxgan on the real digits' 80%
  split (the "train80" split; "test20" is held out) as the data pipeline serves
  them at 8, 16, 32 and 64 pixels. Its 128-wide penultimate layer gives an
  offline FID for the offline default dataset; its logits an Inception-Score-like
  number over the 10 digits. The weights ship in jaxgan/assets (retrain with
  `python -m jaxgan.features`, about a minute on a laptop CPU, deterministic).
  Papers' FIDs are not comparable to these numbers: they use Inception-v3.
- `random_features()`: a CNN with fixed random weights (seed 0), for data the
  digits classifier does not know (the 100 faces): an FID to compare runs with
  each other (Naeem et al. 2020 on random embeddings), never with papers.
- `inception_v3(weights_path)`: the FID Inception network (jaxgan.models.inception)
  with its standard weights loaded from a local file; 2048-wide pool3 features
  as in Heusel et al. 2017 and every paper since.

`extractor_for(spec, dataset_name)` turns the --fid_features flag into one.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError
from jaxgan.models import inception
from jaxgan.models.conv import Conv

CACHE_ENV = "JAXGAN_CACHE"


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
  """apply(images [B, S, S, C] in [−1, 1]) → (features [B, d], logits [B, K]), compiled."""

  name: str
  apply: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
  batch_size: int = 250

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of any number of images, as float64 numpy, `batch_size` at a time."""
    features, logits = [], []
    for start in range(0, len(images), self.batch_size):
      f, lg = self.apply(jnp.asarray(images[start : start + self.batch_size], jnp.float32))
      features.append(np.asarray(f, np.float64))
      logits.append(np.asarray(lg, np.float64))
    return np.concatenate(features), np.concatenate(logits)


def inception_extractor(path: str) -> FeatureExtractor:
  """FID's Inception-v3 (jaxgan.models.inception): pool3 features and logits, weights from
  path (converted from pytorch-fid's, see BUILD.md)."""
  variables = inception.load_weights(path)
  model = inception.FIDInceptionV3()
  apply = jax.jit(lambda images: model.apply(variables, images))
  return FeatureExtractor("inception_v3", apply, batch_size=50)


# ---------------------------------------------------------------------------
# The digits classifier.
# ---------------------------------------------------------------------------


def to_size(images: jax.Array, size: int) -> jax.Array:
  """[B, S, S, C] → [B, size, size, C]: averages of (S/size)² blocks when size divides S,
  else an antialiased bilinear resize."""
  b, s, _, c = images.shape
  if s == size:
    return images
  if s % size == 0:
    m = s // size
    return images.reshape(b, size, m, size, m, c).mean(axis=(2, 4))
  return jax.image.resize(images, (b, size, size, c), "bilinear")


class SmallClassifier(nn.Module):
  """Resize to input_size², three 3×3 ReLU convolutions (32, 64 stride 2, 128 stride 2),
  global average pooling, a ReLU layer of `feature_dim` (the features), then the logits.
  jaxgan's im2col Conv: on CPU, XLA's own convolution is many times slower inside the
  training scan."""

  num_classes: int
  feature_dim: int = 128
  input_size: int = 8

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = to_size(images, self.input_size)
    for width, stride in ((32, 1), (64, 2), (128, 2)):
      x = nn.relu(Conv(width, 3, stride, 1, kernel_init=nn.initializers.he_normal())(x))
    features = nn.relu(nn.Dense(self.feature_dim)(x.mean(axis=(1, 2))))
    return features, nn.Dense(self.num_classes)(features)


def train_classifier(
  images: np.ndarray,
  labels: np.ndarray,
  num_classes: int,
  *,
  steps: int = 1000,
  batch_size: int = 128,
  learning_rate: float = 1e-3,
  seed: int = 0,
):
  """Parameters of a SmallClassifier fit by Adam on softmax cross-entropy, with random
  ±1-pixel shifts of the inputs (so the features look at shapes, not exact pixels).

  Args:
    images: [N, H, W, C] in [−1, 1].
    labels: [N] ints.
    num_classes: the classes.
    steps: Adam steps.
    batch_size: examples per step.
    learning_rate: Adam's rate.
    seed: the seed of the initialization, batches and shifts.

  Returns:
    The classifier's parameters.
  """
  model = SmallClassifier(num_classes)
  key = jax.random.key(seed)
  params = model.init(key, jnp.zeros((1, *images.shape[1:])))["params"]
  optimizer = optax.adam(learning_rate)
  images, labels = jnp.asarray(images, jnp.float32), jnp.asarray(labels, jnp.int32)

  def loss_fn(params, x, y):
    logits = model.apply({"params": params}, x)[1]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(carry, key):
    params, opt_state = carry
    pick_key, shift_key = jax.random.split(key)
    index = jax.random.randint(pick_key, (batch_size,), 0, len(images))
    shift = jax.random.randint(shift_key, (2,), -1, 2)
    x = jnp.roll(images[index], shift, axis=(1, 2))
    grads = jax.grad(loss_fn)(params, x, labels[index])
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), steps)
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
    (params, optimizer.init(params)), keys
  )
  return model, params


def classifier_accuracy(model, params, images: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of images a classifier labels correctly.

  Args:
    model: the SmallClassifier.
    params: its parameters.
    images: [N, H, W, C].
    labels: [N].

  Returns:
    The accuracy in [0, 1].
  """
  logits = jax.jit(model.apply)({"params": params}, jnp.asarray(images, jnp.float32))[1]
  return float(np.mean(np.argmax(np.asarray(logits), axis=1) == labels))


def cache_dir() -> str:
  return os.path.expanduser(os.environ.get(CACHE_ENV, "~/.cache/jaxgan"))


def save_params(path: str, params) -> None:
  """Parameters as an .npz of "layer/kernel" → array (written whole, then renamed)."""
  flat = {
    "/".join(str(k.key) for k in key_path): np.asarray(leaf)
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
  }
  os.makedirs(os.path.dirname(path), exist_ok=True)
  partial = path + f".partial{os.getpid()}.npz"
  np.savez(partial, **flat)
  os.replace(partial, path)


def load_params(path: str, template):
  """The .npz of save_params, checked against the template's names and shapes."""
  with np.load(path) as stored:
    stored = dict(stored)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  values = []
  for key_path, leaf in leaves:
    name = "/".join(str(k.key) for k in key_path)
    if name not in stored or stored[name].shape != leaf.shape:
      raise ConfigError(f"{path} does not hold {name} of shape {leaf.shape}: delete it to retrain")
    values.append(jnp.asarray(stored[name]))
  return jax.tree_util.tree_unflatten(treedef, values)


DIGITS_CLASSIFIER_VERSION = 1  # bump when the network or its training changes
DIGITS_CLASSIFIER_SIZES = (8, 16, 32, 64)  # image sizes whose round trip it is trained on
SHIPPED_WEIGHTS = os.path.join(
  os.path.dirname(os.path.abspath(__file__)),
  "assets",
  f"digits_classifier_v{DIGITS_CLASSIFIER_VERSION}.npz",
)


def digits_at(split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """A digits split as the GANs see it at image_size (jaxgan.data's resize), in [−1, 1]."""

  source = image_data.load_digits(split)
  return image_data.to_model_range(image_data.resize(source.images, image_size)), source.labels


def digits_training_set(split: str = "train80") -> tuple[np.ndarray, np.ndarray]:
  """The split at every size of DIGITS_CLASSIFIER_SIZES, brought back to 8×8 by to_size:
  the network then knows the digits as the data pipeline serves them at any of those sizes."""
  xs, ys = [], []
  for size in DIGITS_CLASSIFIER_SIZES:
    x, y = digits_at(split, size)
    xs.append(np.asarray(to_size(jnp.asarray(x), 8)))
    ys.append(y)
  return np.concatenate(xs), np.concatenate(ys)


def train_digits_classifier(steps: int = 1500, seed: int = 0):
  """SmallClassifier parameters for the digits (see digits_classifier)."""
  x, y = digits_training_set()
  return train_classifier(x, y, 10, steps=steps, seed=seed)[1]


@functools.cache
def digits_classifier() -> FeatureExtractor:
  """The digits feature network (see the module docstring)."""
  model, params = SmallClassifier(10), digits_classifier_params()
  apply = jax.jit(lambda images: model.apply({"params": params}, images))
  return FeatureExtractor(f"digits_classifier_v{DIGITS_CLASSIFIER_VERSION}", apply)


@functools.cache
def digits_classifier_params():
  """SmallClassifier(10)'s weights for the digits.

  They ship with jaxgan (jaxgan/assets/, made by `python -m jaxgan.features`), so every
  machine computes the same offline FID; without that file they are trained here and
  cached in $JAXGAN_CACHE."""
  model = SmallClassifier(10)
  template = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  params = None
  cached = os.path.join(cache_dir(), os.path.basename(SHIPPED_WEIGHTS))
  for path in (SHIPPED_WEIGHTS, cached):
    if params is None and os.path.exists(path):
      try:
        params = load_params(path, template)
      except (OSError, ValueError):
        params = None  # a damaged file: try the next, or train again
  if params is None:
    params = train_digits_classifier()
    try:
      save_params(cached, params)
    except OSError:
      pass  # a read-only home: keep it in memory only
  return params


RANDOM_FEATURES_SEED = 0


class RandomFeatures(nn.Module):
  """A randomly initialized CNN as a feature network for data no trained network here knows
  (faces, photos): resize to 32², 3×3 ReLU convolutions of 64, 128 (stride 2), 256 (stride 2)
  and 512 (stride 2) channels with He initialization, then 2×2 average pooling: 2048
  features. Random embeddings rank generative models usefully outside ImageNet (Naeem et
  al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", §5), but their
  FIDs compare runs with each other, never with papers."""

  input_size: int = 32

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = to_size(images, self.input_size)
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
      x = nn.relu(Conv(width, 3, stride, 1, kernel_init=nn.initializers.he_normal())(x))
    b, h, w, c = x.shape
    features = x.reshape(b, 2, h // 2, 2, w // 2, c).mean(axis=(2, 4)).reshape(b, -1)
    return features, jnp.zeros((b, 1), features.dtype)


@functools.cache
def random_features() -> FeatureExtractor:
  """RandomFeatures with the weights of seed RANDOM_FEATURES_SEED (for the images' channels),
  the same on every machine."""
  model = RandomFeatures()

  @jax.jit
  def apply(images):
    params = model.init(jax.random.key(RANDOM_FEATURES_SEED), images[:1])["params"]
    return model.apply({"params": params}, images)

  return FeatureExtractor(f"random_cnn_seed{RANDOM_FEATURES_SEED}", apply)


def main() -> None:
  """Trains the digits classifier and writes the weights that ship with jaxgan."""
  params = train_digits_classifier()
  save_params(SHIPPED_WEIGHTS, params)
  model = SmallClassifier(10)
  for size in DIGITS_CLASSIFIER_SIZES:
    x, y = digits_at("test20", size)
    accuracy = classifier_accuracy(model, params, x, y)
    print(f"{size}x{size}: {100 * accuracy:.1f}% of the held-out test20 digits")
  print(f"wrote {SHIPPED_WEIGHTS}")


if __name__ == "__main__":
  main()


# ---------------------------------------------------------------------------
# Choosing one from the flag.
# ---------------------------------------------------------------------------

FEATURES_HELP = (
  "Features for FID/KID/precision-recall: auto (the digits classifier on digits, none "
  "elsewhere), digits_classifier, random_cnn (a fixed random CNN, for other data), "
  "inception:PATH (Inception-v3 FID weights, see BUILD.md), none."
)


def check_features_flag(spec: str) -> None:
  """A one-line ConfigError for a --fid_features value that names nothing (before compiling)."""
  if spec in ("auto", "digits_classifier", "random_cnn", "none"):
    return
  if spec.startswith("inception:"):
    path = os.path.expanduser(spec.split(":", 1)[1])
    if not os.path.isfile(path):
      raise ConfigError(
        f"--fid_features={spec}: no file {path}; convert the FID Inception weights as "
        "BUILD.md says (python -m jaxgan.models.inception --convert=...)"
      )
    return
  raise ConfigError(
    f"--fid_features={spec!r} is unknown: auto, digits_classifier, random_cnn, inception:PATH "
    "or none"
  )


def extractor_for(spec: str, dataset_name: str, image_size: int) -> FeatureExtractor | None:
  """The extractor --fid_features=spec asks for, or None for no feature metrics.

  Args:
    spec: auto, digits_classifier, random_cnn, inception:PATH or none.
    dataset_name: the run's data ("auto" means the digits classifier on digits, none else).
    image_size: the size of the run's images.

  Returns:
    The FeatureExtractor, or None.
  """
  if spec == "none" or (spec == "auto" and dataset_name != "digits"):
    return None
  if spec in ("auto", "digits_classifier"):
    if dataset_name != "digits":
      raise ConfigError("--fid_features=digits_classifier is for --dataset=digits")
    return digits_classifier()
  if spec == "random_cnn":
    return random_features()
  if spec.startswith("inception:"):
    return inception_extractor(os.path.expanduser(spec.split(":", 1)[1]))
  check_features_flag(spec)
  return None
