"""Block-wise interventions on skewed training, and whether the localization metrics predict their success.

An intervention is a learning-rate scale per block (0 freezes the block's parameters at theta_0; batch-norm
running statistics still follow the data), applied as a per-block scaling of the one optimizer's updates
(`blockwise_optimizer`), so gradient clipping stays global as in the plain run. Specs:
  "freeze:conv1+conv2"      the named blocks frozen
  "lr:conv1=0.1+head=0.5"   the named blocks' learning rates scaled
  "freeze_each", "freeze_prefixes", "freeze_suffixes", "lr_each=0.1"   one intervention per block / prefix /
                            suffix (prefixes and suffixes leave at least one block trainable)
An intervention's predicted relief under a per-block metric m is sum_b (1 - scale_b) * m_b (by Shapley
additivity, what the frozen part of the network contributed); `rank_correlations` relates it to the gain in
conflict and worst-group accuracy over plain skewed training.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxshort.errors import UserError
from jaxshort.training.optimizers import make_optimizer


def _scale(spec: str, text: str) -> float:
  try:
    return float(text)
  except ValueError:
    raise UserError(f"intervention {spec!r}: {text!r} is not a learning-rate scale (write lr:a=0.1+b=0.5 or "
                    f"lr_each=0.1)") from None


def parse_interventions(specs: Sequence[str], blocks: Sequence[str]) -> dict[str, dict[str, float]]:
  """{name: {block: lr scale}} (blocks not named keep scale 1) from the specs in the module docstring."""
  blocks = list(blocks)
  out = {}
  for spec in specs:
    if spec == "freeze_each":
      out.update({f"freeze:{b}": {b: 0.0} for b in blocks})
    elif spec == "freeze_prefixes":
      out.update({f"freeze:{'+'.join(blocks[:j])}": dict.fromkeys(blocks[:j], 0.0) for j in range(1, len(blocks))})
    elif spec == "freeze_suffixes":
      out.update({f"freeze:{'+'.join(blocks[j:])}": dict.fromkeys(blocks[j:], 0.0) for j in range(1, len(blocks))})
    elif spec.startswith("lr_each="):
      scale = _scale(spec, spec.split("=", 1)[1])
      out.update({f"lr:{b}={scale:g}": {b: scale} for b in blocks})
    elif spec.startswith("freeze:"):
      out[spec] = dict.fromkeys(spec.split(":", 1)[1].split("+"), 0.0)
    elif spec.startswith("lr:"):
      parts = [part.partition("=") for part in spec.split(":", 1)[1].split("+")]
      out[spec] = {b: _scale(spec, s if eq else "") for b, eq, s in parts}
    else:
      raise UserError(f"unknown intervention {spec!r}; use freeze:a+b, lr:a=0.1+b=0.5, freeze_each, "
                      f"freeze_prefixes, freeze_suffixes or lr_each=<scale>")
  for name, scales in out.items():
    unknown = set(scales) - set(blocks)
    if unknown or any(s < 0 for s in scales.values()):
      raise UserError(f"intervention {name!r}: blocks must be among {blocks} and scales >= 0")
  return out


def blockwise_optimizer(config: ml_collections.ConfigDict, num_steps: int, blocks: Sequence[str],
                        scales: dict[str, float]) -> optax.GradientTransformation:
  """The optimizer of `config`, its updates of block b then scaled by scales.get(b, 1); scale 0 zeroes them.

  One optimizer runs over every block, so gradient clipping, where set, acts once on the global norm of all
  gradients (frozen blocks included) exactly as in the plain run, and with every scale 1 the updates are bitwise
  those of `make_optimizer(config)`. The optimizers here act elementwise (sgd, adam, adamw), so scaling a block's
  final update by s is training it with its learning rate scaled by s; a frozen block's parameters stay at
  theta_0 (its optimizer state still follows its gradients, and affects no other block)."""
  unknown = set(scales) - set(blocks)
  if unknown:
    raise UserError(f"scales name blocks {sorted(unknown)} that are not among {list(blocks)}")
  return optax.chain(make_optimizer(config, num_steps), scale_blocks(scales))


def scale_blocks(scales: dict[str, float]) -> optax.GradientTransformation:
  """Multiplies the updates of each top-level block b by scales.get(b, 1) (exact zeros for 0); stateless."""

  def update(updates, state, params=None):
    del params

    def scaled(block, tree):
      scale = scales.get(block, 1.0)
      if scale == 1.0:
        return tree
      return jax.tree.map(lambda u: jnp.zeros_like(u) if scale == 0 else u * scale, tree)

    return {block: scaled(block, tree) for block, tree in updates.items()}, state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
  """Spearman rank correlation of two float [n] arrays (scipy.stats.spearmanr, ties at their average rank);
  None where n < 3 or either is constant."""
  # imported here, not at the top: scipy and scikit-learn take about a second to import, which every
  # launch.py process (and every bad-input test) would otherwise pay
  import scipy.stats  # pylint: disable=import-outside-toplevel
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
    return None
  return float(scipy.stats.spearmanr(x, y).statistic)


def predicted_relief(scales: dict[str, float], blocks: Sequence[str], metric: Sequence[float]) -> float:
  """sum_b (1 - scale_b) * metric_b over the K blocks; metric float [K]."""
  return float(sum((1 - scales.get(b, 1.0)) * m for b, m in zip(blocks, metric)))


def rank_correlations(interventions: dict[str, dict], blocks: Sequence[str], metrics: dict[str, Sequence[float]],
                      gains: Sequence[str]) -> dict:
  """{metric: {gain: Spearman rho}} over the interventions.

  interventions: {name: {"scales": {block: scale}, "gain": {gain name: float}}}; metrics: {name: float [K]}.
  """
  names = list(interventions)
  out = {}
  for metric_name, metric in metrics.items():
    relief = [predicted_relief(interventions[n]["scales"], blocks, metric) for n in names]
    out[metric_name] = {g: spearman(np.array(relief), np.array([interventions[n]["gain"][g] for n in names]))
                        for g in gains}
  return out
