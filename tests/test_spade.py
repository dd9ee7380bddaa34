"""SPADE (jaxgan.models.spade, jaxgan.kinds.spade) and the digit scenes: the modulation, the
losses and the pooling against numpy; scenes, maps and the segmenter; a few training steps and
the translator end to end."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import run as run_script
from PIL import Image

from jaxgan import judges, scene_segmenter
from jaxgan.data import digit_scenes
from jaxgan.errors import ConfigError
from jaxgan.kinds import spade
from jaxgan.models import spade as spade_models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)


def numpy_conv_same(x, kernel, bias):
  """[B, H, W, Ci] * [k, k, Ci, Co] with zero padding k // 2, stride 1: the definition."""
  k = kernel.shape[0]
  p = k // 2
  padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  out = np.zeros((*x.shape[:3], kernel.shape[-1]))
  for i in range(k):
    for j in range(k):
      out += np.einsum(
        "bhwc,co->bhwo", padded[:, i : i + x.shape[1], j : j + x.shape[2]], kernel[i, j]
      )
  return out + bias


def test_spade_modulation_against_numpy():
  x = RNG.normal(size=(2, 6, 6, 4)).astype(np.float32)
  maps = RNG.integers(0, 3, size=(2, 3, 3))
  m = np.eye(3, dtype=np.float32)[maps]
  layer = spade_models.SPADE(hidden=5, norm="instance")
  variables = layer.init(jax.random.key(0), x, m, train=True)
  params = jax.tree.map(lambda v: RNG.normal(size=v.shape).astype(np.float32) * 0.3, variables)
  y = np.asarray(layer.apply(params, x, m, train=True))

  p = jax.tree.map(np.asarray, params["params"])
  m_big = np.repeat(np.repeat(m, 2, axis=1), 2, axis=2)  # nearest: 3×3 → 6×6
  shared = np.maximum(numpy_conv_same(m_big, p["shared"]["kernel"], p["shared"]["bias"]), 0)
  gamma = numpy_conv_same(shared, p["gamma"]["kernel"], p["gamma"]["bias"])
  beta = numpy_conv_same(shared, p["beta"]["kernel"], p["beta"]["bias"])
  mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
  expected = (x - mean) / np.sqrt(var + 1e-5) * (1 + gamma) + beta
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_spade_batch_norm_is_parameter_free_and_keeps_running_averages():
  layer = spade_models.SPADE(hidden=4, norm="batch")
  x, m = jnp.ones((2, 4, 4, 3)), jnp.ones((2, 4, 4, 2))
  variables = layer.init(jax.random.key(0), x, m, train=False)
  assert set(variables["params"]) == {"shared", "gamma", "beta"}  # no γ, β of the norm itself
  assert "batch_stats" in variables


def test_label_maps_are_resized_by_nearest_neighbour():
  maps = RNG.integers(0, 11, size=(2, 48, 48))
  one_hot = digit_scenes.one_hot_map(jnp.asarray(maps))
  small = np.asarray(spade_models.resize_nearest(one_hot, 12, 12))
  assert set(np.unique(small)) <= {0.0, 1.0} and np.all(small.sum(-1) == 1)  # never blended
  np.testing.assert_array_equal(small.argmax(-1), maps[:, 2::4, 2::4])  # centre of each 4×4
  np.testing.assert_array_equal(np.asarray(digit_scenes.resize_map(one_hot, 12)), small)


def test_hinge_feature_matching_and_kl_against_numpy():
  real = [RNG.normal(size=(3, 4, 4, 1)), RNG.normal(size=(3, 2, 2, 1))]
  fake = [RNG.normal(size=(3, 4, 4, 1)), RNG.normal(size=(3, 2, 2, 1))]
  d = np.mean(
    [
      np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))
      for r, f in zip(real, fake, strict=True)
    ]
  )
  g = -np.mean([np.mean(f) for f in fake])
  assert float(spade.hinge_discriminator_loss(real, fake)) == pytest.approx(d, rel=1e-6)
  assert float(spade.hinge_generator_loss(fake)) == pytest.approx(g, rel=1e-6)

  features_real = [[RNG.normal(size=(3, 5)), RNG.normal(size=(3, 2)), real[0]] for _ in range(2)]
  features_fake = [[RNG.normal(size=(3, 5)), RNG.normal(size=(3, 2)), fake[0]] for _ in range(2)]
  fm = (
    sum(
      np.mean(np.abs(f - r))
      for fr, ff in zip(features_real, features_fake, strict=True)
      for r, f in zip(fr[:-1], ff[:-1], strict=True)
    )
    / 2
  )
  assert float(spade.feature_matching_loss(features_real, features_fake)) == pytest.approx(
    fm, rel=1e-6
  )

  mu, log_var = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)) * 0.5
  kl = np.sum(0.5 * (np.exp(log_var) + mu**2 - 1 - log_var))  # KL(N(μ, σ²) ‖ N(0, 1)), summed
  assert float(spade.kl_divergence(jnp.asarray(mu), jnp.asarray(log_var))) == pytest.approx(
    kl, rel=1e-6
  )


