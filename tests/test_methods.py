"""Every method through the `sitar` and `compare` experiments, a few steps on real offline Colored MNIST."""

import json
import os

import chex
import jax
import numpy as np
import optax
import pytest

from configs.sitar import ablation_cmnist, compare_cmnist, colored_mnist, waterbirds
from jaxshort import data, experiments
from jaxshort.experiments import compare
from jaxshort.errors import UserError
from jaxshort.methods import METHODS, uses_group_labels
from jaxshort.methods.classifier import worst_group_accuracy
from jaxshort.methods.common import predict
from jaxshort.methods.lff import BiasedDebiasedPair, initial_state, lff_objective
from jaxshort.models import init_variables
from jaxshort.models.simple import SmallCNN
from jaxshort.training.state import create_train_state
from jaxshort.training.steps import make_train_step
from jaxshort.config import parse_variant, with_overrides
from tests.conftest import shrink


def _tiny(config, num_steps=3):
  return shrink(config, num_steps, log_every_steps=1, dataset__image_size=14, model__channels=(4, 8),
                model__latent_dim=3, model__hidden=8, jtt__first_steps=1, jtt__upweights=(6.0,), batch_size=32)


def test_sitar_experiment_writes_results_and_figures(tmp_path):
  config = _tiny(colored_mnist.get_config())
  results = experiments.run(config, str(tmp_path))
  summary, ood = results["summary"], results["metrics"]["test_ood"]
  assert summary["out_of_distribution_accuracy"] == ood["accuracy"]
  assert summary["out_of_distribution_worst_group_accuracy"] == min(
      g["accuracy"] for g in ood["groups"].values() if g["count"])
  assert json.loads((tmp_path / "results.json").read_text())["summary"] == summary
  assert len(results["latent"]["train_scores"]) == 3
  history = results["latent"]["history"]
  for series in ("score", "noise_std", "cue_correlation", "spread", "sensitivity"):
    assert len(history[series][0]) == 3 and len(history[series]) == len(history["step"]), series
  assert set(results["latent"]["cue_probe_without_top_dims"]["accuracy"]) == {"0", "1", "2"}
  for name in ("results.json", "training.png", "diagnostics.png", "traversal.png"):
    assert os.path.exists(tmp_path / name), name


@pytest.mark.slow
def test_compare_runs_every_method(tmp_path):
  config = _tiny(compare_cmnist.get_config())
  config.compare.seeds = (0,)
  results = experiments.run(config, str(tmp_path))
  assert set(compare_cmnist.METHODS) == set(METHODS.names())
  extra = {variant.split(":")[0] for variant in compare_cmnist.EXTRA_VARIANTS}
  assert set(results["table"]) == set(compare_cmnist.METHODS) | extra
  for name, row in results["table"].items():  # the numbers at the best-validation evaluation, beside the last
    assert ("out_of_distribution_accuracy_at_best_validation" in row) == (name != "dfr"), name
  table = (tmp_path / "table.md").read_text()
  assert "group_dro | group_dro | train + val" in table and "jtt | jtt | val" in table
  assert "sitar | sitar | no" in table
  saved = json.loads((tmp_path / "table.json").read_text())
  assert saved["table"]["sitar"]["out_of_distribution_accuracy"]["values"]
  assert set(saved["diagnostics"]) == {"sitar", "sitar, alpha=2", "chroma_vae"}  # the VAE methods' runs
  assert 0 <= saved["diagnostics"]["sitar"]["top_score"] <= 1
  assert os.path.exists(tmp_path / "table.png")


def test_a_variant_overriding_a_dataset_field_gets_its_own_data(tmp_path):
  config = _tiny(compare_cmnist.get_config())
  config.compare.seeds = (0,)
  config.compare.variants = ("erm:erm", "colour uninformative:erm:dataset.train_color_flip=0.5")
  experiments.run(config, str(tmp_path))
  def minority_share(variant):
    groups = json.loads((tmp_path / "seed0" / variant / "results.json").read_text())["metrics"]["train"]["groups"]
    counts = {name: group["count"] for name, group in groups.items()}
    return sum(c for name, c in counts.items() if name in ("digit<5|green", "digit>=5|red")) / sum(counts.values())
  assert minority_share("erm") < 0.15        # colour flipped with p = 0.1
  assert 0.4 < minority_share("colour uninformative") < 0.6


def test_variants_parse_and_reject_typos():
  assert parse_variant("a=3:sitar:sitar.alpha=3.0,sitar.method=noise") == (
      "a=3", {"method": "sitar", "sitar.alpha": "3.0", "sitar.method": "noise"})
  with pytest.raises(UserError):
    parse_variant("x")
  with pytest.raises(UserError, match="field=value"):
    parse_variant("x:sitar:alpha")
  assert all(parse_variant(v)[1]["method"] == "sitar" for v in ablation_cmnist.get_config().compare.variants)
  base = ablation_cmnist.get_config()
  run = with_overrides(base, parse_variant("a=3:sitar:sitar.alpha=3.0")[1])
  assert run.sitar.alpha == 3.0 and base.sitar.alpha == 1.0
  with pytest.raises(UserError, match="no field 'sitar.alhpa'"):
    with_overrides(base, parse_variant("typo:sitar:sitar.alhpa=3.0")[1])


