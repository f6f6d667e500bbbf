"""Principal axes of many localization profiles (Tsoy & Konstantinov, 2025, section 5; docs/localization.md).

A profile is a run's per-block spurious encoding E and core forgetting C. Models have different numbers of
blocks, so each series is placed at the relative depths (b + 0.5) / K of its blocks and linearly interpolated onto
a common grid of G depths; each series is scaled to unit L2 norm on its own (C is typically 20x smaller than E,
and a joint norm would let E alone set the axes), then the two are concatenated into one vector [2G], so PCA
compares where each effect lives, not how large it is. PCA is by SVD of the centred vectors.

Unit scaling would also blow a series that is only noise up to the size of a real effect. So, with the default
`noise_rule='leave_out'`, a series whose total effect (its sum over blocks) is within the run's replicate spread
(results.json `replicate.total`, from the replicate pairs of `localize.replicates`) contributes zeros, and a run
whose every series is within its spread is left out of the PCA; both are named in the output. Runs without
replicate pairs cannot be judged and are kept as measured (marked `None`). `noise_rule='keep'` takes every
series as measured.
"""

import glob
from typing import Sequence

import numpy as np

from jaxshort.training.workdir import read_json

PROFILE_KEYS = ("spurious_encoding", "core_forgetting")
NOISE_RULES = ("leave_out", "keep")


def relative_depths(num_points: int) -> np.ndarray:
  """float [n]: the centres (i + 0.5) / n of n equal segments of [0, 1]."""
  return (np.arange(num_points) + 0.5) / num_points


def resample_profile(values: Sequence[float], grid_size: int) -> np.ndarray:
  """float [G]: a per-block series float [K] interpolated from its blocks' relative depths onto G depths."""
  values = np.asarray(values, np.float64)
  return np.interp(relative_depths(grid_size), relative_depths(len(values)), values)


def profile_vector(profile: dict, grid_size: int, keys: Sequence[str] = PROFILE_KEYS,
                   zeroed: Sequence[str] = ()) -> np.ndarray:
  """float [len(keys) * G]: the resampled series of `keys`, each scaled to unit L2 norm on its own (a zero series
  stays 0), concatenated; the series named in `zeroed` contribute zeros."""
  def unit(series):
    norm = np.linalg.norm(series)
    return series / norm if norm > 0 else series
  return np.concatenate([np.zeros(grid_size) if k in zeroed else unit(resample_profile(profile[k], grid_size))
                         for k in keys])


def above_replicate_spread(results: dict) -> dict[str, bool | None]:
  """{series: whether the run's total effect stands above its replicate spread}; None for a run without
  replicate pairs."""
  replicate = results.get("replicate")
  return {k: bool(replicate["total"][k]["above_spread"]) if replicate else None for k in PROFILE_KEYS}


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
  """What distinguishes a run: dataset, model, skew strength and cue kind (synthetic cues), branch steps,
  optimizer, seed (None for a field the run's config lacks)."""
  config = results["config"]
  return {"dataset": config["dataset"]["name"], "model": config["model"]["name"],
          "rho": config["dataset"].get("rho"), "cue_kind": config["dataset"].get("cue_kind"),
          "branch_steps": config.get("localize", {}).get("branch_steps"),
          "optimizer": config.get("optimizer", {}).get("name"),
          "seed": results["seed"]}


def gather(patterns: list[str]) -> list[tuple[str, dict]]:
  """(path, results) of every localize results.json matched by the glob `patterns`, sorted by path."""
  paths = sorted({p for pattern in patterns for p in glob.glob(pattern)})
  runs = []
  for path in paths:
    results = read_json(path)
    if results.get("experiment") == "localize" and "profile" in results:
      runs.append((path, results))
  return runs


def noise_selection(runs: list[tuple[str, dict]], noise_rule: str) -> tuple[list[dict], list[dict]]:
  """(kept, left_out) under `noise_rule` (see the module docstring): kept holds {path, results, above_spread,
  zeroed}, left_out {path, label, above_spread, reason}."""
  if noise_rule not in NOISE_RULES:
    raise ValueError(f"noise_rule must be one of {NOISE_RULES}, got {noise_rule!r}")
  kept, left_out = [], []
  for path, results in runs:
    above = above_replicate_spread(results)
    zeroed = [k for k, v in above.items() if v is False] if noise_rule == "leave_out" else []
    if len(zeroed) == len(PROFILE_KEYS):
      left_out.append({"path": path, **run_label(results), "above_spread": above,
                       "reason": "every series' total effect is within the replicate spread"})
    else:
      kept.append({"path": path, "results": results, "above_spread": above, "zeroed": zeroed})
  return kept, left_out


def principal_axes(runs: list[tuple[str, dict]], grid_size: int, num_components: int,
                   noise_rule: str = "leave_out") -> dict:
  """The PCA of the runs' profile vectors, with each run's label and scores, and the runs left out or with a
  series zeroed by `noise_rule` (see the module docstring). Raises ValueError if fewer than 2 runs remain."""
  kept, left_out = noise_selection(runs, noise_rule)
  if len(kept) < 2:
    raise ValueError(f"{len(kept)} of {len(runs)} runs stand above their replicate spread; the principal axes need "
                     f"2 (noise_rule='keep' takes every run as measured)")
  vectors = np.stack([profile_vector(k["results"]["profile"], grid_size, zeroed=k["zeroed"]) for k in kept])
  result = pca(vectors, num_components)
  return {
      "grid": {"relative_depth": relative_depths(grid_size), "series": list(PROFILE_KEYS),
               "normalization": "each resampled series scaled to unit L2 norm on its own, then concatenated"},
      "noise_rule": noise_rule,
      "runs": [{"path": k["path"], **run_label(k["results"]), "above_spread": k["above_spread"],
                "zeroed_series": k["zeroed"], "scores": s} for k, s in zip(kept, result["scores"])],
      "left_out": left_out,
      "explained_variance_ratio": result["explained_variance_ratio"],
      "loadings": result["components"],
      "mean_profile": result["mean"],
  }
