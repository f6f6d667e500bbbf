"""Sweeps as batch jobs: a config's `sweep` field declares a grid; each grid point is one job, run into its own
sub-folder of the sweep's workdir through `experiments.run_in_workdir` (locked, resumable, refusing a folder that
holds a run of another config).

    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --all           # every job, one process
    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --job-index 3   # job 3 only
    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --job-index 1 --num-jobs 4
                                                                    # jobs 1, 5, 9, ... (one of 4 batch tasks)
    python -m jaxshort.sweep collect --workdir runs/sweep   # every finished job's summary: sweep.md, sweep.json

`--config.a.b=value` overrides a field of the config for every job, as in launch.py (jaxshort.config).

The grid: `config.sweep = {'seed': (0, 1, 2), 'model': {'name': ('mlp', 'small_cnn')}}` (nested like the config,
since config field names cannot hold dots); every leaf is a tuple of values and the jobs are the product, in the
order of the sorted dotted field names. A job's config is the config without `sweep` and with its values set; its
folder is named by them (`model.name=mlp,seed=0`). A job whose results.json exists is skipped. See docs/sweeps.md.

Grids that are not products: `config.sweep.cases = (('vgg', {'model': {...}, 'optimizer': {...}}), ...)`, named
sets of fields (nested like the config) set together, run in their order; each case is crossed with the other
axes, and its name is the job's `case` value.
"""

import itertools
import os
import sys
from typing import Any

import jax
import ml_collections
from absl import flags, logging

from jaxshort import cli
from jaxshort import config as config_lib
from jaxshort import experiments
from jaxshort.errors import UserError
from jaxshort.training import sharding
from jaxshort.training.workdir import read_json, write_json

SWEEP_FIELD = "sweep"
CASES_FIELD = "cases"


def grid_axes(sweep: ml_collections.ConfigDict) -> list[tuple[str, tuple]]:
  """[(dotted field name, values)] of a `sweep` field, sorted by name; each leaf must be a non-empty tuple/list."""
  axes = []
  for key, value in sweep.items():
    if isinstance(value, ml_collections.ConfigDict):
      axes += [(f"{key}.{name}", values) for name, values in grid_axes(value)]
    elif isinstance(value, (tuple, list)) and value:
      axes.append((key, tuple(value)))
    else:
      raise UserError(f"sweep.{key} must be a non-empty tuple of values, got {value!r}")
  return sorted(axes)


def flat_fields(section, prefix: str = "") -> dict[str, Any]:
  """{dotted field: value} of the leaves of a nested dict or section."""
  fields = {}
  for key, value in section.items():
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      fields.update(flat_fields(value, f"{prefix}{key}."))
    else:
      fields[f"{prefix}{key}"] = value
  return fields


def sweep_cases(sweep: ml_collections.ConfigDict) -> list[tuple[str | None, dict[str, Any]]]:
  """[(case name, {dotted field: value})] of `sweep.cases`, in their order; [(None, {})] without cases."""
  if CASES_FIELD not in sweep:
    return [(None, {})]
  cases = sweep[CASES_FIELD]
  if not isinstance(cases, (tuple, list)) or not cases or not all(
      isinstance(case, (tuple, list)) and len(case) == 2 and isinstance(case[0], str)
      and isinstance(case[1], (dict, ml_collections.ConfigDict)) for case in cases):
    raise UserError(f"sweep.{CASES_FIELD} must be a tuple of (case name, {{field: value, ...}}) pairs, got "
                    f"{str(cases)[:200]}")
  names = [name for name, _ in cases]
  if len(set(names)) != len(names):
    raise UserError(f"sweep.{CASES_FIELD} names a case twice: {sorted({n for n in names if names.count(n) > 1})}")
  return [(name, flat_fields(fields)) for name, fields in cases]


