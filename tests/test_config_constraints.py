"""Every field of every config in configs/ has a declared constraint, and every field set to an out-of-range or
nonsense value is either accepted or refused with one UserError by the validator, never another exception. In
process, through the same path as launch.py (config.load's checks on an override); tests/test_bad_input.py runs
a handful of these through launch.py and checks that nothing is written."""

import glob
import importlib.util
import inspect
import os

import ml_collections
import pytest

from jaxshort import config as config_lib
from jaxshort import constraints, data, experiments, models
from jaxshort.errors import UserError
from jaxshort.methods import METHODS
from tests.conftest import REPO

HUGE = {int: 10 ** 12, float: 1e12}


def config_specs() -> list[str]:
  """Every config file in configs/ ('path.py'), and each argument of a file whose get_config takes one
  ('path.py:argument', from the file's ARGUMENTS)."""
  specs = []
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)):
    if os.path.basename(path).startswith("_"):
      continue
    module_spec = importlib.util.spec_from_file_location(f"spec_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if inspect.signature(module.get_config).parameters:
      assert hasattr(module, "ARGUMENTS"), f"{path}: get_config takes an argument, so list them in ARGUMENTS"
      specs += [f"{path}:{argument}" for argument in module.ARGUMENTS]
      specs += [f"{path}:{argument}" for argument in getattr(module, "EXAMPLE_ARGUMENTS", ())]
    else:
      specs.append(path)
  return specs


SPECS = config_specs()


def trial_values(value) -> list[str]:
  """The override texts tried for a field holding `value`: -1, 0 and a huge number for a number, a nonsense
  word for a string, a word for a bool, a nonsense word and (-1,) for a tuple."""
  if isinstance(value, bool):
    return ["maybe"]
  if isinstance(value, (int, float)):
    return ["-1", "0", repr(HUGE[type(value)])]
  if isinstance(value, str):
    return ["nonsense"]
  if isinstance(value, (tuple, list)):
    return ["nonsense", "(-1,)", "()"]
  return []


def test_the_configs_are_all_found():
  names = {os.path.relpath(s, REPO) for s in SPECS}
  assert {"configs/erm_cmnist.py", "configs/default.py", "configs/localize/study_cpu.py",
          "configs/localize/gpu_scale.py:celeba,deit_s", "configs/datasets.py:camelyon17"} <= names
  assert len(SPECS) >= 30


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: os.path.relpath(s, REPO))
def test_every_field_has_a_constraint_and_every_value_is_accepted_or_refused_in_one_line(spec):
  path = config_lib.split_spec(spec)[0]
  config = config_lib.load(spec)
  rules = config_lib.field_rules(config)
  missing = [field for field, rule in rules.items() if rule is None]
  assert not missing, f"{spec}: fields without a declared constraint: {missing}"
  tried = refused = 0
  for field in rules:
    if field.split(".")[-1] == "sweep" or ".sweep." in field or field.startswith("sweep"):
      continue  # a sweep's grid: its jobs are configs of their own, checked as they are made (sweep.py)
    for text in trial_values(config_lib.field_value(config, field)):
      tried += 1
      try:
        config_lib.load(spec, [f"{field}={text}"])
      except UserError as error:
        refused += 1
        assert "\n" not in str(error), (field, text, str(error))
        assert field.split(".")[-1] in str(error) or text in str(error), (field, text, str(error))
      except Exception as error:  # pylint: disable=broad-except
        pytest.fail(f"{spec}: --config.{field}={text} raised {type(error).__name__}: {error}")
  assert tried and refused, (tried, refused)
  del path


ISSUE_CONFIGS = ("erm_cmnist.py", "sitar/colored_mnist.py", "localize/mnist_patch_mlp.py")


@pytest.mark.parametrize("name", ISSUE_CONFIGS)
def test_values_the_validator_accepts_pass_or_fail_the_data_checks_in_one_line(name):
  """Every accepted trial value of three configs, through the checks that need the built data (as launch.py
  runs them before the workdir), each dataset built once."""
  spec = os.path.join(REPO, "configs", name)
  config = config_lib.load(spec)
  with data.shared_builds():
    for field in config_lib.field_rules(config):
      for text in trial_values(config_lib.field_value(config, field)):
        try:
          trial = config_lib.load(spec, [f"{field}={text}"])
        except UserError:
          continue
        try:
          experiments.preflight(trial, spec)
        except UserError as error:
          assert "\n" not in str(error), (field, text, str(error))
        except Exception as error:  # pylint: disable=broad-except
          pytest.fail(f"{spec}: --config.{field}={text} passed the validator, then raised "
                      f"{type(error).__name__}: {error}")


