"""The `compare` experiment: variants x seeds -> one table.

Runs every variant of `config.compare.variants` for every seed of `config.compare.seeds` into
`<workdir>/seed<s>/<variant>/` and writes table.md, table.json and table.png: mean +- std over seeds of the
in-distribution accuracy, the OOD accuracy and the OOD worst-group accuracy. A variant is a string
'name:method[:field=value,field=value]' (config.parse_variant), e.g. 'erm:erm' or 'beta=0.5:sitar:sitar.beta=0.5',
so the method comparison and the ablations are the same experiment with different variant lists. A variant may
override `dataset.` fields too (e.g. 'colour uninformative:erm:dataset.train_color_flip=0.5'); it then trains and
is evaluated on its own copy of the data.
"""

import os
import time

import ml_collections
import numpy as np

from jaxshort import data as data_lib
from jaxshort.config import parse_variant, with_overrides
from jaxshort.experiments.results import environment, write_results
from jaxshort.experiments.sitar import AT_BEST_KEYS, SUMMARY_KEYS, run_method
from jaxshort.methods import METHODS
from jaxshort.report import sitar_figures
from jaxshort.training.workdir import is_primary

# Colored MNIST numbers of the SITAR paper (ID / OOD accuracy, %), for the comparison table.
PAPER_COLORED_MNIST = {"erm": (89.7, 10.3), "jtt": (63.2, 63.8), "chroma_vae": (72.5, 72.4), "sitar": (71.8, 72.5)}


def seed_statistics(values: list[float]) -> dict:
  """Mean over seeds with the sample standard deviation (ddof=1) and the 95% Student-t interval of the mean,
  mean +- t(0.975, n - 1) * std / sqrt(n); std and interval are None for one seed."""
  # imported here, not at the top: scipy and scikit-learn take about a second to import, which every
  # launch.py process (and every bad-input test) would otherwise pay
  import scipy.stats  # pylint: disable=import-outside-toplevel
  n = len(values)
  mean = float(np.mean(values))
  if n < 2:
    return {"mean": mean, "std": None, "ci95": None, "n": n, "values": values}
  std = float(np.std(values, ddof=1))
  half = float(scipy.stats.t.ppf(0.975, n - 1)) * std / np.sqrt(n)
  return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n, "values": values}


def aggregate(rows: dict[str, list[dict]]) -> dict[str, dict]:
  """{variant: [summary per seed]} -> {variant: {metric: seed_statistics(values over seeds)}}."""
  table = {}
  for name, summaries in rows.items():
    table[name] = {}
    for key in SUMMARY_KEYS + AT_BEST_KEYS:
      values = [s[key] for s in summaries if s.get(key) is not None]
      if values:
        table[name][key] = seed_statistics(values)
  return table


def diagnostics_table(runs: list[dict]) -> dict[str, dict]:
  """{variant: {diagnostic: mean over seeds}} of the VAE runs' `diagnostics` (sitar.diagnostic_summary), the
  diagnostic columns of docs/sitar.md's study table; the top dimension itself is left out."""
  table = {}
  for name in dict.fromkeys(run["variant"] for run in runs):
    rows = [run["diagnostics"] for run in runs if run["variant"] == name and run.get("diagnostics")]
    if rows:
      table[name] = {key: float(np.mean([row[key] for row in rows if row[key] is not None]))
                     for key in rows[0] if key != "top_dim" and any(row[key] is not None for row in rows)}
  return table


def cell(statistics: dict | None) -> str:
  """'mean ± std' in percent ('mean' alone for one seed, '-' for none)."""
  if not statistics:
    return "-"
  if statistics["std"] is None:
    return f"{100 * statistics['mean']:.1f}"
  return f"{100 * statistics['mean']:.1f} ± {100 * statistics['std']:.1f}"