def test_multiscale_input_pooling_leaves_the_padding_out_of_each_average():
  x = RNG.normal(size=(1, 5, 5, 2)).astype(np.float32)
  y = np.asarray(spade_models.downsample_input(jnp.asarray(x)))
  expected = np.zeros((1, 3, 3, 2))
  for i in range(3):
    for j in range(3):
      rows = slice(max(2 * i - 1, 0), min(2 * i + 2, 5))
      cols = slice(max(2 * j - 1, 0), min(2 * j + 2, 5))
      expected[0, i, j] = x[0, rows, cols].mean(axis=(0, 1))
  np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_the_generator_and_discriminators_have_the_authors_shapes():
  g = spade_models.SPADEGenerator(48, 1, width=2, num_upsamplings=4, hidden=4)
  assert g.start_size() == 3 and g.up_widths() == [16, 8, 4]
  with pytest.raises(ValueError, match="start size"):
    spade_models.SPADEGenerator(50, 1, num_upsamplings=4).start_size()
  d = spade_models.MultiscaleDiscriminator(width=4, num_layers=3, num_scales=2)
  x = jnp.zeros((2, 48, 48, 12))
  outputs = d.apply(d.init(jax.random.key(0), x, train=False), x, train=False)
  assert [[o.shape[1:] for o in scale] for scale in outputs] == [
    [(25, 25, 4), (13, 13, 8), (14, 14, 16), (15, 15, 1)],
    [(13, 13, 4), (7, 7, 8), (8, 8, 16), (9, 9, 1)],
  ]


def test_scenes_place_two_to_four_digits_in_their_boxes():
  train, test = digit_scenes.load_scenes()
  images, maps, boxes = digit_scenes.draw_scenes(train, 50, np.random.default_rng(1))
  assert images.shape == (50, 48, 48, 1) and maps.shape == (50, 48, 48)
  for image, label_map, scene in zip(images, maps, boxes, strict=True):
    assert 2 <= len(scene) <= 4
    covered = np.zeros((48, 48), bool)
    for b in scene:
      window = np.s_[b.top : b.top + 16, b.left : b.left + 16]
      assert not covered[window].any()  # boxes never overlap
      covered[window] = True
      assert np.all(label_map[window] == b.digit + 1)
    assert np.all(label_map[~covered] == 0) and np.all(image[~covered] == -1.0)
  stream = digit_scenes.SceneStream(train, 4, seed=3)
  first, again = stream.local_batch_at(7), stream.local_batch_at(7)
  np.testing.assert_array_equal(first["map"], again["map"])  # resumable: a step's batch is fixed
  assert first["map"].shape == (1, 4, 48, 48) and first["x"].shape == (1, 4, 48, 48, 1)
  assert len(test.digits) == 360 and len(train.digits) == 1437
  again = digit_scenes.repaint(train, boxes, np.random.default_rng(2))
  judge = judges.digits_judge()
  crops, classes = spade.box_crops(again, boxes)
  assert np.all(again[maps == 0] == -1.0) and not np.array_equal(again, images)
  assert np.mean(judge.predict(crops) == classes) > 0.9  # each box keeps its class


def test_segmenter_scores_against_numpy_and_reads_real_scenes():
  predicted = RNG.integers(0, 3, size=(4, 5, 5))
  target = RNG.integers(0, 3, size=(4, 5, 5))
  ious = []
  for k in range(11):
    union = np.sum((predicted == k) | (target == k))
    if union:
      ious.append(np.sum((predicted == k) & (target == k)) / union)
  s = scene_segmenter.scores(predicted, target)
  assert s["pixel_accuracy"] == pytest.approx(np.mean(predicted == target))
  assert s["mean_iou"] == pytest.approx(np.mean(ious))
  images, maps, _ = digit_scenes.held_out()
  real = scene_segmenter.scores(scene_segmenter.segmenter()(images[:200]), maps[:200])
  assert real["pixel_accuracy"] > 0.93 and real["mean_iou"] > 0.8


SIZE = 16  # the unit tests' maps: 16×16, 4 classes (fast to compile)


