"""The one config path: load a config file, merge a dataset's declared defaults, apply overrides, copy.

    config = config_lib.load("configs/x.py:arg", ["--config.seed=3", "--config.dataset.manual_dir=~/d"])

A config is an `ml_collections.ConfigDict` from a file's `get_config()` (`file.py:arg` passes `arg`). Its defaults
come from that function and, for a dataset section, from the dataset's `default_config()`, merged in once here
(jaxshort.data.dataset_config); nothing else supplies them. A field that neither declares, at any depth, set in
the file or by an override, is refused with one `UserError` naming it; so is a value of the wrong type, and a
value outside the field's declared constraint (`validate`: the rule tables below, the datasets' and models'
FIELD_RULES). `check_against_data` holds the checks that need the built dataset and the devices
(experiments.preflight runs them before a workdir is touched).
Overrides are `--config.a.b=value` strings (launch.py, the sweep command, data.inspect) or {dotted: value}
(`with_overrides`, compare's variants); a value is parsed by the type of the field it replaces.
"""

import ast
import copy
import difflib
import importlib.util
import os
import sys
from typing import Any, Sequence

import ml_collections

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.constraints import (NON_NEGATIVE, POSITIVE, anything, boolean, choice, integer, number, relation,
                                  sequence, text)
from jaxshort.errors import UserError
from jaxshort.sitar import loss as sitar_loss

