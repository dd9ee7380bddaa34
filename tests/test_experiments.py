"""End to end, as a user runs them: the experiment scripts, their flagfiles, and jaxgan.sample."""

import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import time

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from absl import flags as absl_flags
from conftest import (
  ROOT,
  TINY,
  assert_ok,
  caption_embedding_folder,
  defined_flag_names,
  experiment_module,
  newest_checkpoint,
  one_line_error,
  run,
  wait_for_first_metrics,
)
from PIL import Image

from jaxgan import cli, models


def experiment(name, *flags):
  return run([os.path.join("experiments", f"{name}.py"), *flags])


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def training_records(workdir):
  return [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "d_loss" in r]


def evaluation_records(workdir):
  return [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "eval_modes" in r]


# Tests that read the run of `trained` share one worker under pytest-xdist (--dist loadgroup),
# so the run is made once.
ON_THE_TRAINED_RUN = pytest.mark.xdist_group("trained_wgan_gp")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A 4-step wgan_gp run with checkpoints at 2 and 4, shared by the tests below."""
  workdir = str(tmp_path_factory.mktemp("wgan_gp"))
  proc = experiment(
    "wgan_gp",
    f"--workdir={workdir}",
    "--dataset=ring8",
    "--num_steps=4",
    "--checkpoint_every=2",
    "--plot_every=4",
    "--eval_every=3",
    *TINY,
  )
  assert_ok(proc)
  return workdir, proc


@ON_THE_TRAINED_RUN
def test_run_writes_everything(trained):
  workdir, proc = trained
  for name in (
    "config.json",
    "metrics.jsonl",
    "results.json",
    "plots/losses.png",
    "plots/samples_0000004.png",
  ):
    assert os.path.exists(os.path.join(workdir, name)), name
  with open(os.path.join(workdir, "plots/samples_0000004.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  records = training_records(workdir)
  assert [r["step"] for r in records] == [2, 4]
  # Mode coverage every --eval_every steps and at the end, in the same file.
  evaluations = evaluation_records(workdir)
  assert [r["step"] for r in evaluations] == [3, 4]
  assert all(r["eval_num_modes"] == 8 and 0 <= r["eval_modes"] <= 8 for r in evaluations)
  for key in (
    "d_loss",
    "g_loss",
    "gradient_penalty",
    "d_real",
    "d_fake",
    "d_grad_norm",
    "g_grad_norm",
    "steps_per_s",
  ):
    assert np.isfinite(records[-1][key]), key
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert results["step"] == 4 and results["num_modes"] == 8 and results["num_samples"] == 2500
  assert results["modes"] == evaluations[-1]["eval_modes"]
  # The log shows progress and the final coverage.
  assert "steps/s" in proc.stdout and "ETA" in proc.stdout
  assert "mode coverage of 2500 samples:" in proc.stdout


@ON_THE_TRAINED_RUN
def test_sample_writes_float32_npy_and_png(trained, tmp_path):
  workdir, _ = trained
  out = str(tmp_path / "s.npy")
  assert_ok(
    run(
      [
        "-m",
        "jaxgan.sample",
        f"--workdir={workdir}",
        "--num_samples=50",
        f"--output={out}",
        "--seed=3",
      ]
    )
  )
  samples = np.load(out)
  assert samples.shape == (50, 2) and samples.dtype == np.float32
  again = str(tmp_path / "again.npy")
  assert_ok(
    run(
      [
        "-m",
        "jaxgan.sample",
        f"--workdir={workdir}",
        "--num_samples=50",
        f"--output={again}",
        "--seed=3",
      ]
    )
  )
  np.testing.assert_array_equal(samples, np.load(again))
  png = str(tmp_path / "s.png")
  assert_ok(
    run(["-m", "jaxgan.sample", f"--workdir={workdir}", "--num_samples=200", f"--output={png}"])
  )
  with open(png, "rb") as f:
    assert f.read(4) == b"\x89PNG"


@ON_THE_TRAINED_RUN
def test_rerun_resumes_and_matches_an_uninterrupted_run(trained, tmp_path):
  workdir, _ = trained
  resumed = str(tmp_path / "resumed")
  straight = str(tmp_path / "straight")
  subprocess.run(["cp", "-r", workdir, resumed], check=True)
  proc = experiment(
    "wgan_gp",
    f"--workdir={resumed}",
    "--dataset=ring8",
    "--num_steps=6",
    "--checkpoint_every=2",
    "--plot_every=4",
    *TINY,
  )
  assert_ok(proc)
  assert "resuming from the checkpoint at step 4" in proc.stdout
  assert [r["step"] for r in training_records(resumed)] == [2, 4, 6]
  assert_ok(
    experiment(
      "wgan_gp",
      f"--workdir={straight}",
      "--dataset=ring8",
      "--num_steps=6",
      "--checkpoint_every=2",
      "--plot_every=4",
      *TINY,
    )
  )
  outputs = []
  for w in (resumed, straight):
    out = os.path.join(w, "s.npy")
    assert_ok(run(["-m", "jaxgan.sample", f"--workdir={w}", "--num_samples=64", f"--output={out}"]))
    outputs.append(np.load(out))
  np.testing.assert_array_equal(outputs[0], outputs[1])
  # Everything a checkpoint holds is bit-identical: both players' parameters and optimizer
  # states, the EMA, the step.
  (step_a, state_a), (step_b, state_b) = newest_checkpoint(resumed), newest_checkpoint(straight)
  assert step_a == step_b == 6
  jax.tree.map(np.testing.assert_array_equal, state_a, state_b)


FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "experiments", "configs", "*.flags")))
OFFLINE = (
  "--dataset=digits",
  "--dataset=faces100",
  "--dataset=ring8",
  "--dataset=grid25",
  "--dataset=swissroll",
  "--dataset=photos",
  "--dataset=digit_scenes",
)
OFFLINE_TRANSLATION = ("--dataset=digits_edges", "--dataset=digits_edges_unpaired")


def read_flagfile(path):
  """(script, header comment, flags) of a recipe."""
  with open(path) as f:
    text = f.read()
  script = text.split("python experiments/")[1].split()[0]
  header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
  flags = [line.strip() for line in text.splitlines() if line.startswith("--")]
  return script, header, flags


# The recipes run end to end, as a user runs them (3 steps, or 1 under mock TFDS data, with
# their pictures): one of each script that no other test of the suite runs end to end (dcgan:
# test_augment; wgan_gp: the tests above; vqgan, vaegan, aae, srgan, inpaint, spade,
# text2image: their tests; sagan: biggan's script but for make_spec; the learning claims of
# cgan, gan, pix2pix and cyclegan train them longer, under `-m learning`),
# one TFDS recipe (the TFDS path end to end) and the folder recipe. Every other recipe is
# built and traced by --dry_run in test_every_recipe_builds.
END_TO_END = (
  "acgan_digits.flags",
  "began_digits.flags",
  "biggan_digits.flags",
  "dragan_digits.flags",
  "dynamics_bilinear.flags",
  "infogan_digits.flags",
  "lsgan_digits.flags",
  "progan_digits.flags",
  "sngan_digits.flags",
  "stylegan2_digits.flags",
  "wgan_digits.flags",
  "dcgan_celeba.flags",
  "cgan_digits.flags",
  "gan_ring8.flags",
  "pix2pix_digits.flags",
  "cyclegan_digits.flags",
)

# Commands a recipe's header names after training, run on the recipe's short run: the
# attention maps of a run with self-attention.
FOLLOW_UPS = {"biggan_digits.flags": ["-m", "jaxgan.attention_maps", "--num_images=2"]}


def is_offline(flags):
  return any(flag in OFFLINE + OFFLINE_TRANSLATION for flag in flags)


def check_flag_names(flagfile):
  """(script, flags) of a recipe whose header says what to expect and whose flags are all
  defined by the script its first comment names."""
  script, header, flags = read_flagfile(flagfile)
  assert header.startswith("#") and "Expected:" in header and "EXPECTED" not in header
  defined = defined_flag_names(script)
  names = {f.split("=")[0].lstrip("-") for f in flags}
  unknown = {n for n in names if n not in defined and not (n[:2] == "no" and n[2:] in defined)}
  assert not unknown, f"{os.path.basename(flagfile)} sets flags {script} does not define: {unknown}"
  return script, flags


def test_every_script_has_a_recipe_run_end_to_end_or_by_another_test():
  scripts = {read_flagfile(f)[0] for f in FLAGFILES}
  run_here = {read_flagfile(os.path.join(ROOT, "experiments", "configs", f))[0] for f in END_TO_END}
  run_elsewhere = {"dcgan.py", "wgan_gp.py"}
  run_elsewhere |= {"vqgan.py", "vaegan.py", "aae.py", "srgan.py", "inpaint.py", "spade.py"}
  run_elsewhere |= {"text2image.py"}
  assert scripts - run_here - run_elsewhere == {"sagan.py"}


@pytest.mark.parametrize(
  "flagfile",
  [f for f in FLAGFILES if os.path.basename(f) not in END_TO_END and "dynamics" not in f],
  ids=os.path.basename,
)
def test_every_recipe_builds(flagfile, tmp_path, capsys):
  """Each recipe's flags parse with its script's Config, and --dry_run builds its data (TFDS
  under tfds.testing.mock_data), networks, evaluators and trainer and traces the init and the
  step at the recipe's sizes, in this process: every shape and flag value is checked in the
  time of a trace. (The other dynamics games are computed by test_dynamics.)"""
  script, flags = check_flag_names(flagfile)
  module = experiment_module(script)
  flag_values = absl_flags.FlagValues()
  cli.define_flags(module.Config, flag_values)
  extra = ["--num_devices=1"]  # the recipes are for any machine (sharding: test_parallel)
  if "--dataset=folder" in flags and script == "spade.py":
    extra.append(f"--data_dir={label_map_folder(tmp_path / 'data')}")
  elif "--dataset=folder" in flags and script == "text2image.py":
    extra.append(f"--data_dir={caption_embedding_folder(tmp_path / 'data')}")
  elif "--dataset=folder" in flags:
    extra.append(f"--data_dir={side_by_side_folder(tmp_path / 'data')}")
  if "--dataset=sr:folder" in flags:
    extra.append(f"--data_dir={photo_folder(tmp_path / 'data')}")
  workdir = tmp_path / "run"
  flag_values([script, f"--flagfile={flagfile}", "--dry_run", f"--workdir={workdir}", *extra])
  config = cli.config_from_flags(module.Config, flag_values)
  examples = 500 if "--variant=semi_supervised" in flags else 64  # 10 labels of each class
  data = (
    contextlib.nullcontext() if is_offline(flags) else tfds.testing.mock_data(num_examples=examples)
  )
  # XLA's convolutions trace in a fraction of the time of the patch matrix products (a recipe
  # at 256×256 has hundreds of convolutions) and give the same shapes, which is what is checked
  with data, models.convolutions_by("xla"):
    module.main(config)
  assert "dry run:" in capsys.readouterr().out
  assert not workdir.exists()  # a dry run writes nothing


@pytest.mark.parametrize(
  "flagfile",
  [os.path.join(ROOT, "experiments", "configs", f) for f in END_TO_END],
  ids=os.path.basename,
)
def test_recipe_runs_end_to_end(flagfile, tmp_path):
  """The recipe trains briefly with the script its first comment names and draws its pictures.

  Offline recipes run as they are for 3 steps (the dynamics game at a smaller budget); TFDS
  recipes 1 step under tfds.testing.mock_data with a small batch and narrow networks (the
  recipe's architecture and image size, fewer channels). A recipe's follow-up command
  (FOLLOW_UPS) runs on its short run. (The translation scripts train in
  test_translation_experiments and on 1 and 8 devices in test_translation; their TFDS recipes
  are built here by test_every_recipe_builds.)
  """
  script, flags = check_flag_names(flagfile)
  if script == "dynamics.py":  # no training loop
    short = ["--num_steps=60", "--fit_steps=300"]
    proc = run(
      [
        os.path.join("experiments", script),
        f"--flagfile={flagfile}",
        *short,
        f"--workdir={tmp_path}",
      ]
    )
    assert_ok(proc)
    assert os.path.exists(os.path.join(tmp_path, "results.json"))
    assert len(glob.glob(os.path.join(tmp_path, "*.png"))) >= 2
    return
  workdir = tmp_path / "run"
  args = [f"--flagfile={flagfile}", f"--workdir={workdir}", "--log_every=1"]
  if is_offline(flags):
    # 3 steps and a smaller evaluation: the judge on 300 samples, no FID (test_features checks
    # the feature metrics, and the trained cgan run under `-m learning`)
    short = ["--num_steps=3", "--num_eval_samples=300", "--fid_features=none"]
    defined = defined_flag_names(script)  # the translation scripts evaluate on their test split
    short = [flag for flag in short if flag[2:].split("=")[0] in defined]
    proc = run([os.path.join("experiments", script), *args, *short])
  else:  # TFDS recipes under mock_data
    small = ["--num_steps=1", "--batch_size=8", "--num_eval_samples=16", "--width=8"]
    proc = run(["tests/mock_tfds_run.py", os.path.join("experiments", script), *args, *small])
  assert_ok(proc)
  assert os.path.exists(os.path.join(workdir, "results.json"))
  pictures = glob.glob(os.path.join(workdir, "plots", "samples_*.png"))
  pictures += glob.glob(os.path.join(workdir, "plots", "translations_*.png"))
  assert pictures, os.listdir(os.path.join(workdir, "plots"))
  with open(pictures[0], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  follow_up = FOLLOW_UPS.get(os.path.basename(flagfile))
  if follow_up:
    assert_ok(run([*follow_up, f"--workdir={workdir}"]))


def photo_folder(root):
  """The super-resolution layout: root/train/ and root/test/ of 160×200 JPEGs (random pixels)."""
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    os.makedirs(root / split)
    for i in range(3):
      Image.fromarray(rng.integers(0, 256, (160, 200, 3), np.uint8)).save(root / split / f"{i}.jpg")
  return root


def label_map_folder(root):
  """SPADE's folder layout: root/{train,test}/images/ beside root/{train,test}/labels/ (class 1
  in the top half of each map)."""
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    for sub in ("images", "labels"):
      os.makedirs(root / split / sub)
    for i in range(4):
      Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(
        root / split / "images" / f"{i}.jpg"
      )
      label = np.zeros((64, 64), np.uint8)
      label[:32] = 1
      Image.fromarray(label).save(root / split / "labels" / f"{i}.png")
  return root


def side_by_side_folder(root):
  """pix2pix's layout: root/train/ and root/test/ of A|B side-by-side JPEGs (random pixels)."""
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    os.makedirs(root / split)
    for i in range(8):
      pair = rng.integers(0, 256, (40, 80, 3), np.uint8)
      Image.fromarray(pair).save(root / split / f"{i}.jpg")
  return root


