"""Data parallelism with JAX's own sharding: a 1-D mesh over all devices of all hosts, the batch split along it,
everything else replicated. On one CPU this still uses every core, through forced host devices."""

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxshort.errors import UserError

DATA_AXIS = "data"


def configure_cpu_devices(num_cpu_devices: int) -> None:
  """Splits the host CPU into `num_cpu_devices` JAX devices (0: one per core). Call before JAX is first used;
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
  """Places `tree` on every device of the mesh."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
