"""The wheel: its packages, its recipes found by name, and a fresh virtual environment that
trains, samples and evaluates a recipe from the installed wheel, away from the checkout."""

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
from conftest import ROOT, assert_ok, experiment_scripts, one_line_error

from jaxgan import launch, recipes


def test_setup_cfg_lists_every_package():
  parser = configparser.ConfigParser()
  parser.read(os.path.join(ROOT, "setup.cfg"))
  listed = set(parser["options"]["packages"].split())
  found = {
    os.path.relpath(folder, ROOT).replace(os.sep, ".")
    for folder, _, files in os.walk(os.path.join(ROOT, "jaxgan"))
    if "__init__.py" in files
  }
  assert listed == found | {"jaxgan.experiments"}


def test_recipes_are_found_by_name(tmp_path, monkeypatch):
  shipped = os.path.join(ROOT, "experiments", "configs", "wgan_gp_grid25.flags")
  assert "wgan_gp_grid25" in recipes.names() and "dcgan_digits" in recipes.names()
  assert os.path.samefile(recipes.resolve("wgan_gp_grid25"), shipped)
  monkeypatch.chdir(tmp_path)  # the README's path, from another directory
  assert os.path.samefile(recipes.resolve("experiments/configs/wgan_gp_grid25.flags"), shipped)
  own = tmp_path / "wgan_gp_grid25.flags"  # an existing file is read as it is
  own.write_text("--num_steps=3\n")
  assert recipes.resolve(str(own)) == str(own)
  assert recipes.resolve("no_such_recipe") == "no_such_recipe"  # absl reports it
  argv = ["prog", "--flagfile=dcgan_digits", "--flagfile", "wgan_gp_grid25", "--seed=1"]
  resolved = recipes.resolve_flagfiles(argv)
  assert resolved[1].startswith("--flagfile=") and resolved[1].endswith("dcgan_digits.flags")
  assert resolved[2] == "--flagfile" and resolved[3].endswith("wgan_gp_grid25.flags")
  assert resolved[4] == "--seed=1"


def test_launch_names_every_experiment_and_refuses_others(capsys):
  scripts = [script.removesuffix(".py") for script in experiment_scripts()]
  assert launch.experiment_names() == scripts
  for argv in (["nope"], [], ["--flagfile=wgan_gp_grid25"]):
    with pytest.raises(SystemExit) as exit_info:
      launch.main(argv)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
  """A fresh virtual environment with the wheel of this checkout installed in it. Its
  dependencies come from the suite's environment (a path entry to its site-packages, whose
  editable jaxgan is not loaded: .pth files of an added path are not processed)."""
  root = tmp_path_factory.mktemp("wheel")
  shutil.rmtree(os.path.join(ROOT, "build"), ignore_errors=True)  # setuptools' stale copies
  build = subprocess.run(
    [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(root), ROOT],
    capture_output=True,
    text=True,
  )
  assert_ok(build)
  (wheel,) = [f for f in os.listdir(root) if f.endswith(".whl")]
  venv = root / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  python = str(venv / "bin" / "python")
  site = subprocess.run(
    [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
    capture_output=True,
    text=True,
    check=True,
  ).stdout.strip()
  with open(os.path.join(site, "suite_dependencies.pth"), "w") as f:
    f.write(sysconfig.get_paths()["purelib"] + "\n")
  install = subprocess.run(
    [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", str(root / wheel)],
    capture_output=True,
    text=True,
  )
  assert_ok(install)
  return venv


@pytest.mark.xdist_group("wheel")
def test_the_wheel_trains_a_recipe_by_name_without_the_checkout(wheel_venv, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  bin_dir = wheel_venv / "bin"

  def installed(*args):
    return subprocess.run(
      [str(bin_dir / args[0]), *args[1:]],
      capture_output=True,
      text=True,
      cwd=tmp_path,
      env=env,
      timeout=300,
    )

  where = installed("python", "-c", "import jaxgan, jaxgan.recipes as r; print(jaxgan.__file__)")
  assert_ok(where)
  assert str(wheel_venv) in where.stdout and ROOT not in where.stdout
  assets = installed(
    "python",
    "-c",
    "import os, jaxgan.features as f, jaxgan.scene_segmenter as s;"
    "print(all(map(os.path.isfile, (f.SHIPPED_WEIGHTS, s.SHIPPED_WEIGHTS))))",
  )
  assert_ok(assets)
  assert assets.stdout.strip() == "True"  # the shipped weights are in the wheel
  workdir = tmp_path / "run"
  train = installed(
    "jaxgan-train",
    "wgan_gp",
    "--flagfile=wgan_gp_grid25",
    "--num_steps=6",
    "--log_every=3",
    "--eval_every=6",
    "--plot_every=6",
    "--checkpoint_every=6",
    f"--workdir={workdir}",
  )
  assert_ok(train)
  assert "training 6 steps on grid25" in train.stdout
  samples = tmp_path / "samples.npy"
  sample = installed("python", "-m", "jaxgan.sample", f"--workdir={workdir}", f"--output={samples}")
  assert_ok(sample)
  assert samples.exists()
  assert_ok(installed("python", "-m", "jaxgan.evaluate", f"--workdir={workdir}"))
  missing = installed("jaxgan-train", "wgan_gp", "--flagfile=no_such_recipe")
  one_line_error(missing, "no_such_recipe")
