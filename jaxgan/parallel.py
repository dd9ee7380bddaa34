"""Data parallelism over every device of every host: one mesh, one `'data'` axis.

This is how jaxgan does what `jax.pmap` did. pmap is in maintenance mode since
JAX 0.8 and runs as jit(shard_map); jaxgan instead builds one
`jax.sharding.Mesh` over the devices with a single axis `'data'`, shards every
global batch along its example axis over that mesh, replicates the GAN state,
and runs the ordinary `jax.jit` step on those global arrays. XLA inserts the
all-reduces (gradients, BatchNorm statistics, loss means) that pmap code wrote
by hand with `lax.pmean`. The same program runs on 1 CPU, 8 GPUs or a TPU pod:

    mesh = parallel.make_mesh()                    # all devices; make_mesh(2) for two
    state = parallel.replicate(state, mesh)
    step = gan.make_train_step(spec, mesh=mesh)  # in/out shardings from the mesh

Randomness does not depend on the device count: noise, interpolation
coefficients and toy data are drawn for the global batch from the global key
(`jax_threefry_partitionable`, on by default, makes every device compute its
own slice of the same numbers), so 1, 2 or 8 devices train the same model up
to the order of floating-point sums.

Several hosts: `initialize_distributed` wraps `jax.distributed.initialize`;
every process runs the same command, builds the same mesh over all global
devices and assembles each global batch from its own rows with
`global_batch` (`jax.make_array_from_process_local_data`).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgan.errors import ConfigError

DATA_AXIS = "data"


# ---------------------------------------------------------------------------
# The mesh and the shardings.
# ---------------------------------------------------------------------------


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh with axis 'data' over the first num_devices devices (default: all).

  With several processes every device of every host takes part: num_devices
  must then be the global device count (or None).
  """
  devices = jax.devices()
  if num_devices is None or num_devices == 0:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ConfigError(
      f"--num_devices={num_devices} but {len(devices)} {devices[0].platform} device(s) are "
      f"visible: pass a number from 1 to {len(devices)}, or 0 for all"
    )
  if jax.process_count() > 1 and num_devices != len(devices):
    raise ConfigError(
      f"--num_devices={num_devices} with {jax.process_count()} processes: a multi-process run "
      f"uses every device ({len(devices)}); leave --num_devices at 0"
    )
  return Mesh(np.array(devices[:num_devices]), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (the GAN state, scalars, keys)."""
  return NamedSharding(mesh, P())


def sharded_along(mesh: Mesh, batch_axis: int) -> NamedSharding:
  """Axis `batch_axis` split over the 'data' axis of the mesh, the others whole."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def step_batch_sharding(mesh: Mesh) -> NamedSharding:
  """The step's batches, [n_critic, B, ...]: the example axis B is split over the devices."""
  return sharded_along(mesh, 1)


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """A one-line error unless the global batch divides evenly over the devices."""
  n = mesh.size
  if batch_size % n:
    lower, upper = (batch_size // n) * n, (batch_size // n + 1) * n
    options = f"{lower} or {upper}" if lower else f"{upper}"
    raise ConfigError(
      f"--batch_size={batch_size} does not divide over {n} devices: pass a multiple of {n} "
      f"(e.g. {options}), or fewer devices with --num_devices"
    )


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Puts every leaf on every device of the mesh, also across processes.

  Every process must pass the same values (the same seed gives the same
  initial state everywhere); each places only its own devices' copies.
  """
  sharding = replicated(mesh)

  def put(x):
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

  return jax.tree.map(put, tree)


def global_batch(mesh: Mesh, local: dict[str, np.ndarray], *, batch_axis: int = 1) -> dict:
  """The global batch from this process's rows of it (every process calls this).

  local[k] holds rows [p·b, (p + 1)·b) of the global batch along batch_axis,
  for process p of P, b = global batch / P. With one process it is the whole
  batch, split over the local devices.

  Args:
    mesh: the mesh.
    local: this process's rows, {name: numpy array}.
    batch_axis: the example axis.

  Returns:
    {name: a global jax.Array split over the mesh's 'data' axis}.
  """
  sharding = sharded_along(mesh, batch_axis)

  def assemble(x):
    x = np.asarray(x)
    shape = list(x.shape)
    shape[batch_axis] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, x, tuple(shape))

  return {k: assemble(v) for k, v in local.items()}


def process_rows(global_batch_size: int) -> slice:
  """The rows of a global batch that this process reads."""
  per_process = global_batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def is_primary() -> bool:
  """True in the one process that logs, plots and writes files other than checkpoints."""
  return jax.process_index() == 0


# ---------------------------------------------------------------------------
# Several processes: jax.distributed.
# ---------------------------------------------------------------------------

DISTRIBUTED_MODES = ("auto", "on", "off")


def cluster_detected() -> str | None:
  """The multi-process environment JAX can configure itself from, if this is one.

  SLURM (srun with more than one task), Open MPI (mpirun), or a Cloud TPU VM
  (libtpu installed: a pod slice's workers find each other through the TPU
  metadata). None on a plain machine.
  """
  env = os.environ
  if "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
    return "SLURM"
  if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    return "Open MPI"
  if importlib.util.find_spec("libtpu") is not None:
    return "Cloud TPU"
  return None


def initialize_distributed(
  mode: str = "auto",
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  timeout_s: int = 300,
) -> bool:
  """Joins the processes of a multi-host run; returns whether it did.

  mode "off": never. "on": always, with JAX's detection filling in what is
  not given. "auto": when a coordinator address is given or `cluster_detected`
  finds a cluster. Must run before anything else touches the devices. On CPU
  the collectives go through gloo, so several processes on one machine
  (127.0.0.1) form a real multi-host run.

  Args:
    mode: "auto", "on" or "off".
    coordinator_address: HOST:PORT of process 0, or None.
    num_processes: the processes, or None (detected).
    process_id: this process's index, or None (detected).
    timeout_s: seconds to wait for every process.

  Returns:
    Whether this process joined a multi-process run.
  """
  if mode not in DISTRIBUTED_MODES:
    raise ConfigError(f"--distributed={mode}: choose one of {', '.join(DISTRIBUTED_MODES)}")
  given = coordinator_address is not None or num_processes is not None or process_id is not None
  if mode == "off" or (mode == "auto" and not given and cluster_detected() is None):
    if given:
      raise ConfigError("--distributed=off but --coordinator_address/--num_processes given")
    return False
  if given:
    _check_process_flags(coordinator_address, num_processes, process_id)
    # JAX aborts the process (no exception) when the coordinator cannot be reached or a
    # process never joins; a rendezvous of our own first turns both into one-line errors.
    rendezvous(coordinator_address, num_processes, process_id, timeout_s)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(
      coordinator_address=coordinator_address,
      num_processes=num_processes,
      process_id=process_id,
      initialization_timeout=timeout_s,
    )
  except Exception as e:  # noqa: BLE001 - JAX raises several types; all mean the same to a user
    where = coordinator_address or "the detected coordinator"
    raise ConfigError(
      f"could not join the distributed run at {where} within {timeout_s}s "
      f"({_first_line(e)}): start process 0 first, check --coordinator_address=HOST:PORT is "
      "reachable from every process, or raise --coordinator_timeout"
    ) from None
  return True


def _check_process_flags(address: str | None, num_processes: int | None, process_id: int | None):
  if address is None or num_processes is None or process_id is None:
    raise ConfigError(
      "a multi-process run needs all of --coordinator_address=HOST:PORT, --num_processes=N "
      "and --process_id=I (or none of them, where JAX detects the cluster)"
    )
  host, _, port = address.rpartition(":")
  if not host or not port.isdigit():
    raise ConfigError(f"--coordinator_address={address}: expected HOST:PORT, e.g. 10.0.0.1:1234")
  if num_processes < 1:
    raise ConfigError(f"--num_processes must be at least 1, got {num_processes}")
  if not 0 <= process_id < num_processes:
    raise ConfigError(
      f"--process_id={process_id} is out of range for --num_processes={num_processes}: "
      f"use 0 to {num_processes - 1}, a different one in each process"
    )


def rendezvous(address: str, num_processes: int, process_id: int, timeout_s: float) -> None:
  """Waits, at most timeout_s, until all processes have reached process 0 at `address`.

  Process 0 listens on the coordinator's port (which it then hands to JAX);
  every other process connects, retrying until the deadline, and sends its id
  and process count; process 0 answers "ok" once every id from 1 to N − 1 has
  arrived once. A missing coordinator, a missing process, a duplicate id or a
  different process count becomes a ConfigError in the processes concerned.

  Args:
    address: HOST:PORT of process 0.
    num_processes: N.
    process_id: this process's index.
    timeout_s: the deadline in seconds.
  """
  host, _, port = address.rpartition(":")
  host = host.strip("[]")
  deadline = time.monotonic() + timeout_s
  if num_processes == 1:
    return
  if process_id == 0:
    _gather_processes(int(port), num_processes, deadline, timeout_s)
  else:
    _join_coordinator(host, int(port), num_processes, process_id, deadline, timeout_s, address)


def _gather_processes(port: int, num_processes: int, deadline: float, timeout_s: float) -> None:
  joined: dict[int, socket.socket] = {}
  problem = None
  with socket.create_server(("", port), reuse_port=False) as server:
    server.settimeout(0.2)
    while len(joined) < num_processes - 1 and problem is None:
      if time.monotonic() > deadline:
        problem = (
          f"only {len(joined) + 1} of {num_processes} processes joined at port {port} within "
          f"{timeout_s:g}s: start the others with the same --coordinator_address and "
          f"{_other_ids(num_processes)}, or raise --coordinator_timeout"
        )
        break
      try:
        conn, _ = server.accept()
      except TimeoutError:
        continue
      conn.settimeout(max(deadline - time.monotonic(), 0.1))
      try:
        their_id, their_count = (int(v) for v in conn.makefile().readline().split())
      except (OSError, ValueError):
        conn.close()
        continue
      if their_count != num_processes:
        problem = (
          f"process {their_id} was started with --num_processes={their_count}, process 0 with "
          f"{num_processes}: give every process the same --num_processes"
        )
      elif their_id in joined:
        problem = f"two processes were started with --process_id={their_id}: give each its own"
      joined[their_id] = conn
    reply = "ok\n" if problem is None else f"error: {problem}\n"
    for conn in joined.values():
      try:
        conn.sendall(reply.encode())
      except OSError:
        pass
      conn.close()
  if problem is not None:
    raise ConfigError(problem)


def _other_ids(num_processes: int) -> str:
  if num_processes == 2:
    return "--process_id=1"
  return f"--process_id=1 to {num_processes - 1}"


def _join_coordinator(host, port, num_processes, process_id, deadline, timeout_s, address):
  while True:
    try:
      conn = socket.create_connection((host, port), timeout=max(deadline - time.monotonic(), 0.1))
      break
    except OSError:
      if time.monotonic() > deadline:
        raise ConfigError(
          f"could not reach the coordinator at {address} within {timeout_s:g}s: start process 0 "
          "there (--process_id=0), check that HOST:PORT is reachable from this machine, or "
          "raise --coordinator_timeout"
        ) from None
      time.sleep(0.2)
  with conn:
    conn.settimeout(max(deadline - time.monotonic(), 0.1))
    try:
      conn.sendall(f"{process_id} {num_processes}\n".encode())
      reply = conn.makefile().readline().strip()
    except OSError:
      reply = ""
  if reply == "ok":
    return
  if reply.startswith("error: "):
    raise ConfigError(reply[len("error: ") :])
  raise ConfigError(
    f"the coordinator at {address} did not confirm that all {num_processes} processes joined "
    f"within {timeout_s:g}s: start all of them, or raise --coordinator_timeout"
  )


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0][:160] if text else type(e).__name__
