"""Shared test helpers. Tests run on the CPU; numpy float64 is the reference."""

import atexit
import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# The tests compile many small programs once each: XLA's quickest code generation (-O0)
# cuts their compile time several times, and no test here times them. With XLA:CPU's default
# emitters (DEFAULT_EMITTERS) for the claims about the code XLA makes by default: k steps in one
# program equal k programs of one step bit for bit. (The older emitters round a convolutional
# step inside a loop differently from the same step alone.)
DEFAULT_EMITTERS = "--xla_backend_optimization_level=0"
# Everywhere else, XLA:CPU's older element-wise fusion emitters (LLVM IR directly, not through
# MLIR) compile in about half the time of the default ones (StyleGAN2-digits' step: 8 s against
# 15 s) for code that runs as fast at -O0. (Set before the backend starts; scripts the tests
# run inherit it.)
FAST_COMPILE = DEFAULT_EMITTERS + " --xla_cpu_use_fusion_emitters=false"
os.environ.setdefault("XLA_FLAGS", FAST_COMPILE)

# Eight fake CPU devices for the sharding tests (before anything starts the backend).
# Code without a mesh runs on the first one, as on a one-device machine.
NUM_FAKE_DEVICES = 8
jax.config.update("jax_num_cpu_devices", NUM_FAKE_DEVICES)

# One XLA compilation cache for the session and the scripts it starts (they inherit the
# environment): the many short runs of the same tiny models then compile each program once.
# The process that makes it (pytest's main process; xdist's workers inherit it) removes it
# at exit: it grows to ~150 MB.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxgan_xla_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# The files of the slowest tests (training runs, scripts; --durations on the 2-core CI host) are
# collected first, slowest first, so that the two workers start on them and the quick numeric
# tests fill in at the end: neither worker is left alone with a minute-long run while the other
# idles. Within a file the order stays (its module fixtures are set up once).
SLOW_FILES_FIRST = (
  "test_docs_build.py",
  "test_translation_experiments.py",
  "test_experiments.py",
  "test_image_experiments.py",
  "test_guide_examples.py",
  "test_spade.py",
  "test_inpaint.py",
  "test_vqgan.py",
  "test_vqgan_transformer.py",
  "test_srgan.py",
  "test_toy_training.py",
  "test_progan.py",
  "test_parallel.py",
  "test_population.py",
  "test_data_on_device.py",
)


def pytest_collection_modifyitems(items):
  def rank(item):
    name = os.path.basename(str(item.fspath))
    return SLOW_FILES_FIRST.index(name) if name in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

  items.sort(key=rank)  # stable: the other files, and each file's tests, keep their order


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def np_softplus(x):
  """log(1 + e^x) in float64, stable for large |x|."""
  x = np.asarray(x, np.float64)
  return np.logaddexp(0.0, x)


def np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# ---------------------------------------------------------------------------
# Running the scripts as a user does.
# ---------------------------------------------------------------------------

# A tiny toy run. A constant rate: a decaying schedule's length is --num_steps, and tests resume
# runs with more steps than they started with (wgan_gp's default rate decays).
TINY = [
  "--batch_size=16",
  "--g_hidden=16,16",
  "--d_hidden=16,16",
  "--log_every=2",
  "--lr_schedule=constant",
]


RUN_TIMEOUT_S = 300  # a command still running then fails its test


def _with_root_on_path(environ):
  """The environment a command runs in: `environ` with the repository first on PYTHONPATH."""
  return {**environ, "PYTHONPATH": ROOT + os.pathsep + environ.get("PYTHONPATH", "")}


