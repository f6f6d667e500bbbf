"""Figures of the localization experiment: the per-block profile, and the hybrid table as a heatmap."""

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_profile(blocks: Sequence[str], scores: dict, noise_scores: dict, path: str, title: str = "") -> None:
  """Two panels of per-block bars, spurious encoding E_b and core forgetting C_b (Shapley values of the pair), with
  knock-in/knock-out as markers and the noise floor (|value| on the clean/clean' pair) as a grey band."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  x = np.arange(len(blocks))
  for ax, key, label, color in ((axes[0], "spurious_encoding", "spurious encoding E_b", "tab:red"),
                                (axes[1], "core_forgetting", "core forgetting C_b", "tab:blue")):
    floor = np.abs(noise_scores[key])
    ax.bar(x, floor, 0.8, color="0.85", label="noise floor |clean vs clean'|")
    ax.bar(x, -floor, 0.8, color="0.85")
    ax.bar(x, scores[key], 0.5, color=color, label="Shapley")
    ax.plot(x, scores["knock_in"][key], "k^", ms=6, label="knock-in")
    ax.plot(x, scores["knock_out"][key], "kv", ms=6, mfc="none", label="knock-out")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, blocks, rotation=30)
    ax.set(title=f"{label} (sum {sum(scores[key]):.3f})", xlabel="block", ylabel="accuracy points")
    ax.legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def mask_label(mask: np.ndarray, blocks: Sequence[str]) -> str:
  """'conv1+head' for the blocks taken from the skewed model; 'clean' for none, 'skewed' for all."""
  if not mask.any():
    return "(clean)"
  if mask.all():
    return "(skewed)"
  return "+".join(b for b, m in zip(blocks, mask) if m)


def plot_hybrid_table(table: dict, path: str, title: str = "", max_rows: int = 64) -> None:
  """Heatmap: one row per hybrid (by number of skewed blocks; at most `max_rows`), one column per test set plus
  the cue reliance g = aligned - conflict."""
  masks = np.asarray(table["masks"], bool)
  order = np.lexsort((np.arange(len(masks)), masks.sum(1)))[:max_rows]
  names = list(table["sets"])
  columns = [np.asarray(table["sets"][n]["accuracy"]) for n in names]
  aligned = [n for n in names if "aligned" in n]
  conflict = [n for n in names if "conflict" in n]
  if aligned and conflict:
    columns.append(columns[names.index(aligned[0])] - columns[names.index(conflict[0])])
    names = names + ["g = aligned - conflict"]
  values = np.stack(columns, 1)[order]
  fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(names), 1.2 + 0.28 * len(order)))
  image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=min(0.0, values.min()), vmax=1.0)
  for (i, j), value in np.ndenumerate(values):
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
  ax.set_xticks(np.arange(len(names)), names, rotation=20, fontsize=8)
  ax.set_yticks(np.arange(len(order)), [mask_label(masks[i], table["blocks"]) for i in order], fontsize=7)
  ax.set_ylabel("blocks from the skewed model")
  fig.colorbar(image, ax=ax, fraction=0.04)
  if title:
    ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
