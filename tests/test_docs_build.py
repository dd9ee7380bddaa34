"""The documentation builds offline with warnings as errors (a malformed docstring, a broken
reference or a failing notebook cell fails here), its reference holds every public function
of the core modules, and each notebook ran and drew its pictures."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

NOTEBOOKS = ("gan_in_30_lines", "your_own_loss", "dynamics_lab")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  out = tmp_path_factory.mktemp("docs")
  html = out / "html"
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # the notebooks time real code
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "sphinx",
      "-b",
      "html",
      "-W",
      "--keep-going",
      "-q",
      "-d",
      str(out / "doctrees"),
      os.path.join(ROOT, "docs"),
      str(html),
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=900,
  )
  warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
  assert proc.returncode == 0, "\n".join(warnings[-30:]) or proc.stderr[-3000:]
  return html


@pytest.mark.xdist_group("docs")
def test_the_reference_has_every_public_function(built):
  import importlib
  import inspect

  missing = []
  for page, modules in {
    "losses": ["jaxgan.losses", "jaxgan.loss_pairs"],
    "penalties": ["jaxgan.penalties"],
    "optim": ["jaxgan.optim"],
    "augment": ["jaxgan.augment", "jaxgan.ada"],
    "trainers": ["jaxgan.trainer", "jaxgan.step", "jaxgan.kinds.gan", "jaxgan.kinds.gan_spec"],
  }.items():
    html = (built / "api" / f"{page}.html").read_text()
    for name in modules:
      module = importlib.import_module(name)
      for attribute, value in vars(module).items():
        public = not attribute.startswith("_") and getattr(value, "__module__", None) == name
        if public and (inspect.isfunction(value) or inspect.isclass(value)):
          if f'id="{name}.{attribute}"' not in html:
            missing.append(f"{page}: {name}.{attribute}")
  assert not missing, missing


@pytest.mark.xdist_group("docs")
def test_the_formulas_are_rendered_math(built):
  html = (built / "api" / "losses.html").read_text()
  section = html[html.index('id="jaxgan.losses.hinge_discriminator_loss"') :][:4000]
  assert re.search(r'<div class="math[^"]*">\s*\\\[L_D = ', section), section


@pytest.mark.xdist_group("docs")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_ran_and_drew(built, name):
  html = (built / "notebooks" / f"{name}.html").read_text()
  assert len(re.findall(r'<img [^>]*src="[^"]*\.png"', html)) >= 2, name
  assert "Traceback" not in html
