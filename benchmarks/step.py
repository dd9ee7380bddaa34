"""jaxgan's side of the performance workloads of shared/bench/WORKLOADS.md.

  python benchmarks/step.py --workload=toy_wgan_gp [--batch=N] [--steps=N] [--warmup=N]
      [--num_devices=N]     # data parallel over N devices (fake CPU ones: JAX_NUM_CPU_DEVICES=N)
      [--conv=matmul|xla]   # the convolutions as matrix products (default) or XLA's/cuDNN's
  python benchmarks/step.py --workload=toy_wgan_gp --loop --steps=2000 [--steps_per_call=K]
      [--data_on_device]
  python benchmarks/step.py --workload=dcgan32 --compute_dtype=bfloat16
      # G and D compute in bfloat16 (jaxgan.precision), parameters and losses in float32
  python benchmarks/step.py --workload=toy_wgan_gp --population=8
      # N members' step in one program (jaxgan.population, jax.vmap) beside one member's
      # the whole training loop (jaxgan.loop: its data stream, metrics, logging) beside the
      # bare step; toy8 is the toy with 8-wide MLPs (a near-free step); the image workloads
      # read LOOP_IMAGES random 32×32×3 uint8 images through the real image stream

Builds the workload's GAN with the public API, times whole training steps
after warm-up (compilation excluded; the real data is made in advance, since
the input pipeline is not timed) and prints one JSON line in the form that
shared/bench/compare.py reads:

  {"workload": "toy_wgan_gp", "framework": "jaxgan", "batch": 256,
   "device": "cpu", "conv": "matmul", "steps_per_s": 12.3, "items_per_s": 3148.8,
   "trace_s": 0.4, "compile_s": 1.6, "first_step_s": 2.1,
   "host": {"matmul_gflops": 182.6, "matmul_gflops_1thread": 94.6, "python_mops": 27.8}}

trace_s is tracing and lowering the step to XLA, compile_s is XLA compiling it
(on a GPU that includes autotuning), first_step_s all of that plus one step.
The step is compiled ahead of time (`jit(...).lower(...).compile()`) and that
executable runs every step. host is benchmarks/host_probe.py's measure of how fast the host
was when the figure was taken (these hosts drift by far more than ±10% within a day).
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxgan import data, models, parallel, penalties  # noqa: E402
from jaxgan.kinds import gan  # noqa: E402
from jaxgan.loss_pairs import loss_pair  # noqa: E402
from jaxgan.models import stylegan2  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import host_probe  # noqa: E402  (benchmarks/host_probe.py, beside this script)

WORKLOADS = (
  "toy_wgan_gp",
  "toy8",
  "dcgan32",
  "dcgan32_wgan_gp",
  "stylegan2_32",
  "stylegan2_32_r1",
)

flags.DEFINE_enum("workload", None, WORKLOADS, "Which workload of WORKLOADS.md to run.")
flags.DEFINE_integer("batch", None, "Batch size (default: the workload's).", lower_bound=1)
flags.DEFINE_integer("steps", 30, "Timed steps.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed steps first (the first one compiles).", lower_bound=1)
flags.DEFINE_integer(
  "num_devices", 0, "0: the plain step on one device; N: data parallel over a mesh of N devices."
)
flags.DEFINE_enum(
  "conv",
  "matmul",
  models.CONVOLUTION_IMPLEMENTATIONS,
  "How the image workloads' convolutions are computed (jaxgan.models.convolutions_by).",
)
flags.DEFINE_bool("loop", False, "Time the training loop beside the bare step.")
flags.DEFINE_enum(
  "compute_dtype",
  "float32",
  ("float32", "bfloat16"),
  "The dtype G and D compute in (jaxgan.precision; parameters and losses stay float32).",
)
flags.DEFINE_bool(
  "data_on_device", False, "--loop: the loop's --data_on_device (the data in device memory)."
)
flags.DEFINE_integer(
  "steps_per_call", 1, "--loop: the loop's --steps_per_call (0: chosen from the step's time)."
)
flags.DEFINE_integer(
  "population", 0, "Time N members' step under jax.vmap (jaxgan.population) beside one's."
)
flags.mark_flag_as_required("workload")
FLAGS = flags.FLAGS

DATA_POOL = 8  # distinct real batches made in advance and cycled through


def gradient_penalty(weight: float) -> gan.Regularizer:
  """WGAN-GP's two-sided penalty on random interpolates, weighted by λ = weight."""
  return gan.Regularizer(
    "gradient_penalty",
    weight,
    lambda i: penalties.gradient_penalty(i.d_fn, i.real, i.fake, i.key),
  )


