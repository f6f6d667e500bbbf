"""Figures of the SITAR experiments: shortcut scores over training, latent traversals, the comparison table."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_scores(history: dict, path: str) -> None:
  """Batch shortcut score of every latent dimension over training. history: {'step': [T], 'scores': [T, d]}."""
  scores = np.asarray(history["scores"])
  fig, ax = plt.subplots(figsize=(7, 4))
  for j in range(scores.shape[1]):
    ax.plot(history["step"], scores[:, j], lw=1, label=f"dim {j}")
  ax.set(title="shortcut score v_j = |corr(mu_j, y)| per batch", xlabel="step", ylabel="score", ylim=(0, 1))
  ax.legend(fontsize=7, ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_traversal(traversal: dict, path: str) -> None:
  """PNG grid: rows are (base image, top-scored dimension), columns sweep that dimension over its values.

  traversal: {'grid' [B, K, V, H, W, C] in [0, 1], 'dims' [K], 'values' [V], 'scores' [K]} (experiments/sitar.py).
  """
  grid, dims, values, scores = traversal["grid"], traversal["dims"], traversal["values"], traversal["scores"]
  rows = [(b, k) for b in range(grid.shape[0]) for k in range(len(dims))]
  fig, axes = plt.subplots(len(rows), len(values), figsize=(1.2 * len(values), 1.25 * len(rows)), squeeze=False)
  for r, (b, k) in enumerate(rows):
    for c, value in enumerate(values):
      axes[r, c].imshow(grid[b, k, c])
      axes[r, c].set_xticks([])
      axes[r, c].set_yticks([])
      if r == 0:
        axes[r, c].set_title(f"{value:+.1f}", fontsize=8)
    axes[r, 0].set_ylabel(f"x{b} dim {dims[k]}\nv={scores[k]:.2f}", fontsize=7)
  fig.suptitle("latent traversals of the top-scored dimensions", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_comparison(table: dict, path: str, oracle: float | None = None) -> None:
  """Grouped bars, mean +- std over seeds: ID accuracy, OOD accuracy, OOD worst-group accuracy per variant."""
  keys = [("in_distribution_accuracy", "ID acc"), ("out_of_distribution_accuracy", "OOD acc"),
          ("out_of_distribution_worst_group_accuracy", "OOD worst-group")]
  names = list(table)
  x = np.arange(len(names))
  width = 0.27
  fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
  for i, (key, label) in enumerate(keys):
    ax.bar(x + (i - 1) * width, [table[n][key]["mean"] for n in names], width,
           yerr=[table[n][key]["std"] or 0.0 for n in names], capsize=2, label=label)
  if oracle is not None:
    ax.axhline(oracle, color="k", ls="--", lw=1, label=f"oracle OOD {oracle:.2f}")
  ax.set_xticks(x, names, rotation=20, fontsize=8)
  ax.set(ylim=(0, 1.02), ylabel="accuracy", title="mean ± sample std over seeds")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
