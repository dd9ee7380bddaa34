"""Where a self-attention generator looks: SAGAN's Fig. 1 for a trained run.

  python -m jaxgan.attention_maps --workdir=runs/sagan_digits [--num_images=4] [--label=3]

For a few samples of the run's generator (its sampling weights, with its standing
statistics when the run keeps them), draws each image with a few query pixels marked and,
beside it, the attention map of each query: the softmax weights β over the keys of the
first self-attention block (jaxgan.models.attention), up-sampled to the image. Writes
WORKDIR/attention_maps.png (or --output).

    images, maps = attention_maps(G, params, model_state, z, labels)   # the functional API
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from flax import traverse_util

from jaxgan import cli, models, plots, runs
from jaxgan.errors import ConfigError
from jaxgan.kinds.gan import sampling_variables
from jaxgan.latent import LatentSpace
from jaxgan.models.attention import ATTENTION_MAPS
from jaxgan.models.standing_stats import standing_sampler

flags.DEFINE_string("workdir", None, "The run's workdir (a GAN whose G has self-attention).")
flags.DEFINE_integer("num_images", 4, "Samples drawn, one row each.")
flags.DEFINE_integer("label", None, "The class of every sample (conditional runs).")
flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.DEFINE_string("output", None, "The PNG (default: WORKDIR/attention_maps.png).")
FLAGS = flags.FLAGS

QUERIES = ((0.3, 0.3), (0.3, 0.7), (0.7, 0.3), (0.7, 0.7))  # query pixels, as fractions


def attention_maps(G, params, model_state, z, labels=None) -> tuple[np.ndarray, np.ndarray]:
  """G's images and the attention weights of its first self-attention block, in eval mode.

  Args:
    G: a generator with a jaxgan.models.attention.SelfAttention block.
    params: its parameters.
    model_state: its other variables.
    z: the noise [N, ...].
    labels: the classes [N], for a conditional G.

  Returns:
    (images [N, S, S, C], β [N, queries, keys]: the softmax over keys of each query).
  """
  args = (z,) if labels is None else (z, labels)
  images, sown = G.apply(
    {"params": params, **model_state}, *args, train=False, mutable=[ATTENTION_MAPS]
  )
  found = traverse_util.flatten_dict(dict(sown.get(ATTENTION_MAPS, {})))
  if not found:
    raise ConfigError(
      f"{type(G).__name__} has no self-attention block: train with --g_attention=R "
      "(experiments/sagan.py, biggan.py)"
    )
  first = sorted(found)[0]  # module names number the blocks in order
  return np.asarray(images), np.asarray(found[first][0])


def query_maps(beta: np.ndarray, image_size: int) -> tuple[list[tuple[int, int]], np.ndarray]:
  """The QUERIES as pixels of the attention's grid, and their maps over the image.

  Args:
    beta: one sample's β [queries, keys] (queries on the block's H×W grid, keys on H×W or,
      pooled, (H/2)×(W/2)).
    image_size: the image's side, to which the maps are up-sampled (nearest).

  Returns:
    ([(row, col) in image pixels], maps [len(QUERIES), image_size, image_size]).
  """
  side = int(round(np.sqrt(beta.shape[0])))
  key_side = int(round(np.sqrt(beta.shape[1])))
  pixels, maps = [], []
  for fy, fx in QUERIES:
    row, col = int(fy * side), int(fx * side)
    weights = beta[row * side + col].reshape(key_side, key_side)
    scale = image_size // key_side
    maps.append(np.kron(weights, np.ones((scale, scale))))
    pixels.append((int((row + 0.5) * image_size / side), int((col + 0.5) * image_size / side)))
  return pixels, np.stack(maps)


def draw_run(workdir: str, num_images: int, seed: int, label: int | None, output: str) -> str:
  """attention_maps.png of a GAN run (see the module docstring).

  Args:
    workdir: the run's workdir.
    num_images: the samples drawn.
    seed: the seed of their noise.
    label: their class (conditional runs; None: uniform).
    output: the PNG's path.

  Returns:
    The PNG's path.
  """
  run = runs.restore(workdir)
  if "generator" not in run.config:
    raise ConfigError(f"{workdir} is not a GAN run with a generator from noise")
  G = models.build(run.config["generator"])
  space = LatentSpace.from_json(run.config["latent_space"])
  if label is not None and not 0 <= label < space.num_classes:
    raise ConfigError(f"--label={label} is not a class of this run ({space.num_classes} classes)")
  params, model_state = sampling_variables(run.state)
  params, model_state = jax.tree.map(jnp.asarray, (params, model_state))
  standing = run.config.get("standing_statistics")
  if standing:
    model_state = standing_sampler(G, space, *standing)(params, model_state)
  labels = None
  if space.num_classes:
    labels = jnp.full((num_images,), label, jnp.int32) if label is not None else None
  latent = space.sample(jax.random.key(seed), (num_images,), labels)
  images, betas = attention_maps(G, params, model_state, latent.z, latent.labels)
  queries = [query_maps(beta, images.shape[1]) for beta in betas]
  title = f"{os.path.basename(os.path.normpath(workdir))}: where G's self-attention looks"
  plots.save_attention_maps(output, images, queries, title=title)
  return output


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained run")
  if FLAGS.num_images < 1:
    raise ConfigError(f"--num_images must be at least 1, got {FLAGS.num_images}")
  output = FLAGS.output or os.path.join(FLAGS.workdir, "attention_maps.png")
  print(f"wrote {draw_run(FLAGS.workdir, FLAGS.num_images, FLAGS.seed, FLAGS.label, output)}")


if __name__ == "__main__":
  cli.run(main)