def _spec(generator="spade", encoder=False):
  if generator == "spade":
    g = spade_models.SPADEGenerator(SIZE, 1, width=2, num_upsamplings=2, hidden=8)
  else:
    g = spade_models.MapInputGenerator(1, 4, num_blocks=1)
  return spade.SpadeSpec(
    generator=g,
    discriminator=spade_models.MultiscaleDiscriminator(4, 2, 2),
    g_optimizer=optax.adam(1e-4, 0.0, 0.9),
    d_optimizer=optax.adam(4e-4, 0.0, 0.9),
    num_classes=4,
    latent_dim=8,
    encoder=spade_models.StyleEncoder(8, 4, num_layers=2) if encoder else None,
  )


def _batch(seed, n=4):
  rng = np.random.default_rng(seed)
  maps = np.zeros((n, SIZE, SIZE), np.int32)
  maps[:, 4:12, 4:12] = rng.integers(1, 4, size=(n, 1, 1))
  x = np.where(maps[..., None] > 0, 1.0, -1.0).astype(np.float32)
  return {"map": jnp.asarray(maps[None]), "x": jnp.asarray(x[None])}


@pytest.mark.parametrize("generator,encoder", [("spade", True), ("pix2pixhd", False)])
def test_train_steps_update_every_network(generator, encoder):
  spec = _spec(generator, encoder)
  state = spade.init_state(spec, jax.random.key(0), _batch(0))
  before = jax.tree.map(np.asarray, state)
  step = spade.make_train_step(spec, donate=False)
  for s in range(2):
    state, metrics = step(state, _batch(s), jax.random.key(1))
  assert float(metrics["finite"]) == 1.0 and int(state.step) == 2
  for name in ("generator", "discriminator", *(["encoder"] if encoder else [])):
    moved = jax.tree.map(
      lambda a, b: not np.allclose(a, b), getattr(before, name).params, getattr(state, name).params
    )
    assert any(jax.tree.leaves(moved)), name
  assert ("kl" in metrics) == encoder and metrics["feature_matching"] > 0


def _state_dict(spec, state):
  return {
    "generator": {"params": state.generator.params, "model_state": state.generator.model_state}
  }


def test_translator_reads_class_indices_and_refuses_unknown_ones():
  spec = _spec()
  batch = _batch(0, n=2)
  state = _state_dict(spec, spade.init_state(spec, jax.random.key(0), batch))
  maps = np.asarray(batch["map"][0])
  as_image = np.repeat(maps[..., None], 3, axis=-1).astype(np.float32) / 127.5 - 1.0
  render = spade.translators(spec, SIZE)["a_to_b"]
  out = render(state, as_image, jax.random.key(0))
  assert out.shape == (2, SIZE, SIZE * spade.DRAWS_PER_MAP, 1)
  with pytest.raises(ConfigError, match="class 4"):
    render(state, np.full((1, SIZE, SIZE, 3), 4 / 127.5 - 1.0, np.float32))
  with pytest.raises(ConfigError, match="paints 16×16"):
    render(state, as_image[:, :8, :8])
  np.testing.assert_array_equal(spade.map_images(maps), as_image)
  paint = spade.translators(spec, SIZE)["paint"]  # one draw: what "scenes" scores
  np.testing.assert_allclose(
    paint(state, as_image, jax.random.key(3)), spade.painter(spec)(state, maps, jax.random.key(3))
  )


def test_experiment_trains_paints_and_translates_a_users_map(tmp_path):
  workdir = str(tmp_path / "run")
  flags = [
    "--num_steps=2",
    "--batch_size=2",
    "--width=2",
    "--spade_hidden=4",
    "--d_width=4",
    "--d_layers=2",
    "--latent_dim=8",
    "--eval_every=2",
    "--plot_every=2",
    "--checkpoint_every=2",
    "--num_eval_samples=20",
    "--log_every=1",
    f"--workdir={workdir}",
  ]
  proc = run_script([os.path.join("experiments", "spade.py"), *flags])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "held-out scenes: judge" in proc.stdout
  assert os.path.exists(os.path.join(workdir, "plots", "scenes_0000002.png"))

  label_map = np.zeros((48, 48), np.uint8)
  label_map[4:20, 6:22] = 8  # a 7
  Image.fromarray(label_map).save(tmp_path / "map.png")
  from jaxgan import runs
  from jaxgan.data import images as image_data

  # what python -m jaxgan.translate --input=map.png renders (its module defines absl flags,
  # so it is not imported here: the file read the same way, RGB in [−1, 1])
  restored = runs.restore(workdir)
  render = restored.model.translators["a_to_b"]
  image = image_data.to_model_range(np.asarray(Image.open(tmp_path / "map.png").convert("RGB")))
  painted = render(restored.state, image[None], jax.random.key(0))
  assert painted.shape == (1, 48, 48 * spade.DRAWS_PER_MAP, 1)

  label_map[0, 0] = 12
  Image.fromarray(label_map).save(tmp_path / "bad.png")
  bad_out = tmp_path / "bad_out.png"
  translate = ["-m", "jaxgan.translate", f"--workdir={workdir}"]
  bad = run_script([*translate, f"--output={bad_out}", f"--input={tmp_path / 'bad.png'}"])
  assert bad.returncode == 2 and "class 12" in bad.stderr.strip().splitlines()[-1]
  assert not bad_out.exists()


