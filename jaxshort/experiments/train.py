"""The `train` experiment: one classifier trained with cross-entropy (ERM), evaluated on every split."""

import os
import time

import ml_collections

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.experiments.results import environment, result_summary, write_results
from jaxshort.report.figures import plot_training
from jaxshort.training import sharding
from jaxshort.training.loop import evaluate_splits, train_classifier
from jaxshort.training.state import num_params
from jaxshort.training.workdir import MetricsLog


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains one classifier and writes results.json and training.png into `workdir`."""
  t0 = time.perf_counter()
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  model = models.build_model(config.model, dataset.num_classes)
  state = train_classifier(config, dataset, model, workdir)
  split_metrics = evaluate_splits(state, dataset, sharding.data_mesh(), config.eval_batch_size, dataset.splits)
  results = write_results(workdir, {
      "experiment": "train",
      "method": "erm",
      "seed": config.seed,
      "summary": result_summary(dataset, split_metrics),
      "metrics": split_metrics,
      "dataset": dataset.describe(),
      "model": {"name": config.model.name, "blocks": list(model.blocks), "num_params": num_params(state.params),
                "input_normalization": state.input_normalization},
      "training": {"steps": config.num_steps, "wall_time_s": time.perf_counter() - t0},
      "environment": environment(),
  })
  plot_training(MetricsLog(os.path.join(workdir, "metrics.jsonl")).read(), split_metrics,
                os.path.join(workdir, "training.png"), title=f"{dataset.name} / {config.model.name} / ERM")
  return results
