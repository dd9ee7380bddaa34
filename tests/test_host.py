"""jaxgan.host: glibc's allocator set up on import, and left alone when asked."""

import os
import subprocess
import sys

import pytest

from jaxgan import host

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def test_tune_malloc_applies_every_setting():
  applied = host.tune_malloc(environ={"JAX_PLATFORMS": "cpu"})
  assert applied == {p: value for p, (value, _) in host.SETTINGS.items()}


def test_tuning_is_for_xla_cpu_hosts(monkeypatch):
  monkeypatch.setattr(host, "accelerator_plugin_installed", lambda: True)
  assert not host.wants_tuning({})
  assert host.wants_tuning({"JAX_PLATFORMS": "cpu"})
  assert host.wants_tuning({"JAXGAN_TUNE_MALLOC": "1"})
  monkeypatch.setattr(host, "accelerator_plugin_installed", lambda: False)
  assert host.wants_tuning({})
  assert not host.wants_tuning({"JAXGAN_TUNE_MALLOC": "0"})


@pytest.mark.parametrize("package", ["jax_plugins/xla_cuda12", "libtpu"])
def test_accelerator_plugins_are_found_where_jax_finds_them(package, tmp_path, monkeypatch):
  """A module in the `jax_plugins` namespace package (the layout of jax-cuda12-pjrt's wheel:
  jax_plugins/xla_cuda12/__init__.py, no jax_plugins/__init__.py), or `libtpu`."""
  assert not host.accelerator_plugin_installed()
  (tmp_path / package).mkdir(parents=True)
  (tmp_path / package / "__init__.py").write_text("raise ImportError('never imported')\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  assert host.accelerator_plugin_installed()
  assert not host.wants_tuning({}) and host.wants_tuning({"JAX_PLATFORMS": "cpu"})


def test_an_empty_jax_plugins_namespace_is_no_plugin(tmp_path, monkeypatch):
  (tmp_path / "jax_plugins").mkdir()
  monkeypatch.syspath_prepend(str(tmp_path))
  assert not host.accelerator_plugin_installed()


def test_tune_malloc_opt_out_and_glibc_variables():
  assert host.tune_malloc(environ={"JAXGAN_TUNE_MALLOC": "0"}) == {}
  glibc_own = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4", "JAXGAN_TUNE_MALLOC": "1"}
  assert host.tune_malloc(environ=glibc_own) == {}
  applied = host.tune_malloc(environ={"MALLOC_ARENA_MAX": "4", "JAX_PLATFORMS": "cpu"})
  assert host.M_ARENA_MAX not in applied and host.M_MMAP_THRESHOLD in applied


def test_importing_jaxgan_keeps_big_step_buffers_in_the_heap():
  """After `import jaxgan`, freeing and reallocating a 64 MiB block takes no new page
  faults (with glibc's defaults it is mmapped afresh and faulted in every time)."""
  script = """
import ctypes, resource, sys
import jaxgan
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20
def touch():
  p = libc.malloc(size)
  ctypes.memset(p, 1, size)
  libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
  touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
  env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}

  def faults(extra):
    out = subprocess.run(
      [sys.executable, "-c", script], env={**env, **extra}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])

  pages = 5 * (64 << 20) // 4096
  assert faults({"JAX_PLATFORMS": "cpu"}) < pages // 10
  assert faults({"JAXGAN_TUNE_MALLOC": "0"}) > pages // 2
