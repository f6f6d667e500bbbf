"""What a study of many localize runs finds, set against the paper's claims (Tsoy & Konstantinov, 2025; the CPU
study is configs/localize/study_cpu.py, its findings in docs/localization.md).

Each function reads localize results.json dicts (experiments/localize.py):
- `profile_checks`: the three identities every profile must satisfy: v(empty) is the clean model, v(all) the
  skewed model, and the per-block E (and C) sum to the total effect, to float tolerance.
- `carrying_blocks`: is the shortcut distributed? The blocks that carry at least `share` of the total spurious
  encoding E and stand above the replicate spread (the per-block spread of the replicate pairs).
- `centre_of_mass`: where an effect sits, in relative depth (b + 0.5) / K of the K blocks, weighting each block
  by its positive part (a block that undoes some of the effect does not pull the centre).
- `pooled_rank_correlation`: do the localization metrics predict which intervention helps? Spearman's rho
  between each intervention's predicted relief (interventions.predicted_relief: for freezing block b, the
  metric's value at b as a share of the run's total) and its measured gain, pooled over every intervention of
  every run, with a percentile bootstrap interval over those (relief, gain) pairs.
"""

from typing import Sequence

import numpy as np

from jaxshort.localization.interventions import predicted_relief
from jaxshort.localization.pca import relative_depths

SERIES = ("spurious_encoding", "core_forgetting")
TOTALS = {"spurious_encoding": "total_spurious_encoding", "core_forgetting": "total_core_forgetting"}


def profile_checks(results: dict, tolerance: float = 1e-6) -> dict[str, bool]:
  """{check: passed} of one run: v(empty) = the clean model and v(all) = the skewed model on every test set
  (exact, as the localize run records them), and sum_b E_b = total E, sum_b C_b = total C."""
  checks = dict(results["checks"]["pair"])
  for key in SERIES:
    checks[f"{key}_sums_to_total"] = bool(
        abs(sum(results["scores"][key]) - results["scores"][TOTALS[key]]) <= tolerance)
  return checks


def carrying_blocks(results: dict, share: float = 0.1) -> list[str]:
  """The blocks whose E_b is at least `share` of the total E (of a positive total) and, where the run has
  replicate pairs, above their spread."""
  values = np.asarray(results["scores"]["spurious_encoding"])
  total = results["scores"]["total_spurious_encoding"]
  if total <= 0:
    return []
  carrying = values >= share * total
  if results.get("replicate"):
    carrying &= np.asarray(results["replicate"]["above_spread"]["spurious_encoding"], bool)
  return [b for b, c in zip(results["profile"]["blocks"], carrying) if c]


def centre_of_mass(values: Sequence[float]) -> float | None:
  """sum_b d_b max(v_b, 0) / sum_b max(v_b, 0) over the relative depths d_b of K blocks; None if no v_b > 0."""
  positive = np.maximum(np.asarray(values, np.float64), 0.0)
  if positive.sum() <= 0:
    return None
  return float(relative_depths(len(positive)) @ positive / positive.sum())


def intervention_pairs(results: dict, metric: str = "spurious_encoding",
                       gain: str = "conflict_accuracy") -> list[tuple[float, float]]:
  """(predicted relief as a share of the total metric, measured gain) of each intervention of one run; [] for a
  run without interventions or with a non-positive total."""
  interventions = results.get("interventions")
  total = results["scores"][TOTALS[metric]]
  if not interventions or total <= 0:
    return []
  blocks, values = results["profile"]["blocks"], results["scores"][metric]
  return [(predicted_relief(run["scales"], blocks, values) / total, run["gain"][gain])
          for run in interventions["runs"].values()]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
  # imported here: scipy costs every launch.py process about a second (see interventions.spearman)
  import scipy.stats  # pylint: disable=import-outside-toplevel
  return float(scipy.stats.spearmanr(x, y).statistic)


def pooled_rank_correlation(pairs: Sequence[tuple[float, float]], resamples: int = 2000, seed: int = 0,
                            confidence: float = 0.95) -> dict:
  """Spearman's rho of pooled (relief, gain) pairs, with a percentile bootstrap interval (resampling the pairs);
  rho None where fewer than 3 pairs or either column is constant."""
  import scipy.stats  # pylint: disable=import-outside-toplevel
  x, y = (np.asarray(column, np.float64) for column in zip(*pairs)) if pairs else (np.zeros(0), np.zeros(0))
  out = {"pairs": len(x), "rho": None, "interval": None, "confidence": confidence, "resamples": resamples}
  if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
    return out
  out["rho"] = spearman(x, y)
  result = scipy.stats.bootstrap((x, y), lambda a, b: scipy.stats.spearmanr(a, b).statistic, paired=True,
                                 vectorized=False, n_resamples=resamples, confidence_level=confidence,
                                 method="percentile", rng=np.random.default_rng(seed))
  low, high = result.confidence_interval
  out["interval"] = [float(low), float(high)]
  return out


def run_summary(results: dict, share: float = 0.1) -> dict:
  """One run's findings: totals (and whether they stand above the replicate spread), the carrying blocks, the
  centres of mass of E and C, the checks, and the model accuracies on T_conflict."""
  scores, replicate = results["scores"], results.get("replicate")
  conflict = results["dataset"]["roles"]["conflict_test"] if "roles" in results["dataset"] else None
  summary = {
      "blocks": results["profile"]["blocks"],
      "total_spurious_encoding": scores["total_spurious_encoding"],
      "total_core_forgetting": scores["total_core_forgetting"],
      "carrying_blocks": carrying_blocks(results, share),
      "centre_of_mass": {key: centre_of_mass(scores[key]) for key in SERIES},
      "above_spread": ({key: replicate["total"][key]["above_spread"] for key in SERIES} if replicate else None),
      "checks": profile_checks(results),
  }
  if conflict:
    summary["conflict_accuracy"] = {run: results["accuracy"][run][conflict]["accuracy"]
                                    for run in ("clean", "skewed")}
  return summary


def mean_std(values: Sequence[float | None]) -> dict:
  """{'mean', 'std' (ddof 1; None for one value), 'n'} of the values that are not None."""
  values = np.asarray([v for v in values if v is not None], np.float64)
  if not len(values):
    return {"mean": None, "std": None, "n": 0}
  return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None,
          "n": int(len(values))}


def group_summary(summaries: Sequence[dict]) -> dict:
  """Per group of runs (a family): how many blocks carry E (mean, min, max), the centres of mass of E and C
  (mean and std over the runs), how many runs put E's centre before C's, and the totals."""
  counts = [len(s["carrying_blocks"]) for s in summaries]
  com = {key: [s["centre_of_mass"][key] for s in summaries] for key in SERIES}
  ordered = [e < c for e, c in zip(com["spurious_encoding"], com["core_forgetting"])
             if e is not None and c is not None]
  return {
      "runs": len(summaries),
      "carrying_blocks": {"mean": float(np.mean(counts)), "min": int(min(counts)), "max": int(max(counts)),
                          "distributed_runs": int(sum(c >= 2 for c in counts))},
      "centre_of_mass": {key: mean_std(values) for key, values in com.items()},
      "encoding_before_forgetting": {"runs": int(sum(ordered)), "of": len(ordered)},
      "total_spurious_encoding": mean_std([s["total_spurious_encoding"] for s in summaries]),
      "total_core_forgetting": mean_std([s["total_core_forgetting"] for s in summaries]),
  }
