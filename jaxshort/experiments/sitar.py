"""The `sitar` experiment: one method (SITAR or a baseline, jaxshort.methods) on one seed.

Writes results.json (OOD accuracy, worst-group accuracy, the selected step), training.png, and for the VAE
methods their latent diagnostics (results.json `latent`; diagnostics.png) and traversal.png. The diagnostics say
why a run did or did not drop the shortcut: per latent dimension over training, the shortcut score, the
correlation with the cue, the spread of mu against its noise, and the classifier's sensitivity (sitar/
diagnostics.py); after training, the scores on the whole training split, a nonlinear cue probe on mu with the
top-k scored dimensions removed (is the cue still readable elsewhere?), and the linear-probe OOD ceiling (does
the latent hold the label beyond the shortcut?). The probes use cue and group labels; nothing in training or
selection does. `run_method` is the part the `compare` experiment shares.
"""

import os
import time

import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxshort import data as data_lib
from jaxshort.experiments.results import environment, result_summary, write_results
from jaxshort.methods import METHODS, uses_group_labels
from jaxshort.methods.classifier import group_balanced_index
from jaxshort.methods.common import predict
from jaxshort.report import sitar_figures
from jaxshort.report.figures import plot_training
from jaxshort.sitar.diagnostics import cue_correlation
from jaxshort.sitar.scores import shortcut_scores
from jaxshort.training import sharding
from jaxshort.training.loop import evaluate_splits
from jaxshort.training.workdir import MetricsLog

VAE_METHODS = ("sitar", "chroma_vae")
SUMMARY_KEYS = ("in_distribution_accuracy", "out_of_distribution_accuracy",
                "out_of_distribution_worst_group_accuracy")
# The same numbers at the evaluation best-validation selection would keep, reported beside a 'last' run's.
AT_BEST_KEYS = tuple(f"{key}_at_best_validation" for key in SUMMARY_KEYS)


def encode_mean(state, split: dict, batch_size: int) -> np.ndarray:
  """Mean codes mu [N, d] of a split's images."""
  return predict(state, split, batch_size, method=lambda module, images: module.encode(images)[0])


# The per-dimension series a VAE method logs (sitar/loss.py, sitar/diagnostics.py), each as `name_j`.
LATENT_SERIES = ("score", "noise_std", "cue_correlation", "spread", "sensitivity")


def latent_history(records: list[dict]) -> dict[str, list]:
  """The logged per-dimension batch series over training from metrics.jsonl records: {'step': [T], and for each
  of LATENT_SERIES the run logged: [T, d]}."""
  rows = [r for r in records if r["split"] == "train"]
  history = {"step": [r["step"] for r in rows]}
  for name in LATENT_SERIES:
    dims = len([k for k in rows[0] if k.startswith(f"{name}_") and k[len(name) + 1:].isdigit()]) if rows else 0
    if dims:
      history[name] = [[r[f"{name}_{j}"] for j in range(dims)] for r in rows]
  return history


def cue_probe_without_top_dims(mu: np.ndarray, cues: np.ndarray, groups: np.ndarray, ranked_dims: list[int],
                               seed: int, num_groups: int, max_removed: int = 3, neighbours: int = 15) -> dict:
  """{'accuracy': {k: accuracy}} of a nonlinear probe (`neighbours`-nearest neighbours on standardized codes)
  reading the cue from mu with the k top-scored dimensions removed, k = 0..max_removed. Fit on half and scored on
  the other half of a group-balanced subset of the rows (each (label, cue) group equally often), where the cue
  says nothing of the label; chance is 1 / (number of cues). {'accuracy': None, 'reason': ...} where the rows
  do not hold every group at least `neighbours` times (a split of majority groups only, or without cues)."""
  # imported here, not at the top: scikit-learn takes about a second to import (see group_balanced_probe)
  from sklearn.neighbors import KNeighborsClassifier  # pylint: disable=import-outside-toplevel
  from sklearn.pipeline import make_pipeline  # pylint: disable=import-outside-toplevel
  from sklearn.preprocessing import StandardScaler  # pylint: disable=import-outside-toplevel
  counts = np.bincount(groups[groups >= 0], minlength=num_groups)
  if len(counts) != num_groups or counts.min() < neighbours:
    return {"accuracy": None, "reason": f"the split holds group counts {counts.tolist()}; the probe needs every "
                                        f"(label, cue) group at least {neighbours} times"}
  index = np.random.default_rng(seed).permutation(group_balanced_index(groups, np.random.default_rng(seed)))
  fit, score = index[::2], index[1::2]
  accuracies = {}
  for k in range(min(max_removed, mu.shape[1] - 1) + 1):
    kept = [j for j in range(mu.shape[1]) if j not in ranked_dims[:k]]
    probe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours))
    probe.fit(mu[fit][:, kept], cues[fit])
    accuracies[str(k)] = float(np.mean(probe.predict(mu[score][:, kept]) == cues[score]))
  return {"accuracy": accuracies}


