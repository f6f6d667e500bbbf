"""The `localize` experiment: where in the network a shortcut lives (Tsoy & Konstantinov, 2025; docs/localization.md).

Reads top to bottom: train the counterfactual pair and its noise-floor partner (pairs.py), evaluate every hybrid
of (clean, skewed) and of (clean, clean') in one compiled program each (hybrids.py), attribute core forgetting and
spurious encoding to blocks by Shapley values (shapley.py), probe each block (probes.py), optionally run block-wise
interventions (interventions.py), and write results.json, profile.png and hybrid_table.png into the workdir.

`localize_models` is the same analysis for a pair trained elsewhere (any Flax model, without the launcher).
"""

import os
import time
from typing import Callable, Mapping, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.errors import UserError
from jaxshort.experiments.results import environment, write_results
from jaxshort.localization import interventions as interventions_lib
from jaxshort.localization.hybrids import block_call_order, check_block_keys, hybrid_masks, hybrid_table
from jaxshort.localization.pairs import Pair, test_splits, train_pair, train_run
from jaxshort.localization.probes import cue_probe_set, probe_accuracies
from jaxshort.localization.shapley import replicate_spread, shortcut_scores
from jaxshort.localization.splice import SPLICED_COLLECTIONS
from jaxshort.report import localization_figures as figures
from jaxshort.training.state import num_params
from jaxshort.training.workdir import config_dict

REQUIRED_ROLES = ("clean_train", "skewed_train", "clean_test", "aligned_test", "conflict_test")


def check_dataset(dataset: data_lib.Dataset) -> None:
  missing = [r for r in REQUIRED_ROLES if r not in dataset.roles]
  if missing:
    raise UserError(f"dataset {dataset.name!r} has no {', '.join(missing)} role(s); the localize experiment needs "
                    f"a counterfactual dataset with roles {', '.join(REQUIRED_ROLES)}: mnist_patch, or any "
                    f"dataset with dataset.pair='synthetic' or 'natural' (see docs/localization.md)")


def scores_of(table: dict, dataset: data_lib.Dataset) -> dict:
  """shortcut_scores of a hybrid table on the dataset's T_clean, T_aligned, T_conflict."""
  clean, aligned, conflict = (table["sets"][dataset.roles[r]]["accuracy"]
                              for r in ("clean_test", "aligned_test", "conflict_test"))
  return shortcut_scores(table["masks"], clean, aligned, conflict, table["permutations"])


def table_checks(table: dict, first: dict, last: dict) -> dict:
  """Whether v(empty) and v(all) equal the accuracies of the two trained models ({split: metrics}) exactly."""
  masks = np.asarray(table["masks"], bool)
  empty, full = int(np.flatnonzero(~masks.any(1))[0]), int(np.flatnonzero(masks.all(1))[0])
  return {
      "empty_equals_first_model": all(float(s["accuracy"][empty]) == first[n]["accuracy"]
                                      for n, s in table["sets"].items()),
      "all_equals_second_model": all(float(s["accuracy"][full]) == last[n]["accuracy"]
                                     for n, s in table["sets"].items()),
  }


def mean_accuracy(split_metrics: dict[str, dict]) -> float:
  """The unweighted mean of the accuracies on T_clean, T_aligned and T_conflict (the same examples in each for a
  synthetic cue; for a natural cue, three subsets of the test split, so each set weighs equally)."""
  return float(np.mean([m["accuracy"] for m in split_metrics.values()]))


def run_interventions(config, dataset, model, workdir: str, pair: Pair, scores: dict) -> dict:
  """Skewed training from theta_0 under each intervention of config.localize.interventions; their gains over
  plain skewed training, and the rank correlation of gains with the localization metrics."""
  blocks = list(model.blocks)
  conflict = dataset.roles["conflict_test"]
  clean_test = dataset.roles["clean_test"]

  def headline(metrics):
    return {"conflict_accuracy": metrics[conflict]["accuracy"],
            "conflict_worst_group_accuracy": metrics[conflict]["worst_group_accuracy"],
            "clean_accuracy": metrics[clean_test]["accuracy"]}

  baseline = headline(pair.metrics["skewed"])
  runs = {}
  specs = interventions_lib.parse_interventions(config.localize.interventions, blocks)
  for i, (name, scales) in enumerate(specs.items()):
    tx = interventions_lib.blockwise_optimizer(config.optimizer, config.num_steps, blocks, scales)
    _, metrics = train_run(config, dataset, model, workdir, f"intervention_{i:02d}", pair.theta0, "skewed_train",
                           config.seed, tx=tx)
    result = headline(metrics)
    runs[name] = {"folder": f"intervention_{i:02d}", "scales": scales, **result,
                  "gain": {k: result[k] - baseline[k] for k in baseline}}
  metrics = {"spurious_encoding": scores["spurious_encoding"], "core_forgetting": scores["core_forgetting"],
             "knock_in_spurious_encoding": scores["knock_in"]["spurious_encoding"],
             "knock_out_spurious_encoding": scores["knock_out"]["spurious_encoding"]}
  return {"baseline": baseline, "runs": runs,
          "rank_correlation": interventions_lib.rank_correlations(runs, blocks, metrics, list(baseline)),
          "predicted_relief": "sum over blocks of (1 - lr scale) * metric"}


