"""The collect command of a localization study (a sweep of localize runs, e.g. configs/localize/study_cpu.py):
every finished run's profile, checked and summarized by group, the principal axes of all profiles, and the pooled
rank correlation of localization metrics with intervention gains (findings.py).

    python -m jaxshort.localization.study --workdir runs/loc-study

Writes into WORKDIR/findings/: findings.json, findings.md (the tables, also printed), profiles.png (E and C of
every run over relative depth, one panel per family), axes_by_family.png and axes_by_skew.png (the runs on the
first two principal axes), interventions.png (predicted relief against measured gain). A run's family is the
part of its sweep case's name before its cue kind (`resnet_patch_seed0` -> `resnet`), else its model's name;
its group adds the cue kind and the variant (`resnet, patch, pretrained`): the runs of a group differ by seed.
A command, so an entry point: it may import any layer.
"""

import collections
import os

import numpy as np
from absl import flags

from jaxshort import cli
from jaxshort.errors import UserError
from jaxshort.localization import findings as findings_lib
from jaxshort.localization.pca import gather, principal_axes, run_label
from jaxshort.report import localization_figures as figures
from jaxshort.training.workdir import read_json, write_json

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined when it runs, so that importing this module defines none)."""
  flags.DEFINE_string("workdir", None, "The study's sweep folder (one sub-folder per job).")
  flags.DEFINE_float("share", 0.1, "A block carries the shortcut if its E_b is at least this share of the total E "
                     "and above the replicate spread.")
  flags.DEFINE_integer("grid", 8, "Relative-depth grid points per series for the principal axes.")
  flags.DEFINE_integer("resamples", 2000, "Bootstrap resamples of the pooled rank correlation.")


def case_name(path: str, workdir: str) -> str:
  """The sweep case of a job folder named 'case=<name>[,...]', else the folder's name."""
  folder = os.path.basename(os.path.dirname(path))
  first = folder.split(",")[0]
  return first.split("=", 1)[1] if first.startswith("case=") else os.path.relpath(os.path.dirname(path), workdir)


def labels(path: str, results: dict, workdir: str, usual_branch_steps: int) -> dict:
  """A run's case; its family (the case's name before its cue kind, '<family>_<cue>[_<variant>]_seed<k>', else
  its model's name), variant and group (family, cue, variant: the runs that differ by seed alone); and its skew
  label (cue kind, rho, and the branch steps where they are not the study's usual)."""
  label = run_label(results)
  case = case_name(path, workdir)
  cue = label["cue_kind"]
  family, variant = label["model"], ""
  if cue and f"_{cue}" in case:
    family, rest = case.split(f"_{cue}", 1)
    variant = "_".join(p for p in rest.split("_") if p and not (p.startswith("seed") and p[4:].isdigit()))
  skew = f"{cue or results['dataset']['name']}, rho {label['rho']}"
  if label["branch_steps"] != usual_branch_steps:
    skew += f", branch {label['branch_steps']}"
  group = ", ".join(p for p in (family, cue, variant) if p)
  return {**label, "case": case, "family": family, "variant": variant, "group": group, "skew": skew}


CORRELATED = (("spurious_encoding", "conflict_accuracy"), ("core_forgetting", "conflict_accuracy"),
              ("spurious_encoding", "conflict_worst_group_accuracy"))


