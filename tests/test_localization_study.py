"""The CPU localization study (configs/localize/study_cpu.py) at tiny size: its cases, one sweep of two of them and
the collect command's findings; findings.py's measures by hand."""

import os

import numpy as np
import pytest

from configs.localize import study_cpu
from jaxshort import config as config_lib
from jaxshort import sweep
from jaxshort.localization import findings, study
from tests.conftest import shrink


def test_every_case_builds_and_covers_the_grid():
  jobs = sweep.grid_jobs(config_lib.load(os.path.join("configs", "localize", "study_cpu.py")))
  order = [values["case"] for _, values, _ in jobs]
  assert order[:2] == ["vgg_bn_patch_seed0", "vgg_bn_patch_seed1"] and order[-1] == "convnext_patch_rho80_seed0"
  names = set(order)
  for family in ("vgg_bn", "resnet", "deit", "convnext"):
    for cue in study_cpu.CUES:
      assert {f"{family}_{cue}_seed{s}" for s in study_cpu.SEEDS} <= names
  by_name = {values["case"]: job for _, values, job in jobs}
  deit = by_name["deit_tint_seed1"]
  assert (deit.model.name, deit.model.distilled, deit.dataset.cue_kind, deit.seed) == ("deit_ti", False, "tint", 1)
  assert deit.localize.interventions == ()
  assert by_name["deit_tint_seed0"].localize.interventions == ("freeze_each",)
  assert by_name["convnext_patch_seed0"].dataset.image_size == 32
  assert by_name["resnet_patch_pretrained_seed0"].localize.branch_steps == 1000
  assert by_name["resnet_patch_rho80_seed0"].dataset.rho == 0.8


def test_findings_by_hand():
  results = {"profile": {"blocks": ["a", "b", "c", "d"]},
             "scores": {"spurious_encoding": [0.31, 0.04, 0.25, -0.1], "total_spurious_encoding": 0.5,
                        "core_forgetting": [0.0, 0.0, 0.02, 0.04], "total_core_forgetting": 0.06},
             "replicate": {"above_spread": {"spurious_encoding": [True, True, False, True]}},
             "checks": {"pair": {"empty_equals_first_model": True, "all_equals_second_model": True}}}
  assert findings.carrying_blocks(results) == ["a"]  # b under 10% of 0.5, c within the spread, d negative
  results["replicate"] = None
  assert findings.carrying_blocks(results) == ["a", "c"]
  # depths 0.125, 0.375, 0.625, 0.875 weighted by the positive parts 0.3, 0.05, 0.25, 0
  assert findings.centre_of_mass([0.3, 0.05, 0.25, -0.1]) == pytest.approx((0.0375 + 0.01875 + 0.15625) / 0.6)
  assert findings.centre_of_mass([-1.0, 0.0]) is None
  assert all(findings.profile_checks(results).values())
  results["scores"]["total_core_forgetting"] = 0.07
  assert not findings.profile_checks(results)["core_forgetting_sums_to_total"]
  results["interventions"] = {"runs": {"freeze:a": {"scales": {"a": 0.0}, "gain": {"conflict_accuracy": 0.2}},
                                       "freeze:c": {"scales": {"c": 0.0}, "gain": {"conflict_accuracy": 0.1}}}}
  assert findings.intervention_pairs(results) == [(pytest.approx(0.62), 0.2), (pytest.approx(0.5), 0.1)]
  runs = [[(x + 10 * r, 2 * x + 10 * r) for x in range(4)] for r in range(3)]  # rises within and across runs
  monotone = findings.pooled_rank_correlation(runs, resamples=200)
  assert monotone["rho"] == pytest.approx(1.0) and monotone["within_run"] == {"mean_rho": pytest.approx(1.0),
                                                                              "runs": 3}
  assert monotone["interval"] == pytest.approx([1.0, 1.0]) and monotone["runs"] == 3
  # within each run the gain falls as the relief rises; between runs both rise: pooling alone would say +
  confounded = findings.pooled_rank_correlation([[(x + 10 * r, 10 * r - x) for x in range(4)] for r in range(3)],
                                                resamples=200)
  assert confounded["rho"] > 0.5 and confounded["within_run"]["mean_rho"] == pytest.approx(-1.0)
  assert findings.pooled_rank_correlation([[(0, 0), (1, 0), (2, 0)]])["rho"] is None  # a constant gain


@pytest.mark.slow
def test_tiny_study_sweeps_and_collects(tmp_path):
  config = shrink(study_cpu.get_config(), 12, model__widths=(16,), localize__branch_steps=4, localize__probes=False,
                  dataset__train_size=300)
  with config.unlocked():
    config.sweep.cases = tuple((name, {**fields, "model": {**fields["model"], "widths": (16,)}})
                               for name, fields in study_cpu.cases() if name in ("mlp_patch_seed0", "mlp_tint_seed1"))
  workdir = str(tmp_path)
  jobs = sweep.grid_jobs(config)
  sweep.run_jobs(config, workdir, list(range(len(jobs))))
  result = study.collect(workdir, share=0.1, grid=4, resamples=50)
  assert result["all_checks_pass"]
  assert [r["case"] for r in result["runs"]] == ["mlp_patch_seed0", "mlp_tint_seed1"]
  assert set(result["groups"]) == {"mlp, patch", "mlp, tint"}
  assert {r["family"] for r in result["runs"]} == {"mlp"}
  correlation = result["interventions"]["correlations"]["spurious_encoding vs conflict_accuracy"]["pooled"]
  assert correlation["runs"] <= 1 and correlation["pairs"] in (0, 2)  # the tiny MLP's 2 blocks, frozen on seed 0
  assert result["missing"] == []
  for name in ("findings.json", "findings.md", "profiles.png"):
    assert os.path.exists(os.path.join(workdir, "findings", name)), name
  assert "error" in result["axes"] or np.isfinite(result["axes"]["explained_variance_ratio"]).all()
