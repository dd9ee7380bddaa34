"""pix2pix and CycleGAN: the networks, the pool, the objectives against direct computations,
the data, and the steps on 1 and 8 devices."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from jaxgan import loss_pairs, models, parallel
from jaxgan.data import pairs
from jaxgan.errors import ConfigError
from jaxgan.kinds import cyclegan, pix2pix

# ---------------------------------------------------------------------------
# Networks.
# ---------------------------------------------------------------------------


def init(module, x, **kwargs):
  keys = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  return jax.jit(lambda x: module.init(keys, x, **kwargs))(x)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_patchgan_sees_exactly_its_receptive_field(num_layers):
  """The input pixels that move one output logit span patchgan_receptive_field(n) on a side."""
  D = models.PatchGANDiscriminator(width=4, num_layers=num_layers, normalization="none")
  x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 96, 96, 2)), jnp.float32)
  variables = init(D, x, train=False)
  logits = jax.eval_shape(lambda x: D.apply(variables, x, train=False), x)
  row, col = logits.shape[1] // 2, logits.shape[2] // 2
  grad = jax.jit(jax.grad(lambda x: D.apply(variables, x, train=False)[0, row, col]))(x)
  touched_rows = np.nonzero(np.abs(np.asarray(grad)).sum(axis=(0, 2, 3)))[0]
  touched_cols = np.nonzero(np.abs(np.asarray(grad)).sum(axis=(0, 1, 3)))[0]
  field = models.patchgan_receptive_field(num_layers)
  assert touched_rows.max() - touched_rows.min() + 1 == field
  assert touched_cols.max() - touched_cols.min() + 1 == field


def test_receptive_fields_of_the_papers():
  assert models.patchgan_receptive_field(3) == 70  # pix2pix's and CycleGAN's default
  assert [models.patchgan_receptive_field(n) for n in (1, 2)] == [16, 34]


def test_unet_is_noisy_through_dropout_only():
  G = models.UNetGenerator(channels=3, width=8, normalization="none")
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)), jnp.float32)
  variables = init(G, x, train=False)

  @functools.partial(jax.jit, static_argnums=1)
  def out(key, deterministic=False):
    return G.apply(variables, x, train=True, deterministic=deterministic, rngs={"dropout": key})

  assert out(jax.random.key(1)).shape == (2, 16, 16, 3)
  assert np.abs(out(jax.random.key(1))).max() <= 1.0  # tanh
  assert not np.allclose(out(jax.random.key(1)), out(jax.random.key(2)))
  np.testing.assert_allclose(out(jax.random.key(1), True), out(jax.random.key(2), True))


def test_unet_skips_carry_the_input_past_the_bottleneck():
  """Without its skip connections a 1×1 bottleneck would lose where things are; with them,
  the output changes only near a changed input pixel at the first level's scale."""
  G = models.UNetGenerator(channels=1, width=4, normalization="none", dropout_rate=0.0)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 1)), jnp.float32)
  variables = init(G, x, train=False)
  grad = np.abs(np.asarray(jax.jit(jax.grad(lambda x: G.apply(variables, x)[0, 5, 5, 0]))(x)))
  assert grad.max() > 0
  near = grad[0, 3:8, 3:8].sum()  # the first level's 4×4 kernels: the pixels around (5, 5)
  assert near > 10 * grad[0, 10:, 10:].sum()  # far pixels reach it only through the bottleneck
  assert unet_depth_error()


def unet_depth_error():
  with pytest.raises(ValueError, match="power-of-two"):
    models.image_to_image.unet_depth(24)
  return True


def test_resnet_translator_shapes_and_reflection():
  G = models.ResNetTranslator(channels=3, width=8, num_blocks=2)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)), jnp.float32)
  variables = init(G, x, train=False)
  y = jax.jit(lambda x: G.apply(variables, x, train=True))(x)
  assert y.shape == (2, 16, 16, 3) and np.abs(y).max() <= 1.0
  padded = models.image_to_image.reflect_pad(jnp.arange(4.0).reshape(1, 2, 2, 1), 1)
  np.testing.assert_array_equal(padded[0, :, :, 0][1], [1, 0, 1, 0])


def test_instance_norm_normalizes_each_example_and_channel():
  x = np.random.default_rng(0).normal(3.0, 2.0, (2, 5, 5, 3)).astype(np.float32)

  class Norm(nn.Module):
    @nn.compact
    def __call__(self, x):
      return models.normalize(x, "instance", True)

  y = np.asarray(Norm().apply({}, jnp.asarray(x)))
  mean = x.mean(axis=(1, 2), keepdims=True)
  std = np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
  np.testing.assert_allclose(y, (x - mean) / std, atol=1e-5)