def collect(workdir: str, share: float, grid: int, resamples: int) -> dict:
  """The findings of every localize run under `workdir` (see the module docstring); writes WORKDIR/findings/."""
  runs = gather([os.path.join(workdir, "*", "results.json")])
  grid_file = os.path.join(workdir, "sweep_grid.json")
  expected = [job["name"] for job in read_json(grid_file)] if os.path.exists(grid_file) else []
  if expected:  # the sweep's own jobs only, and the ones not finished named
    runs = [(p, r) for p, r in runs if os.path.basename(os.path.dirname(p)) in expected]
  missing = sorted(set(expected) - {os.path.basename(os.path.dirname(p)) for p, _ in runs})
  if len(runs) < 2:
    raise UserError(f"{workdir!r} holds {len(runs)} finished localize runs; a study needs at least 2 (run the "
                    f"sweep first: python -m jaxshort.sweep --config configs/localize/study_cpu.py --workdir "
                    f"{workdir} --all)")
  branch = collections.Counter(r["config"]["localize"]["branch_steps"] for _, r in runs).most_common(1)[0][0]
  rows = []
  for path, results in runs:
    rows.append({**labels(path, results, workdir, branch), **findings_lib.run_summary(results, share),
                 "profile": {k: results["scores"][k] for k in findings_lib.SERIES},
                 "seconds": results.get("timing", {}).get("total_s"), "path": path})
  groups = list(dict.fromkeys(r["group"] for r in rows))
  by_group = {g: findings_lib.group_summary([r for r in rows if r["group"] == g]) for g in groups}

  try:
    axes = principal_axes(runs, grid, 3)
  except ValueError as error:  # fewer than 2 runs above their replicate spread
    axes = {"error": str(error)}
  by_path = {r["path"]: r for r in rows}
  for run in axes.get("runs", []):
    run.update({k: by_path[run["path"]][k] for k in ("case", "family", "group", "skew")})

  correlations = {}
  for metric, gain in CORRELATED:
    by_run = [(row, findings_lib.intervention_pairs(results, metric, gain)) for (_, results), row in zip(runs, rows)]
    families = list(dict.fromkeys(r["family"] for r in rows))
    correlations[f"{metric} vs {gain}"] = {
        "pooled": findings_lib.pooled_rank_correlation([p for _, p in by_run], resamples),
        "per_family": {f: findings_lib.pooled_rank_correlation([p for row, p in by_run if row["family"] == f],
                                                               resamples) for f in families}}
  points = [{"family": row["family"], "case": row["case"], "relief": relief, "gain": gain}
            for (_, results), row in zip(runs, rows) for relief, gain in findings_lib.intervention_pairs(results)]
  best = best_interventions(runs, rows)

  out = os.path.join(workdir, "findings")
  os.makedirs(out, exist_ok=True)
  seconds = [r["seconds"] for r in rows if r["seconds"] is not None]
  result = {"workdir": workdir, "share": share, "missing": missing,
            "runs": [{k: v for k, v in r.items() if k != "path"} for r in rows],
            "groups": by_group, "axes": axes,
            "interventions": {"correlations": correlations, "points": points, "best": best},
            "all_checks_pass": all(all(r["checks"].values()) for r in rows),
            "seconds": {"sum_of_runs": float(sum(seconds)), "runs_timed": len(seconds)}}
  write_json(os.path.join(out, "findings.json"), result)
  text = markdown(result)
  with open(os.path.join(out, "findings.md"), "w", encoding="utf-8") as f:
    f.write(text)
  figures.plot_study_profiles([{**r["profile"], **r, "group": r["family"]} for r in rows],
                              os.path.join(out, "profiles.png"))
  if "error" not in axes:
    figures.plot_axes(axes, os.path.join(out, "axes_by_family.png"), colour_by="family", annotate=False)
    figures.plot_axes(axes, os.path.join(out, "axes_by_skew.png"), colour_by="skew", annotate=False)
  if points:
    figures.plot_intervention_gains([{**p, "group": p["family"]} for p in points],
                                    correlations["spurious_encoding vs conflict_accuracy"]["pooled"],
                                    os.path.join(out, "interventions.png"))
  return result


def best_interventions(runs: list, rows: list) -> list[dict]:
  """Per run with interventions: the frozen block of the largest T_conflict gain, its relative depth and gain,
  and whether any freeze helped."""
  best = []
  for (_, results), row in zip(runs, rows):
    interventions = results.get("interventions")
    if not interventions:
      continue
    name, run = max(interventions["runs"].items(), key=lambda item: item[1]["gain"]["conflict_accuracy"])
    blocks = results["profile"]["blocks"]
    frozen = [b for b, s in run["scales"].items() if s == 0]
    depth = float(np.mean([(blocks.index(b) + 0.5) / len(blocks) for b in frozen])) if frozen else None
    best.append({"case": row["case"], "family": row["family"], "best": name, "relative_depth": depth,
                 "gain": run["gain"]["conflict_accuracy"], "helped": run["gain"]["conflict_accuracy"] > 0})
  return best


def number(value, digits: int = 3) -> str:
  return "-" if value is None else f"{value:.{digits}f}"


def mean_std_text(stat: dict, digits: int = 2) -> str:
  if stat["mean"] is None:
    return "-"
  return number(stat["mean"], digits) + ("" if stat["std"] is None else f" ± {number(stat['std'], digits)}")


