"""Shapley attribution over blocks, and the two shortcut metrics built on it (Tsoy & Konstantinov, 2025,
section 4; docs/localization.md).

A value function is given as a table: bool masks [M, K] (the hybrids; see splice.py) and values [M]. With all 2^K
masks the Shapley values are exact,
  phi_b(v) = sum over S not containing b of |S|! (K - |S| - 1)! / K! * (v(S u {b}) - v(S)),
and with sampled block orders they are the permutation estimate (the mean marginal contribution of b when added
after its predecessors in each order). Either way they add up to v(all) - v(empty) (efficiency).
"""

import math

import numpy as np

from jaxshort.localization.splice import mask_codes


def _lookup(masks: np.ndarray, values: np.ndarray) -> dict[int, float]:
  return dict(zip(mask_codes(masks).tolist(), np.asarray(values, np.float64).tolist()))


def shapley_matrix(num_blocks: int) -> np.ndarray:
  """float64 [K, 2^K]: the linear map from a value function on all subsets, in code order (row c of
  splice.all_masks), to its exact Shapley values: phi = shapley_matrix(K) @ v. Entry (b, c) is
  +|S|! (K - |S| - 1)! / K! where subset c = S u {b} holds b, and minus that weight where c = S lacks b."""
  codes = np.arange(2 ** num_blocks)
  sizes = np.array([bin(c).count("1") for c in codes])
  weights = np.array([math.factorial(s) * math.factorial(num_blocks - s - 1) / math.factorial(num_blocks)
                      for s in range(num_blocks)])
  matrix = np.zeros((num_blocks, len(codes)))
  for b in range(num_blocks):
    without = codes[(codes >> b) & 1 == 0]
    matrix[b, without] -= weights[sizes[without]]
    matrix[b, without | (1 << b)] += weights[sizes[without]]
  return matrix


def ordered_shapley(values_by_code):
  """Exact Shapley values [K] of a value function given on all 2^K subsets in code order, [2^K]; a pure array
  function (numpy or JAX, jittable)."""
  num_blocks = int(np.log2(values_by_code.shape[-1]))
  return shapley_matrix(num_blocks) @ values_by_code


def exact_shapley(masks: np.ndarray, values: np.ndarray) -> np.ndarray:
  """float64 [K]: exact Shapley values of the value function given on all 2^K masks (bool [2^K, K], any order)."""
  num_blocks = masks.shape[1]
  table = _lookup(masks, values)
  if len(table) != 2 ** num_blocks:
    raise ValueError(f"exact Shapley values need all {2 ** num_blocks} subsets, got {len(table)}")
  return ordered_shapley(np.array([table[code] for code in range(2 ** num_blocks)]))


def permutation_shapley(masks: np.ndarray, values: np.ndarray, permutations: np.ndarray) -> np.ndarray:
  """float64 [K]: the sampled-permutation estimate from block orders int [P, K]; masks [M, K] must hold every
  prefix of every order (see splice.permutation_masks)."""
  table = _lookup(masks, values)
  phi = np.zeros(permutations.shape[1])
  for order in permutations:
    code = 0
    for block in order:
      phi[block] += table[code | (1 << int(block))] - table[code]
      code |= 1 << int(block)
  return phi / len(permutations)


def shapley_values(masks: np.ndarray, values: np.ndarray, permutations: np.ndarray | None = None) -> np.ndarray:
  """float64 [K]: exact Shapley values when `permutations` is None, else the permutation estimate."""
  if permutations is None:
    return exact_shapley(masks, values)
  return permutation_shapley(masks, values, permutations)


def knock_in_out(masks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """float64 [K] each: knock-in v({b}) - v(empty) and knock-out v(all) - v(all but b)."""
  num_blocks = masks.shape[1]
  table = _lookup(masks, values)
  full = 2 ** num_blocks - 1
  knock_in = np.array([table[1 << b] - table[0] for b in range(num_blocks)])
  knock_out = np.array([table[full] - table[full ^ (1 << b)] for b in range(num_blocks)])
  return knock_in, knock_out


def replicate_spread(values: np.ndarray) -> tuple[np.ndarray, str]:
  """The spread over pairs of a per-block effect, values [P, K] for P >= 2 pairs: the range (max - min) for 2
  pairs, the sample standard deviation (ddof 1) beyond. Returns ([K], 'range' or 'std')."""
  values = np.asarray(values, np.float64)
  if len(values) == 2:
    return values.max(0) - values.min(0), "range"
  return values.std(0, ddof=1), "std"


def shortcut_scores(masks: np.ndarray, clean_accuracy: np.ndarray, aligned_accuracy: np.ndarray,
                    conflict_accuracy: np.ndarray, permutations: np.ndarray | None = None) -> dict:
  """Per-block core forgetting and spurious encoding from a hybrid table.

  masks bool [M, K]; accuracies float [M] of each hybrid on T_clean, T_aligned, T_conflict. With
  v = clean accuracy and g = aligned - conflict accuracy (the hybrid's reliance on the cue):
    core_forgetting C_b = -phi_b(v), summing to v(empty) - v(all) = acc_clean(theta_c) - acc_clean(theta_s);
    spurious_encoding E_b = phi_b(g), summing to g(all) - g(empty).
  Knock-in/out use the same signs: core_forgetting -(v({b}) - v(empty)), -(v(all) - v(all but b)); spurious
  encoding g({b}) - g(empty), g(all) - g(all but b). Returns lists of K floats, and the totals.
  """
  v = np.asarray(clean_accuracy, np.float64)
  g = np.asarray(aligned_accuracy, np.float64) - np.asarray(conflict_accuracy, np.float64)
  core = -shapley_values(masks, v, permutations)
  spurious = shapley_values(masks, g, permutations)
  core_in, core_out = knock_in_out(masks, v)
  spur_in, spur_out = knock_in_out(masks, g)
  table_v, table_g = _lookup(masks, v), _lookup(masks, g)
  full = 2 ** masks.shape[1] - 1
  return {
      "core_forgetting": core.tolist(),
      "spurious_encoding": spurious.tolist(),
      "knock_in": {"core_forgetting": (-core_in).tolist(), "spurious_encoding": spur_in.tolist()},
      "knock_out": {"core_forgetting": (-core_out).tolist(), "spurious_encoding": spur_out.tolist()},
      "total_core_forgetting": table_v[0] - table_v[full],
      "total_spurious_encoding": table_g[full] - table_g[0],
      "method": "exact" if permutations is None else f"permutation sampling ({len(permutations)} orders)",
  }
