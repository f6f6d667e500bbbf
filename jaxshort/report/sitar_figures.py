"""Figures of the SITAR experiments: latent diagnostics over training, latent traversals, the comparison table."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.report import save  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_diagnostics(latent: dict, path: str, title: str = "") -> None:
  """Why a VAE method's run did or did not drop the shortcut, per latent dimension over training: the shortcut
  score, the correlation with the cue, the spread of mu (solid) against the noise std (dashed), and the
  classifier's sensitivity; and after training, the cue probe with the top-scored dimensions removed.

  latent: results.json's `latent` (experiments/sitar.py): `history` {'step': [T], series: [T, d]}, and
  `cue_probe_without_top_dims`, `cue_probe_chance`, `probe_ood_accuracy`.
  """
  history = latent["history"]
  steps = history["step"]
  panels = [("score", "shortcut score v_j = |corr(mu_j, y)|"), ("cue_correlation", "|corr(mu_j, cue)|"),
            ("spread", "spread of mu_j (solid), noise std (dashed)"),
            ("sensitivity", "classifier sensitivity ||df/dz_j||")]
  fig, axes = plt.subplots(1, 5, figsize=(22, 4))
  for ax, (name, label) in zip(axes, panels):
    if name not in history:
      ax.set_axis_off()
      continue
    values = np.asarray(history[name])
    for j in range(values.shape[1]):
      ax.plot(steps, values[:, j], lw=1, color=f"C{j % 10}", label=f"dim {j}")
      if name == "spread" and "noise_std" in history:
        ax.plot(steps, np.asarray(history["noise_std"])[:, j], lw=1, ls="--", color=f"C{j % 10}")
    ax.set(title=label, xlabel="step")
  axes[0].legend(fontsize=7, ncol=2)
  probe = latent.get("cue_probe_without_top_dims", {}).get("accuracy") or {}
  ks = sorted(probe, key=int)
  axes[4].bar([int(k) for k in ks], [probe[k] for k in ks], color="C7")
  axes[4].axhline(latent.get("cue_probe_chance", 0.5), color="k", ls=":", label="chance")
  axes[4].set(title="cue probe on mu without the top-k dims", xlabel="k (top-scored dims removed)",
              ylabel="cue accuracy (group-balanced)", ylim=(0, 1))
  axes[4].legend(fontsize=7)
  ceiling = latent.get("probe_ood_accuracy")
  fig.suptitle(f"{title}   linear-probe OOD ceiling {100 * ceiling:.1f}%" if ceiling is not None else title)
  fig.tight_layout()
  save(fig, path, dpi=80)


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
  save(fig, path, dpi=110)


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
  save(fig, path, dpi=110)
