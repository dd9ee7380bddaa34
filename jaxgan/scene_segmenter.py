"""The scene segmenter: an independent network that labels every pixel of a digit scene
(jaxgan.data.digit_scenes) with its class, to score generated scenes against the label map they
were painted from: the semantic-synthesis papers' "FCN score" (pix2pix §4.2, SPADE §4: a
segmentation network trained on real images, run on generated ones; the closer its accuracy to
the real images', the better the layout was kept).

    segment = segmenter()                       # images [N, 48, 48, 1] → classes [N, 48, 48]
    scores(segment(images), maps)               # {"pixel_accuracy", "mean_iou"}

The network: four 3×3 ReLU convolutions of 16, 32, 32, 32 channels dilated 1, 2, 4, 8 (each
pixel sees 31×31, enough for a whole 16×16 digit box) and a 1×1 convolution to the 11 classes,
fit by Adam on the per-pixel cross-entropy over scenes of the digits' 80% split. Its weights
ship with jaxgan (jaxgan/assets/, made by `python -m jaxgan.scene_segmenter`) so every machine
scores alike; without that file it is trained here (a minute or two on a CPU) and cached in
$JAXGAN_CACHE. It never sees a generated image.
"""

from __future__ import annotations

import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import features
from jaxgan.data import digit_scenes
from jaxgan.models.conv import Conv

SEGMENTER_VERSION = 1  # bump when the network or its training changes
SHIPPED_WEIGHTS = os.path.join(
  os.path.dirname(os.path.abspath(__file__)), "assets", f"scene_segmenter_v{SEGMENTER_VERSION}.npz"
)
TRAINING_SCENES = 3000


class SceneSegmenter(nn.Module):
  """Per-pixel class logits [N, H, W, num_classes] of scenes [N, H, W, C] (see above)."""

  num_classes: int = digit_scenes.NUM_CLASSES

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    h = images
    for width, dilation in ((16, 1), (32, 2), (32, 4), (32, 8)):
      conv = Conv(width, 3, 1, dilation, dilation=dilation, kernel_init=nn.initializers.he_normal())
      h = nn.relu(conv(h))
    return Conv(self.num_classes, 1, 1, 0, kernel_init=nn.initializers.he_normal())(h)


def train_segmenter(steps: int = 1500, batch_size: int = 32, seed: int = 0):
  """SceneSegmenter parameters fit by Adam (1e-3) on TRAINING_SCENES scenes of the training
  digits, in one compiled scan.

  Args:
    steps: Adam steps.
    batch_size: scenes per step, drawn at random.
    seed: the seed of the scenes, the initialization and the batches.

  Returns:
    The parameters.
  """
  images, maps, _ = digit_scenes.draw_scenes(
    digit_scenes.load_scenes()[0], TRAINING_SCENES, np.random.default_rng([seed, 80])
  )
  images, maps = jnp.asarray(images), jnp.asarray(maps)
  model = SceneSegmenter()
  key = jax.random.key(seed)
  params = model.init(key, images[:1])["params"]
  optimizer = optax.adam(1e-3)

  def loss_fn(params, x, y):
    logits = model.apply({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(carry, key):
    params, opt_state = carry
    index = jax.random.randint(key, (batch_size,), 0, len(images))
    grads = jax.grad(loss_fn)(params, images[index], maps[index])
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), steps)
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
    (params, optimizer.init(params)), keys
  )
  return params


@functools.cache
def segmenter_params():
  """The shipped weights, else the cached ones, else trained now (and cached)."""
  template = SceneSegmenter().init(
    jax.random.key(0), jnp.zeros((1, digit_scenes.CANVAS, digit_scenes.CANVAS, 1))
  )["params"]
  cached = os.path.join(features.cache_dir(), os.path.basename(SHIPPED_WEIGHTS))
  for path in (SHIPPED_WEIGHTS, cached):
    if os.path.exists(path):
      try:
        return features.load_params(path, template)
      except (OSError, ValueError):
        pass  # a damaged file: try the next, or train again
  params = train_segmenter()
  try:
    features.save_params(cached, params)
  except OSError:
    pass  # a read-only home: keep it in memory only
  return params


@functools.cache
def segmenter():
  """images [N, H, W, 1] in [−1, 1] → the classes [N, H, W] (numpy), in batches of 250."""
  model, params = SceneSegmenter(), segmenter_params()
  logits = jax.jit(lambda x: jnp.argmax(model.apply({"params": params}, x), axis=-1))

  def segment(images: np.ndarray) -> np.ndarray:
    return np.concatenate(
      [np.asarray(logits(jnp.asarray(images[i : i + 250]))) for i in range(0, len(images), 250)]
    )

  return segment


def scores(predicted: np.ndarray, maps: np.ndarray, num_classes: int = digit_scenes.NUM_CLASSES):
  """Pixel accuracy and mean IoU, from scikit-learn's confusion matrix over all the pixels.

  Args:
    predicted: the segmenter's classes [N, H, W].
    maps: the label maps [N, H, W].
    num_classes: the classes.

  Returns:
    {"pixel_accuracy": the share of pixels given their map's class, "mean_iou": the mean over
    the classes present (in the map or the prediction) of `len(P ∩ T) / len(P ∪ T)`}.
  """
  from sklearn.metrics import confusion_matrix

  confusion = confusion_matrix(maps.ravel(), predicted.ravel(), labels=np.arange(num_classes))
  hits = np.diag(confusion).astype(np.float64)
  union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
  present = union > 0
  return {
    "pixel_accuracy": float(hits.sum() / confusion.sum()),
    "mean_iou": float(np.mean(hits[present] / union[present])),
  }


def main() -> None:
  """Trains the segmenter and writes SHIPPED_WEIGHTS (run once per SEGMENTER_VERSION)."""
  params = train_segmenter()
  features.save_params(SHIPPED_WEIGHTS, params)
  images, maps, _ = digit_scenes.held_out()
  model = SceneSegmenter()
  predicted = np.asarray(jnp.argmax(model.apply({"params": params}, jnp.asarray(images)), -1))
  print(f"wrote {SHIPPED_WEIGHTS}; on the held-out scenes: {scores(predicted, maps)}")


if __name__ == "__main__":
  main()