def group_balanced_probe(state, dataset: data_lib.Dataset, batch_size: int) -> float:
  """Diagnostic that uses group labels (never for selection): the OOD accuracy of a linear readout of mu fit
  on the validation split with each (label, cue) group weighing the same. It tells whether the latent holds the
  label beyond the shortcut at all, apart from whether the trained classifier uses it. scikit-learn's
  L2 logistic regression (C = 1) on standardized codes, each example weighted N / (groups x its group's count),
  so the weights average 1 and C keeps its usual meaning."""
  # imported here, not at the top: scipy and scikit-learn take about a second to import, which every
  # launch.py process (and every bad-input test) would otherwise pay
  from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel
  from sklearn.pipeline import make_pipeline  # pylint: disable=import-outside-toplevel
  from sklearn.preprocessing import StandardScaler  # pylint: disable=import-outside-toplevel
  val = dataset.splits[dataset.roles["validation"]]
  ood = dataset.splits[dataset.roles["out_of_distribution"]]
  counts = np.bincount(val["group"], minlength=dataset.num_groups)
  probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
  probe.fit(encode_mean(state, val, batch_size), val["label"],
            logisticregression__sample_weight=len(val["label"]) / (np.sum(counts > 0) * counts[val["group"]]))
  return float(np.mean(probe.predict(encode_mean(state, ood, batch_size)) == ood["label"]))


def latent_report(state, dataset: data_lib.Dataset, batch_size: int, seed: int) -> dict:
  """The VAE methods' diagnostics after training (module docstring): scores of each latent dimension on the whole
  training split (the batch statistic, computed once over all of it), |corr| of each with the cue, the spread of
  mu, the cue probe without the top-scored dimensions, and the group-balanced linear probe's OOD accuracy."""
  train = dataset.splits[dataset.roles["train"]]
  mu = encode_mean(state, train, batch_size)
  scores = np.asarray(shortcut_scores(mu, train["label"], dataset.num_classes))
  cue_corr = np.asarray(cue_correlation(mu, train["cue"], dataset.num_cues))
  ranked = np.argsort(-scores).tolist()
  return {"train_scores": scores.tolist(), "cue_correlation": cue_corr.tolist(), "latent_std": mu.std(0).tolist(),
          "ranked_dims": ranked,
          "cue_probe_without_top_dims": cue_probe_without_top_dims(mu, train["cue"], train["group"], ranked, seed,
                                                                   dataset.num_groups),
          "cue_probe_chance": 1.0 / dataset.num_cues,
          "probe_ood_accuracy": group_balanced_probe(state, dataset, batch_size)}


