"""Principal axes of many localization profiles (Tsoy & Konstantinov, 2025, section 5; docs/localization.md).

A profile is a run's per-block spurious encoding E and core forgetting C. Models have different numbers of
blocks, so each series is placed at the relative depths (b + 0.5) / K of its blocks and linearly interpolated onto
a common grid of G depths; each series is scaled to unit L2 norm on its own (C is typically 20x smaller than E,
and a joint norm would let E alone set the axes), then the two are concatenated into one vector [2G], so PCA
compares where each effect lives, not how large it is. PCA is by SVD of the centred vectors.
"""

import glob
from typing import Sequence

import numpy as np

from jaxshort.training.workdir import read_json

PROFILE_KEYS = ("spurious_encoding", "core_forgetting")


def relative_depths(num_points: int) -> np.ndarray:
  """float [n]: the centres (i + 0.5) / n of n equal segments of [0, 1]."""
  return (np.arange(num_points) + 0.5) / num_points


def resample_profile(values: Sequence[float], grid_size: int) -> np.ndarray:
  """float [G]: a per-block series float [K] interpolated from its blocks' relative depths onto G depths."""
  values = np.asarray(values, np.float64)
  return np.interp(relative_depths(grid_size), relative_depths(len(values)), values)


def profile_vector(profile: dict, grid_size: int, keys: Sequence[str] = PROFILE_KEYS) -> np.ndarray:
  """float [len(keys) * G]: the resampled series of `keys`, each scaled to unit L2 norm on its own (a zero series
  stays 0), concatenated."""
  def unit(series):
    norm = np.linalg.norm(series)
    return series / norm if norm > 0 else series
  return np.concatenate([unit(resample_profile(profile[k], grid_size)) for k in keys])


def pca(vectors: np.ndarray, num_components: int) -> dict:
  """PCA of float [N, D]: explained_variance_ratio [c], components (loadings) [c, D], scores [N, c], mean [D],
  with c = min(num_components, N, D). Signs are fixed so that each component's largest |loading| is positive."""
  x = np.asarray(vectors, np.float64)
  mean = x.mean(0)
  _, singular, components = np.linalg.svd(x - mean, full_matrices=False)
  c = min(num_components, *x.shape)
  components = components[:c]
  signs = np.sign(components[np.arange(c), np.argmax(np.abs(components), 1)])
  components = components * signs[:, None]
  variance = singular ** 2
  total = variance.sum()
  ratio = variance[:c] / total if total > 0 else np.zeros(c)
  return {"explained_variance_ratio": ratio, "components": components, "scores": (x - mean) @ components.T,
          "mean": mean}


def run_label(results: dict) -> dict:
  """What distinguishes a run: dataset, model, skew strength, optimizer, seed."""
  config = results["config"]
  return {"dataset": config["dataset"]["name"], "model": config["model"]["name"],
          "rho": config["dataset"].get("rho"), "optimizer": config["optimizer"]["name"], "seed": results["seed"]}


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
               "normalization": "each resampled series scaled to unit L2 norm on its own, then concatenated"},
      "runs": [{"path": path, **run_label(r), "scores": s} for (path, r), s in zip(runs, result["scores"])],
      "explained_variance_ratio": result["explained_variance_ratio"],
      "loadings": result["components"],
      "mean_profile": result["mean"],
  }