def toy_wgan_gp_spec(width: int = 512) -> gan.GANSpec:
  """MLP 2→512→512→512→out, WGAN loss + GP (λ = 0.1), n_critic 5, Adam(1e-4, β = (0.5, 0.9));
  width 8 is toy8, a step that costs almost nothing (the loop's own cost shows)."""
  return gan.GANSpec(
    generator=models.MLPGenerator(hidden_dims=(width,) * 3, output_shape=(2,)),
    discriminator=models.MLPDiscriminator(hidden_dims=(width,) * 3),
    latent_dim=2,
    loss=loss_pair("wasserstein"),
    discriminator_regularizers=(gradient_penalty(0.1),),
    generator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    n_critic=5,
  )


def dcgan32_spec(wgan_gp: bool) -> gan.GANSpec:
  """DCGAN 32×32×3 of WORKLOADS.md (z ∈ R^128, widths 256-128-64, BN in G only).

  dcgan32: 1 D update (non-saturating loss) + 1 G update, Adam(2e-4, β = (0.5, 0.999)).
  dcgan32_wgan_gp: 5 critic updates (WGAN loss + GP, λ = 10) + 1 G update, Adam(1e-4, (0.5, 0.9)).
  """
  generator = models.DCGANGenerator(image_size=32, channels=3, width=64)
  discriminator = models.DCGANDiscriminator(image_size=32, width=64, normalization="none")
  if not wgan_gp:
    return gan.GANSpec(
      generator=generator,
      discriminator=discriminator,
      latent_dim=128,
      loss=loss_pair("non_saturating"),
      generator_optimizer=optax.adam(2e-4, b1=0.5, b2=0.999),
      discriminator_optimizer=optax.adam(2e-4, b1=0.5, b2=0.999),
      n_critic=1,
    )
  return gan.GANSpec(
    generator=generator,
    discriminator=discriminator,
    latent_dim=128,
    loss=loss_pair("wasserstein"),
    discriminator_regularizers=(gradient_penalty(10.0),),
    generator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    n_critic=5,
  )


def stylegan2_32_spec(r1: bool) -> gan.GANSpec:
  """StyleGAN2 at 32×32×3 of WORKLOADS.md: mapping 2 × FC(128, lr × 0.01), 64 channels at
  every resolution, bilinear resampling, style mixing 0.9, non-saturating loss, Adam(2.5e-3,
  β = (0, 0.99), ε = 1e-8); stylegan2_32_r1 adds R1 (γ = 0.01) in every D update."""
  generator = stylegan2.StyleGAN2Generator(
    image_size=32,
    channels=3,
    z_dim=128,
    w_dim=128,
    mapping_layers=2,
    channel_base=64 * 32,
    channel_max=64,
    style_mixing_prob=0.9,
    resample="bilinear",
    # XLA's convolutions in G: faster than the patch matrix products on the CPU here, where
    # G sits in no loop (D keeps the matrix products: its double backward in R1 is far faster).
    convolutions="xla",
  )
  discriminator = stylegan2.StyleGAN2Discriminator(
    image_size=32, channel_base=64 * 32, channel_max=64, resample="bilinear"
  )
  regularizers = ()
  if r1:
    regularizers = (
      gan.Regularizer("r1", 0.01 / 2, lambda i: penalties.r1_penalty(i.d_fn, i.real)),
    )
  return gan.GANSpec(
    generator=generator,
    discriminator=discriminator,
    latent_dim=128,
    loss=loss_pair("non_saturating"),
    discriminator_regularizers=regularizers,
    generator_optimizer=optax.adam(2.5e-3, b1=0.0, b2=0.99, eps=1e-8),
    discriminator_optimizer=optax.adam(2.5e-3, b1=0.0, b2=0.99, eps=1e-8),
    n_critic=1,
  )


def image_batches(spec: gan.GANSpec, batch: int, mesh=None) -> list:
  """Synthetic "real" images in [−1, 1], made in advance like the reference's pool."""
  sharding = None if mesh is None else parallel.step_batch_sharding(mesh)
  shape = (spec.n_critic, batch, 32, 32, 3)
  batches = []
  for i in range(DATA_POOL):
    x = jax.random.uniform(jax.random.key(100 + i), shape, minval=-1.0, maxval=1.0)
    batches.append({"x": x if sharding is None else jax.device_put(x, sharding)})
  return batches


