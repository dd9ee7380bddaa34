"""The pictures a run writes are drawn outside pyplot: importing jaxgan chooses no matplotlib
backend (a notebook's inline figures stay inline) and the files are still written."""

import subprocess
import sys

from conftest import ROOT


def test_jaxgan_leaves_the_matplotlib_backend_alone(tmp_path):
  script = f"""
import matplotlib
matplotlib.use("svg")
import numpy as np
import jaxgan.loop, jaxgan.plots, jaxgan.evaluators
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
path = {str(tmp_path / "grid.png")!r}
jaxgan.plots.save_image_grid(path, np.zeros((2, 2, 8, 8, 1), np.float32), title="zeros")
import matplotlib.image
assert matplotlib.image.imread(path).shape[2] == 4
print("ok")
"""
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
  assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
