"""Runs a script as `python SCRIPT ARGS...` would, with TFDS mocked: offline, random examples.

  python tests/mock_tfds_run.py experiments/dcgan.py --dataset=celeb_a --num_steps=1

tfds.testing.mock_data makes tfds.data_source return random examples of the
dataset's real shapes and dtypes, without TensorFlow and without network.
"""

import runpy
import sys

import tensorflow_datasets as tfds

if __name__ == "__main__":
  script, *args = sys.argv[1:]
  sys.argv = [script, *args]
  with tfds.testing.mock_data(num_examples=64):
    runpy.run_path(script, run_name="__main__")
