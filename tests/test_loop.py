"""The training loop's chunks of steps: the same batches as the per-step stream, held on the devices or
streamed, the same parameters as the plain jitted step run one step at a time, whole-split evaluation, and the
device count rule."""

import os

import chex
import jax
import ml_collections
import numpy as np
import pytest

from jaxshort import data, models
from jaxshort.data import pipeline
from jaxshort.training import loop, sharding
from jaxshort.training import steps as steps_lib
from jaxshort.training.checkpoint import load_variables
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.state import create_train_state
from jaxshort.training.steps import jit_eval_step, make_train_step


def test_chunk_indices_are_the_per_step_batches_across_epochs():
  stream = pipeline.train_batches({"label": np.zeros(10)}, 4, seed=3, start_step=5)
  expected = np.stack([next(stream)["index"] for _ in range(7)])  # 2 batches per epoch: crosses 3 epochs
  np.testing.assert_array_equal(pipeline.chunk_indices(10, 4, 3, 5, 7), expected)


def test_next_stop_is_the_first_log_eval_checkpoint_or_end(tiny_config):
  config = tiny_config.copy_and_resolve_references()
  config.num_steps, config.log_every_steps, config.eval_every_steps, config.checkpoint_every_steps = 95, 20, 30, 50
  stops, step = [], 0
  while step < config.num_steps:
    step = loop.next_stop(step, config)
    stops.append(step)
  assert stops == [20, 30, 40, 50, 60, 80, 90, 95]


@pytest.mark.parametrize("placement,model_name", [("device", "mlp"), ("host", "mlp"), ("device", "small_cnn")])
def test_the_loop_trains_bitwise_as_the_plain_step_one_step_at_a_time(tmp_path, tiny_config, placement, model_name):
  config = tiny_config.copy_and_resolve_references()
  config.data_placement, config.num_steps, config.log_every_steps = placement, 12, 5  # chunks of 5, 5, 2
  if model_name != "mlp":  # a conv net: on the CPU its chunks run one step per dispatch, not scanned
    config.model = models.model_config(ml_collections.ConfigDict({"name": model_name, "widths": (8,)}))
  assert sharding.scan_steps(model_name) == (model_name == "mlp")
  dataset = data.build_dataset(config.dataset, config.seed)
  model = models.build_model(config.model, dataset.num_classes)
  loop.train_classifier(config, dataset, model, str(tmp_path))
  trained = load_variables(str(tmp_path / "checkpoints"))

  mesh = sharding.data_mesh()
  variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  state = sharding.replicate(create_train_state(model, variables, make_optimizer(config.optimizer, 12)), mesh)
  step = make_train_step()
  rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  batches = pipeline.train_batches(dataset.splits["train"], config.batch_size, config.seed)
  for _ in range(12):
    state, _ = step(state, sharding.shard_batch(next(batches), mesh), rng)
  chex.assert_trees_all_equal(trained["params"], jax.device_get(state.params))


def test_whole_split_evaluation_counts_as_batch_by_batch(tiny_config):
  dataset = data.build_dataset(tiny_config.dataset, tiny_config.seed)
  model = models.build_model(tiny_config.model, dataset.num_classes)
  variables = models.initial_variables(tiny_config.model, model, jax.random.key(0), dataset.image_shape)
  mesh = sharding.data_mesh()
  state = sharding.replicate(create_train_state(model, variables, make_optimizer(tiny_config.optimizer, 1)), mesh)
  split = dataset.splits["test_ood"]
  step = jit_eval_step(dataset.num_classes, dataset.num_groups)
  totals = [jax.device_get(step(state, sharding.shard_batch(b, mesh))) for b in pipeline.eval_batches(split, 64)]
  whole = loop.evaluate(state, split, dataset, mesh, 64)
  correct = sum(t["correct"] for t in totals)
  assert whole["accuracy"] == correct / len(split["label"]) and whole["num_examples"] == len(split["label"])
  group_correct = sum(t["group_correct"] for t in totals)
  assert [g["accuracy"] for g in whole["groups"].values()] == pytest.approx(
      list(group_correct / sum(t["group_count"] for t in totals)))


def test_scan_rule_and_the_per_step_chunk_is_the_plain_step_bitwise(tiny_config):
  assert sharding.scan_steps("mlp") and sharding.scan_steps("deit_ti")
  assert not any(sharding.scan_steps(n) for n in ("small_cnn", "vgg11_bn", "resnet18", "convnext_atto", "sitar_vae"))
  dataset = data.build_dataset(tiny_config.dataset, tiny_config.seed)
  model = models.build_model(tiny_config.model, dataset.num_classes)
  variables = models.initial_variables(tiny_config.model, model, jax.random.key(0), dataset.image_shape)
  mesh = sharding.data_mesh()
  split = sharding.place(dataset.splits["train"], sharding.replicated(mesh))
  index = pipeline.chunk_indices(len(dataset.splits["train"]["label"]), 16, 0, 0, 4)
  finals = []
  for scan in (True, False):
    state = sharding.replicate(create_train_state(model, jax.tree.map(np.array, variables),
                                                  make_optimizer(tiny_config.optimizer, 4)), mesh)
    chunk = steps_lib.make_train_chunk(batch_sharding=sharding.batch_sharding(mesh), scan=scan)
    state, metrics = chunk(state, split, sharding.place(index, sharding.batch_sharding(mesh, 1)), jax.random.key(1))
    assert metrics["loss"].shape == (4,)
    finals.append((jax.device_get(state.params), jax.device_get(metrics["loss"])))
  chex.assert_trees_all_close(finals[0], finals[1], rtol=1e-5)


def test_cpu_device_count_rule(monkeypatch):
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
  assert sharding.cpu_device_count(3, ["mlp"]) == 3  # set by hand: as given
  assert sharding.cpu_device_count(0, ["mlp", "sitar_vae"]) == 1
  assert sharding.cpu_device_count(0, ["mlp", "small_cnn"], [128]) == 8  # capped at MAX_CPU_DEVICES
  assert sharding.cpu_device_count(0, ["resnet18"], [96, 60]) == 6  # divides every batch size