# ---------------------------------------------------------------------------
# The pool of earlier fakes.
# ---------------------------------------------------------------------------


def test_pool_fills_then_swaps_and_loses_no_image():
  pool = cyclegan.empty_pool(5, (1,))
  query = jax.jit(cyclegan.query_pool)
  fakes = jnp.arange(1.0, 4.0)[:, None]  # 3 fakes into an empty pool of 5: stored and shown
  pool, shown = query(pool, fakes, jax.random.key(0))
  np.testing.assert_array_equal(shown, fakes)
  assert int(pool.count) == 3
  np.testing.assert_array_equal(pool.images[:3], fakes)
  pool, shown = query(pool, jnp.array([[4.0], [5.0], [6.0]]), jax.random.key(1))
  assert int(pool.count) == 5 and shown[0] == 4.0 and shown[1] == 5.0  # the last two slots
  swaps = 0
  for i in range(200):  # full pool: images shown + kept are the images before + the new ones
    before = np.sort(np.asarray(pool.images)[:, 0]).tolist()
    fakes = jnp.arange(100.0 + 4 * i, 104.0 + 4 * i)[:, None]
    pool, shown = query(pool, fakes, jax.random.key(i + 2))
    after = np.sort(np.asarray(pool.images)[:, 0]).tolist()
    assert sorted(before + np.asarray(fakes)[:, 0].tolist()) == sorted(
      after + np.asarray(shown)[:, 0].tolist()
    )
    swaps += int(np.sum(np.asarray(shown)[:, 0] < 100.0 + 4 * i))
  assert int(pool.count) == 5
  assert 0.4 < swaps / 800 < 0.6  # each fake is swapped for a stored one with probability ½


def test_pool_of_size_zero_shows_the_fakes():
  fakes = jnp.ones((4, 2, 2, 1))
  pool, shown = cyclegan.query_pool(cyclegan.empty_pool(0, (2, 2, 1)), fakes, jax.random.key(0))
  assert shown is fakes


# ---------------------------------------------------------------------------
# The objectives.
# ---------------------------------------------------------------------------


def batch_of(size=8, batch=4, seed=0):
  rng = np.random.default_rng(seed)
  return {
    k: jnp.asarray(rng.uniform(-1, 1, (batch, size, size, 1)), jnp.float32) for k in ("a", "b")
  }


def cyclegan_spec(**kwargs):
  G = models.ResNetTranslator(channels=1, width=4, num_blocks=1, num_downsamplings=1)
  D = models.PatchGANDiscriminator(width=4, num_layers=1, normalization="instance")
  fields = dict(
    loss=loss_pairs.loss_pair("least_squares"),
    generator_optimizer=optax.adam(2e-4, 0.5),
    discriminator_optimizer=optax.adam(2e-4, 0.5),
    adversarial_weight=2.0,
  )
  fields.update(kwargs)
  return cyclegan.CycleGANSpec(G, G, D, D, **fields)


def test_cyclegan_generator_objective_matches_the_formula():
  """2·½E(D_B(G(a)) − 1)² + 2·½E(D_A(F(b)) − 1)² + λ(|F(G(a)) − a| + |G(F(b)) − b|)
  + λ_id·λ(|G(b) − b| + |F(a) − a|), each term recomputed here in float64."""
  spec = cyclegan_spec()
  batch = batch_of()
  state = cyclegan.init_state(spec, jax.random.key(0), batch)
  p = state.generators.params
  dp = state.discriminators.params

  @functools.partial(jax.jit, static_argnums=0)
  def g_apply(name, x):
    return spec.generator(name).apply({"params": p[name]}, x, train=True)

  @functools.partial(jax.jit, static_argnums=0)
  def d_apply(name, x):
    return spec.discriminator(name).apply({"params": dp[name]}, x, train=True)

  def G(name, x):
    return np.asarray(g_apply(name, x), np.float64)

  def D(name, x):
    return np.asarray(d_apply(name, jnp.asarray(x, jnp.float32)), np.float64)

  a, b = (np.asarray(batch[k], np.float64) for k in ("a", "b"))
  fake_b, fake_a = G("a_to_b", batch["a"]), G("b_to_a", batch["b"])
  adversarial = np.mean((D("b", fake_b) - 1) ** 2) + np.mean((D("a", fake_a) - 1) ** 2)
  cycle = np.mean(np.abs(G("b_to_a", jnp.asarray(fake_b, jnp.float32)) - a)) + np.mean(
    np.abs(G("a_to_b", jnp.asarray(fake_a, jnp.float32)) - b)
  )
  identity = np.mean(np.abs(G("a_to_b", batch["b"]) - b)) + np.mean(
    np.abs(G("b_to_a", batch["a"]) - a)
  )
  expected = adversarial + 10.0 * cycle + 0.5 * 10.0 * identity
  total, (metrics, *_) = jax.jit(
    lambda p, state, a, b: cyclegan.generator_objective(spec, p, state, a, b)
  )(p, state, batch["a"], batch["b"])
  np.testing.assert_allclose(float(total), expected, rtol=1e-4)
  np.testing.assert_allclose(float(metrics["cycle"]), cycle, rtol=1e-4)
  np.testing.assert_allclose(float(metrics["identity"]), identity, rtol=1e-4)