def diagnostic_summary(latent: dict, last: int = 5) -> dict:
  """A VAE run's diagnostics in a few numbers (the columns of docs/sitar.md's study table): the top-scored
  dimension, its training-split score and cue correlation, the classifier's sensitivity to it and the mean over
  the other dimensions (the mean over the `last` logged batches; also times each dimension's spread, the change
  of the logits over one std of that dimension), the cue probe without the top dimension, and the linear-probe
  OOD ceiling."""
  top = latent["ranked_dims"][0]
  history = latent["history"]
  sensitivity = np.asarray(history["sensitivity"])[-last:].mean(0)
  scaled = sensitivity * np.asarray(history["spread"])[-last:].mean(0)
  probe = latent["cue_probe_without_top_dims"]
  probe = probe.get("accuracy", probe) or {}
  return {"top_dim": top, "top_score": latent["train_scores"][top],
          "top_cue_correlation": latent["cue_correlation"][top],
          "sensitivity_top": float(sensitivity[top]), "sensitivity_rest": float(np.delete(sensitivity, top).mean()),
          "sensitivity_x_spread_top": float(scaled[top]),
          "sensitivity_x_spread_rest": float(np.delete(scaled, top).mean()),
          "cue_probe_without_top_dim": probe.get("1"), "probe_ood_accuracy": latent["probe_ood_accuracy"]}


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
      "uses_group_labels": uses_group_labels(config.method, config.selection),
      "input_normalization": state.input_normalization,
      "seed": config.seed,
      "summary": summary,
      "selection": {"rule": config.selection, **info},
      "metrics": split_metrics,
      "wall_time_s": time.perf_counter() - t0,
  }
  if config.method in VAE_METHODS:
    results["latent"] = latent_report(state, dataset, config.eval_batch_size, config.seed)
    results["latent"]["history"] = latent_history(MetricsLog(os.path.join(run_dir, "metrics.jsonl")).read())
    results["latent"]["summary"] = diagnostic_summary(results["latent"])
  return results, state


def traversal_grid(state, base_mu: np.ndarray, dims: list[int], values: np.ndarray) -> np.ndarray:
  """Decoded images [len(base_mu), len(dims), len(values), H, W, C] in [0, 1]: each base code with dimension
  dims[k] set to each of `values`."""
  codes = np.repeat(base_mu[:, None, None, :], len(dims), 1).repeat(len(values), 2)
  for k, j in enumerate(dims):
    codes[:, k, :, j] = values
  flat = jnp.asarray(codes.reshape(-1, base_mu.shape[-1]))
  images = state.apply_fn({"params": state.params}, flat, method="decode")
  images = np.clip((np.asarray(images) + 1.0) / 2.0, 0.0, 1.0)
  return images.reshape(*codes.shape[:3], *images.shape[1:])


def traversal(state, dataset: data_lib.Dataset, latent: dict, top_k: int = 3, num_base: int = 2) -> dict:
  """The decoded traversals of the `top_k` top-scored dimensions from one training image of each of the first
  `num_base` classes, over -3..3: {'grid' [B, K, V, H, W, C], 'dims', 'values', 'scores'}."""
  train = dataset.splits[dataset.roles["train"]]
  picks = [int(np.flatnonzero(train["label"] == c)[0]) for c in range(min(num_base, dataset.num_classes))]
  base = encode_mean(state, {k: v[picks] for k, v in train.items()}, len(picks))
  dims = latent["ranked_dims"][:top_k]
  values = np.linspace(-3.0, 3.0, 7)
  return {"grid": traversal_grid(state, base, dims, values), "dims": dims, "values": values,
          "scores": [latent["train_scores"][j] for j in dims]}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `sitar` experiment: one method on one seed; see the module docstring."""
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  results, state = run_method(config, dataset, workdir, os.path.join(workdir, "erm"))
  results = write_results(workdir, {**results, "experiment": "sitar", "dataset": dataset.describe(),
                                    "environment": environment()})
  log_dir = os.path.join(workdir, "erm") if config.method in ("erm", "dfr") else workdir
  plot_training(MetricsLog(os.path.join(log_dir, "metrics.jsonl")).read(), results["metrics"],
                os.path.join(workdir, "training.png"), title=f"{dataset.name} / {config.method}")
  if config.method in VAE_METHODS:
    latent = results["latent"]
    if latent["history"]["step"]:
      sitar_figures.plot_diagnostics(latent, os.path.join(workdir, "diagnostics.png"),
                                     title=f"{dataset.name} / {config.method} / seed {config.seed}")
    sitar_figures.plot_traversal(traversal(state, dataset, latent), os.path.join(workdir, "traversal.png"))
  return results