def replicate_report(pair_scores: list[dict], data_seed: int, replicate_seeds: list[int], blocks: list[str]):
  """How much each block's E and C move from pair to pair: the per-block values of every (clean, skewed) pair
  (the main one first), their spread (shapley.replicate_spread), and which effects stand above it (|value of the
  main pair| > spread). None without replicate pairs."""
  if len(pair_scores) < 2:
    return None
  report = {"pairs": len(pair_scores), "data_seeds": [data_seed] + list(replicate_seeds), "blocks": blocks,
            "values": {}, "spread": {}, "above_spread": {}, "total": {}}
  for key in ("spurious_encoding", "core_forgetting"):
    values = np.array([s[key] for s in pair_scores])
    spread, kind = replicate_spread(values)
    totals = values.sum(1)
    total_spread, _ = replicate_spread(totals[:, None])
    report["values"][key] = values.tolist()
    report["spread"][key] = spread.tolist()
    report["above_spread"][key] = (np.abs(values[0]) > spread).tolist()
    report["total"][key] = {"values": totals.tolist(), "spread": float(total_spread[0]),
                            "above_spread": bool(abs(totals[0]) > total_spread[0])}
    report["spread_kind"] = kind
  return report


def table_json(table: dict) -> dict:
  return {**table, "masks": np.asarray(table["masks"], int)}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `localize` experiment: writes results.json, profile.png and hybrid_table.png into `workdir`."""
  t0 = time.perf_counter()
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  check_dataset(dataset)
  model = models.build_model(config.model, dataset.num_classes)
  blocks = list(model.blocks)
  normalization = models.input_normalization(config.model)
  pair = train_pair(config, dataset, model, workdir)
  train_time = time.perf_counter() - t0

  sets = {name: dataset.splits[name] for name in test_splits(dataset)}
  group_names = [dataset.group_name(g) for g in range(dataset.num_groups)]
  masks, permutations = hybrid_masks(len(blocks), config.localize.num_permutations, config.seed)
  tables = {}
  for name, other in (("pair", pair.skewed), ("noise_floor", pair.noise)):
    tables[name] = hybrid_table(model, pair.clean, other, blocks, sets, dataset.num_classes, dataset.num_groups,
                                group_names, masks, permutations, config.localize.chunk_size,
                                input_normalization=normalization)
  scores = scores_of(tables["pair"], dataset)
  noise = scores_of(tables["noise_floor"], dataset)
  replicate_scores = [scores_of(hybrid_table(model, rep["clean"], rep["skewed"], blocks, sets, dataset.num_classes,
                                            dataset.num_groups, group_names, masks, permutations,
                                            config.localize.chunk_size, input_normalization=normalization),
                               dataset) for rep in pair.replicates]
  replicate = replicate_report([scores] + replicate_scores, pair.info["data_seed"],
                               pair.info["replicate_data_seeds"], blocks)
  table_time = time.perf_counter() - t0 - train_time

  probes = None
  if config.localize.probes:
    label_set = dataset.splits[dataset.roles["clean_test"]]
    cue_set = cue_probe_set(dataset.splits[dataset.roles["aligned_test"]],
                            dataset.splits[dataset.roles["conflict_test"]], config.seed)
    probes = {run: probe_accuracies(model, variables, blocks, label_set, cue_set, dataset.num_classes,
                                    dataset.num_cues, config.localize.probe_ridge, config.localize.probe_grid,
                                    input_normalization=normalization)
              for run, variables in (("clean", pair.clean), ("skewed", pair.skewed))}
  interventions = None
  if config.localize.interventions:
    interventions = run_interventions(config, dataset, model, workdir, pair, scores)

  conflict = dataset.roles["conflict_test"]
  results = write_results(workdir, {
      "experiment": "localize",
      "seed": config.seed,
      "summary": {
          "clean_model_conflict_accuracy": pair.metrics["clean"][conflict]["accuracy"],
          "skewed_model_conflict_accuracy": pair.metrics["skewed"][conflict]["accuracy"],
          "total_core_forgetting": scores["total_core_forgetting"],
          "total_spurious_encoding": scores["total_spurious_encoding"],
          "top_spurious_encoding_block": blocks[int(np.argmax(scores["spurious_encoding"]))],
          "top_core_forgetting_block": blocks[int(np.argmax(scores["core_forgetting"]))],
          "spurious_encoding_by_block": dict(zip(blocks, np.round(scores["spurious_encoding"], 4).tolist())),
          "core_forgetting_by_block": dict(zip(blocks, np.round(scores["core_forgetting"], 4).tolist())),
          **({"replicate_spread_of_spurious_encoding": dict(zip(blocks, np.round(
                  replicate["spread"]["spurious_encoding"], 4).tolist())),
              "replicate_spread_of_core_forgetting": dict(zip(blocks, np.round(
                  replicate["spread"]["core_forgetting"], 4).tolist()))} if replicate else {}),
      },
      "config": config_dict(config),
      "pair": pair.info,
      "model": {"name": config.model.name, "blocks": blocks, "num_params": num_params(pair.clean["params"]),
                "input_normalization": normalization},
      "dataset": dataset.describe(),
      "accuracy": pair.metrics,
      "mean_accuracy": {run: mean_accuracy(m) for run, m in pair.metrics.items()},
      "profile": {
          "blocks": blocks,
          "relative_depth": ((np.arange(len(blocks)) + 0.5) / len(blocks)).tolist(),
          "spurious_encoding": scores["spurious_encoding"], "core_forgetting": scores["core_forgetting"],
          "noise_spurious_encoding": noise["spurious_encoding"], "noise_core_forgetting": noise["core_forgetting"],
      },
      "scores": scores,
      "noise_floor": noise,
      "replicate": replicate,
      "checks": {"pair": table_checks(tables["pair"], pair.metrics["clean"], pair.metrics["skewed"]),
                 "noise_floor": table_checks(tables["noise_floor"], pair.metrics["clean"],
                                             pair.metrics["clean_noise"])},
      "hybrid_tables": {name: table_json(t) for name, t in tables.items()},
      "probes": probes,
      "interventions": interventions,
      "timing": {"training_s": train_time, "hybrid_tables_s": table_time, "total_s": time.perf_counter() - t0},
      "environment": environment(),
  })
  skew = (f"rho {dataset.info['rho']}" if "rho" in dataset.info
          else f"majority {dataset.info.get('majority_fraction')}")
  title = f"{dataset.name} / {config.model.name} / {skew}"
  figures.plot_profile(blocks, scores, noise, os.path.join(workdir, "profile.png"), title,
                       spread=replicate["spread"] if replicate else None)
  figures.plot_hybrid_table(tables["pair"], os.path.join(workdir, "hybrid_table.png"), title)
  return results


TEST_SETS = ("clean", "aligned", "conflict")


def as_split(test_set, preprocess: Callable | None) -> dict:
  """A test set given as (images, labels) or {'image', 'label', ...} -> a split of float32 model inputs
  (`preprocess` applied to the images, if given) and int labels, without groups."""
  images, labels = (test_set["image"], test_set["label"]) if isinstance(test_set, Mapping) else test_set
  images = np.asarray(preprocess(images) if preprocess is not None else images, np.float32)
  labels = np.asarray(labels, np.int32)
  if len(images) != len(labels):
    raise UserError(f"a test set has {len(images)} images and {len(labels)} labels")
  return {"image": images, "label": labels, "group": np.full(len(labels), -1, np.int32)}


def model_accuracy(apply, variables: dict, split: dict, chunk_size: int) -> float:
  """Accuracy of the jitted `apply(variables, images)` on a split of model inputs (the model itself, not a
  hybrid)."""
  correct = sum(int(np.sum(np.argmax(apply(variables, split["image"][i:i + chunk_size]), -1)
                           == split["label"][i:i + chunk_size])) for i in range(0, len(split["label"]), chunk_size))
  return correct / len(split["label"])


def checked_blocks(model: nn.Module, clean: dict, skewed: dict, blocks: Sequence[str] | None,
                   image: np.ndarray) -> list[str]:
  """`blocks`, or the params keys in call order (hybrids.block_call_order), checked: every params key (and
  batch_stats key) a block, named once, and the same keys in both variable trees."""
  for collection in SPLICED_COLLECTIONS:
    if set(clean.get(collection, {})) != set(skewed.get(collection, {})):
      raise UserError(f"the clean and skewed variables hold different {collection} keys: "
                      f"{sorted(clean.get(collection, {}))} against {sorted(skewed.get(collection, {}))}")
  if blocks is None:
    try:
      return list(block_call_order(model, clean, image))
    except ValueError as error:
      raise UserError(str(error)) from None
  blocks = list(blocks)
  if len(set(blocks)) != len(blocks) or set(blocks) - set(clean["params"]):
    raise UserError(f"blocks {blocks} must name each params key of the model once; its params keys: "
                    f"{sorted(clean['params'])}")
  try:
    check_block_keys(clean, blocks)
  except ValueError as error:
    raise UserError(f"{error}: every top-level key of {', '.join(SPLICED_COLLECTIONS)} must be a block") from None
  return blocks


def localize_models(model: nn.Module, clean_variables: dict, skewed_variables: dict, clean_test,
                    aligned_test, conflict_test, num_classes: int, blocks: Sequence[str] | None = None,
                    preprocess: Callable | None = None, out_dir: str | None = None, chunk_size: int = 250,
                    title: str = "", method: str = "per_mask") -> dict:
  """Where a shortcut lives in a (clean, skewed) pair trained anywhere, without the launcher.

  model: a Flax module called as `model.apply(variables, images, train=False)` -> logits [B, num_classes], whose
  top-level parameter keys are its blocks, each a submodule called once, in order (as every jaxshort model);
  clean_variables, skewed_variables: its variables ({'params'[, 'batch_stats']}) after training on the clean and
  on the skewed data from the same start; clean_test, aligned_test, conflict_test: T_clean (no cue), T_aligned
  (the cue of the label) and T_conflict (the cue of another class), each (images, labels) or {'image', 'label',
  ...} (a jaxshort split), images already the model's input or turned into it by `preprocess` (a function of an
  image array). blocks: the block names in call order; by default the params keys, ordered by tracing one call.
  method: 'per_mask' (every hybrid a full forward pass: right for any such model) or 'prefix_tree' (faster; only
  for a chain, where the code between block j and block j + 1 reads nothing but block j's output: no skip
  connection across blocks; see hybrids.py).

  Returns {blocks, table (hybrid_table's), scores (shapley.shortcut_scores: per-block spurious encoding E and
  core forgetting C, their knock-in and knock-out, the totals), accuracy ({clean, skewed}: {set: accuracy},
  evaluated directly), checks (v(empty) is the clean model and v(all) the skewed model on every set, E and C sum to
  their totals; a UserError if one fails), figures (paths)}. With `out_dir`, writes profile.png and
  hybrid_table.png there. Variables beyond params and batch_stats come from the clean model in every hybrid.
  """
  sets = {name: as_split(s, preprocess) for name, s in zip(TEST_SETS, (clean_test, aligned_test, conflict_test))}
  blocks = checked_blocks(model, clean_variables, skewed_variables, blocks, sets["clean"]["image"][:1])
  masks, permutations = hybrid_masks(len(blocks))
  table = hybrid_table(model, clean_variables, skewed_variables, blocks, sets, num_classes, 1, ["all"], masks,
                       permutations, chunk_size, method, input_normalization="none")
  scores = shortcut_scores(table["masks"], *(table["sets"][name]["accuracy"] for name in TEST_SETS),
                           permutations)
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
  accuracy = {run: {name: model_accuracy(apply, variables, split, chunk_size) for name, split in sets.items()}
              for run, variables in (("clean", clean_variables), ("skewed", skewed_variables))}
  checks = table_checks(table, *({name: {"accuracy": value} for name, value in accuracy[run].items()}
                                 for run in ("clean", "skewed")))
  for key, total in (("spurious_encoding", "total_spurious_encoding"), ("core_forgetting", "total_core_forgetting")):
    checks[f"{key}_sums_to_total"] = bool(abs(sum(scores[key]) - scores[total]) < 1e-9)
  if not all(checks.values()):
    raise UserError(f"the hybrid table does not end at the two models ({checks}): splicing the blocks "
                    f"{blocks} does not rebuild them; check that every variable of the model is in a block"
                    + (", and that the model is a chain (method='per_mask' otherwise)" if method == "prefix_tree"
                       else ""))
  figures_written = []
  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
    figures_written = [os.path.join(out_dir, "profile.png"), os.path.join(out_dir, "hybrid_table.png")]
    figures.plot_profile(blocks, scores, None, figures_written[0], title)
    figures.plot_hybrid_table(table, figures_written[1], title)
  return {"blocks": blocks, "table": table, "scores": scores, "accuracy": accuracy, "checks": checks,
          "figures": figures_written}
