"""Counterfactual training pairs: a clean and a skewed run from one theta_0, plus a noise-floor clean run.

theta_0 is a fresh init from `config.seed`, given variables (pretrained weights, for fine-tuning), or a branch
point: `branch_steps` clean steps from that start (0: no branch). From theta_0, the clean and the skewed run use
the same seed and the same batch order (the two training splits hold the same examples in the same order); the
noise-floor run trains on the clean split again with another data-order seed. Every run is
`training.loop.train_classifier` in its own sub-folder of the workdir, so each checkpoints and resumes alone.
"""

import dataclasses
import os

import jax
import ml_collections
import optax

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.config import with_overrides
from jaxshort.training import loop, sharding
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.state import TrainState


def variables_of(state: TrainState) -> dict:
  """{params, batch_stats (where the model has them)} of a train state, on the host."""
  return jax.device_get(state.variables())


TEST_ROLES = ("clean_test", "aligned_test", "conflict_test")


@dataclasses.dataclass
class Pair:
  """The trained variables of a counterfactual pair and of its noise-floor partner, how they were made, and each
  model's metrics on the test sets ({run: {split: metrics.summarize(...)}}, from training.loop.evaluate)."""
  theta0: dict
  clean: dict
  skewed: dict
  noise: dict
  info: dict
  metrics: dict
  replicates: list = dataclasses.field(default_factory=list)  # [{'clean', 'skewed', 'metrics', 'data_seed'}]


def branch_point(config: ml_collections.ConfigDict, dataset: data_lib.Dataset, model, workdir: str,
                 branch_steps: int, variables: dict | None = None) -> dict:
  """theta_0: `variables` (default: a fresh init from config.seed), then `branch_steps` steps on the clean split
  (in workdir/branch, with the optimizer schedule of a `branch_steps`-step run) when branch_steps > 0."""
  if variables is None:
    variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  if branch_steps <= 0:
    # On the host: every run replicates its own copy, and the train step donates (deletes) the device buffers
    # it is given, which would otherwise be theta_0's own after the first run.
    return jax.device_get(variables)
  state = loop.train_classifier(with_overrides(config, {"num_steps": branch_steps}), dataset, model,
                                 os.path.join(workdir, "branch"), variables=variables,
                                 train_split=dataset.roles["clean_train"], name="branch")
  return variables_of(state)


def test_splits(dataset: data_lib.Dataset) -> list[str]:
  """The names of the T_clean, T_aligned and T_conflict splits of a localization dataset."""
  return [dataset.roles[role] for role in TEST_ROLES]


def train_run(config, dataset, model, workdir: str, name: str, theta0: dict, split_role: str,
              data_seed: int, tx: optax.GradientTransformation | None = None) -> tuple[dict, dict]:
  """(variables, {test split: metrics}) after training `model` from theta0 on the split of `split_role`, in
  workdir/name."""
  state = loop.train_classifier(config, dataset, model, os.path.join(workdir, name), variables=theta0,
                                 train_split=dataset.roles[split_role], data_seed=data_seed, name=name, tx=tx)
  metrics = loop.evaluate_splits(state, dataset, sharding.data_mesh(), config.eval_batch_size,
                                  test_splits(dataset))
  return variables_of(state), metrics


def train_pair(config: ml_collections.ConfigDict, dataset: data_lib.Dataset, model, workdir: str,
               variables: dict | None = None) -> Pair:
  """Trains the branch (if any), the clean, the skewed and the noise-floor runs; see the module docstring.

  Reads config.localize.branch_steps and config.localize.noise_seed_offset (noise-floor data seed = config.seed +
  offset). `config.localize.replicates` further (clean, skewed) pairs train from the same theta_0 with data-order
  seeds config.seed + offset + 1, + 2, ...: the replicate pairs whose spread is the noise of each block's effect.
  """
  branch_steps = config.localize.branch_steps
  noise_seed = config.seed + config.localize.noise_seed_offset
  theta0 = branch_point(config, dataset, model, workdir, branch_steps, variables)
  # One optimizer object for the three runs: the jitted train and eval steps key their cache on it, so the
  # runs share one compilation (a new but equal optimizer would compile them again).
  tx = make_optimizer(config.optimizer, config.num_steps)
  clean, clean_metrics = train_run(config, dataset, model, workdir, "clean", theta0, "clean_train", config.seed,
                                   tx)
  skewed, skewed_metrics = train_run(config, dataset, model, workdir, "skewed", theta0, "skewed_train",
                                     config.seed, tx)
  noise, noise_metrics = train_run(config, dataset, model, workdir, "clean_noise", theta0, "clean_train",
                                   noise_seed, tx)
  info = {"theta0": "given variables" if variables is not None else f"init(seed={config.seed})",
          "branch_steps": branch_steps, "data_seed": config.seed, "noise_floor_data_seed": noise_seed,
          "steps": config.num_steps}
  metrics = {"clean": clean_metrics, "skewed": skewed_metrics, "clean_noise": noise_metrics}
  replicates = []
  for r in range(config.localize.replicates):
    seed = noise_seed + 1 + r
    rep_clean, rep_clean_metrics = train_run(config, dataset, model, workdir, f"replicate{r}_clean", theta0,
                                             "clean_train", seed, tx)
    rep_skewed, rep_skewed_metrics = train_run(config, dataset, model, workdir, f"replicate{r}_skewed", theta0,
                                               "skewed_train", seed, tx)
    replicates.append({"clean": rep_clean, "skewed": rep_skewed, "data_seed": seed,
                       "metrics": {"clean": rep_clean_metrics, "skewed": rep_skewed_metrics}})
  info["replicate_data_seeds"] = [rep["data_seed"] for rep in replicates]
  return Pair(theta0=theta0, clean=clean, skewed=skewed, noise=noise, info=info, metrics=metrics,
              replicates=replicates)