def test_identity_loss_needs_matching_channels():
  spec = cyclegan_spec()
  batch = {"a": jnp.zeros((2, 16, 16, 1)), "b": jnp.zeros((2, 16, 16, 3))}
  with pytest.raises(ConfigError, match="identity_weight=0"):
    cyclegan.init_state(spec, jax.random.key(0), batch)
  with pytest.raises(ConfigError, match="one size"):
    cyclegan.init_state(
      spec, jax.random.key(0), {"a": jnp.zeros((2, 16, 16, 1)), "b": jnp.zeros((2, 8, 8, 1))}
    )


def pix2pix_spec(generator_optimizer=None, normalization="none"):
  return pix2pix.Pix2PixSpec(
    models.UNetGenerator(channels=1, width=4, normalization=normalization),
    models.PatchGANDiscriminator(width=4, num_layers=1, normalization=normalization),
    loss_pairs.loss_pair("non_saturating"),
    generator_optimizer or optax.adam(2e-4, 0.5),
    optax.adam(2e-4, 0.5),
  )


def test_steps_check_their_batches():
  """A batch of another layout than init's is named in a ConfigError, not a JAX error."""
  spec = pix2pix_spec()
  state = pix2pix.init_state(spec, jax.random.key(0), batch_of(size=16))
  step = pix2pix.make_train_step(spec)
  flat = {"a": jnp.zeros((4, 16, 16)), "b": jnp.zeros((4, 16, 16))}
  with pytest.raises(ConfigError, match=r"'a' and 'b' of shape \[B, H, W, C\]"):
    step(state, flat, jax.random.key(0))
  with pytest.raises(ConfigError, match="one size"):
    step(state, {"a": jnp.zeros((4, 16, 16, 1)), "b": jnp.zeros((4, 8, 8, 1))}, jax.random.key(0))


def test_pix2pix_generator_gradient_is_that_of_its_loss_under_the_updated_discriminator():
  """With SGD(lr = 1), G's update is minus the gradient of −E log D(a, G(a)) + 100·E|b − G(a)|
  under the discriminator after its update, with the same dropout: the step's single
  forward pass and vjp give the same gradient as differentiating the whole loss."""
  spec = pix2pix_spec(optax.sgd(1.0))
  batch = batch_of()
  state = pix2pix.init_state(spec, jax.random.key(0), batch)
  before = jax.tree.map(np.asarray, state.generator.params)
  key = jax.random.key(3)
  new_state, metrics = jax.jit(lambda s, b, k: pix2pix.train_step(spec, s, b, k))(state, batch, key)
  d_params = new_state.discriminator.params
  dropout_key = jax.random.fold_in(key, 0)

  def loss(params):
    fake = spec.generator.apply(
      {"params": params}, batch["a"], train=True, rngs={"dropout": dropout_key}
    )
    logits = spec.discriminator.apply(
      {"params": d_params}, jnp.concatenate([batch["a"], fake], -1), train=True
    )
    return jnp.mean(jax.nn.softplus(-logits)) + 100.0 * jnp.mean(jnp.abs(fake - batch["b"]))

  grads = jax.jit(jax.grad(loss))(state.generator.params)
  expected = jax.tree.map(lambda p, g: p - g, before, grads)
  jax.tree.map(
    lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6),
    new_state.generator.params,
    expected,
  )
  np.testing.assert_allclose(
    float(metrics["g_total_loss"]), float(loss(state.generator.params)), rtol=1e-5
  )


