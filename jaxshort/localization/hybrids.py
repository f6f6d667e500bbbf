"""Hybrid tables: the accuracy of every spliced hybrid of a (clean, skewed) pair on each test set and group.

Two methods, each one compiled program traced once per (model, test-set shapes); nothing in Python loops over
hybrids or examples.

- `prefix_tree` (default for all 2^K masks): hybrids that agree on blocks 0..j have the same activations after
  block j, so the hybrids are evaluated as a binary prefix tree. Level j runs block j once with the clean and once
  with the skewed variables on each of the 2^j cached outputs of level j - 1 (vmap over prefixes), so block j runs
  2^(j+1) times instead of 2^K. Blocks are found as the model's top-level submodules with `nn.intercept_methods`
  (as in probes.py): at level j, block j - 1 returns the cached output, earlier blocks return zeros, later blocks
  are short-circuited to zeros (shapes from `jax.eval_shape`), and the glue between blocks is the model's own code,
  so any model whose blocks are top-level submodules each called once, in order, and whose code between blocks
  j and j + 1 reads only block j's output (a chain: no skip connection across blocks) works; every jaxshort
  model is one. The test examples are
  split into fixed-size chunks (2^j cached activations per chunk), the chunks over the devices (shard_map), and
  each device runs `lax.map` over its chunks.
- `per_mask`: every mask is its own full forward pass: the masks are split over the devices (shard_map), each
  device runs `lax.map` over its masks, and for each mask `lax.map` over fixed-size chunks of every test set. Used
  for fractional masks and for sampled-permutation masks (K > MAX_EXACT_BLOCKS).
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxshort.data.pipeline import chunked, normalize_images
from jaxshort.data.schema import Split
from jaxshort.localization.probes import block_outputs
from jaxshort.localization.splice import (SPLICED_COLLECTIONS, all_masks, mask_codes, permutation_masks,
                                         splice)
from jaxshort.training import sharding
from jaxshort.training.metrics import count_correct, summarize

MAX_EXACT_BLOCKS = 12  # up to this many blocks every subset is evaluated; above, sampled permutations
METHODS = ("prefix_tree", "per_mask")


def hybrid_masks(num_blocks: int, num_permutations: int = 64, seed: int = 0):
  """(masks bool [M, K], permutations int [P, K] or None): all 2^K subsets for K <= MAX_EXACT_BLOCKS, else the
  masks of `num_permutations` sampled block orders (see splice.permutation_masks)."""
  if num_blocks <= MAX_EXACT_BLOCKS:
    return all_masks(num_blocks), None
  permutations, masks = permutation_masks(num_blocks, num_permutations, seed)
  return masks, permutations


@functools.lru_cache(maxsize=None)
def _table_program(model: nn.Module, blocks: tuple[str, ...], num_classes: int, num_groups: int,
                   normalization: str):
  """The jitted program (clean, skewed, masks [M, K], chunked sets) -> counts per set, each leaf [M, ...]."""
  mesh = sharding.data_mesh()

  def counts_for_mask(clean, skewed, sets, mask):
    variables = splice(clean, skewed, mask, blocks)

    def chunk_counts(batch):
      logits = model.apply(variables, normalize_images(batch["image"], normalization), train=False)
      return count_correct(logits, batch, num_classes, num_groups)

    return {name: jax.tree.map(lambda x: x.sum(0), jax.lax.map(chunk_counts, chunks))
            for name, chunks in sets.items()}

  def local_table(clean, skewed, sets, masks):
    return jax.lax.map(functools.partial(counts_for_mask, clean, skewed, sets), masks)

  spec = PartitionSpec(sharding.DATA_AXIS)
  sharded = jax.shard_map(local_table, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec(), PartitionSpec(), spec),
                          out_specs=spec)
  return mesh, jax.jit(sharded)


def _block_name(context, blocks: tuple[str, ...]) -> str | None:
  """The block a flax method call belongs to, if it is the `__call__` of a top-level block submodule."""
  path = context.module.scope.path if context.module.scope is not None else ()
  if context.method_name == "__call__" and len(path) == 1 and path[0] in blocks:
    return path[0]
  return None


def block_call_order(model: nn.Module, variables: dict, images: jnp.ndarray) -> tuple[str, ...]:
  """The top-level keys of `variables['params']` in the order `model` calls their submodules on `images`
  (traced abstractly: nothing is computed). Raises ValueError if a key is not a submodule called by `__call__`."""
  keys = set(variables["params"])
  order = []

  def intercept(next_fun, args, kwargs, context):
    path = context.module.scope.path if context.module.scope is not None else ()
    if context.method_name == "__call__" and len(path) == 1 and path[0] in keys and path[0] not in order:
      order.append(path[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(intercept):
    jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, images)
  missing = sorted(keys - set(order))
  if missing:
    raise ValueError(f"params keys {missing} are not top-level submodules that {type(model).__name__} calls; give "
                     f"the blocks explicitly")
  return tuple(order)


def level_apply(model: nn.Module, variables: dict, images: jnp.ndarray, blocks: tuple[str, ...], level: int,
                carried, shapes: dict):
  """(output of block `level`, model output) for one prefix at one level of the prefix tree.

  images float [B, ...]; carried: the output of block `level - 1` for this prefix (None at level 0); shapes:
  {block: ShapeDtypeStruct tree of its output for B examples}. Block `level` runs with `variables`; block
  `level - 1` returns `carried`; every other block returns zeros, so only block `level` and the glue after block
  `level - 1` are computed (the model output is meaningful only at the last level).
  """
  captured = []

  def intercept(next_fun, args, kwargs, context):
    name = _block_name(context, blocks)
    if name is None:
      return next_fun(*args, **kwargs)
    index = blocks.index(name)
    if index == level:
      captured.append(next_fun(*args, **kwargs))
      return captured[-1]
    if index == level - 1:
      return carried
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[name])

  with nn.intercept_methods(intercept):
    output = model.apply(variables, images, train=False)
  if len(captured) != 1:
    raise ValueError(f"block {blocks[level]} was called {len(captured)} times; the prefix tree needs every block "
                     f"to be a top-level submodule of {type(model).__name__} called exactly once")
  return captured[0], output


def prefix_tree_logits(model: nn.Module, clean: dict, skewed: dict, blocks: tuple[str, ...],
                       images: jnp.ndarray) -> jnp.ndarray:
  """Model outputs of all 2^K hybrids on float images [B, ...]: [2^K, B, ...], row = mask code (all_masks order).

  Level j maps the cached block-(j-1) outputs [2^j, B, ...] of the prefixes to block-j outputs [2^(j+1), B, ...]:
  first every parent with the clean block j, then every parent with the skewed one, so prefix p (bits = the
  choices for blocks 0..j) sits at row p.
  """
  shapes = jax.eval_shape(lambda v, x: block_outputs(model, v, x, blocks), clean, images)
  carried = None
  last = len(blocks) - 1
  for level in range(len(blocks)):
    def run(variables, carry, level=level):
      out, output = level_apply(model, variables, images, blocks, level, carry, shapes)
      return output if level == last else out

    if level == 0:
      children = [jax.tree.map(lambda x: x[None], run(v, None)) for v in (clean, skewed)]
    else:
      children = [jax.vmap(functools.partial(run, v))(carried) for v in (clean, skewed)]
    carried = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), *children)
  return carried


def check_block_keys(variables: dict, blocks: Sequence[str]) -> None:
  """Raises unless the top-level keys of params and batch_stats are all blocks (what splicing needs)."""
  for collection in SPLICED_COLLECTIONS:
    unknown = set(variables.get(collection, {})) - set(blocks)
    if unknown:
      raise ValueError(f"{collection} holds keys {sorted(unknown)} that are not blocks {tuple(blocks)}")


@functools.lru_cache(maxsize=None)
def _prefix_program(model: nn.Module, blocks: tuple[str, ...], num_classes: int, num_groups: int,
                    normalization: str):
  """The jitted program (clean, skewed, chunked sets) -> counts per set, each leaf [2^K, ...] (mask-code order).

  The chunks of every set are split over the devices; each device sums its chunks, then the devices sum (psum).
  """
  mesh = sharding.data_mesh()

  def chunk_counts(clean, skewed, batch):
    logits = prefix_tree_logits(model, clean, skewed, blocks, normalize_images(batch["image"], normalization))
    return jax.vmap(lambda x: count_correct(x, batch, num_classes, num_groups))(logits)

  def local_table(clean, skewed, sets):
    local = {name: jax.tree.map(lambda x: x.sum(0), jax.lax.map(functools.partial(chunk_counts, clean, skewed),
                                                                  chunks))
             for name, chunks in sets.items()}
    return jax.lax.psum(local, sharding.DATA_AXIS)

  spec = PartitionSpec(sharding.DATA_AXIS)
  sharded = jax.shard_map(local_table, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec(), spec),
                          out_specs=PartitionSpec())
  return mesh, jax.jit(sharded)


def prefix_tree_counts(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str],
                       test_sets: dict[str, Split], num_classes: int, num_groups: int,
                       chunk_size: int = 250, input_normalization: str = "symmetric"
                       ) -> dict[str, dict[str, np.ndarray]]:
  """Summed count_correct counts of all 2^K hybrids on every test set: {set: {field: [2^K, ...]}}, row = code.

  Chunks hold at most `chunk_size` examples, fewer where a set is too small to give every device a chunk.
  """
  check_block_keys(clean, blocks)
  mesh, program = _prefix_program(model, tuple(blocks), num_classes, num_groups, input_normalization)
  sets = {name: _pad_chunks(chunked(split, min(chunk_size, -(-len(split["label"]) // mesh.size))), mesh.size)
          for name, split in test_sets.items()}
  clean, skewed = sharding.replicate((jax.device_get(clean), jax.device_get(skewed)), mesh)
  sets = jax.device_put(sets, jax.sharding.NamedSharding(mesh, PartitionSpec(sharding.DATA_AXIS)))
  return jax.tree.map(np.asarray, jax.device_get(program(clean, skewed, sets)))


def _pad_chunks(chunks: dict[str, np.ndarray], multiple: int) -> dict[str, np.ndarray]:
  """Pads the chunk axis of `chunked` output to a multiple of `multiple` with copies of chunk 0, masked out."""
  num_chunks = len(chunks["mask"])
  extra = -num_chunks % multiple
  padded = {key: np.concatenate([value, np.repeat(value[:1], extra, 0)]) for key, value in chunks.items()}
  padded["mask"][num_chunks:] = False
  return padded


def use_prefix_tree(masks: np.ndarray, method: str) -> bool:
  """Whether `method` evaluates `masks` [M, K] by the prefix tree: only 0/1 masks and K <= MAX_EXACT_BLOCKS (the
  tree evaluates all 2^K hybrids); anything else, or method 'per_mask', goes mask by mask."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  masks = np.asarray(masks)
  binary = bool(np.all((masks == 0) | (masks == 1)))
  return method == "prefix_tree" and binary and masks.shape[-1] <= MAX_EXACT_BLOCKS


