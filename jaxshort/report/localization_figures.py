"""Figures of the localization experiment: the per-block profile, the hybrid table as a heatmap, and the
principal axes of many profiles."""

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.report import save  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_profile(blocks: Sequence[str], scores: dict, noise_scores: dict | None, path: str, title: str = "",
                 spread: dict | None = None) -> None:
  """Two panels of per-block bars, spurious encoding E_b and core forgetting C_b (Shapley values of the pair), with
  knock-in/knock-out as markers, the noise floor (|value| on the clean/clean' pair; where given) as a grey band
  and, where given, the replicate pairs' spread ({E/C key: [K]}) as error bars."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  x = np.arange(len(blocks))
  for ax, key, label, color in ((axes[0], "spurious_encoding", "spurious encoding E_b", "tab:red"),
                                (axes[1], "core_forgetting", "core forgetting C_b", "tab:blue")):
    if noise_scores is not None:
      floor = np.abs(noise_scores[key])
      ax.bar(x, floor, 0.8, color="0.85", label="noise floor |clean vs clean'|")
      ax.bar(x, -floor, 0.8, color="0.85")
    ax.bar(x, scores[key], 0.5, color=color, label="Shapley")
    if spread is not None:
      ax.errorbar(x, scores[key], yerr=spread[key], fmt="none", ecolor="k", capsize=4, label="replicate spread")
    ax.plot(x, scores["knock_in"][key], "k^", ms=6, label="knock-in")
    ax.plot(x, scores["knock_out"][key], "kv", ms=6, mfc="none", label="knock-out")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, blocks, rotation=30)
    ax.set(title=f"{label} (sum {sum(scores[key]):.3f})", xlabel="block", ylabel="accuracy points")
    ax.legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save(fig, path, dpi=110)


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
  save(fig, path, dpi=110)


def plot_axes(axes: dict, path: str, colour_by: str = "model", annotate: bool = True) -> None:
  """Scatter of the runs on the first two axes (coloured by the runs' `colour_by` label; hollow where a series
  within the replicate spread was zeroed), and each axis's loadings over depth."""
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
  scores = np.array([r["scores"] for r in axes["runs"]])
  scores = np.pad(scores, ((0, 0), (0, max(0, 2 - scores.shape[1]))))
  for value in sorted({str(r[colour_by]) for r in axes["runs"]}):
    rows = [i for i, r in enumerate(axes["runs"]) if str(r[colour_by]) == value]
    hollow = [i for i in rows if axes["runs"][i].get("zeroed_series")]
    solid = [i for i in rows if i not in hollow]
    dots = left.scatter(scores[solid, 0], scores[solid, 1], label=value)
    left.scatter(scores[hollow, 0], scores[hollow, 1], facecolors="none", edgecolors=dots.get_facecolor())
  if annotate:
    for run, (x, y) in zip(axes["runs"], scores[:, :2]):
      left.annotate(f"{run['dataset']} rho={run['rho']} s{run['seed']}", (x, y), fontsize=7)
  ratio = list(axes["explained_variance_ratio"]) + [0.0, 0.0]
  left_out = len(axes.get("left_out", []))
  left.set(xlabel=f"PC1 ({100 * ratio[0]:.0f}%)", ylabel=f"PC2 ({100 * ratio[1]:.0f}%)",
           title="runs on the axes" + (f" ({left_out} within the replicate spread left out)" if left_out else ""))
  left.legend(fontsize=8)
  depth = np.asarray(axes["grid"]["relative_depth"])
  for i, loading in enumerate(np.asarray(axes["loadings"])[:3]):
    for j, (series, style) in enumerate(zip(axes["grid"]["series"], ("-", "--"))):
      right.plot(depth, loading[j * len(depth):(j + 1) * len(depth)], style, color=f"C{i}",
                 label=f"PC{i + 1} {series}")
  right.axhline(0, color="k", lw=0.6)
  right.set(xlabel="relative depth", ylabel="loading", title="loadings (solid: E, dashed: C)")
  right.legend(fontsize=7)
  fig.tight_layout()
  save(fig, path, dpi=110)


def plot_study_profiles(runs: Sequence[dict], path: str) -> None:
  """One panel per group (runs' `group`): each run's E_b (solid) and C_b (dashed) over relative depth, coloured by
  its `skew` label. runs: [{group, skew, blocks, spurious_encoding, core_forgetting}]."""
  groups = list(dict.fromkeys(r["group"] for r in runs))
  skews = sorted({r["skew"] for r in runs})
  columns = min(3, len(groups))
  rows = -(-len(groups) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, sharey=True)
  for ax, group in zip(axes.flat, groups):
    for run in (r for r in runs if r["group"] == group):
      depth = (np.arange(len(run["blocks"])) + 0.5) / len(run["blocks"])
      colour = f"C{skews.index(run['skew'])}"
      ax.plot(depth, run["spurious_encoding"], "-o", color=colour, ms=3, lw=1)
      ax.plot(depth, run["core_forgetting"], "--", color=colour, lw=1)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(title=group, xlabel="relative depth", xlim=(0, 1))
  for ax in axes.flat[len(groups):]:
    ax.axis("off")
  for ax in axes[:, 0]:
    ax.set_ylabel("E_b (solid), C_b (dashed)")
  handles = [plt.Line2D([], [], color=f"C{i}", label=skew) for i, skew in enumerate(skews)]
  fig.legend(handles=handles, loc="lower center", ncol=len(skews), fontsize=8)
  fig.tight_layout(rect=(0, 0.06, 1, 1))
  save(fig, path, dpi=110)


def plot_intervention_gains(points: Sequence[dict], correlation: dict, path: str) -> None:
  """Predicted relief (share of the run's E in the frozen block) against the measured gain in T_conflict
  accuracy, one dot per intervention, coloured by `group`; the pooled Spearman rho and its interval in the
  title. points: [{group, relief, gain}]."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for group in dict.fromkeys(p["group"] for p in points):
    mine = [p for p in points if p["group"] == group]
    ax.scatter([p["relief"] for p in mine], [p["gain"] for p in mine], label=group, s=18)
  ax.axhline(0, color="k", lw=0.6)
  rho, interval = correlation.get("rho"), correlation.get("interval")
  title = "no correlation defined" if rho is None else (
      f"pooled Spearman rho {rho:.2f}, {100 * correlation['confidence']:.0f}% bootstrap "
      f"[{interval[0]:.2f}, {interval[1]:.2f}], n={correlation['pairs']}")
  ax.set(xlabel="E in the frozen block / total E", ylabel="gain in T_conflict accuracy", title=title)
  ax.legend(fontsize=8)
  fig.tight_layout()
  save(fig, path, dpi=110)
