"""The functional-API guide's examples (docs/guides/functional_api.md) run as written (in
order, in one namespace, in a scratch directory); fragments that show the shape of a new kind,
with names defined elsewhere, are checked by tests/test_kinds.py instead."""

import os
import re

import pytest
from conftest import ROOT

GUIDE = os.path.join(ROOT, "docs", "guides", "functional_api.md")


def python_blocks():
  with open(GUIDE) as f:
    text = f.read()
  return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_guide_has_the_examples():
  blocks = python_blocks()
  assert len(blocks) >= 3
  assert any("gan.make_train_step" in b for b in blocks)
  assert any("loop.run_training" in b for b in blocks)
  assert any("cyclegan.make_train_step" in b for b in blocks)


@pytest.mark.xdist_group("guide")
def test_the_guide_examples_run_as_written(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  namespace = {}
  ran = 0
  for block in python_blocks():
    if "trainer.register" in block:  # the new-kind fragment
      continue
    exec(compile(block, GUIDE, "exec"), namespace)  # noqa: S102
    ran += 1
  assert ran >= 3
  assert namespace["results"]["num_modes"] == 25
  assert "cycle" in namespace["metrics"]
  assert os.path.exists(tmp_path / "runs" / "wgan_gp_api" / "config.json")