@pytest.mark.parametrize(
  "script, flags, fragments",
  [
    ("wgan_gp", ["--dataset=grid52"], ["unknown dataset 'grid52'", "ring8, grid25, swissroll"]),
    ("sngan", ["--model=resnet", "--image_size=16"], ["--model=resnet", "--image_size=32"]),
    ("cgan", ["--dataset=ring8", "--model=mlp"], ["cgan needs a labeled dataset"]),
    ("dcgan", ["--dataset=ring8"], ["--model=dcgan is for images", "needs mlp"]),
    ("dcgan", ["--image_size=24"], ["--image_size=24 for --model=dcgan", "4·2^n"]),
    ("acgan", ["--model=mlp"], ["--model=mlp has no aux_classes", "--model=dcgan"]),
    ("dcgan", ["--dataset=cifar10", "--data_dir=/nonexistent"], ["not prepared", "tfds build"]),
    ("gan", ["--loss=wasserstien"], ["--loss=wasserstien", "non_saturating|minimax"]),
    ("wgan_gp", ["--batch_size=0"], ["--batch_size must be at least 1"]),
    ("wgan", ["--n_critic=0"], ["--n_critic must be at least 1"]),
    ("wgan_gp", ["--flagfile=/no/such/recipe.flags"], ["/no/such/recipe.flags"]),
    ("wgan_gp", ["--workdir=/proc/jaxgan_run"], ["cannot write to workdir", "--workdir="]),
    ("wgan_gp", ["--num_step=10"], ["Unknown command line flag 'num_step'"]),
    ("wgan_gp", ["--g_hidden=512,x"], ["--g_hidden must be comma-separated integers"]),
    ("dcgan", ["--fid_features=inceptoin"], ["--fid_features='inceptoin' is unknown"]),
    ("dcgan", ["--fid_features=inception:/no/w.npz"], ["no file /no/w.npz", "BUILD.md"]),
    ("wgan_gp", ["--num_devices=2"], ["--num_devices=2", "pass a number from 1 to 1"]),
    ("pix2pix", ["--dataset=digits_edges_unpaired"], ["learns from pairs", "cyclegan.py"]),
    ("pix2pix", ["--image_size=24"], ["--image_size=24", "power-of-two"]),
    ("pix2pix", ["--dataset=folder"], ["--data_dir=PATH"]),
    ("cyclegan", ["--dataset=horses"], ["unknown translation dataset 'horses'", "cycle_gan/"]),
    ("cyclegan", ["--dataset=cycle_gan/horse2zebra", "--data_dir=/no"], ["not prepared"]),
    ("cyclegan", ["--load_size=8"], ["--load_size=8 is smaller than --image_size=16"]),
    ("stylegan2", ["--image_size=12"], ["--image_size=12", "power-of-two", "at least 4"]),
    ("stylegan2", ["--image_size=2"], ["--image_size=2", "power-of-two"]),
    ("stylegan2", ["--augment=flip"], ["unknown augmentation 'flip'", "ada"]),
    ("stylegan2", ["--augment=ada,color"], ["--augment=ada", "on its own"]),
    ("stylegan2", ["--dataset=ring8"], ["StyleGAN2 makes images", "--dataset=digits"]),
    ("stylegan2", ["--batch_size=33"], ["--batch_size=33", "--pl_batch_shrink=2"]),
    ("progan", ["--image_size=12"], ["--image_size=12", "power-of-two"]),
    ("progan", ["--batch_sizes=32,30"], ["batch size 30", "--mbstd_group=4"]),
    ("progan", ["--dataset=ring8"], ["Progressive GAN makes images", "--dataset=digits"]),
    ("biggan", ["--g_attention=32"], ["no block at 32×32", "--g_attention"]),
    ("sagan", ["--d_attention=16"], ["no block at 16×16", "8, 4"]),
    ("biggan", ["--latent_dim=100"], ["divisible by 3, not 100", "--latent_dim"]),
    ("biggan", ["--accumulate=3"], ["--accumulate=3 does not divide --batch_size=64"]),
    ("biggan", ["--dataset=faces100"], ["biggan needs a labeled dataset", "--unconditional"]),
    ("sagan", ["--dataset=ring8"], ["SAGAN makes images", "--dataset=digits"]),
    ("biggan", ["--image_size=24"], ["--image_size=24", "16, 32, 64, 128, 256-pixel images"]),
  ],
)
def test_bad_input_gets_one_line(script, flags, fragments):
  one_line_error(experiment(script, *flags), *fragments)


