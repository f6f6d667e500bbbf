"""Hybrid tables: the accuracy of every spliced hybrid of a (clean, skewed) pair on each test set and group.

All hybrids are evaluated in one compiled program: the masks are split over the devices (shard_map), each device
runs `lax.map` over its masks, and for each mask `lax.map` over fixed-size chunks of every test set. Nothing in
Python loops over hybrids, and the program is traced once per (model, test-set shapes).
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxshort.data.pipeline import normalize_images
from jaxshort.data.schema import Split
from jaxshort.localization.splice import all_masks, permutation_masks, splice
from jaxshort.training import sharding
from jaxshort.training.metrics import count_correct, summarize

MAX_EXACT_BLOCKS = 12  # up to this many blocks every subset is evaluated; above, sampled permutations


def hybrid_masks(num_blocks: int, num_permutations: int = 64, seed: int = 0):
  """(masks bool [M, K], permutations int [P, K] or None): all 2^K subsets for K <= MAX_EXACT_BLOCKS, else the
  masks of `num_permutations` sampled block orders (see splice.permutation_masks)."""
  if num_blocks <= MAX_EXACT_BLOCKS:
    return all_masks(num_blocks), None
  permutations, masks = permutation_masks(num_blocks, num_permutations, seed)
  return masks, permutations


def chunked(split: Split, chunk_size: int) -> dict[str, np.ndarray]:
  """image, label, group and a validity `mask` of a split, padded and reshaped to [num_chunks, chunk_size, ...]."""
  n = len(split["label"])
  num_chunks = -(-n // chunk_size)
  index = np.arange(num_chunks * chunk_size)
  valid = index < n
  index = np.minimum(index, n - 1)
  fields = {key: split[key][index] for key in ("image", "label", "group")}
  fields["mask"] = valid
  return {key: value.reshape(num_chunks, chunk_size, *value.shape[1:]) for key, value in fields.items()}


@functools.lru_cache(maxsize=None)
def _table_program(model: nn.Module, blocks: tuple[str, ...], num_classes: int, num_groups: int):
  """The jitted program (clean, skewed, masks [M, K], chunked sets) -> counts per set, each leaf [M, ...]."""
  mesh = sharding.data_mesh()

  def counts_for_mask(clean, skewed, sets, mask):
    variables = splice(clean, skewed, mask, blocks)

    def chunk_counts(batch):
      logits = model.apply(variables, normalize_images(batch["image"]), train=False)
      return count_correct(logits, batch, num_classes, num_groups)

    return {name: jax.tree.map(lambda x: x.sum(0), jax.lax.map(chunk_counts, chunks))
            for name, chunks in sets.items()}

  def local_table(clean, skewed, sets, masks):
    return jax.lax.map(functools.partial(counts_for_mask, clean, skewed, sets), masks)

  spec = PartitionSpec(sharding.DATA_AXIS)
  sharded = jax.shard_map(local_table, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec(), PartitionSpec(), spec),
                          out_specs=spec)
  return mesh, jax.jit(sharded)


def hybrid_counts(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str], masks: np.ndarray,
                  test_sets: dict[str, Split], num_classes: int, num_groups: int,
                  chunk_size: int = 250) -> dict[str, dict[str, np.ndarray]]:
  """Summed correct/example counts (metrics.count_correct) of every hybrid on every test set.

  masks bool/float [M, K]; returns {set: {count field: [M, ...]}} on the host.
  """
  mesh, program = _table_program(model, tuple(blocks), num_classes, num_groups)
  masks = np.asarray(masks, np.float32)
  num_masks = len(masks)
  padded = -(-num_masks // mesh.size) * mesh.size
  masks = np.concatenate([masks, np.repeat(masks[-1:], padded - num_masks, 0)])
  sets = {name: chunked(split, chunk_size) for name, split in test_sets.items()}
  clean, skewed, sets = sharding.replicate((jax.device_get(clean), jax.device_get(skewed), sets), mesh)
  masks = jax.device_put(masks, jax.sharding.NamedSharding(mesh, PartitionSpec(sharding.DATA_AXIS)))
  counts = jax.device_get(program(clean, skewed, sets, masks))
  return jax.tree.map(lambda x: np.asarray(x)[:num_masks], counts)


def hybrid_table(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str], test_sets: dict[str, Split],
                 num_classes: int, num_groups: int, group_names: Sequence[str], masks: np.ndarray | None = None,
                 permutations: np.ndarray | None = None, chunk_size: int = 250) -> dict:
  """Accuracy of every hybrid on each test set: overall, worst group and per group.

  clean, skewed: variables of `model` ({params, batch_stats}, top-level keys = blocks, K of them); test_sets:
  {name: split}. masks default to `hybrid_masks(K)`. Returns {blocks, masks bool [M, K], permutations
  ([P, K] or None), sets: {name: {accuracy [M], worst_group_accuracy [M] (None where the set has no groups),
  groups: {group name: accuracy [M]} for groups present}}}. Accuracies are plain (example-weighted) within a set.
  """
  if masks is None:
    masks, permutations = hybrid_masks(len(blocks))
  counts = hybrid_counts(model, clean, skewed, blocks, masks, test_sets, num_classes, num_groups, chunk_size)
  sets = {}
  for name, set_counts in counts.items():
    rows = [summarize({k: v[m] for k, v in set_counts.items()}, list(group_names)) for m in range(len(masks))]
    present = [g for g, info in rows[0]["groups"].items() if info["count"] > 0]
    sets[name] = {
        "accuracy": np.array([r["accuracy"] for r in rows]),
        "worst_group_accuracy": [r["worst_group_accuracy"] for r in rows],
        "groups": {g: np.array([r["groups"][g]["accuracy"] for r in rows]) for g in present},
    }
  return {"blocks": list(blocks), "masks": np.asarray(masks, bool), "permutations": permutations, "sets": sets}