OVERRIDE_PREFIX = "--config."
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a run of each experiment reads, so a config must set it (a missing one is refused by name, not found
# deep in a run). Every field of a section in SECTION_FIELDS is read.
REQUIRED_FIELDS = ("experiment", "seed", "dataset", "model", "optimizer", "batch_size", "compute_dtype", "augment",
                   "eval_batch_size", "num_steps", "log_every_steps", "eval_every_steps", "checkpoint_every_steps",
                   "progress_every_seconds", "data_placement", "num_cpu_devices", "distributed")
METHOD_SECTIONS = ("method", "selection", "sitar", "jtt", "lff", "chroma", "group_dro", "dfr")
REQUIRED_BY_EXPERIMENT = {"train": (), "localize": ("localize",), "sitar": METHOD_SECTIONS,
                          "compare": METHOD_SECTIONS + ("compare",), "suite": ()}

# The choices of run fields that the layers above read (training, methods): declared here, imported there.
COMPUTE_DTYPES = ("float32", "bfloat16")
AUGMENTATIONS = ("none", "crop_flip")
DATA_PLACEMENTS = ("auto", "device", "host")
DISTRIBUTED_MODES = ("auto", "on", "off")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine")
METHOD_NAMES = ("erm", "jtt", "lff", "chroma_vae", "sitar", "group_dro", "dfr")  # = jaxshort.methods.METHODS
SELECTION_RULES = ("best_validation", "best_worst_group", "last")
SEED_MAX = 2 ** 31 - 1  # a seed is an int32 in jax.random.key and numpy's generators

# Each field a run config may hold, with what it may hold (jaxshort.constraints): what the library reads. The
# defaults stay in the config files' get_config() (and the datasets' and models' own declarations, merged by
# `complete`, with their rules beside them); these tables name every field and its constraint, so that a field
# nothing reads is refused instead of silently ignored and a value outside its range before anything runs. A
# config may hold the sections of every method (compare varies the method), of localization and of compare,
# whatever its experiment, and a sweep.
RUN_RULES = {
    "experiment": choice(*REQUIRED_BY_EXPERIMENT), "seed": integer(0, SEED_MAX),
    "batch_size": integer(1), "compute_dtype": choice(*COMPUTE_DTYPES), "augment": choice(*AUGMENTATIONS),
    "eval_batch_size": integer(1), "num_steps": integer(1), "log_every_steps": integer(1),
    "eval_every_steps": integer(1), "checkpoint_every_steps": integer(1),
    "progress_every_seconds": NON_NEGATIVE,  # 0: a line every step
    "data_placement": choice(*DATA_PLACEMENTS), "num_cpu_devices": integer(0),
    "distributed": choice(*DISTRIBUTED_MODES),
    "method": choice(*METHOD_NAMES), "selection": choice(*SELECTION_RULES),
    "sweep": anything("a sweep's grid (jaxshort/sweep.py), checked as its jobs are made"),
}
SECTION_RULES = {
    "optimizer": {"name": choice(*OPTIMIZERS), "learning_rate": POSITIVE, "schedule": choice(*SCHEDULES),
                  "warmup_steps": integer(0), "weight_decay": NON_NEGATIVE, "grad_clip_norm": NON_NEGATIVE,
                  "momentum": number(0, 1, high_open=True), "nesterov": boolean()},
    "sitar": {"alpha": NON_NEGATIVE, "beta": NON_NEGATIVE, "lambda_cons": NON_NEGATIVE,
              "method": choice(*sitar_loss.METHODS), "isotropic": boolean(), "reconstruction_weight": NON_NEGATIVE,
              "stop_gradient": boolean(), "noise_scale": choice(*sitar_loss.NOISE_SCALES),
              "noise_on": choice(*sitar_loss.NOISE_TARGETS), "consistency": choice(*sitar_loss.CONSISTENCY_SPACES),
              "warmup_steps": integer(0), "noise_path": choice(*sitar_loss.NOISE_PATHS),
              "noise": choice(*sitar_loss.NOISE_DISTRIBUTIONS)},
    "jtt": {"first_steps": integer(1), "upweights": sequence(POSITIVE, min_length=1), "early_stopping": boolean()},
    "lff": {"q": number(0, 1, low_open=True), "ema": number(0, 1, high_open=True)},
    "chroma": {"shortcut_dims": integer(1)},
    "group_dro": {"step_size": POSITIVE, "early_stopping": boolean()},
    "dfr": {"strengths": sequence(POSITIVE, min_length=1), "refits": integer(1)},
    "localize": {"branch_steps": integer(0), "noise_seed_offset": integer(1), "replicates": integer(0),
                 "num_permutations": integer(1), "chunk_size": integer(1), "probes": boolean(),
                 "probe_ridge": POSITIVE, "probe_grid": integer(1),
                 "interventions": sequence(text())},  # each spec parsed against the model's blocks (preflight)
    "compare": {"seeds": sequence(integer(0, SEED_MAX), min_length=1),
                "variants": sequence(text(), min_length=1),  # 'name:method[:field=value,...]', parse_variant
                "paper_column": boolean()},
}
# Ties between the fields of a run (dotted names), checked once each field fits its own rule.
# A tie whose fields a config does not all hold does not apply to it.
def _warmup_fits(schedule: str, warmup: int, steps: int) -> bool:
  """A warm-up (read by 'warmup_cosine' alone) shorter than a run of `steps` steps, where that run happens."""
  return schedule != "warmup_cosine" or steps == 0 or warmup < steps


RUN_RELATIONS = (
    relation(("optimizer.schedule", "optimizer.warmup_steps", "num_steps"), _warmup_fits,
             "optimizer.warmup_steps must be less than num_steps under the 'warmup_cosine' schedule"),
    relation(("optimizer.schedule", "optimizer.warmup_steps", "localize.branch_steps"), _warmup_fits,
             "optimizer.warmup_steps must be less than localize.branch_steps, the branch run's length, under the "
             "'warmup_cosine' schedule"),
    relation(("method", "optimizer.schedule", "optimizer.warmup_steps", "jtt.first_steps"),
             lambda method, *fields: method != "jtt" or _warmup_fits(*fields),
             "optimizer.warmup_steps must be less than jtt.first_steps, the identification run's length, under "
             "the 'warmup_cosine' schedule"),
    relation(("chroma.shortcut_dims", "model.latent_dim"), lambda dims, latent: dims < latent,
             "chroma.shortcut_dims (z1) must leave at least one latent dimension (model.latent_dim) for z2"),
    relation(("seed", "localize.noise_seed_offset", "localize.replicates"),
             lambda seed, offset, replicates: seed + offset + replicates <= SEED_MAX,
             f"the noise-floor and replicate runs' data seeds (seed + noise_seed_offset + 1, ...) must stay at "
             f"most {SEED_MAX}"),
)
RUN_FIELDS = REQUIRED_FIELDS + METHOD_SECTIONS + ("localize", "compare", "sweep")
SUITE_REQUIRED = ("experiment", "seed", "num_cpu_devices", "distributed", "parts")
SUITE_FIELDS = SUITE_REQUIRED + ("sweep",)  # plus one per part
SUITE_RULES = {**{k: RUN_RULES[k] for k in ("experiment", "seed", "num_cpu_devices", "distributed", "sweep")},
               "parts": sequence(text(), min_length=1)}
# Fields a suite gives to each of its parts (experiments/suite.py): set them on the suite, not on a part.
SUITE_SETS_IN_PARTS = ("seed", "num_cpu_devices", "distributed")
SECTION_FIELDS = {name: tuple(rules) for name, rules in SECTION_RULES.items()}


def split_spec(spec: str) -> tuple[str, str]:
  """'path.py[:argument]' -> (path, argument)."""
  path, _, argument = spec.partition(":")
  return path, argument


def load_file(spec: str) -> ml_collections.ConfigDict:
  """`get_config()` of the config file `spec` ('path.py' or 'path.py:argument'), as the file returns it."""
  path, argument = split_spec(spec)
  if not os.path.isfile(path):
    raise UserError(f"config file {path!r} not found; pass --config configs/<name>.py (see configs/)")
  if REPO not in sys.path:
    sys.path.insert(0, REPO)  # config files import each other as `configs.x`
  try:
    module_spec = importlib.util.spec_from_file_location(f"jaxshort_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(argument) if argument else module.get_config()
  except UserError:
    raise
  except Exception as error:  # whatever the user's file raises  pylint: disable=broad-except
    reason = str(error).splitlines()[0] if str(error) else ""
    raise UserError(f"cannot load config {spec}: {type(error).__name__}: {reason}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f"cannot load config {spec}: get_config() returned {type(config).__name__}, not a ConfigDict")
  return config


def sections(config: ml_collections.ConfigDict):
  """The run configs inside `config`: itself, or for a suite each of its parts (recursively)."""
  if "parts" in config and "experiment" in config and config.experiment == "suite":
    for name in config.parts:
      if name not in config:
        raise UserError(f"suite part {name!r} is listed in parts but has no config section")
      yield from sections(config[name])
  else:
    yield config


def complete(config: ml_collections.ConfigDict, source: str) -> ml_collections.ConfigDict:
  """`config` with each dataset section merged over its dataset's declared defaults (data.dataset_config) and
  each model section over its model's (models.model_config), which also refuse undeclared fields; `source`
  names the file in messages. Idempotent: `load` completes before the overrides and again after them (an
  override may name another model)."""
  config = copy.deepcopy(config)  # field references (get_ref) stay live, so an override reaches what follows it
  for run in sections(config):
    with run.unlocked():
      if "dataset" in run:
        run.dataset = data_lib.dataset_config(run.dataset, source)
      if "model" in run:
        run.model = models.model_config(run.model, source)
  return config


def _refuse_undeclared(section: ml_collections.ConfigDict, declared: Sequence[str], prefix: str, source: str):
  for key in section.keys():
    if key not in declared:
      close = difflib.get_close_matches(key, list(declared), n=1)
      hint = f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(declared)}"
      raise UserError(f"unknown config field {prefix}{key} in {source}: nothing reads it; {hint}")


def _require(section: ml_collections.ConfigDict, required: Sequence[str], prefix: str, source: str):
  missing = [key for key in required if key not in section]
  if missing:
    raise UserError(f"config {source} lacks the field{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(prefix + key for key in missing)}; start from a shipped config (configs/erm_cmnist.py "
                    f"holds every field a run reads) or set it in get_config()")


def check_declared(config: ml_collections.ConfigDict, source: str, prefix: str = "") -> None:
  """Refuses a field of `config` (a run config or a suite) that RUN_FIELDS / SECTION_FIELDS do not declare, and
  a missing field that its experiment reads; dataset and model sections are checked by `complete`."""
  _require(config, ("experiment",), prefix, source)
  if config.experiment not in REQUIRED_BY_EXPERIMENT:
    known = ", ".join(sorted(REQUIRED_BY_EXPERIMENT))
    raise UserError(f"unknown experiment {config.experiment!r} in {source}; known experiments: {known}")
  if config.experiment == "suite":
    _require(config, SUITE_REQUIRED, prefix, source)
    _refuse_undeclared(config, SUITE_FIELDS + tuple(config.parts), prefix, source)
    for name in config.parts:
      _require(config, (name,), prefix, source)
      check_declared(config[name], source, f"{prefix}{name}.")
    return
  _refuse_undeclared(config, RUN_FIELDS, prefix, source)
  _require(config, REQUIRED_FIELDS + REQUIRED_BY_EXPERIMENT[config.experiment], prefix, source)
  for name, fields in SECTION_FIELDS.items():
    if name in config:
      if not isinstance(config[name], ml_collections.ConfigDict):
        raise UserError(f"config field {prefix}{name} in {source} must be a section with fields {', '.join(fields)}")
      _refuse_undeclared(config[name], fields, f"{prefix}{name}.", source)
      if name in REQUIRED_FIELDS + REQUIRED_BY_EXPERIMENT[config.experiment]:
        _require(config[name], fields, f"{prefix}{name}.", source)


def field_rules(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
  """{dotted field: its constraints.Rule, or None where none is declared} of every field of a run config or a
  suite (a dataset's and a model's from their own declarations); a `sweep` is one field."""
  rules = {}
  is_suite = config.get("experiment") == "suite"
  for key, value in config.items():
    if is_suite and key in config.get("parts", ()):
      rules.update(field_rules(value, f"{prefix}{key}."))
      continue
    if not isinstance(value, ml_collections.ConfigDict) or key == "sweep":
      rules[prefix + key] = (SUITE_RULES if is_suite else RUN_RULES).get(key)
      continue
    if key == "dataset":
      section = data_lib.field_rules(value)
    elif key == "model":
      section = models.field_rules(value.name)
    else:
      section = SECTION_RULES.get(key, {})
    rules.update({f"{prefix}{key}.{field}": section.get(field) for field in value.keys()})
  return rules


def field_value(config: ml_collections.ConfigDict, dotted: str) -> Any:
  """The value of the field `dotted` ('a.b.c') of `config`."""
  for key in dotted.split("."):
    config = config[key]
  return config


def has_field(config: ml_collections.ConfigDict, dotted: str) -> bool:
  *parents, name = dotted.split(".")
  for key in parents:
    if key not in config or not isinstance(config[key], ml_collections.ConfigDict):
      return False
    config = config[key]
  return name in config


def _relations(config: ml_collections.ConfigDict, prefix: str = ""):
  """(dotted prefix, relation) of every tie between fields of `config` and its suite parts."""
  for run, run_prefix in _runs_with_prefixes(config, prefix):
    yield from ((run_prefix, r) for r in RUN_RELATIONS)
    if "model" in run:
      yield from ((f"{run_prefix}model.", r) for r in models.field_relations(run.model.name))


def _runs_with_prefixes(config: ml_collections.ConfigDict, prefix: str = ""):
  if config.get("experiment") == "suite":
    for name in config.parts:
      yield from _runs_with_prefixes(config[name], f"{prefix}{name}.")
  else:
    yield config, prefix


def validate(config: ml_collections.ConfigDict, source: str) -> None:
  """Refuses, with one UserError naming the field, its value, what is allowed and `source`, the first field of
  `config` outside its declared constraint (`field_rules`), the first broken tie between fields (RUN_RELATIONS,
  a model's FIELD_RELATIONS) and SITAR settings that do not combine. Run once the config is complete and its
  overrides applied, before anything is built or written."""
  for dotted, rule in field_rules(config).items():
    if rule is None:  # a field declared without its constraint: the library's mistake, not the user's
      raise UserError(f"config field {dotted} in {source} has no declared constraint (jaxshort/config.py, or its "
                      f"dataset's or model's FIELD_RULES)")
    value = field_value(config, dotted)
    problem = rule.problem(value)
    if problem:
      raise UserError(f"config field {dotted}={value!r} in {source}: must be {problem}")
  def tied_value(prefix: str, field: str):  # a suite gives its seed and device count to every part
    given = config.get("experiment") == "suite" and field in SUITE_SETS_IN_PARTS
    return field_value(config, field if given else prefix + field)

  for prefix, tie in _relations(config):
    if not all(has_field(config, prefix + field) for field in tie.fields):
      continue
    values = [tied_value(prefix, field) for field in tie.fields]
    if not tie.holds(*values):
      shown = ", ".join(f"{prefix}{f}={v!r}" for f, v in zip(tie.fields, values))
      raise UserError(f"config {source}: {shown}: {tie.what}")
  devices = config.get("num_cpu_devices", 0)  # a suite gives its own to every part
  for run, prefix in _runs_with_prefixes(config):
    if "batch_size" in run and devices > run.batch_size:
      raise UserError(f"config field num_cpu_devices={devices} in {source}: must be at most {prefix}batch_size="
                      f"{run.batch_size}, the examples a batch is split into (0: chosen by the models)")
    if "sitar" in run:
      try:
        sitar_loss.SitarHParams(**run.sitar.to_dict())
      except UserError as error:
        raise UserError(f"config {source}: {prefix}{error}") from None


def check_against_data(config: ml_collections.ConfigDict, split_sizes: dict[str, int], train_splits: Sequence[str],
                       num_devices: int, source: str = "the config") -> None:
  """The checks of a run config that need its built dataset and the devices: the batch size at most the size of
  every training split (`train_splits`, names in `split_sizes`); across several devices, both batch sizes a
  multiple of their number; every split non-empty. One UserError naming the field, the value and the bound."""
  empty = sorted(name for name, size in split_sizes.items() if size == 0)
  if empty:
    raise UserError(f"config {source}: the dataset's split{'s' if len(empty) > 1 else ''} {', '.join(empty)} "
                    f"{'are' if len(empty) > 1 else 'is'} empty; check config.dataset (its fractions and sizes)")
  for name in train_splits:
    if config.batch_size > split_sizes[name]:
      raise UserError(f"config field batch_size={config.batch_size} in {source}: must be at most the "
                      f"{split_sizes[name]} examples of the training split {name!r}")
  for field in ("batch_size", "eval_batch_size"):
    if num_devices > 1 and config[field] % num_devices:
      raise UserError(f"config field {field}={config[field]} in {source}: must be a multiple of the "
                      f"{num_devices} devices a batch is split over (or set num_cpu_devices on a CPU)")


def model_names(config: ml_collections.ConfigDict) -> list[str]:
  """The names of every model a run config trains: its own and its suite parts' (a sweep's jobs are configs of
  their own: see sweep.py)."""
  return [run.model.name for run in sections(config) if "model" in run]


def batch_sizes(config: ml_collections.ConfigDict) -> list[int]:
  """The training batch sizes of a run config and its suite parts."""
  return [run.batch_size for run in sections(config) if "batch_size" in run]


def parse_value(text: str, current: Any, field: str) -> Any:
  """The value of `text` for a field whose current value is `current`: parsed by that value's type."""
  def bad(reason: str) -> UserError:
    return UserError(f"{OVERRIDE_PREFIX}{field}={text}: {reason}")
  if isinstance(current, ml_collections.ConfigDict):
    raise bad(f"{field} is a section; set its fields (--config.{field}.<name>=value)")
  if isinstance(current, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise bad(f"{field} is a bool (true or false)")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError as error:
      raise bad(str(error)) from None
  if isinstance(current, float):
    try:
      return float(text)
    except ValueError as error:
      raise bad(str(error)) from None
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if isinstance(current, (tuple, list)):
      raise bad(f"{field} is a tuple; write it as a Python literal, e.g. (1, 2)") from None
    return text
  if isinstance(current, (tuple, list)):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
  return value


def _node(config: ml_collections.ConfigDict, dotted: str, source: str, flag: str):
  """(parent section, last name) of the field `dotted`; UserError if it is not declared."""
  *parents, name = dotted.split(".")
  node, where = config, ""
  for key in parents + [name]:
    if not isinstance(node, ml_collections.ConfigDict) or key not in node:
      keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      close = difflib.get_close_matches(key, keys, n=1)
      if close:
        hint = f"did you mean {close[0]!r}?"
      elif "name" in keys and where:  # a dataset or model section: its fields are its declaration
        hint = f"{where.rstrip('.')} {node.name!r} declares {', '.join(keys)}"
      else:
        hint = f"see get_config() in {source}"
      raise UserError(f"unknown config field {flag}: {source} has no field {where + key!r}; {hint}")
    if key != name:
      node, where = node[key], f"{where}{key}."
  return node, name


def _section_defaults(kind: str, section: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The declared defaults of a dataset or model section of `section.name` (a dataset's localization view
  fields too where it sets `pair`)."""
  if kind == "model":
    return models.model_defaults(section.name)
  keep = {"pair": section.pair} if "pair" in section else {}
  return data_lib.declared_fields(ml_collections.ConfigDict({"name": section.name, **keep}))


def _renamed(kind: str, section: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """`section` for another dataset or model `name`: that one's declared defaults, and the settings of `section`
  that both declare and that differ from the old defaults (a file's deliberate choice, e.g. an image size)."""
  old_defaults = _section_defaults(kind, section)
  fresh = _section_defaults(kind, ml_collections.ConfigDict(
      {"name": name, **({"pair": section.pair} if "pair" in section else {})}))
  for key in fresh.keys():
    if key != "name" and key in section and section[key] != old_defaults.get(key):
      fresh[key] = section[key]
  return fresh


def set_field(config: ml_collections.ConfigDict, dotted: str, text: str, source: str) -> None:
  """Sets the declared field `dotted` of `config` from `text` (parse_value). A new `dataset.name` or
  `model.name` brings that dataset's or model's declared fields (`_renamed`)."""
  node, name = _node(config, dotted, source, f"{OVERRIDE_PREFIX}{dotted}")
  value = parse_value(text, node[name], dotted)
  kind = dotted.split(".")[-2] if dotted.count(".") else ""
  if name == "name" and kind in ("dataset", "model") and value != node.name:
    parent, _ = _node(config, dotted.rsplit(".", 1)[0], source, dotted)
    renamed = _renamed(kind, node, value)
    with parent.unlocked():
      parent[kind] = renamed
    return
  try:
    with node.unlocked():
      node[name] = value
  except TypeError as error:
    raise UserError(f"{OVERRIDE_PREFIX}{dotted}={text}: {error}") from None


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
  """(the `--config.a.b=value` arguments of argv, as 'a.b=value', and the other arguments)."""
  overrides, rest = [], []
  args = list(argv)
  while args:
    arg = args.pop(0)
    if arg.startswith(OVERRIDE_PREFIX):
      if "=" not in arg:
        if not args:
          raise UserError(f"{arg} needs a value: {arg}=<value>")
        arg = f"{arg}={args.pop(0)}"
      overrides.append(arg[len(OVERRIDE_PREFIX):])
    else:
      rest.append(arg)
  return overrides, rest


def _names_first(items):
  """(dotted, value) pairs with dataset and model names first, so that a new dataset's or model's own fields
  can be set after it; otherwise in their given order."""
  is_name = lambda dotted: dotted.endswith(("dataset.name", "model.name"))
  return sorted(items, key=lambda item: not is_name(item[0]))


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str], source: str) -> None:
  """Applies 'a.b=value' overrides (dataset and model names first, see `_names_first`). In a suite, a part's
  seed, num_cpu_devices and distributed are the suite's: setting them on a part is refused."""
  split = [tuple(item.partition("=")[::2]) for item in overrides]
  if "experiment" in config and config.experiment == "suite":
    for dotted, _ in split:
      part, _, field = dotted.partition(".")
      if part in config.parts and field in SUITE_SETS_IN_PARTS:
        raise UserError(f"{OVERRIDE_PREFIX}{dotted}: a suite gives its own {field} to every part; set "
                        f"{OVERRIDE_PREFIX}{field} instead")
  for dotted, text in _names_first(split):
    set_field(config, dotted, text, source)


def load(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """The config of file `spec` with its declared dataset defaults and `overrides` ('a.b=value') applied,
  checked (see the module docstring) and locked."""
  path, _ = split_spec(spec)
  config = complete(load_file(spec), path)
  check_declared(config, path)
  apply_overrides(config, overrides, path)
  config = complete(config, path)
  check_declared(config, path)  # an override may name another experiment, which reads other fields
  validate(config, path)
  config.lock()
  return config


def with_overrides(config: ml_collections.ConfigDict, values: dict[str, Any],
                   source: str = "the config") -> ml_collections.ConfigDict:
  """A copy of `config` with {dotted field: value} set; values that are strings are parsed as overrides are,
  other values must fit the field's type."""
  result = ml_collections.ConfigDict(config.to_dict())
  for dotted, value in _names_first(values.items()):
    set_field(result, dotted, value if isinstance(value, str) else repr(value), source)
  result = complete(result, source)
  validate(result, source)
  return result


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
  """A compare variant 'name:method[:field=value,field=value]' -> (name, {'method': method, field: value}),
  values as text, for `with_overrides` (a value cannot hold a comma: vary tuples with a sweep instead)."""
  parts = text.split(":", 2)
  if len(parts) < 2 or not parts[0] or not parts[1]:
    raise UserError(f"compare variant {text!r} must read 'name:method[:field=value,...]'")
  values = {"method": parts[1]}
  for item in filter(None, (parts[2].split(",") if len(parts) == 3 else [])):
    field, sep, value = item.partition("=")
    if not sep:
      raise UserError(f"compare variant {text!r}: {item!r} must read field=value")
    values[field.strip()] = value.strip()
  return parts[0], values