class _ForkServer:
  """tests/forked_runs.py, started on first use, once per test process: it runs each command
  as a fork of an interpreter that imported jaxgan once (a child is its own process, exit
  status and output; the 1–2 s of imports are paid once, not by each of the suite's hundred
  commands). A command may set XLA_FLAGS of its own (XLA reads them when the child starts
  its backend); any other change to the environment needs an interpreter of its own."""

  def __init__(self):
    self.proc = None
    self.environ = None  # the environment the server (and so each child) has

  def run(self, args, xla_flags=None):
    if self.proc is not None and self.environ != os.environ:  # a test changed it: start anew
      self.proc.kill()
      self.proc = None
    if self.proc is None or self.proc.poll() is not None:
      self.environ = dict(os.environ)
      self.proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "forked_runs.py"), str(RUN_TIMEOUT_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_with_root_on_path(self.environ),
      )
      atexit.register(self.proc.kill)
    request = {"args": list(map(str, args)), "xla_flags": xla_flags}
    self.proc.stdin.write(json.dumps(request) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    assert line, f"tests/forked_runs.py stopped (status {self.proc.wait()})"
    result = json.loads(line)
    return subprocess.CompletedProcess(
      [sys.executable, *args], result["returncode"], result["stdout"], result["stderr"]
    )


_FORK_SERVER = _ForkServer()


def _changes_only_xla_flags(env):
  """Whether `env` is the tests' environment but for XLA_FLAGS."""
  others = set(env) | set(os.environ)
  others.discard("XLA_FLAGS")
  return all(env.get(name) == os.environ.get(name) for name in others)


def run(args, *, env=None, background=False):
  """python ARGS from the repository root; background=True returns the Popen.

  Waited for, in the tests' own environment (env=None) or in one that changes only XLA_FLAGS,
  the command runs in the fork server (_ForkServer); with another environment (JAX reads its
  own variables, JAX_NUM_CPU_DEVICES among them, when it is imported), or in the background
  (signals, several processes at once), in an interpreter of its own."""
  if not background and (env is None or _changes_only_xla_flags(env)):
    return _FORK_SERVER.run(args, None if env is None else env.get("XLA_FLAGS", ""))
  env = _with_root_on_path(os.environ if env is None else env)
  command = [sys.executable, *args]
  if background:
    return subprocess.Popen(
      command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
  return subprocess.run(
    command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=RUN_TIMEOUT_S
  )


def with_default_emitters():
  """The environment of a command compiled by XLA's default emitters (DEFAULT_EMITTERS)."""
  return {**os.environ, "XLA_FLAGS": DEFAULT_EMITTERS}


def config_flags(**settings):
  """The command-line flags of a Config's settings: --name=value, tuples comma-joined,
  switches --name / --noname."""
  flags = []
  for name, value in settings.items():
    if isinstance(value, bool):
      flags.append(f"--{name}" if value else f"--no{name}")
    elif isinstance(value, tuple | list):
      flags.append(f"--{name}={','.join(map(str, value))}")
    else:
      flags.append(f"--{name}={value}")
  return flags


def experiment_scripts():
  """The experiment scripts of experiments/ (file names), sorted."""
  folder = os.path.join(ROOT, "experiments")
  return sorted(f for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py")


def experiment_module(script):
  """experiments/`script` imported as a module (its flags are made only by cli.run)."""
  name = f"experiment_{script.removesuffix('.py')}"
  if name not in sys.modules:
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments", script))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
  return sys.modules[name]


def defined_flag_names(script):
  """The flags experiments/`script` defines: one per field of its Config, plus absl's."""
  config_class = experiment_module(script).Config
  return {"flagfile", "helpshort", "helpfull"} | {f.name for f in dataclasses.fields(config_class)}


def wait_for_first_metrics(workdir, timeout):
  """Waits until a run started in the background has written its first metrics record (its
  loop is running) or `timeout` seconds have passed."""
  metrics = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + timeout
  while not (os.path.exists(metrics) and os.path.getsize(metrics)) and time.time() < deadline:
    time.sleep(0.2)


def fake_devices(n):
  """The environment of a script run on n fake CPU devices."""
  return {**os.environ, "JAX_NUM_CPU_DEVICES": str(n)}


def assert_ok(proc):
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def one_line_error(proc, *fragments, code=2):
  """The process failed with exit status `code` and exactly one stderr line naming the problem."""
  assert proc.returncode == code, (proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])
  lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("error: "), lines[0]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


def np_conv_same(x, kernel):
  """'same' cross-correlation, NHWC / HWIO, float64."""
  k = kernel.shape[0]
  p = k // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  b, h, w, _ = x.shape
  out = np.zeros((b, h, w, kernel.shape[3]))
  for i in range(k):
    for j in range(k):
      out += np.einsum("bhwc,co->bhwo", xp[:, i : i + h, j : j + w], kernel[i, j])
  return out


def fake_torchvision_vgg(layers, rng, bias_std=0.1):
  """Random VGG tensors named and laid out as torchvision's state dict ("features.N.weight":
  O×I×3×3), He-scaled: what jaxgan.models.vgg's loaders read from a converted .npz."""
  from jaxgan.models import vgg

  arrays, in_channels, conv = {}, 3, 0
  for layer in layers:
    if layer == "M":
      continue
    conv += 1
    index = vgg.torchvision_index(layers, conv)
    std = np.sqrt(2.0 / (9 * in_channels))
    arrays[f"features.{index}.weight"] = rng.normal(0, std, (layer, in_channels, 3, 3))
    arrays[f"features.{index}.bias"] = rng.normal(0, bias_std, (layer,))
    in_channels = layer
  return arrays


def caption_embedding_folder(root, n_train=6, n_test=4, features=16):
  """A tiny folder in StackGAN's layout of the preprocessed birds (a Python 2 pickle read
  with latin-1 strings works the same on these); returns root."""
  import pickle

  import numpy as np
  from PIL import Image

  rng = np.random.default_rng(0)

  for split, n in (("train", n_train), ("test", n_test)):
    keys = [f"{i:03d}.Bird/Bird_{split}_{i}" for i in range(n)]
    os.makedirs(root / split, exist_ok=True)
    for name, value in (
      ("filenames.pickle", keys),
      ("char-CNN-RNN-embeddings.pickle", rng.normal(size=(n, 10, features)).astype(np.float32)),
      ("class_info.pickle", [i % 3 for i in range(n)]),
    ):
      with open(root / split / name, "wb") as file:
        pickle.dump(value, file, protocol=2)
    for key in keys:
      image = root / "CUB_200_2011" / "images" / f"{key}.jpg"
      os.makedirs(image.parent, exist_ok=True)
      Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(image)
      text = root / "text_c10" / f"{key}.txt"
      os.makedirs(text.parent, exist_ok=True)
      text.write_text(f"a small bird {key[-1]} with red wings\na bird\n")
  return root


def newest_checkpoint(workdir):
  """(step, state as nested dicts of numpy arrays) of the run's newest checkpoint."""
  from jaxgan.checkpoint import Checkpointer

  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    state, _ = ckpt.restore_raw()
    return ckpt.latest_step(), jax.tree.map(np.asarray, state)
  finally:
    ckpt.close()
