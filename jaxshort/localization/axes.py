"""Principal axes of many localize runs: gathers their profiles, resamples, normalizes, and runs a PCA.

    python -m jaxshort.localization.axes --results 'runs/*/results.json' --out runs/axes

Writes OUT/axes.json (runs, grid, explained variance, loadings, scores) and OUT/axes.png (the runs on the first
two axes, and the loadings of each axis over relative depth). See pca.py for the resampling and normalization.
"""

import argparse
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.localization.pca import PROFILE_KEYS, pca, profile_vector, relative_depths  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxshort.training.workdir import read_json, write_json  # pylint: disable=g-import-not-at-top,wrong-import-position


def run_label(results: dict) -> dict:
  """What distinguishes a run: dataset, model, skew strength, optimizer, seed."""
  config = results.get("config", {})
  return {"dataset": config.get("dataset", {}).get("name"), "model": config.get("model", {}).get("name"),
          "rho": config.get("dataset", {}).get("rho"), "optimizer": config.get("optimizer", {}).get("name"),
          "seed": results.get("seed")}


def gather(patterns: list[str]) -> list[tuple[str, dict]]:
  """(path, results) of every localize results.json matched by the glob `patterns`, sorted by path."""
  paths = sorted({p for pattern in patterns for p in glob.glob(pattern)})
  runs = []
  for path in paths:
    results = read_json(path)
    if results.get("experiment") == "localize" and "profile" in results:
      runs.append((path, results))
  return runs


def principal_axes(runs: list[tuple[str, dict]], grid_size: int, num_components: int) -> dict:
  """The PCA of the runs' profile vectors, with each run's label and scores (see the module docstring)."""
  vectors = np.stack([profile_vector(r["profile"], grid_size) for _, r in runs])
  result = pca(vectors, num_components)
  return {
      "grid": {"relative_depth": relative_depths(grid_size), "series": list(PROFILE_KEYS),
               "normalization": "unit L2 norm of the concatenated resampled series"},
      "runs": [{"path": path, **run_label(r), "scores": s} for (path, r), s in zip(runs, result["scores"])],
      "explained_variance_ratio": result["explained_variance_ratio"],
      "loadings": result["components"],
      "mean_profile": result["mean"],
  }


def plot_axes(axes: dict, path: str) -> None:
  """Scatter of the runs on the first two axes (coloured by model), and each axis's loadings over depth."""
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
  scores = np.array([r["scores"] for r in axes["runs"]])
  scores = np.pad(scores, ((0, 0), (0, max(0, 2 - scores.shape[1]))))
  models = sorted({str(r["model"]) for r in axes["runs"]})
  for model in models:
    rows = [i for i, r in enumerate(axes["runs"]) if str(r["model"]) == model]
    left.scatter(scores[rows, 0], scores[rows, 1], label=model)
  for run, (x, y) in zip(axes["runs"], scores[:, :2]):
    left.annotate(f"{run['dataset']} rho={run['rho']} s{run['seed']}", (x, y), fontsize=7)
  ratio = list(axes["explained_variance_ratio"]) + [0.0, 0.0]
  left.set(xlabel=f"PC1 ({100 * ratio[0]:.0f}%)", ylabel=f"PC2 ({100 * ratio[1]:.0f}%)", title="runs on the axes")
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
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--results", action="append", required=True, help="glob of results.json files; repeatable")
  parser.add_argument("--out", required=True, help="folder for axes.json and axes.png")
  parser.add_argument("--grid", type=int, default=8, help="relative-depth grid points per series")
  parser.add_argument("--components", type=int, default=3)
  args = parser.parse_args(argv)
  runs = gather(args.results)
  if len(runs) < 2:
    print(f"error: need at least 2 localize results, found {len(runs)} for {args.results}", file=sys.stderr)
    return 2
  os.makedirs(args.out, exist_ok=True)
  axes = principal_axes(runs, args.grid, args.components)
  write_json(os.path.join(args.out, "axes.json"), axes)
  plot_axes(axes, os.path.join(args.out, "axes.png"))
  ratio = ", ".join(f"{r:.3f}" for r in axes["explained_variance_ratio"])
  print(f"{len(runs)} runs; explained variance ratio: {ratio}; {os.path.join(args.out, 'axes.json')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
