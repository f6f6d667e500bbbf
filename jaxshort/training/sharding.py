"""Data parallelism with JAX's own sharding: a 1-D mesh over all devices of all hosts, the batch split along it,
everything else replicated. On one CPU this still uses every core, through forced host devices.

Device setup happens once, before JAX is first used (`setup_devices`): a multi-process start through
`jax.distributed.initialize()` where the environment describes one, then the split of the host CPU.
"""

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxshort.config import DISTRIBUTED_MODES
from jaxshort.errors import UserError

DATA_AXIS = "data"




def wants_distributed(mode: str, environ=None) -> bool:
  """Whether to call `jax.distributed.initialize()`: 'on' always (JAX detects the cluster: SLURM, Open MPI,
  Cloud TPU, Kubernetes, or JAX_COORDINATOR_ADDRESS / num_processes / process_id given by hand), 'off' never,
  'auto' when the environment names several processes: JAX_COORDINATOR_ADDRESS is set, an `srun` step has
  SLURM_NTASKS > 1, or Open MPI's OMPI_COMM_WORLD_SIZE > 1. A one-task SLURM job (e.g. one sweep job of an
  array) stays a single process."""
  if mode not in DISTRIBUTED_MODES:
    raise UserError(f"distributed must be one of {DISTRIBUTED_MODES}, got {mode!r}")
  env = os.environ if environ is None else environ
  if mode != "auto":
    return mode == "on"
  slurm_tasks = int(env.get("SLURM_NTASKS", "1")) if "SLURM_STEP_NODELIST" in env else 1
  return bool(env.get("JAX_COORDINATOR_ADDRESS")) or slurm_tasks > 1 or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1


DEFAULT_COMPILATION_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "jaxshort", "xla")


def enable_compilation_cache(directory: str = DEFAULT_COMPILATION_CACHE) -> None:
  """Keeps compiled programs in `directory` across processes, so a resumed run or the next run of the same
  shapes loads them instead of compiling (the default run: 47-49 s instead of 59-61 s on a shared 2-core CPU). A cached
  program is the same program, so results are unchanged. '' disables it; JAX_COMPILATION_CACHE_DIR, if set, wins."""
  if directory and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", directory)


# Models whose training step runs faster with the host CPU split into one JAX device per core (measured on the
# 2-core development CPU, benchmarks/README.md: the small CNN 1.35x, ResNet-18 1.7x); the others keep one device
# (the MLP's step ran 1.5x slower split, the SITAR VAE's the same; DeiT's matmuls were not measured).
CPU_SPLIT_MODEL_PREFIXES = ("small_cnn", "vgg", "resnet", "convnext")


# Models whose steps run one per dispatch on a CPU, not scanned: XLA:CPU runs convolutions inside a loop body
# several times slower than alone (jax-ml/jax#12868). Measured on the 2-core CPU, ms per step scanned / one per
# dispatch: ResNet (CIFAR stem, 16-128) 204 / 28, small CNN 16.6 / 3.4, SITAR VAE 30.9 / 9.7, ConvNeXt 58 / 37;
# the MLP 2.6 / 3.5 and DeiT (patches as a reshape) 12.8 / 15.5 gain from the scan.
CPU_PER_STEP_MODEL_PREFIXES = ("small_cnn", "vgg", "resnet", "convnext", "sitar_vae", "chroma_vae")


def scan_steps(model_name: str) -> bool:
  """Whether a chunk of training steps of model `model_name` runs scanned in one program (steps.make_train_chunk)
  rather than one step per dispatch: yes, but for convolutional models on a CPU."""
  return jax.default_backend() != "cpu" or not model_name.startswith(CPU_PER_STEP_MODEL_PREFIXES)


MAX_CPU_DEVICES = 8  # the most devices a CPU is split into by default (measured: 2)


def cpu_device_count(num_cpu_devices: int, model_names=(), batch_sizes=()) -> int:
  """How many JAX devices the host CPU is split into: `num_cpu_devices` if set (> 0); else, if any of the run's
  models is a convolutional net (CPU_SPLIT_MODEL_PREFIXES), one per core this process may use, at most
  MAX_CPU_DEVICES and dividing every one of `batch_sizes`; else 1."""
  if num_cpu_devices:
    return int(num_cpu_devices)
  if not any(name.startswith(CPU_SPLIT_MODEL_PREFIXES) for name in model_names):
    return 1
  count = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
              MAX_CPU_DEVICES)
  while count > 1 and any(int(b) % count for b in batch_sizes):
    count -= 1
  return count


def setup_devices(num_cpu_devices: int = 0, distributed: str = "auto",
                  compilation_cache: str = DEFAULT_COMPILATION_CACHE, model_names=(), batch_sizes=()) -> None:
  """The device setup of a run; call before JAX is first used. Splits the host CPU (`cpu_device_count` of
  `num_cpu_devices`, the run's `model_names` and `batch_sizes`), turns on the persistent compilation cache, then
  joins the other processes of a multi-host run (see `wants_distributed`), after which `jax.devices()` lists the
  devices of every host and `data_mesh` spans them all."""
  configure_cpu_devices(cpu_device_count(num_cpu_devices, model_names, batch_sizes))
  enable_compilation_cache(compilation_cache)
  if wants_distributed(distributed):
    jax.distributed.initialize()


def configure_cpu_devices(num_cpu_devices: int) -> None:
  """Splits the host CPU into `num_cpu_devices` JAX devices (0: one per core; see `cpu_device_count` for the
  choice of a run). Call before JAX is first used;
  has no effect on GPU/TPU, whose devices are used as they are."""
  count = num_cpu_devices or os.cpu_count() or 1
  jax.config.update("jax_num_cpu_devices", int(count))


def data_mesh() -> Mesh:
  """A mesh with one axis, `data`, over every device."""
  return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  if batch_size % mesh.size:
    raise UserError(f"batch_size {batch_size} must be divisible by the number of devices ({mesh.size}); "
                    f"change batch_size or num_cpu_devices")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
  """Places a global batch on the mesh, split along the leading axis; each host contributes its own rows."""
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  count, index = jax.process_count(), jax.process_index()

  def place(x):
    x = np.asarray(x)
    rows = len(x) // count
    return jax.make_array_from_process_local_data(sharding, x[index * rows:(index + 1) * rows], x.shape)

  return jax.tree.map(place, batch)


def replicate(tree, mesh: Mesh):
  """A copy of `tree` on every device of the mesh: never the caller's own buffers (with one device, placing
  would alias them), so a step that donates the copy leaves `tree` intact (theta_0 serves both runs of a
  localization pair)."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()), may_alias=False)


def from_process_zero(flag: bool) -> bool:
  """Process 0's `flag`, on every process of a multi-process run (each waits until all get here); `flag` itself
  with one process."""
  if jax.process_count() == 1:
    return flag
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def replicated(mesh: Mesh) -> NamedSharding:
  """Arrays held whole on every device of the mesh."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, leading: int = 0) -> NamedSharding:
  """Arrays split over the devices along their axis `leading` (the batch axis; 1 for [steps or chunks, batch,
  ...] stacks), replicated along the others."""
  return NamedSharding(mesh, PartitionSpec(*([None] * leading), DATA_AXIS))


def place(tree, sharding: NamedSharding):
  """Host arrays (the same on every process) placed with `sharding`; each process fills its own devices."""
  def one(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
  return jax.tree.map(one, tree)