def test_the_declared_choices_are_the_registries():
  assert sorted(config_lib.METHOD_NAMES) == METHODS.names()
  assert sorted(config_lib.REQUIRED_BY_EXPERIMENT) == experiments.EXPERIMENTS.names()


def test_every_registered_model_and_dataset_declares_a_constraint_for_each_field():
  for name in models.MODELS.names():
    rules = models.field_rules(name)
    assert set(models.model_defaults(name).keys()) <= set(rules), name
  for name in data.DATASETS.names():
    section = data.declared_fields(ml_collections.ConfigDict({"name": name, "pair": "synthetic"}))
    assert set(section.keys()) <= set(data.field_rules(section)), name


def test_the_rules_say_what_they_allow():
  assert constraints.integer(1).problem(0) == "an int >= 1"
  assert constraints.integer(1).problem(3) is None and constraints.integer(1).problem(True) == "an int >= 1"
  assert constraints.number(0, 1, high_open=True).problem(1.0) == "a number >= 0 and < 1"
  assert constraints.number(0).problem(float("nan")) == "a number >= 0"
  assert constraints.choice("a", "b").problem("c") == "one of 'a', 'b'"
  assert constraints.choice(14, 28).problem(14.0) is not None  # the type counts
  assert constraints.sequence(constraints.integer(1), length=3).problem((1, 2)) is not None
  assert constraints.sequence(constraints.integer(1), min_length=1).problem(()) is not None
  assert constraints.sequence(constraints.integer(1)).problem((1, 0)) is not None


def test_a_field_without_a_constraint_is_refused(monkeypatch):
  monkeypatch.delitem(config_lib.RUN_RULES, "log_every_steps")
  with pytest.raises(UserError, match="log_every_steps .* has no declared constraint"):
    config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"))


def test_ties_between_fields_and_sitar_combinations_are_refused():
  erm = os.path.join(REPO, "configs", "erm_cmnist.py")
  config_lib.load(erm, ["optimizer.warmup_steps=2000"])  # read by 'warmup_cosine' alone
  with pytest.raises(UserError, match="warmup_steps must be less than num_steps"):
    config_lib.load(erm, ["optimizer.schedule=warmup_cosine", "optimizer.warmup_steps=1000"])
  with pytest.raises(UserError, match="less than localize.branch_steps"):
    config_lib.load(os.path.join(REPO, "configs", "localize", "mnist_patch_mlp.py"),
                    ["optimizer.schedule=warmup_cosine", "optimizer.warmup_steps=100"])
  with pytest.raises(UserError, match="stay at most 2147483647"):  # the seed a suite gives its localize part
    config_lib.load(os.path.join(REPO, "configs", "default.py"), ["seed=2147483600"])
  with pytest.raises(UserError, match="chroma.shortcut_dims .* for z2"):
    config_lib.load(os.path.join(REPO, "configs", "sitar", "colored_mnist.py"), ["chroma.shortcut_dims=10"])
  with pytest.raises(UserError, match="embed_dim must be a multiple of num_heads"):
    config_lib.load(erm, ["model.name=deit_ti", "model.embed_dim=10", "model.num_heads=3"])
  with pytest.raises(UserError, match="noise='batch' applies to"):
    config_lib.load(os.path.join(REPO, "configs", "sitar", "colored_mnist.py"),
                    ["sitar.noise=batch", "sitar.method=penalty_exact"])


def test_the_checks_on_the_built_data():
  config = ml_collections.ConfigDict({"batch_size": 64, "eval_batch_size": 100})
  config_lib.check_against_data(config, {"train": 64, "test": 10}, ["train"], 2)
  with pytest.raises(UserError, match="batch_size=64 .* at most the 63 examples of the training split 'train'"):
    config_lib.check_against_data(config, {"train": 63}, ["train"], 1)
  with pytest.raises(UserError, match="eval_batch_size=100 .* multiple of the 3 devices"):
    config_lib.check_against_data(ml_collections.ConfigDict({"batch_size": 3, "eval_batch_size": 100}),
                                  {"train": 64}, ["train"], 3)
  with pytest.raises(UserError, match="split test is empty"):
    config_lib.check_against_data(config, {"train": 64, "test": 0}, ["train"], 1)