def copy_run(workdir, tmp_path, name):
  target = str(tmp_path / name)
  subprocess.run(["cp", "-r", workdir, target], check=True)
  return target


@ON_THE_TRAINED_RUN
def test_divergence_stops_with_one_line_and_keeps_the_finite_checkpoint(trained, tmp_path):
  """Resumed from the 4-step run with absurd learning rates: the run stops at the first
  non-finite loss and step 4's checkpoint stays the newest, finite."""
  workdir = copy_run(trained[0], tmp_path, "diverged")
  proc = experiment(
    "wgan_gp",
    f"--workdir={workdir}",
    "--dataset=ring8",
    "--g_lr=1e30",
    "--d_lr=1e30",
    "--num_steps=20",
    "--checkpoint_every=2",
    *TINY,
  )
  one_line_error(proc, "non-finite", "at step", code=3)
  step, state = newest_checkpoint(workdir)
  assert step == 4
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state))


def damage(checkpoint_dir):
  """Truncates every data file of one checkpoint, as a disk that filled up would."""
  files = glob.glob(os.path.join(checkpoint_dir, "**", "d", "*"), recursive=True)
  assert files
  for path in files:
    with open(path, "r+b") as f:
      f.truncate(7)


@ON_THE_TRAINED_RUN
def test_a_damaged_newest_checkpoint_is_skipped(trained, tmp_path):
  workdir = copy_run(trained[0], tmp_path, "damaged")
  damage(os.path.join(workdir, "checkpoints", "4"))
  proc = experiment(
    "wgan_gp",
    f"--workdir={workdir}",
    "--dataset=ring8",
    "--num_steps=6",
    "--checkpoint_every=2",
    "--plot_every=6",
    *TINY,
  )
  assert_ok(proc)
  warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
  assert len(warnings) == 1 and "checkpoint 4" in warnings[0], proc.stdout
  assert "resuming from the checkpoint at step 2" in proc.stdout
  assert os.path.isdir(os.path.join(workdir, "checkpoints.damaged", "4"))
  assert newest_checkpoint(workdir)[0] == 6  # step 4 was written again, then 6