# ---------------------------------------------------------------------------
# One step on 1 and on 8 devices.
# ---------------------------------------------------------------------------


def train_on(spec, init, make_step, num_devices, steps=3):
  mesh = parallel.make_mesh(num_devices)
  state = parallel.replicate(init(spec, jax.random.key(0), batch_of(batch=8)), mesh)
  step = make_step(spec, mesh=mesh)
  for i in range(steps):
    batch = parallel.global_batch(
      mesh, jax.tree.map(np.asarray, batch_of(batch=8, seed=i)), batch_axis=0
    )
    state, metrics = step(state, batch, jax.random.key(7))
  assert float(metrics["finite"]) == 1.0
  return jax.tree.map(np.asarray, state)


@pytest.mark.parametrize("kind", ["pix2pix", "cyclegan"])
def test_steps_are_the_same_on_1_and_8_devices(kind):
  if kind == "pix2pix":  # BatchNorm over the global batch, dropout from the replicated key
    spec = pix2pix_spec(normalization="batch")
    args = (pix2pix.init_state, pix2pix.make_train_step)
  else:  # the image pool runs over the sharded fakes
    spec = cyclegan_spec(pool_size=6)
    args = (cyclegan.init_state, cyclegan.make_train_step)
  one = train_on(spec, *args, num_devices=1)
  eight = train_on(spec, *args, num_devices=8)
  jax.tree_util.tree_map_with_path(
    lambda path, x, y: np.testing.assert_allclose(
      x, y, rtol=2e-4, atol=2e-5, err_msg=jax.tree_util.keystr(path)
    ),
    one,
    eight,
  )


# ---------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------


def test_digits_demos():
  paired = pairs.load_translation_dataset("digits_edges", 16)
  assert paired.paired and paired.names == ("edges", "digits")
  drawings, labels_a = paired.domain_a.examples(np.arange(10))
  digits, labels_b = paired.domain_b.examples(np.arange(10))
  np.testing.assert_array_equal(labels_a, labels_b)
  assert set(np.unique(drawings)) <= {-1.0, 1.0}  # black lines on white
  assert np.mean(drawings) > 0 > np.mean(digits)  # the domains look different
  unpaired = pairs.load_translation_dataset("digits_edges_unpaired", 16)
  assert not unpaired.paired
  assert len(unpaired.domain_a.source) + len(unpaired.domain_b.source) == 1437
  assert not np.isin(
    unpaired.domain_a.source.images.reshape(len(unpaired.domain_a.source), -1).sum(1),
    [],
  ).any()
  test = pairs.load_translation_dataset("digits_edges_unpaired", 16, split="test")
  assert test.paired and len(test.domain_a.source) == 360  # the test split stays aligned


def test_stream_is_deterministic_and_jitters_pairs_alike():
  images = np.random.default_rng(0).integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)
  from jaxgan.data.images import ArraySource, ImageDataset

  domain = ImageDataset("x", ArraySource(images, np.zeros(20, np.int32)), 12, 3, 0)
  same = pairs.TranslationDataset("same", domain, domain, True)
  stream = pairs.TranslationStream(same, 6, 8, seed=3, flip=True)
  batch = stream.local_batch_at(5)
  assert batch["a"].shape == (6, 8, 8, 3)
  np.testing.assert_array_equal(batch["a"], batch["b"])  # one crop and flip per pair
  np.testing.assert_array_equal(stream.local_batch_at(5)["a"], batch["a"])
  assert not np.array_equal(stream.local_batch_at(6)["a"], batch["a"])
  unpaired = pairs.TranslationStream(
    pairs.TranslationDataset("two", domain, domain, False), 6, 8, seed=3
  ).local_batch_at(5)
  assert not np.array_equal(unpaired["a"], unpaired["b"])  # independent orders


def write_image(path, array):
  Image.fromarray(array).save(path)


