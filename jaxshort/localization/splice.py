"""Block splicing: a hybrid of two models of one architecture, each block taken from one of them.

Variables are flax dicts {collection: {block: subtree}} whose top-level keys in `params` (and `batch_stats`) are
the model's block names. A mask [K] over the ordered blocks picks the skewed model's block where it is 1 and the
clean model's where it is 0; fractional values interpolate. Everything is array arithmetic, so `splice` works
under jit and vmap (the mask is traced, the block names are static).
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

SPLICED_COLLECTIONS = ("params", "batch_stats")


def splice(clean: dict, skewed: dict, mask: jnp.ndarray, blocks: Sequence[str]) -> dict:
  """The hybrid variables: block blocks[k] from `skewed` where mask[k] is 1, from `clean` where it is 0.

  clean, skewed: variables with the same structure; mask: bool or float [K] with K = len(blocks). Collections
  other than params and batch_stats are taken from `clean`. A mask of 0/1 gives each leaf exactly (not up to
  rounding): (1 - m) * c + m * s.
  """
  blocks = tuple(blocks)
  mask = jnp.asarray(mask)
  if mask.shape != (len(blocks),):
    raise ValueError(f"mask must have shape [{len(blocks)}] (one entry per block {blocks}), got {mask.shape}")
  merged = dict(clean)
  for collection in SPLICED_COLLECTIONS:
    if collection not in clean:
      continue
    unknown = set(clean[collection]) - set(blocks)
    if unknown:
      raise ValueError(f"{collection} holds keys {sorted(unknown)} that are not blocks {blocks}")
    merged[collection] = {
        name: jax.tree.map(lambda c, s, m=mask[blocks.index(name)]: _mix(c, s, m), subtree,
                           skewed[collection][name])
        for name, subtree in clean[collection].items()}
  return merged


def _mix(clean_leaf: jnp.ndarray, skewed_leaf: jnp.ndarray, weight: jnp.ndarray) -> jnp.ndarray:
  weight = weight.astype(clean_leaf.dtype)
  return (1 - weight) * clean_leaf + weight * skewed_leaf


def all_masks(num_blocks: int) -> np.ndarray:
  """bool [2^K, K]: every subset of K blocks; row i holds block k iff bit k of i is set (row 0: none)."""
  codes = np.arange(2 ** num_blocks)
  return (codes[:, None] >> np.arange(num_blocks)) & 1 == 1


def mask_codes(masks: np.ndarray) -> np.ndarray:
  """int [M]: the subset code sum_k mask[k] * 2^k of each bool mask [M, K] (the row index in `all_masks`)."""
  masks = np.asarray(masks, bool)
  return (masks.astype(np.int64) << np.arange(masks.shape[-1])).sum(-1)


def permutation_masks(num_blocks: int, num_permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Sampled block orders and the masks a permutation estimate of Shapley values needs.

  Returns permutations int [P, K] and masks bool [M, K]: the empty and full sets, every single block and every
  all-but-one set (for knock-in and knock-out), and every prefix of every permutation, without repeats.
  """
  rng = np.random.default_rng([seed, 0x5A4B])
  permutations = np.stack([rng.permutation(num_blocks) for _ in range(num_permutations)])
  eye = np.eye(num_blocks, dtype=bool)
  rows = [np.zeros((1, num_blocks), bool), np.ones((1, num_blocks), bool), eye, ~eye]
  for order in permutations:
    prefixes = np.zeros((num_blocks + 1, num_blocks), bool)
    for j, block in enumerate(order):
      prefixes[j + 1:, block] = True
    rows.append(prefixes)
  masks = np.concatenate(rows)
  _, first = np.unique(mask_codes(masks), return_index=True)
  return permutations, masks[np.sort(first)]
