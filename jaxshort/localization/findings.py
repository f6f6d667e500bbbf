"""What a study of many localize runs finds, set against the paper's claims (Tsoy & Konstantinov, 2025; the CPU
study is configs/localize/study_cpu.py, its findings in docs/localization.md).

Each function reads localize results.json dicts (experiments/localize.py):
- `profile_checks`: the three identities every profile must satisfy: v(empty) is the clean model, v(all) the
  skewed model, and the per-block E (and C) sum to the total effect, to float tolerance.
- `carrying_blocks`: is the shortcut distributed? The blocks that carry at least `share` of the total spurious
  encoding E and stand above the replicate spread (the per-block spread of the replicate pairs).
- `centre_of_mass`: where an effect sits, in relative depth (b + 0.5) / K of the K blocks, weighting each block
  by its positive part (a block that undoes some of the effect does not pull the centre); not given for a series
  whose total is within the run's replicate spread.
- `pooled_rank_correlation`: do the localization metrics predict which intervention helps? Spearman's rho
  between each intervention's predicted relief (interventions.predicted_relief: for freezing block b, the
  metric's value at b as a share of the run's total) and its measured gain, pooled over every intervention of
  every run whose total stands above its replicate spread, with a percentile bootstrap interval that resamples
  runs; beside it the mean of the runs' own rho, which compares interventions within a run only.
"""

from typing import Sequence

import numpy as np

from jaxshort.localization import interventions as interventions_lib
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
  """(predicted relief as a share of the run's total metric, measured gain) of each intervention of one run;
  [] for a run without interventions, or whose total metric is not positive or (with replicate pairs) not above
  its replicate spread: its shares would be noise."""
  interventions = results.get("interventions")
  total = results["scores"][TOTALS[metric]]
  replicate = results.get("replicate")
  if not interventions or total <= 0 or (replicate and not replicate["total"][metric]["above_spread"]):
    return []
  blocks, values = results["profile"]["blocks"], results["scores"][metric]
  return [(predicted_relief(run["scales"], blocks, values) / total, run["gain"][gain])
          for run in interventions["runs"].values()]


def spearman(pairs: Sequence[tuple[float, float]]) -> float | None:
  """interventions.spearman of (x, y) pairs; None where fewer than 3 or either column is constant."""
  if not pairs:
    return None
  x, y = zip(*pairs)
  return interventions_lib.spearman(np.array(x), np.array(y))


def pooled_rank_correlation(pairs_by_run: Sequence[Sequence[tuple[float, float]]], resamples: int = 2000,
                            seed: int = 0, confidence: float = 0.95) -> dict:
  """Spearman's rho of the (relief, gain) pairs of several runs pooled, with a percentile bootstrap interval
  that resamples runs (a run's interventions share its baseline, so they are not independent draws); and the
  mean of each run's own rho (`within_run`), which ranks only within runs and so is free of differences
  between runs (in block count, in gain size). Resamples whose pooled pairs leave rho undefined (a constant
  column) are dropped and counted. rho None where fewer than 3 pairs or a column is constant."""
  runs = [list(p) for p in pairs_by_run if p]
  pooled = [pair for run in runs for pair in run]
  within = [r for r in (spearman(run) for run in runs) if r is not None]
  out = {"runs": len(runs), "pairs": len(pooled), "rho": spearman(pooled), "interval": None,
         "confidence": confidence, "resamples": resamples, "dropped_resamples": 0,
         "within_run": {"mean_rho": float(np.mean(within)) if within else None, "runs": len(within)}}
  if out["rho"] is None or len(runs) < 2:
    return out
  rng = np.random.default_rng(seed)
  draws = []
  for _ in range(resamples):
    chosen = rng.integers(0, len(runs), len(runs))
    rho = spearman([pair for i in chosen for pair in runs[i]])
    if rho is not None and np.isfinite(rho):
      draws.append(rho)
  out["dropped_resamples"] = resamples - len(draws)
  if draws:
    tail = 100 * (1 - confidence) / 2
    out["interval"] = [float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))]
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
      # a series whose total is within its replicate spread has no place to sit: None
      "centre_of_mass": {key: centre_of_mass(scores[key]) if not replicate or replicate["total"][key]["above_spread"]
                         else None for key in SERIES},
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
