"""The training core: steps, metrics, checkpoints, determinism, the train experiment."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort import data, models
from jaxshort.errors import UserError
from jaxshort.training import metrics, sharding
from jaxshort.training.checkpoint import Checkpointer
from jaxshort.training.state import create_train_state
from jaxshort.models import init_variables
from jaxshort.training.steps import eval_step, train_step
from jaxshort.experiments.train import run as train_and_evaluate


def tiny_batch(n=8, size=8, seed=0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, n).astype(np.int32)
  cues = rng.integers(0, 2, n).astype(np.int32)
  return {"image": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), "label": labels, "cue": cues,
          "group": data.group_of(labels, cues, 2), "id": np.arange(n, dtype=np.int32)}


@pytest.mark.parametrize("name,settings", [("mlp", {"widths": (16,)}), ("small_cnn", {"widths": (4, 8)})])
def test_one_train_step_and_one_eval_step(name, settings):
  config = models.MODELS.get(name)
  model = config(num_classes=2, **settings)
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  assert list(variables["params"]) == list(model.blocks)
  mesh = sharding.data_mesh()
  state = sharding.replicate(create_train_state(model, variables, optax.sgd(0.1)), mesh)
  batch = sharding.shard_batch(tiny_batch(), mesh)

  chex.clear_trace_counter()
  step = chex.assert_max_traces(train_step, n=1)
  jitted = jax.jit(step)
  new_state, out = jitted(state, batch, jax.random.key(1))
  new_state, out = jitted(new_state, batch, jax.random.key(1))  # no retrace
  assert int(new_state.step) == 2
  chex.assert_tree_all_finite(out)
  assert jax.tree.reduce(lambda a, b: a or b, jax.tree.map(lambda x, y: bool(jnp.any(x != y)),
                                                             state.params, new_state.params))
  counts = jax.jit(eval_step, static_argnums=(2, 3))(new_state, batch, 2, 4)
  assert float(counts["count"]) == 8
  chex.assert_shape(counts["group_correct"], (4,))


def test_mixed_precision_step_keeps_float32_state_and_tracks_the_float32_step():
  """compute_dtype='bfloat16': parameters, batch statistics and optimizer state stay float32; the loss and the
  update follow the float32 step to bfloat16 accuracy; the model really runs in bfloat16 (the losses differ)."""
  model = models.MODELS.get("small_cnn")(num_classes=2, widths=(8, 16))
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  batch, rng = tiny_batch(n=16), jax.random.key(1)
  steps = {dtype: jax.jit(train_step, static_argnames="compute_dtype")(
      create_train_state(model, variables, optax.sgd(0.1, momentum=0.9)), batch, rng, compute_dtype=dtype)
           for dtype in ("float32", "bfloat16")}
  (full, full_out), (mixed, mixed_out) = steps["float32"], steps["bfloat16"]
  for tree in (mixed.params, mixed.batch_stats, mixed.opt_state):
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating))
  assert float(mixed_out["loss"]) != float(full_out["loss"])
  np.testing.assert_allclose(float(mixed_out["loss"]), float(full_out["loss"]), rtol=2e-2)
  chex.assert_trees_all_close(mixed.params, full.params, atol=2e-3)
  chex.assert_trees_all_close(mixed.batch_stats, full.batch_stats, atol=2e-2, rtol=2e-2)


def test_augmentation_is_applied_in_the_step_and_repeats_for_the_same_seed_and_step(tiny_config, tmp_path):
  model = models.MODELS.get("small_cnn")(num_classes=2, widths=(4,))
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  batch, rng = tiny_batch(n=16), jax.random.key(1)
  step = jax.jit(train_step, static_argnames=("compute_dtype", "augment"))
  fresh = lambda: create_train_state(model, variables, optax.sgd(0.1))
  plain, _ = step(fresh(), batch, rng)
  augmented, _ = step(fresh(), batch, rng, augment="crop_flip")
  again, _ = step(fresh(), batch, rng, augment="crop_flip")
  chex.assert_trees_all_equal(augmented.params, again.params)
  assert not np.allclose(np.asarray(augmented.params["conv1"]["Conv_0"]["kernel"]),
                         np.asarray(plain.params["conv1"]["Conv_0"]["kernel"]))
  tiny_config.augment = "mixup"
  with pytest.raises(UserError, match="augment must be one of none, crop_flip"):
    train_and_evaluate(tiny_config, str(tmp_path))


def numpy_reference(logits, labels, groups, num_groups):
  pred = logits.argmax(1)
  correct = pred == labels
  group_acc = [correct[groups == g].mean() for g in range(num_groups) if np.any(groups == g)]
  class_acc = [correct[labels == c].mean() for c in np.unique(labels)]
  logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  return {"accuracy": correct.mean(), "worst_group_accuracy": min(group_acc),
          "balanced_accuracy": np.mean(class_acc), "loss": -logp[np.arange(len(labels)), labels].mean()}


def test_metrics_match_a_numpy_reference():
  rng = np.random.default_rng(3)
  n, num_classes, num_cues = 203, 3, 2
  logits = rng.normal(size=(n, num_classes)).astype(np.float32)
  labels = rng.integers(0, num_classes, n).astype(np.int32)
  groups = data.group_of(labels, rng.integers(0, num_cues, n), num_cues)
  totals = None
  for start in range(0, n, 64):  # padded batches, summed as the eval loop does
    index = np.minimum(np.arange(start, start + 64), n - 1)
    batch = {"label": labels[index], "group": groups[index], "mask": np.arange(start, start + 64) < n}
    counts = metrics.count_correct(jnp.asarray(logits[index]), batch, num_classes, num_classes * num_cues)
    totals = counts if totals is None else jax.tree.map(jnp.add, totals, counts)
  ours = metrics.summarize(jax.device_get(totals))
  reference = numpy_reference(logits, labels, groups, num_classes * num_cues)
  for key, value in reference.items():
    np.testing.assert_allclose(ours[key], value, rtol=1e-5, err_msg=key)
  assert ours["num_examples"] == n
  weighted = metrics.summarize(jax.device_get(totals), group_weights=np.ones(6) / 6)
  group_accs = [g["accuracy"] for g in ours["groups"].values()]
  np.testing.assert_allclose(weighted["group_weighted_accuracy"], np.mean(group_accs), rtol=1e-6)


def test_checkpoint_round_trip(tmp_path):
  model = models.MODELS.get("small_cnn")(num_classes=2, widths=(4,))
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  state = create_train_state(model, variables, optax.adam(1e-3))
  state, _ = jax.jit(train_step)(state, tiny_batch(), jax.random.key(0))
  checkpoints = Checkpointer(str(tmp_path / "ckpt"))
  checkpoints.save(state)
  fresh = create_train_state(model, init_variables(model, jax.random.key(9), (8, 8, 3)), optax.adam(1e-3))
  restored = checkpoints.restore_latest(fresh)
  checkpoints.close()
  assert int(restored.step) == 1
  chex.assert_trees_all_equal(restored.params, state.params)
  chex.assert_trees_all_equal(restored.batch_stats, state.batch_stats)
  chex.assert_trees_all_equal(restored.opt_state, state.opt_state)


def test_same_config_and_seed_give_identical_results(tmp_path, tiny_config):
  first = train_and_evaluate(tiny_config, str(tmp_path / "a"))
  second = train_and_evaluate(tiny_config, str(tmp_path / "b"))
  assert first["metrics"] == second["metrics"]
  tiny_config.seed = 1
  third = train_and_evaluate(tiny_config, str(tmp_path / "c"))
  assert third["metrics"] != first["metrics"]
  for name in ("results.json", "metrics.jsonl", "training.png"):
    assert os.path.exists(tmp_path / "a" / name)
  results = json.load(open(tmp_path / "a" / "results.json"))
  assert set(results["summary"]) >= {"in_distribution_accuracy", "out_of_distribution_accuracy",
                                     "out_of_distribution_worst_group_accuracy"}
  assert set(results["metrics"]["test_ood"]["groups"]) == {"digit<5|red", "digit<5|green", "digit>=5|red",
                                                           "digit>=5|green"}