@ON_THE_TRAINED_RUN
def test_no_good_checkpoint_is_one_line(trained, tmp_path):
  workdir = copy_run(trained[0], tmp_path, "all_damaged")
  for step in ("2", "4"):
    damage(os.path.join(workdir, "checkpoints", step))
  proc = experiment("wgan_gp", f"--workdir={workdir}", "--dataset=ring8", "--num_steps=6", *TINY)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith("error: no readable checkpoint in")


def test_sigterm_checkpoints_and_the_rerun_resumes(tmp_path):
  workdir = str(tmp_path / "preempted")
  args = [f"--workdir={workdir}", "--dataset=ring8", "--checkpoint_every=100000", *TINY]
  proc = run(
    [os.path.join("experiments", "wgan_gp.py"), "--num_steps=1000000", *args], background=True
  )
  wait_for_first_metrics(workdir, timeout=120)
  assert proc.poll() is None, proc.communicate()
  signalled = time.time()
  proc.send_signal(signal.SIGTERM)
  stdout, stderr = proc.communicate(timeout=60)
  assert time.time() - signalled < 20
  assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
  step = int(re.search(r"stopped by SIGTERM after step (\d+)", stderr).group(1))
  assert "run the same command again to resume" in stderr
  assert newest_checkpoint(workdir)[0] == step
  resumed = experiment("wgan_gp", f"--num_steps={step + 2}", *args)
  assert_ok(resumed)
  assert f"resuming from the checkpoint at step {step}" in resumed.stdout