def markdown(result: dict) -> str:
  """The findings as markdown tables: per group, per run, the principal axes and the interventions."""
  lines = ["## Per group", "",
           f"| group | runs | blocks carrying >= {result['share']:.0%} of E above the spread: mean (min-max) | "
           "runs with >= 2 | centre of E | centre of C | E before C | total E | total C |",
           "|---|---|---|---|---|---|---|---|---|"]
  for group, g in result["groups"].items():
    c = g["carrying_blocks"]
    lines.append(f"| {group} | {g['runs']} | {c['mean']:.1f} ({c['min']}-{c['max']}) | {c['distributed_runs']} | "
                 f"{mean_std_text(g['centre_of_mass']['spurious_encoding'])} | "
                 f"{mean_std_text(g['centre_of_mass']['core_forgetting'])} | "
                 f"{g['encoding_before_forgetting']['runs']}/{g['encoding_before_forgetting']['of']} | "
                 f"{mean_std_text(g['total_spurious_encoding'], 3)} | {mean_std_text(g['total_core_forgetting'], 3)} |")
  lines += ["", "## Per run", "",
            "| case | skew | T_conflict clean / skewed | total E (above spread) | total C (above spread) | "
            "carrying blocks | centre E / C | checks |", "|---|---|---|---|---|---|---|---|"]
  for r in result["runs"]:
    above = r["above_spread"] or {}
    acc = r.get("conflict_accuracy", {})
    lines.append(
        f"| {r['case']} | {r['skew']} | {number(acc.get('clean'))} / {number(acc.get('skewed'))} | "
        f"{number(r['total_spurious_encoding'])} ({above.get('spurious_encoding', '-')}) | "
        f"{number(r['total_core_forgetting'])} ({above.get('core_forgetting', '-')}) | "
        f"{', '.join(r['carrying_blocks']) or '-'} | {number(r['centre_of_mass']['spurious_encoding'], 2)} / "
        f"{number(r['centre_of_mass']['core_forgetting'], 2)} | "
        f"{'pass' if all(r['checks'].values()) else 'FAIL ' + str(r['checks'])} |")
  axes = result["axes"]
  lines += ["", "## Principal axes", ""]
  if "error" in axes:
    lines.append(f"None: {axes['error']}.")
  else:
    ratio = ", ".join(f"{v:.2f}" for v in axes["explained_variance_ratio"])
    lines.append(f"{len(axes['runs'])} profiles ({len(axes['left_out'])} left out within the replicate spread); "
                 f"explained variance ratio of the first axes: {ratio}.")
  interventions = result["interventions"]
  lines += ["", "## Interventions (freeze one block)", "",
            "Spearman rho of each freeze's predicted relief (the metric's value at the frozen block / the run's "
            "total) against its gain over plain skewed training, pooled over the runs whose total stands above "
            "the replicate spread; the interval is a percentile bootstrap over runs; 'within runs' is the mean of "
            "the runs' own rho:", "",
            "| metric vs gain | runs | runs, pairs | rho, pooled | 95% interval | rho within runs (runs) |",
            "|---|---|---|---|---|---|"]

  def correlation_row(name, scope, c):
    interval = c["interval"]
    within = c["within_run"]
    return (f"| {name} | {scope} | {c['runs']}, {c['pairs']} | {number(c['rho'], 2)} | "
            f"{'-' if interval is None else f'[{interval[0]:.2f}, {interval[1]:.2f}]'} | "
            f"{number(within['mean_rho'], 2)} ({within['runs']}) |")

  for name, c in interventions["correlations"].items():
    lines.append(correlation_row(name, "all", c["pooled"]))
    lines += [correlation_row(name, f, fc) for f, fc in c["per_family"].items() if fc["pairs"]]
  lines += ["", "| case | best freeze | its relative depth | gain | helped |", "|---|---|---|---|---|"]
  lines += [f"| {b['case']} | {b['best']} | {number(b['relative_depth'], 2)} | {number(b['gain'])} | {b['helped']} |"
            for b in interventions["best"]]
  if result.get("missing"):
    lines += ["", f"Not finished: {', '.join(result['missing'])}."]
  return "\n".join(lines) + "\n"


def main(argv: list[str], overrides: list[str]) -> None:
  if len(argv) > 1 or overrides:
    cli.fail(f"unexpected arguments {argv[1:] + overrides}")
  if not FLAGS.workdir:
    cli.fail("--workdir (the study's sweep folder) is required")
  if not os.path.isdir(FLAGS.workdir):
    cli.fail(f"--workdir {FLAGS.workdir!r} is not a folder; run the study's sweep into it first")
  result = collect(FLAGS.workdir, FLAGS.share, FLAGS.grid, FLAGS.resamples)
  print(markdown(result), end="")
  if not result["all_checks_pass"]:
    cli.fail("some profiles fail their checks (v(empty) = clean model, v(all) = skewed model, E and C sum to the "
             "totals): see the per-run table")
  print(f"findings: {os.path.join(FLAGS.workdir, 'findings')}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