def markdown_table(table: dict[str, dict], methods: dict[str, str], group_labels: dict[str, str],
                   paper: dict | None, at_best: bool = False) -> str:
  """The comparison as a markdown table, in percent, mean ± sample std over seeds, then the 95% t interval of
  each OOD mean and a line saying how many seeds; `group_labels` says where each variant uses group labels
  (methods.uses_group_labels); with `at_best`, also the numbers at the best-validation evaluation of the same
  runs ('-' where a method has none)."""
  keys = SUMMARY_KEYS + (AT_BEST_KEYS if at_best else ())
  header = ("| variant | method | group labels | ID acc | OOD acc | OOD acc, 95% t interval | OOD worst-group |"
            + (" ID / OOD / OOD worst-group at best validation |" if at_best else "")
            + (" paper ID / OOD |" if paper else ""))
  lines = [header, "|" + "---|" * (header.count("|") - 1)]
  for name, metrics in table.items():
    method = methods[name]
    cells = [cell(metrics.get(k)) for k in keys]
    ood = metrics.get("out_of_distribution_accuracy") or {}
    interval = "[{:.1f}, {:.1f}]".format(*(100 * x for x in ood["ci95"])) if ood.get("ci95") else "-"
    cells = cells[:2] + [interval] + cells[2:]
    if at_best:
      cells = cells[:4] + [" / ".join(cells[4:])]
    row = (f"| {name} | {method} | {group_labels[name]} | "
           + " | ".join(cells) + " |")
    if paper:
      row += f" {'{} / {}'.format(*paper[name]) if name in paper else '-'} |"
    lines.append(row)
  seeds = sorted({m["n"] for metrics in table.values() for m in metrics.values()})
  lines.append(f"\n{' or '.join(map(str, seeds))} seed(s) per row; ± is the sample standard deviation over seeds "
               f"(ddof = 1); the interval is the 95% Student-t interval of the mean.")
  return "\n".join(lines) + "\n"


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `compare` experiment; see the module docstring."""
  variants = [parse_variant(v) for v in config.compare.variants]
  for _, values in variants:
    METHODS.get(values["method"])  # an unknown method is refused before anything runs
  rows = {name: [] for name, _ in variants}
  group_labels = {}
  runs, t0 = [], time.perf_counter()
  for seed in config.compare.seeds:
    datasets = {}  # a variant that overrides a `dataset.` field gets its own data
    seed_dir = os.path.join(workdir, f"seed{seed}")
    for name, values in variants:
      run_config = with_overrides(config, {**values, "seed": seed}, "compare.variants")
      overrides = {k: v for k, v in values.items() if k != "method"}
      key = repr(sorted(run_config.dataset.to_dict().items()))
      if key not in datasets:
        datasets[key] = data_lib.build_dataset(run_config.dataset, seed)
      dataset = datasets[key]
      run_dir = os.path.join(seed_dir, name)
      # ERM (and DFR's ERM) share the seed's plain ERM run; a variant with overrides trains its own.
      erm_dir = os.path.join(run_dir, "erm") if overrides else os.path.join(seed_dir, "erm")
      results, _ = run_method(run_config, dataset, run_dir, erm_dir)
      os.makedirs(run_dir, exist_ok=True)
      write_results(run_dir, results)
      rows[name].append(results["summary"])
      group_labels[name] = results["uses_group_labels"]
      runs.append({"variant": name, "seed": seed, "summary": results["summary"],
                   "wall_time_s": results["wall_time_s"], "top_scores": _top_scores(results),
                   "diagnostics": results["latent"]["summary"] if "latent" in results else None})
  table = aggregate(rows)
  methods = {name: values["method"] for name, values in variants}
  paper = PAPER_COLORED_MNIST if config.dataset.name == "colored_mnist" and config.compare.paper_column else None
  markdown = markdown_table(table, methods, group_labels, paper, at_best=config.selection == "last")
  if is_primary():
    with open(os.path.join(workdir, "table.md"), "w") as f:
      f.write(markdown)
  oracle = data_lib.build_dataset(config.dataset, config.compare.seeds[0]).info.get("oracle_ood_accuracy")
  sitar_figures.plot_comparison(table, os.path.join(workdir, "table.png"), oracle=oracle)
  results = {"experiment": "compare", "seeds": list(config.compare.seeds), "variants": list(config.compare.variants),
             "table": table, "diagnostics": diagnostics_table(runs), "runs": runs,
             "wall_time_s": time.perf_counter() - t0,
             "summary": {f"{name}/{metric}": table[name][metric]["mean"] for name in table
                         for metric in SUMMARY_KEYS if metric in table[name]},
             "environment": environment()}
  write_results(workdir, results, "table.json")
  results = write_results(workdir, results)
  print(markdown)
  return results


def _top_scores(results: dict) -> list[float] | None:
  latent = results.get("latent")
  return sorted(latent["train_scores"], reverse=True)[:3] if latent else None