def test_sample_bad_input(tmp_path):
  one_line_error(
    run(["-m", "jaxgan.sample", f"--workdir={tmp_path}", "--output=x.npy"]), "config.json not found"
  )
  one_line_error(
    run(["-m", "jaxgan.sample", f"--workdir={tmp_path}", "--output=x.txt"]),
    "--output must end in .npy or .png",
  )


@ON_THE_TRAINED_RUN
def test_style_options_need_a_style_based_run(trained):
  workdir, _ = trained
  for option in ("--psi=0.5", "--mode=style_mixing"):
    one_line_error(
      run(["-m", "jaxgan.sample", f"--workdir={workdir}", option, "--output=x.png"]),
      "for style-based generators",
    )


@ON_THE_TRAINED_RUN
def test_tensorboard_shows_the_run(trained):
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

  workdir, _ = trained
  accumulator = EventAccumulator(workdir)
  accumulator.Reload()
  tags = accumulator.Tags()
  assert {"d_loss", "g_loss", "gradient_penalty", "steps_per_s", "eval_modes"} <= set(
    tags["scalars"]
  )
  assert [e.step for e in accumulator.Scalars("d_loss")] == [2, 4]
  assert "samples" in tags["images"]


def test_evaluate_a_toy_run(trained):
  workdir, _ = trained
  proc = run(["-m", "jaxgan.evaluate", f"--workdir={workdir}", "--num_samples=500"])
  assert_ok(proc)
  assert re.search(r"\d+/8 modes, [\d.]+% high quality", proc.stdout), proc.stdout
  with open(os.path.join(workdir, "evaluation.json")) as f:
    assert json.load(f)["num_modes"] == 8


