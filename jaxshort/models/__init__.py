"""Models by name. Each has `blocks`, the ordered names that key its `params` (see `simple.py`)."""

import dataclasses
import difflib
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxshort.constraints import choice, text
from jaxshort.errors import UserError
from jaxshort.models.pretrained import check_source as check_pretrained_source
from jaxshort.models.pretrained import load_pretrained
from jaxshort.models.registry import MODELS

NOT_MODEL_SETTINGS = ("name", "pretrained")
# Fields of flax.linen.Module itself, never model settings.
_MODULE_FIELDS = ("parent", "name")


def _hashable(value):
  """Lists from a config become tuples: flax modules are hashed by jit."""
  return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def model_settings(config: ml_collections.ConfigDict) -> dict:
  """The config fields passed to the model's constructor."""
  return {key: _hashable(value) for key, value in config.to_dict().items() if key not in NOT_MODEL_SETTINGS}


def model_defaults(name: str) -> ml_collections.ConfigDict:
  """Every field a `config.model` section of model `name` may hold, with its default: `name`, `pretrained`
  ('': a fresh init) and the model's settings (its constructor's fields but num_classes, at the values its
  registry entry gives them)."""
  factory = MODELS.get(name)
  cls = model_class(name)
  fixed = factory.keywords if isinstance(factory, functools.partial) else {}
  defaults = ml_collections.ConfigDict({"name": name, "pretrained": ""})
  for field in dataclasses.fields(cls):
    if field.name not in _MODULE_FIELDS + ("num_classes",):
      defaults[field.name] = fixed.get(field.name, field.default)
  return defaults


def model_class(name: str) -> type:
  """The Flax module class behind the registry entry `name`."""
  factory = MODELS.get(name)
  return factory.func if isinstance(factory, functools.partial) else factory


def field_rules(name: str) -> dict:
  """{field: constraints.Rule} of every field `model_defaults(name)` holds: `name`, `pretrained` and the model
  class's FIELD_RULES (declared beside its fields)."""
  return {"name": choice(*MODELS.names()), "pretrained": text(), **getattr(model_class(name), "FIELD_RULES", {})}


def field_relations(name: str) -> tuple:
  """The constraints.Relation ties between the fields of model `name` (its class's FIELD_RELATIONS)."""
  return tuple(getattr(model_class(name), "FIELD_RELATIONS", ()))


def model_fields(name: str) -> tuple[str, ...]:
  """The names of `model_defaults(name)`."""
  return tuple(model_defaults(name).keys())


def model_config(config: ml_collections.ConfigDict, source: str = "the config") -> ml_collections.ConfigDict:
  """A model section over its model's declared defaults (`model_defaults`); a field that model `config.name`
  does not take is a UserError naming it and `source`."""
  if "name" not in config:
    raise UserError(f"the model section in {source} lacks 'name'; known models: {', '.join(MODELS.names())}")
  merged = model_defaults(config.name)
  declared = list(merged.keys())
  for key in config.keys():
    if key not in declared:
      close = difflib.get_close_matches(key, declared, n=1)
      hint = f"did you mean {close[0]!r}?" if close else f"its settings: {', '.join(declared)}"
      raise UserError(f"unknown config field model.{key} in {source}: model {config.name!r} does not take "
                      f"{key!r}; {hint}")
    merged[key] = _hashable(config[key])
  return merged


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The model named `config.name`, its other fields (but `pretrained`) passed as keyword arguments."""
  kwargs = model_settings(config)
  factory = MODELS.get(config.name)
  try:
    return factory(num_classes=num_classes, **kwargs)
  except TypeError as error:
    raise UserError(f"model {config.name!r} does not take these settings {sorted(kwargs)}: {error}") from None


def input_normalization(config: ml_collections.ConfigDict) -> str:
  """How the images of a `config.model` section are preprocessed (data.pipeline.INPUT_NORMALIZATIONS): 'imagenet'
  where `pretrained` names converted weights (every source in pretrained.SOURCES was trained on ImageNet with its
  mean and std), else 'symmetric' ([-1, 1])."""
  return "imagenet" if config.get("pretrained") else "symmetric"


def init_variables(model: nn.Module, rng: jax.Array, image_shape: tuple[int, ...]) -> dict:
  """Initial variables of `model` for images of `image_shape` ([H, W, C]); no intermediates."""
  try:
    variables = model.init(rng, jnp.zeros((1, *image_shape), jnp.float32), train=False)
  except (TypeError, ValueError) as error:  # settings that do not fit the model or the images
    raise _build_error(model, image_shape, error) from None
  return {key: value for key, value in variables.items() if key != "intermediates"}


def check_builds(model: nn.Module, image_shape: tuple[int, ...], max_bytes: int | None = None) -> None:
  """`init_variables`' UserError where `model`'s settings do not fit images of `image_shape`, found abstractly
  (jax.eval_shape: nothing is computed or allocated); and where its variables alone would take more than
  `max_bytes`."""
  try:
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *image_shape), jnp.float32),
                                               train=False))
  except (TypeError, ValueError) as error:
    raise _build_error(model, image_shape, error) from None
  size = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes))
  if max_bytes is not None and size > max_bytes:
    raise UserError(f"model {type(model).__name__} with these settings holds {size / 2 ** 30:.3g} GiB of variables, "
                    f"more than this machine's {max_bytes / 2 ** 30:.3g} GiB of memory; make config.model smaller")


def _build_error(model: nn.Module, image_shape: tuple[int, ...], error: Exception) -> UserError:
  return UserError(f"model {type(model).__name__} cannot be built with its settings for images of shape "
                   f"{list(image_shape)}: {type(error).__name__}: {str(error).splitlines()[0]}; check config.model "
                   f"(docs/models.md lists each model's settings)")


def initial_variables(config: ml_collections.ConfigDict, model: nn.Module, rng: jax.Array,
                      image_shape: tuple[int, ...]) -> dict:
  """theta_0 of a run: a fresh init from `rng`, or, where `config.pretrained` names a torchvision/timm weights
  file, every block converted from it (see pretrained.py) except blocks whose shapes differ from the fresh init
  (the head, when the number of classes is not 1000), which keep their fresh init."""
  config = model_config(config)
  if not config.pretrained:
    return init_variables(model, rng, image_shape)
  loaded = load_pretrained(config.name, config.pretrained, image_size=image_shape[0], **model_settings(config))
  fresh = init_variables(model, rng, image_shape)

  def same_shapes(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.shape == y.shape for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

  return {collection: {block: loaded[collection][block]
                       if block in loaded.get(collection, {}) and same_shapes(loaded[collection][block], value)
                       else value for block, value in blocks.items()}
          for collection, blocks in fresh.items()}


__all__ = ["MODELS", "build_model", "check_builds", "check_pretrained_source", "field_relations", "field_rules", "init_variables",
           "initial_variables", "input_normalization", "model_config", "model_defaults", "model_fields"]