def hybrid_counts(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str], masks: np.ndarray,
                  test_sets: dict[str, Split], num_classes: int, num_groups: int, chunk_size: int = 250,
                  method: str = "prefix_tree", input_normalization: str = "symmetric"
                  ) -> dict[str, dict[str, np.ndarray]]:
  """Summed correct/example counts (metrics.count_correct) of every hybrid on every test set.

  masks bool/float [M, K]; returns {set: {count field: [M, ...]}} on the host. method: 'prefix_tree' (all 2^K
  hybrids, then the rows of `masks`; used where `use_prefix_tree`) or 'per_mask'. Both give the same counts.
  Images are preprocessed by `input_normalization` (data.pipeline.normalize_images).
  """
  if use_prefix_tree(masks, method):
    counts = prefix_tree_counts(model, clean, skewed, blocks, test_sets, num_classes, num_groups, chunk_size,
                                input_normalization)
    codes = mask_codes(np.asarray(masks) == 1)
    return jax.tree.map(lambda x: x[codes], counts)
  mesh, program = _table_program(model, tuple(blocks), num_classes, num_groups, input_normalization)
  masks = np.asarray(masks, np.float32)
  num_masks = len(masks)
  padded = -(-num_masks // mesh.size) * mesh.size
  masks = np.concatenate([masks, np.repeat(masks[-1:], padded - num_masks, 0)])
  sets = {name: chunked(split, min(chunk_size, len(split["label"]))) for name, split in test_sets.items()}
  clean, skewed, sets = sharding.replicate((jax.device_get(clean), jax.device_get(skewed), sets), mesh)
  masks = jax.device_put(masks, jax.sharding.NamedSharding(mesh, PartitionSpec(sharding.DATA_AXIS)))
  counts = jax.device_get(program(clean, skewed, sets, masks))
  return jax.tree.map(lambda x: np.asarray(x)[:num_masks], counts)


def hybrid_table(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str], test_sets: dict[str, Split],
                 num_classes: int, num_groups: int, group_names: Sequence[str], masks: np.ndarray | None = None,
                 permutations: np.ndarray | None = None, chunk_size: int = 250,
                 method: str = "prefix_tree", input_normalization: str = "symmetric") -> dict:
  """Accuracy of every hybrid on each test set: overall, worst group and per group.

  clean, skewed: variables of `model` ({params, batch_stats}, top-level keys = blocks, K of them); test_sets:
  {name: split}. masks default to `hybrid_masks(K)`. Returns {blocks, masks bool [M, K], permutations
  ([P, K] or None), sets: {name: {accuracy [M], worst_group_accuracy [M] (None where the set has no groups),
  groups: {group name: accuracy [M]} for groups present}}}. Accuracies are plain (example-weighted) within a set.
  method: 'prefix_tree' or 'per_mask' (see hybrid_counts; sampled-permutation masks always go per mask).
  """
  if masks is None:
    masks, permutations = hybrid_masks(len(blocks))
  counts = hybrid_counts(model, clean, skewed, blocks, masks, test_sets, num_classes, num_groups, chunk_size,
                         method, input_normalization)
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
