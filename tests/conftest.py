"""Shared test helpers. Tests run on the CPU; numpy float64 is the reference."""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def np_softplus(x):
  """log(1 + e^x) in float64, stable for large |x|."""
  x = np.asarray(x, np.float64)
  return np.logaddexp(0.0, x)


def np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))
