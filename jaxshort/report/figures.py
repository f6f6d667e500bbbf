"""Figures of a training run: curves over steps and per-group accuracy per split."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.report import save  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_training(records: list[dict], split_metrics: dict[str, dict], path: str, title: str = "") -> None:
  """Saves a 3-panel PNG: training loss, accuracy of each evaluated split over steps, final per-group accuracy.

  records: metrics.jsonl rows (`step`, `split`, metric fields); split_metrics: {split: metrics.summarize(...)}.
  """
  fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
  train = [r for r in records if r["split"] == "train"]
  axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], color="k", lw=1)
  axes[0].set(title="training loss", xlabel="step", ylabel="cross-entropy")

  for split in sorted({r["split"] for r in records} - {"train"}):
    rows = [r for r in records if r["split"] == split]
    axes[1].plot([r["step"] for r in rows], [r["accuracy"] for r in rows], marker="o", ms=3, label=split)
  if train:
    axes[1].plot([r["step"] for r in train], [r["accuracy"] for r in train], color="k", lw=0.6, alpha=0.5,
                 label="train (batch)")
  axes[1].set(title="accuracy", xlabel="step", ylim=(0, 1.02))
  axes[1].legend(fontsize=8)

  splits = list(split_metrics)
  groups = sorted({g for m in split_metrics.values() for g in m.get("groups", {})})
  width = 0.8 / max(len(splits), 1)
  for i, split in enumerate(splits):
    accs = [(split_metrics[split]["groups"].get(g) or {}).get("accuracy") for g in groups]
    axes[2].bar(np.arange(len(groups)) + i * width, [np.nan if a is None else a for a in accs], width,
                label=split)
  axes[2].set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups, rotation=20, fontsize=8)
  axes[2].set(title="final accuracy per group (label|cue)", ylim=(0, 1.02))
  axes[2].legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save(fig, path, dpi=110)
