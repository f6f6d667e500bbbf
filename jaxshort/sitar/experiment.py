"""The `sitar` experiment (one method, one seed) and the `compare` experiment (variants x seeds -> one table).

`sitar` writes results.json (OOD accuracy, worst-group accuracy, the selected step, per-dimension shortcut scores
over training and on the whole training split), training.png, and for the VAE methods scores.png and
traversal.png. `compare` runs every variant of `config.compare.variants` for every seed of `config.compare.seeds`
into `<workdir>/seed<s>/<variant>/` and writes table.md, table.json and table.png: mean +- std over seeds of the
in-distribution accuracy, the OOD accuracy and the OOD worst-group accuracy. A variant is a string
'name:method[:field=value,field=value]', e.g. 'erm:erm' or 'beta=0.5:sitar:sitar.beta=0.5', so the method
comparison and the ablations are the same experiment with different variant lists. A variant may override
`dataset.` fields too (e.g. 'colour uninformative:erm:dataset.train_color_flip=0.5'); it then trains and is
evaluated on its own copy of the data.
"""

import ast
import os
import time

import jax
import ml_collections
import numpy as np

from jaxshort import data as data_lib
from jaxshort.errors import UserError
from jaxshort.methods import METHODS, USES_GROUP_LABELS
from jaxshort.methods.classifier import fit_last_layer
from jaxshort.methods.common import predict
from jaxshort.report import sitar_figures
from jaxshort.report.figures import plot_training
from jaxshort.sitar.scores import shortcut_scores
from jaxshort.training import sharding
from jaxshort.training.train import environment, evaluate_splits, result_summary
from jaxshort.training.workdir import MetricsLog, write_json

VAE_METHODS = ("sitar", "chroma_vae")
SUMMARY_KEYS = ("in_distribution_accuracy", "out_of_distribution_accuracy",
                "out_of_distribution_worst_group_accuracy")
# The same numbers at the evaluation best-validation selection would keep, reported beside a 'last' run's.
AT_BEST_KEYS = tuple(f"{key}_at_best_validation" for key in SUMMARY_KEYS)

# Colored MNIST numbers of the SITAR paper (ID / OOD accuracy, %), for the comparison table.
PAPER_COLORED_MNIST = {"erm": (89.7, 10.3), "jtt": (63.2, 63.8), "chroma_vae": (72.5, 72.4), "sitar": (71.8, 72.5)}


def encode_mean(state, split: dict, batch_size: int) -> np.ndarray:
  """Mean codes mu [N, d] of a split's images."""
  return predict(state, split, batch_size, method=lambda module, images: module.encode(images)[0])


def score_history(records: list[dict]) -> dict[str, list]:
  """The logged batch scores over training: {'step': [T], 'scores': [T, d]} from metrics.jsonl records."""
  rows = [r for r in records if r["split"] == "train" and "score_0" in r]
  dims = len([k for k in rows[0] if k.startswith("score_")]) if rows else 0
  return {"step": [r["step"] for r in rows], "scores": [[r[f"score_{j}"] for j in range(dims)] for r in rows]}


def group_balanced_probe(state, dataset: data_lib.Dataset, batch_size: int) -> float:
  """Diagnostic that uses group labels (never for selection): the OOD accuracy of a linear readout of mu fit
  on the validation split with each (label, cue) group weighing the same. It tells whether the latent holds the
  label beyond the shortcut at all, apart from whether the trained classifier uses it."""
  val = dataset.splits[dataset.roles["validation"]]
  ood = dataset.splits[dataset.roles["out_of_distribution"]]
  counts = np.bincount(val["group"], minlength=dataset.num_groups)
  head = fit_last_layer(encode_mean(state, val, batch_size), val["label"], 1.0 / counts[val["group"]],
                        dataset.num_classes, l2=1e-3)
  logits = encode_mean(state, ood, batch_size) @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
  return float(np.mean(logits.argmax(-1) == ood["label"]))