def test_bad_flags_get_one_line():
  for flag, fragment in (
    ("--generator=unet", "unknown --generator"),
    ("--image_size=32", "must be 48"),
  ):
    proc = run_script([os.path.join("experiments", "spade.py"), flag])
    assert proc.returncode == 2 and fragment in proc.stderr.strip().splitlines()[-1]


def _write_pair(image_path, label_path, classes, size=20):
  os.makedirs(os.path.dirname(image_path), exist_ok=True)
  os.makedirs(os.path.dirname(label_path), exist_ok=True)
  Image.fromarray(RNG.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(image_path)
  label = np.zeros((size, size), np.uint8)
  label[: size // 2] = classes
  Image.fromarray(label).save(label_path)


def test_label_map_folders_in_three_layouts(tmp_path):
  from jaxgan.data import label_maps

  for split, ade, city in (("train", "training", "train"), ("test", "validation", "val")):
    for i in range(2):
      _write_pair(
        tmp_path / f"ours/{split}/images/{i}.jpg", tmp_path / f"ours/{split}/labels/{i}.png", 2
      )
      _write_pair(
        tmp_path / f"ade/images/{ade}/a{i}.jpg", tmp_path / f"ade/annotations/{ade}/a{i}.png", 3
      )
      _write_pair(
        tmp_path / f"city/leftImg8bit/{city}/bonn/b{i}_leftImg8bit.png",
        tmp_path / f"city/gtFine/{city}/bonn/b{i}_gtFine_labelIds.png",
        4,
      )
  for layout in ("ours", "ade", "city"):
    train, test = label_maps.load_map_folder(str(tmp_path / layout), 16, 5)
    assert len(train.pairs) == 2 and len(test.pairs) == 2
    batch = label_maps.MapFolderStream(train, 2, seed=0).local_batch_at(0)
    assert batch["x"].shape == (1, 2, 16, 16, 3) and batch["map"].shape == (1, 2, 16, 16)
    assert set(np.unique(batch["map"])) == {0, {"ours": 2, "ade": 3, "city": 4}[layout]}  # nearest
  with pytest.raises(ConfigError, match="beyond --num_classes=4"):
    label_maps.load_map_folder(str(tmp_path / "city"), 16, 4)[0].read(np.arange(2))
  with pytest.raises(ConfigError, match="no train images with label maps"):
    label_maps.load_map_folder(str(tmp_path), 16, 5)


def test_a_folders_held_out_maps_are_drawn(tmp_path, monkeypatch):
  from jaxgan import evaluators
  from jaxgan.data import label_maps

  for split in ("train", "test"):
    for i in range(3):
      _write_pair(
        tmp_path / f"d/{split}/images/{i}.png", tmp_path / f"d/{split}/labels/{i}.png", 2, 24
      )
  train, test = label_maps.load_map_folder(str(tmp_path / "d"), SIZE, 4)
  spec = _spec()
  state = _state_dict(spec, spade.init_state(spec, jax.random.key(0), _batch(0)))
  model = spade.trainer.Model(
    datasets=lambda: spade.trainer.Datasets(train, test), translators=spade.translators(spec, SIZE)
  )
  # "scenes" by name, as python -m jaxgan.evaluate builds it from config.json
  (evaluator,) = evaluators.build(["scenes"], model, evaluators.EvalSettings(jax.random.key(0)))
  drawn = {}
  monkeypatch.setattr(
    spade.plots, "save_image_grid", lambda path, grid, **_: drawn.update(grid=grid)
  )
  assert evaluator.run(state) == {}  # no offline scores for real data: the picture only
  (path,) = evaluator.draw(str(tmp_path / "run"), state, 5)
  assert os.path.basename(path) == "scenes_0000005.png"
  # one row per held-out map: map | the noise draws | the real image, in RGB
  assert drawn["grid"].shape == (3, spade.DRAWS_PER_MAP + 2, SIZE, SIZE, 3)
  np.testing.assert_allclose(drawn["grid"][:, -1], test.read(np.arange(3))[0])