def test_folder_layouts(tmp_path):
  rng = np.random.default_rng(0)
  side_by_side = tmp_path / "facades"
  (side_by_side / "train").mkdir(parents=True)
  for i in range(3):
    left = np.full((20, 20, 3), 10 * i, np.uint8)
    write_image(side_by_side / "train" / f"{i}.jpg", np.concatenate([left, 255 - left], axis=1))
  data = pairs.load_translation_dataset("folder", 16, data_dir=str(side_by_side))
  assert data.paired
  a, _ = data.domain_a.examples(np.array([2]))
  b, _ = data.domain_b.examples(np.array([2]))
  assert a.shape == (1, 16, 16, 3) and a.mean() < -0.5 < 0.5 < b.mean()
  with pytest.raises(ConfigError, match="no test images"):
    pairs.load_translation_dataset("folder", 16, split="test", data_dir=str(side_by_side))
  assert not pairs.has_test_split(str(side_by_side))  # the experiments evaluate on train then

  unpaired = tmp_path / "horse2zebra"
  for side, count in (("trainA", 3), ("trainB", 2)):
    (unpaired / side).mkdir(parents=True)
    for i in range(count):
      write_image(unpaired / side / f"{i}.png", rng.integers(0, 256, (24, 24, 3), np.uint8))
  data = pairs.load_translation_dataset("folder", 16, data_dir=str(unpaired))
  assert not data.paired and len(data.domain_a.source) == 3 and len(data.domain_b.source) == 2
  assert not pairs.has_test_split(str(unpaired))
  for side in ("testA", "testB"):
    (unpaired / side).mkdir()
    write_image(unpaired / side / "0.png", rng.integers(0, 256, (24, 24, 3), np.uint8))
  assert pairs.has_test_split(str(unpaired))
  (unpaired / "trainA" / "broken.png").write_bytes(b"not a png")
  broken = pairs.load_translation_dataset("folder", 16, data_dir=str(unpaired))
  with pytest.raises(ConfigError, match="broken.png"):
    broken.domain_a.examples(np.arange(4))


def test_tfds_cycle_gan_and_edges_under_mock_data():
  import tensorflow_datasets as tfds

  with tfds.testing.mock_data(num_examples=8):
    data = pairs.load_translation_dataset("cycle_gan/horse2zebra", 32)
    stream = pairs.TranslationStream(data, 4, 32, seed=0)
    batch = stream.local_batch_at(0)
    assert batch["a"].shape == batch["b"].shape == (4, 32, 32, 3)
    edges = pairs.load_translation_dataset("edges:mnist", 16)
    assert edges.paired and edges.channels == (1, 1)
    assert pairs.TranslationStream(edges, 4, 16, seed=0).local_batch_at(0)["a"].shape[1] == 16


def test_unknown_translation_dataset():
  with pytest.raises(ConfigError, match="unknown translation dataset"):
    pairs.load_translation_dataset("horses", 16)


def test_cyclegan_resumes_exactly_with_its_pools(tmp_path):
  """Two steps, a checkpoint, a restore into a fresh state, two more steps: the same state,
  pools included, as four steps straight (the pools are part of the checkpointed state)."""
  from jaxgan.checkpoint import Checkpointer

  spec = cyclegan_spec(pool_size=6)
  step = cyclegan.make_train_step(spec, donate=False)

  def run(state, first, last):
    for i in range(first, last):
      state, _ = step(state, batch_of(seed=i), jax.random.key(5))
    return state

  fresh = cyclegan.init_state(spec, jax.random.key(0), batch_of())
  straight = run(fresh, 0, 4)
  checkpoints = Checkpointer(str(tmp_path / "checkpoints"), async_save=False)
  checkpoints.save(2, run(fresh, 0, 2))
  restored, _ = checkpoints.restore(cyclegan.init_state(spec, jax.random.key(9), batch_of()))
  checkpoints.close()
  assert int(restored.pool_a.count) == 6  # 2 steps × 4 fakes filled the pool of 6
  jax.tree.map(np.testing.assert_array_equal, run(restored, 2, 4), straight)


def test_loss_curves_show_each_discriminator_of_cyclegan():
  """losses.png's "D outputs" panel plots d_real_a, d_real_b, ... when there is no d_real."""
  from jaxgan import plots

  records = [{"step": 1, "d_loss": 1.0, "d_real_a": 0.5, "d_real_b": 0.6, "d_fake_a": 0.1}]
  assert plots._logged(("d_real", "d_fake"), records) == ["d_real_a", "d_real_b", "d_fake_a"]
  assert plots._logged(("cycle", "identity"), records) == []  # no identity loss: no curve
  gan = [{"step": 1, "d_real": 0.5, "d_fake": 0.1, "g_total_loss": 2.0, "g_loss": 1.0}]
  assert plots._logged(("d_real", "d_fake"), gan) == ["d_real", "d_fake"]
  assert plots._logged(("d_loss", "g_loss"), gan) == ["g_loss"]