def workload(name: str, batch: int | None, mesh):
  """(spec, batch size, pool of batches) of the workload called name, computing in
  --compute_dtype."""
  spec, batch, batches = float32_workload(name, batch, mesh)
  return spec.computing_in(FLAGS.compute_dtype), batch, batches


def float32_workload(name: str, batch: int | None, mesh):
  """(spec, batch size, pool of batches) of the workload called name."""
  if name in ("toy_wgan_gp", "toy8"):
    spec = toy_wgan_gp_spec(8 if name == "toy8" else 512)
    batch = batch or 256
    return spec, batch, toy_batches(spec, batch, mesh)
  if name.startswith("stylegan2_32"):
    spec = stylegan2_32_spec(r1=name == "stylegan2_32_r1")
    batch = batch or 32
    return spec, batch, image_batches(spec, batch, mesh)
  spec = dcgan32_spec(wgan_gp=name == "dcgan32_wgan_gp")
  batch = batch or 64
  return spec, batch, image_batches(spec, batch, mesh)


def toy_batches(spec: gan.GANSpec, batch: int, mesh=None) -> list:
  sharding = None if mesh is None else parallel.step_batch_sharding(mesh)
  stream = data.ToyStream(data.get_toy("grid25"), batch, spec.n_critic, jax.random.key(1), sharding)
  return [stream.batch_at(i) for i in range(DATA_POOL)]


def run_workload(
  name: str, batch: int | None, steps: int, warmup: int, num_devices: int, conv: str = "matmul"
) -> dict:
  mesh = parallel.make_mesh(num_devices) if num_devices else None
  spec, batch, batches = workload(name, batch, mesh)
  key = jax.random.key(0)
  state = gan.init_state(spec, key, batches[0])
  if mesh is not None:
    state = parallel.replicate(state, mesh)
  began = time.perf_counter()
  with models.convolutions_by(conv):
    lowered = gan.make_train_step(spec, mesh=mesh).lower(state, batches[0], key)
  traced = time.perf_counter()
  step = lowered.compile()
  compiled = time.perf_counter()
  state, metrics = step(state, batches[0], key)
  jax.block_until_ready((state, metrics))
  first_step = time.perf_counter() - began  # tracing, compilation and one step
  for i in range(1, warmup):
    state, metrics = step(state, batches[i % DATA_POOL], key)
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = step(state, batches[i % DATA_POOL], key)
  jax.block_until_ready((state, metrics))
  seconds = time.perf_counter() - start
  return {
    "workload": name,
    "framework": "jaxgan",
    "batch": batch,
    "device": jax.devices()[0].platform,
    "num_devices": num_devices or 1,
    "conv": conv,
    "compute_dtype": FLAGS.compute_dtype,
    "steps_per_s": round(steps / seconds, 4),
    "items_per_s": round(steps * batch / seconds, 2),
    "trace_s": round(traced - began, 2),
    "compile_s": round(compiled - traced, 2),
    "first_step_s": round(first_step, 2),
  }


def record_header(name: str, mode: str, batch: int) -> dict:
  """What every JSON record of --loop and --population opens with."""
  return {
    "workload": name,
    "framework": "jaxgan",
    "mode": mode,
    "batch": batch,
    "compute_dtype": FLAGS.compute_dtype,
    "device": jax.devices()[0].platform,
  }


LOOP_IMAGES = 4096  # the image workloads' loop reads this many random images (CIFAR-10's shape)


def loop_dataset(name: str):
  """The data the loop of a workload trains on: the toy's grid25, or random uint8 images of
  the workload's shape served by the image stream as any image dataset is."""
  if name.startswith("toy"):
    return data.get_toy("grid25")
  from jaxgan.data import images

  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (LOOP_IMAGES, 32, 32, 3), dtype=np.uint8)
  source = images.ArraySource(pixels, np.zeros(LOOP_IMAGES, np.int32))
  return images.ImageDataset("random32", source, 32, 3, 0)