def job_name(values: dict[str, Any]) -> str:
  """A folder name from a job's values: 'model.name=mlp,model.widths=64-32,seed=0' (tuples joined by '-',
  characters other than letters, digits and '=,.-_' replaced by '_')."""
  def text(value):
    return "-".join(text(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
  name = ",".join(f"{key}={text(value).replace(',', '_')}" for key, value in values.items())
  return "".join(c if c.isalnum() or c in "=,.-_" else "_" for c in name)


def grid_jobs(config: ml_collections.ConfigDict) -> list[tuple[str, dict, ml_collections.ConfigDict]]:
  """(name, {dotted field: value}, job config) of every grid point, in a fixed order. A config without a sweep
  is one job named 'run'."""
  base = config.copy_and_resolve_references()
  sweep = base[SWEEP_FIELD] if SWEEP_FIELD in base else None
  with base.unlocked():
    if SWEEP_FIELD in base:
      del base[SWEEP_FIELD]
  if not sweep:
    return [("run", {}, base)]
  cases = sweep_cases(sweep)
  axes = grid_axes(ml_collections.ConfigDict({k: v for k, v in sweep.items() if k != CASES_FIELD}))
  jobs = []
  for case, fields in cases:
    both = sorted(set(fields) & {name for name, _ in axes})
    if both:
      raise UserError(f"the sweep's case {case!r} and its axes both set {', '.join(both)}; set each in one place")
    for combination in itertools.product(*(values for _, values in axes)):
      values = {**({"case": case} if case else {}), **dict(zip((name for name, _ in axes), combination))}
      source = f"the sweep's case {case!r}" if case else "the sweep"
      job = config_lib.with_overrides(base, {**fields, **{k: v for k, v in values.items() if k != "case"}}, source)
      jobs.append((job_name(values), values, job))
  return jobs


def job_indices(num_jobs_in_grid: int, job_index: int | None, num_jobs: int | None) -> list[int]:
  """Which grid points this process runs: all (no index), grid point `job_index` (no num_jobs), or every
  `num_jobs`-th point starting at `job_index` (num_jobs batch tasks sharing the grid)."""
  if job_index is None:
    return list(range(num_jobs_in_grid))
  if num_jobs is None:
    if not 0 <= job_index < num_jobs_in_grid:
      raise UserError(f"--job-index {job_index} is outside the grid of {num_jobs_in_grid} jobs")
    return [job_index]
  if not 0 <= job_index < num_jobs:
    raise UserError(f"--job-index must lie in [0, --num-jobs={num_jobs}), got {job_index}")
  return list(range(job_index, num_jobs_in_grid, num_jobs))


def results_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, name, "results.json")


def run_jobs(config: ml_collections.ConfigDict, workdir: str, indices: list[int],
             source: str = "the sweep's config") -> list[str]:
  """Runs grid points `indices` of `config` into workdir/<job name>/, skipping finished ones; writes the grid to
  workdir/sweep_grid.json. Returns the names of the jobs run now. `source` names the config file in messages."""
  jobs = grid_jobs(config)
  os.makedirs(workdir, exist_ok=True)
  write_json(os.path.join(workdir, "sweep_grid.json"), [{"name": n, "values": v} for n, v, _ in jobs])
  ran = []
  for index in indices:
    name, _, job = jobs[index]
    if os.path.exists(results_path(workdir, name)):
      print(f"[sweep] job {index} {name}: finished before, skipped", file=sys.stderr, flush=True)
      continue
    print(f"[sweep] job {index}/{len(jobs)} {name}", file=sys.stderr, flush=True)
    experiments.run_in_workdir(job, os.path.join(workdir, name), source=source)
    jax.clear_caches()  # each job compiles its own programs: a long sweep ran out of memory maps keeping them all
    ran.append(name)
  return ran


def collect(workdir: str) -> dict:
  """Every finished job's values and summary: {'columns': [...], 'rows': [{job, values..., summary...}],
  'missing': [job names without results]}; also written to workdir/sweep.json and, as a table, sweep.md."""
  grid_file = os.path.join(workdir, "sweep_grid.json")
  if not os.path.exists(grid_file):
    raise UserError(f"{workdir!r} holds no sweep (no sweep_grid.json); run `python -m jaxshort.sweep --config ...` "
                    f"into it first")
  grid = read_json(grid_file)
  rows, missing = [], []
  for job in grid:
    path = results_path(workdir, job["name"])
    if not os.path.exists(path):
      missing.append(job["name"])
      continue
    rows.append({"job": job["name"], **job["values"], **read_json(path).get("summary", {})})
  columns = list(dict.fromkeys(key for row in rows for key in row))
  table = {"columns": columns, "rows": rows, "missing": missing}
  write_json(os.path.join(workdir, "sweep.json"), table)
  with open(os.path.join(workdir, "sweep.md"), "w", encoding="utf-8") as f:
    f.write(markdown_table(columns, rows))
  return table


def markdown_table(columns: list[str], rows: list[dict]) -> str:
  """A markdown table; floats with 4 decimals, absent cells empty."""
  def cell(value):
    if value is None:
      return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
  return "\n".join(lines) + "\n"


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined when it runs, so that importing this module defines none)."""
  flags.DEFINE_string("config", None, "Config file with get_config() and a `sweep` field ('file.py[:argument]'); "
                      "--config.field=value overrides a field for every job.")
  flags.DEFINE_string("workdir", None, "The sweep's folder: one sub-folder per job.")
  flags.DEFINE_integer("job-index", None, "Run this grid point (with --num-jobs: every num-jobs-th from it).")
  flags.DEFINE_integer("num-jobs", None, "How many batch tasks share the grid.")
  flags.DEFINE_bool("all", False, "Run every grid point in this process.")


def main(argv: list[str], overrides: list[str]) -> None:
  command = argv[1] if len(argv) > 1 else "run"
  if command not in ("run", "collect") or len(argv) > 2:
    cli.fail(f"unexpected arguments {argv[1:]}; the command is 'run' (default) or 'collect'")
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every step of a save at INFO
  job_index, num_jobs = FLAGS["job-index"].value, FLAGS["num-jobs"].value
  if command == "collect":
    table = collect(FLAGS.workdir)
    print(markdown_table(table["columns"], table["rows"]), end="")
    if table["missing"]:
      print(f"not finished: {', '.join(table['missing'])}")
    return
  if not FLAGS.config:
    cli.fail("--config is required")
  if FLAGS.all == (job_index is not None):
    cli.fail("pass either --all or --job-index")
  if num_jobs is not None and job_index is None:
    cli.fail("--num-jobs needs --job-index")
  config = config_lib.load(FLAGS.config, overrides)
  jobs = grid_jobs(config)
  indices = job_indices(len(jobs), job_index, num_jobs)
  chosen = [jobs[i][2] for i in indices]  # the device split follows the models of the jobs this process runs
  sharding.setup_devices(config.num_cpu_devices, config.distributed,
                         model_names=[n for job in chosen for n in config_lib.model_names(job)],
                         batch_sizes=[b for job in chosen for b in config_lib.batch_sizes(job)])
  run_jobs(config, FLAGS.workdir, indices, config_lib.split_spec(FLAGS.config)[0])


if __name__ == "__main__":
  define_flags()
  cli.run(main)