def latent_report(state, dataset: data_lib.Dataset, batch_size: int) -> dict:
  """Scores of each latent dimension on the whole training split (the batch statistic, computed once over all
  of it), |corr| of each with the cue, and the group-balanced probe, for the VAE methods."""
  train = dataset.splits[dataset.roles["train"]]
  mu = encode_mean(state, train, batch_size)
  scores = np.asarray(shortcut_scores(mu, train["label"], dataset.num_classes))
  cue_corr = [float(abs(np.corrcoef(mu[:, j], train["cue"])[0, 1])) if mu[:, j].std() > 0 else 0.0
              for j in range(mu.shape[1])]
  return {"train_scores": scores.tolist(), "cue_correlation": cue_corr, "latent_std": mu.std(0).tolist(),
          "ranked_dims": np.argsort(-scores).tolist(),
          "probe_ood_accuracy": group_balanced_probe(state, dataset, batch_size)}


def run_method(config: ml_collections.ConfigDict, dataset: data_lib.Dataset, run_dir: str,
               erm_dir: str) -> tuple[dict, object]:
  """Trains `config.method` and evaluates the selected state on every split: (results dict, state)."""
  t0 = time.perf_counter()
  state, info = METHODS.get(config.method)(config, dataset, run_dir, erm_dir)
  split_metrics = evaluate_splits(state, dataset, sharding.data_mesh(), config.eval_batch_size, dataset.splits)
  summary = result_summary(dataset, split_metrics)
  best = info.get("best_validation", {})
  if best.get("metrics"):  # every method but DFR, whose refit comes after training
    at_best = result_summary(dataset, best["metrics"])
    summary.update({f"{key}_at_best_validation": at_best[key] for key in SUMMARY_KEYS})
  results = {
      "method": config.method,
      "uses_group_labels": config.method in USES_GROUP_LABELS,
      "seed": config.seed,
      "summary": summary,
      "selection": {"rule": config.get("selection", "best_validation"), **info},
      "metrics": split_metrics,
      "wall_time_s": time.perf_counter() - t0,
  }
  if config.method in VAE_METHODS:
    results["latent"] = latent_report(state, dataset, config.eval_batch_size)
    results["latent"]["score_history"] = score_history(MetricsLog(os.path.join(run_dir, "metrics.jsonl")).read())
  return results, state