def run_loop(
  name: str, batch: int | None, steps: int, steps_per_call: int, data_on_device: bool = False
) -> dict:
  """The training loop of a workload for `steps` steps (one log interval, no evaluation,
  checkpoint or plot inside it), beside its bare step.

  Args:
    name: the workload.
    batch: the batch size (default: the workload's).
    steps: steps timed (after the first, which compiles).
    steps_per_call: the loop's --steps_per_call.
    data_on_device: the loop's --data_on_device.

  Returns:
    The JSON record: both rates and their ratio.
  """
  import tempfile

  from jaxgan import config as config_lib
  from jaxgan import loop

  bare = run_workload(name, batch, steps, 5, 0)
  spec, batch, _ = workload(name, batch, None)
  # one log line at the end of a run of whole calls; its first call (compiling) is not timed
  k = steps_per_call or loop.MAX_STEPS_PER_CALL
  interval = k * -(-(steps + k) // k)
  with tempfile.TemporaryDirectory() as workdir:
    config = config_lib.LoopConfig(
      workdir=workdir,
      num_steps=interval,
      batch_size=batch,
      log_every=interval,
      checkpoint_every=interval,
      eval_every=interval,
      plot_every=interval,
      num_eval_samples=100,
      steps_per_call=steps_per_call,
      data_on_device=data_on_device,
    )
    trainer = gan.make_trainer(spec, loop_dataset(name), config)
    loop.run_training(trainer, config)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      record = next(json.loads(line) for line in f if "steps_per_s" in json.loads(line))
  rate = record["steps_per_s"]
  return {
    **record_header(name, "loop", batch),
    "steps_per_call": config.steps_per_call,
    "data_on_device": data_on_device,
    "loop_steps_per_s": round(rate, 2),
    "bare_steps_per_s": bare["steps_per_s"],
    "loop_over_bare": round(rate / bare["steps_per_s"], 3),
  }


def run_population(name: str, batch: int | None, steps: int, warmup: int, members: int) -> dict:
  """A population's step (jaxgan.population.population_step: `members` GANs of the workload
  under jax.vmap, each on its own batch) timed beside one member's step.

  Args:
    name: the workload.
    batch: each member's batch size (default: the workload's).
    steps: population steps timed.
    warmup: population steps before the timing.
    members: the population's size.

  Returns:
    The JSON record: members·steps/s of the population against steps/s of one.
  """
  from jaxgan import population

  single = run_workload(name, batch, max(steps, 20), warmup, 0)
  spec, batch, batches = workload(name, batch, None)
  keys = jax.random.split(jax.random.key(0), members)
  stacked = [jax.tree.map(lambda x: jnp.stack([x] * members), b) for b in batches]
  states = jax.jit(jax.vmap(lambda k: gan.init_state(spec, k, batches[0])))(keys)
  state = population.PopulationState(states, jnp.ones(members, bool), jnp.zeros((), jnp.int32))
  pure = gan.make_train_step(spec).pure
  step = jax.jit(population.population_step(lambda v: pure, {}, keys), donate_argnums=0)
  for i in range(warmup):
    state, metrics = step(state, stacked[i % DATA_POOL], keys[0])
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = step(state, stacked[i % DATA_POOL], keys[0])
  jax.block_until_ready((state, metrics))
  rate = steps / (time.perf_counter() - start)
  return {
    **record_header(name, "population", batch),
    "members": members,
    "population_steps_per_s": round(rate, 3),
    "member_steps_per_s": round(rate * members, 2),
    "single_steps_per_s": single["steps_per_s"],
    "population_over_sequential": round(rate * members / single["steps_per_s"], 3),
  }


def print_record(record: dict) -> None:
  """The JSON line compare.py reads, with how fast the host was when it was taken
  (benchmarks/host_probe.py), probed once per line after the timing."""
  print(json.dumps({**record, "host": host_probe.probe()}))


def main(argv):
  del argv
  if FLAGS.population:
    record = run_population(
      FLAGS.workload, FLAGS.batch, FLAGS.steps, FLAGS.warmup, FLAGS.population
    )
    print_record(record)
    return
  if FLAGS.loop:
    record = run_loop(
      FLAGS.workload, FLAGS.batch, FLAGS.steps, FLAGS.steps_per_call, FLAGS.data_on_device
    )
    print_record(record)
    return
  record = run_workload(
    FLAGS.workload, FLAGS.batch, FLAGS.steps, FLAGS.warmup, FLAGS.num_devices, FLAGS.conv
  )
  print_record(record)


if __name__ == "__main__":
  app.run(main)