def test_compilation_cache_is_made_and_bounded(tmp_path, monkeypatch):
  """--compilation_cache: the folder is made and JAX's cache kept there under 4 GiB (least
  recently used programs evicted); JAX_COMPILATION_CACHE_DIR, or an empty flag, leaves JAX's
  settings as they are."""
  from jaxgan import runtime

  before = (jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size)
  try:
    runtime.use_compilation_cache(str(tmp_path / "ignored"))  # conftest sets the variable
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    runtime.use_compilation_cache("")
    assert (
      jax.config.jax_compilation_cache_dir,
      jax.config.jax_compilation_cache_max_size,
    ) == before
    assert not os.path.exists(tmp_path / "ignored")
    os.makedirs(tmp_path / "cache")  # an entry written without eviction: no access time
    (tmp_path / "cache" / "jit_step-abc-cache").write_bytes(b"program")
    runtime.use_compilation_cache(str(tmp_path / "cache"))
    atime = (tmp_path / "cache" / "jit_step-abc-atime").read_bytes()
    mtime = os.stat(tmp_path / "cache" / "jit_step-abc-cache").st_mtime_ns
    assert int.from_bytes(atime, "little") == mtime  # what JAX's eviction reads
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
    assert jax.config.jax_compilation_cache_max_size == 4 * 2**30
  finally:
    jax.config.update("jax_compilation_cache_dir", before[0])
    jax.config.update("jax_compilation_cache_max_size", before[1])