def test_real_data_configs_hold_the_paper_settings():
  config = waterbirds.get_config()
  assert (config.model.latent_dim, config.sitar.alpha, config.sitar.beta, config.sitar.lambda_cons) == (
      32, 0.01, 2.0, 10.0)
  assert config.model.channels == (32, 32, 64, 128) and config.dataset.image_size == 64


@pytest.fixture(scope="module")
def tiny_cmnist():
  config = _tiny(colored_mnist.get_config(), num_steps=2)
  return config, data.build_dataset(config.dataset, config.seed)


@pytest.mark.parametrize("method", sorted(METHODS.names()))
def test_augment_and_compute_dtype_act_in_every_method(method, tiny_cmnist, tmp_path):
  """The one training step honours `augment` and `compute_dtype` whatever the method: crop-and-flip changes
  what the method's objective sees (so the trained parameters), bfloat16 runs the step in mixed precision
  (close to, not equal to, float32) and keeps the parameters float32."""
  base, dataset = tiny_cmnist

  def trained(name: str, **fields):
    run_dir = str(tmp_path / name)
    state, _ = METHODS.get(method)(with_overrides(base, {"method": method, **fields}), dataset, run_dir,
                                   os.path.join(run_dir, "erm"))
    return jax.device_get(state.params)

  plain, augmented, mixed = trained("plain"), trained("aug", augment="crop_flip"), trained("bf16",
                                                                                        compute_dtype="bfloat16")
  differs = lambda a, b: any(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.any(x != y)), a, b)))
  assert differs(plain, augmented) and differs(plain, mixed)
  assert {x.dtype for x in jax.tree.leaves(mixed)} == {np.dtype(np.float32)}
  if method == "dfr":  # its L1 refit of the last layer amplifies tiny feature differences: compare the backbone
    mixed, plain = ({**p, "classifier": {k: v for k, v in p["classifier"].items() if k != "out"}}
                    for p in (mixed, plain))
  chex.assert_trees_all_close(mixed, plain, atol=0.05)


def test_lff_trains_both_backbones_in_training_mode():
  """Model methods called by an objective (LfF's 'both') get train=True: batch norm updates its statistics."""
  model = BiasedDebiasedPair(SmallCNN(num_classes=2, widths=(4,)))
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  state = create_train_state(model, variables, optax.adam(1e-3))
  batch = {"image": np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8),
           "label": np.array([0, 1] * 4, np.int32)}
  before_step = jax.device_get(variables["batch_stats"])  # the step donates the state's buffers
  batch["index"] = np.arange(8, dtype=np.int32)
  state = state.replace(method_state=initial_state(8))
  new_state, _ = make_train_step(lff_objective(0.7, 0.7, batch["label"], 2))(state, batch, jax.random.key(1))
  for block in ("biased", "debiased"):
    before, after = before_step[block], jax.device_get(new_state.batch_stats[block])
    assert any(jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != b)), before, after))), block


def test_seed_statistics_use_the_sample_std_and_a_t_interval():
  stats = compare.seed_statistics([0.2, 0.3, 0.4])
  assert stats["std"] == pytest.approx(0.1)  # ddof = 1 (ddof = 0 would give 0.0816)
  half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2) = 4.3027
  assert stats["ci95"] == pytest.approx([0.3 - half, 0.3 + half])
  assert compare.seed_statistics([0.5])["std"] is None
  markdown = compare.markdown_table({"erm": {"out_of_distribution_accuracy": stats}}, {"erm": "erm"},
                                    {"erm": "val"}, None)
  assert "30.0 ± 10.0" in markdown and "3 seed(s) per row" in markdown
  assert "| erm | erm | val |" in markdown


def test_group_label_use_follows_the_method_and_the_selection_rule():
  assert uses_group_labels("erm", "best_validation") == "no" and uses_group_labels("sitar", "last") == "no"
  assert uses_group_labels("erm", "best_worst_group") == "val"
  assert uses_group_labels("group_dro", "best_worst_group") == "train + val"
  assert uses_group_labels("dfr", "last") == "val"


def test_jtt_chooses_upweight_and_stopping_step_by_worst_group_validation_accuracy(tiny_cmnist, tmp_path):
  """Liu et al. (2021), section 5: lambda_up and each final model's early stopping by worst-group validation
  accuracy."""
  base, dataset = tiny_cmnist
  config = with_overrides(base, {"method": "jtt", "num_steps": 6, "eval_every_steps": 2, "jtt.upweights": (1.0, 50.0)})
  state, info = METHODS.get("jtt")(config, dataset, str(tmp_path), str(tmp_path / "erm"))
  assert info["rule"] == "best validation worst_group_accuracy"
  scores = info["validation_worst_group_accuracy_by_upweight"]
  assert info["upweight"] == max((1.0, 50.0), key=lambda u: scores[f"{u:g}"])
  for upweight in ("1", "50"):  # each candidate's score is its own early-stopped evaluation's
    best = json.loads((tmp_path / f"final_upweight{upweight}" / "best.json").read_text())
    assert best["metric"] == "validation worst_group_accuracy"
    assert best["score"] == pytest.approx(scores[upweight])
  val = dataset.splits[dataset.roles["validation"]]
  predictions = predict(state, val, 64).argmax(-1)
  assert worst_group_accuracy(predictions, val["label"], val["group"]) == pytest.approx(
      scores[f"{info['upweight']:g}"])