def sitar_experiment(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `sitar` experiment: one method on one seed; see the module docstring."""
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  results, state = run_method(config, dataset, workdir, os.path.join(workdir, "erm"))
  results.update({"experiment": "sitar", "dataset": dataset.describe(), "environment": environment()})
  write_json(os.path.join(workdir, "results.json"), results)
  log_dir = os.path.join(workdir, "erm") if config.method in ("erm", "dfr") else workdir
  plot_training(MetricsLog(os.path.join(log_dir, "metrics.jsonl")).read(), results["metrics"],
                os.path.join(workdir, "training.png"), title=f"{dataset.name} / {config.method}")
  if config.method in VAE_METHODS:
    latent = results["latent"]
    if latent["score_history"]["step"]:
      sitar_figures.plot_scores(latent["score_history"], os.path.join(workdir, "scores.png"))
    sitar_figures.plot_traversal(state, dataset, latent, os.path.join(workdir, "traversal.png"))
  return results


def parse_variant(text: str) -> tuple[str, str, dict]:
  """'name:method[:field=value,...]' -> (name, method, {dotted field: value})."""
  parts = text.split(":", 2)
  if len(parts) < 2 or not parts[0] or parts[1] not in METHODS:
    raise UserError(f"compare variant {text!r} must read 'name:method[:field=value,...]' with a method in "
                    f"{', '.join(METHODS.names())}")
  overrides = {}
  for item in filter(None, (parts[2].split(",") if len(parts) == 3 else [])):
    field, _, value = item.partition("=")
    try:
      overrides[field.strip()] = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
      overrides[field.strip()] = value.strip()
  return parts[0], parts[1], overrides


def variant_config(config: ml_collections.ConfigDict, method: str, overrides: dict,
                   seed: int) -> ml_collections.ConfigDict:
  """A copy of `config` for one run: `method`, `seed` and the dotted-field overrides set."""
  run = ml_collections.ConfigDict(config.to_dict())
  run.method, run.seed = method, seed
  for field, value in overrides.items():
    *path, last = field.split(".")
    node = run
    for key in path:
      node = node[key]
    if last not in node:
      raise UserError(f"compare override {field!r} names no config field")
    node[last] = value
  return run


def aggregate(rows: dict[str, list[dict]]) -> dict[str, dict]:
  """{variant: [summary per seed]} -> {variant: {metric: {'mean', 'std', 'values'}}} (std over seeds, ddof 0)."""
  table = {}
  for name, summaries in rows.items():
    table[name] = {}
    for key in SUMMARY_KEYS + AT_BEST_KEYS:
      values = [s[key] for s in summaries if s.get(key) is not None]
      if values:
        table[name][key] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
  return table


def markdown_table(table: dict[str, dict], methods: dict[str, str], paper: dict | None,
                   at_best: bool = False) -> str:
  """The comparison as a markdown table, in percent, mean +- std over seeds; with `at_best`, also the numbers
  at the best-validation evaluation of the same runs ('-' where a method has none)."""
  cell = lambda m: f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f}" if m else "-"
  keys = SUMMARY_KEYS + (AT_BEST_KEYS if at_best else ())
  header = ("| variant | method | group labels | ID acc | OOD acc | OOD worst-group |"
            + (" ID / OOD / OOD worst-group at best validation |" if at_best else "")
            + (" paper ID / OOD |" if paper else ""))
  lines = [header, "|" + "---|" * (header.count("|") - 1)]
  for name, metrics in table.items():
    method = methods[name]
    cells = [cell(metrics.get(k)) for k in keys]
    if at_best:
      cells = cells[:3] + [" / ".join(cells[3:])]
    row = (f"| {name} | {method} | {'yes' if method in USES_GROUP_LABELS else 'no'} | "
           + " | ".join(cells) + " |")
    if paper:
      row += f" {'{} / {}'.format(*paper[name]) if name in paper else '-'} |"
    lines.append(row)
  return "\n".join(lines) + "\n"


def compare_experiment(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `compare` experiment; see the module docstring."""
  variants = [parse_variant(v) for v in config.compare.variants]
  rows = {name: [] for name, _, _ in variants}
  runs, t0 = [], time.perf_counter()
  for seed in config.compare.seeds:
    datasets = {}  # a variant that overrides a `dataset.` field gets its own data
    seed_dir = os.path.join(workdir, f"seed{seed}")
    for name, method, overrides in variants:
      run_config = variant_config(config, method, overrides, seed)
      key = repr(sorted(run_config.dataset.to_dict().items()))
      if key not in datasets:
        datasets[key] = data_lib.build_dataset(run_config.dataset, seed)
      dataset = datasets[key]
      run_dir = os.path.join(seed_dir, name)
      # ERM (and DFR's ERM) share the seed's plain ERM run; a variant with overrides trains its own.
      erm_dir = os.path.join(run_dir, "erm") if overrides else os.path.join(seed_dir, "erm")
      results, _ = run_method(run_config, dataset, run_dir, erm_dir)
      os.makedirs(run_dir, exist_ok=True)
      write_json(os.path.join(run_dir, "results.json"), results)
      rows[name].append(results["summary"])
      runs.append({"variant": name, "seed": seed, "summary": results["summary"],
                   "wall_time_s": results["wall_time_s"], "top_scores": _top_scores(results)})
  table = aggregate(rows)
  methods = {name: method for name, method, _ in variants}
  paper = PAPER_COLORED_MNIST if config.dataset.name == "colored_mnist" and config.compare.get(
      "paper_column", True) else None
  markdown = markdown_table(table, methods, paper, at_best=config.get("selection", "best_validation") == "last")
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(markdown)
  oracle = data_lib.build_dataset(config.dataset, config.compare.seeds[0]).info.get("oracle_ood_accuracy")
  sitar_figures.plot_comparison(table, os.path.join(workdir, "table.png"), oracle=oracle)
  results = {"experiment": "compare", "seeds": list(config.compare.seeds), "variants": list(config.compare.variants),
             "table": table, "runs": runs, "wall_time_s": time.perf_counter() - t0,
             "summary": {f"{name}/{metric}": table[name][metric]["mean"] for name in table
                         for metric in SUMMARY_KEYS if metric in table[name]},
             "environment": environment()}
  write_json(os.path.join(workdir, "table.json"), results)
  write_json(os.path.join(workdir, "results.json"), results)
  print(markdown)
  return results


def _top_scores(results: dict) -> list[float] | None:
  latent = results.get("latent")
  return sorted(latent["train_scores"], reverse=True)[:3] if latent else None
