"""Models by name. Each has `blocks`, the ordered names that key its `params` (see `simple.py`)."""

import functools

import flax.linen as nn
import jax
import ml_collections

from jaxshort.errors import UserError
from jaxshort.models.convnext import CONVNEXT_ATTO, CONVNEXT_NANO, CONVNEXT_T, ConvNeXt
from jaxshort.models.resnet import RESNET18_STAGES, RESNET50_STAGES, ResNet
from jaxshort.models.simple import MLP, SmallCNN
from jaxshort.models.vgg import VGG11_DEPTHS, VGG16_DEPTHS, VGG
from jaxshort.models.vit import DeiT
from jaxshort.models.vae import ChromaVAE, SitarVAE
from jaxshort.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("mlp")(MLP)
MODELS.register("small_cnn")(SmallCNN)
MODELS.register("vgg11")(functools.partial(VGG, depths=VGG11_DEPTHS))
MODELS.register("vgg16")(functools.partial(VGG, depths=VGG16_DEPTHS))
MODELS.register("vgg11_bn")(functools.partial(VGG, depths=VGG11_DEPTHS, batch_norm=True))
MODELS.register("vgg16_bn")(functools.partial(VGG, depths=VGG16_DEPTHS, batch_norm=True))
MODELS.register("resnet18")(functools.partial(ResNet, stage_sizes=RESNET18_STAGES))
MODELS.register("resnet50")(functools.partial(ResNet, stage_sizes=RESNET50_STAGES, bottleneck=True))
MODELS.register("deit_ti")(functools.partial(DeiT, embed_dim=192, num_heads=3))
MODELS.register("deit_s")(functools.partial(DeiT, embed_dim=384, num_heads=6))
MODELS.register("convnext_t")(functools.partial(ConvNeXt, **CONVNEXT_T))
MODELS.register("convnext_nano")(functools.partial(ConvNeXt, **CONVNEXT_NANO))
MODELS.register("convnext_atto")(functools.partial(ConvNeXt, **CONVNEXT_ATTO))


NOT_MODEL_SETTINGS = ("name", "pretrained")


def _hashable(value):
  """Lists from a config become tuples: flax modules are hashed by jit."""
  return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def model_settings(config: ml_collections.ConfigDict) -> dict:
  """The config fields passed to the model's constructor."""
  return {key: _hashable(value) for key, value in config.to_dict().items() if key not in NOT_MODEL_SETTINGS}
MODELS.register("sitar_vae")(SitarVAE)
MODELS.register("chroma_vae")(ChromaVAE)


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The model named `config.name`, its other fields (but `pretrained`) passed as keyword arguments."""
  kwargs = model_settings(config)
  factory = MODELS.get(config.name)
  try:
    return factory(num_classes=num_classes, **kwargs)
  except TypeError as error:
    raise UserError(f"model {config.name!r} does not take these settings {sorted(kwargs)}: {error}") from None


def initial_variables(config: ml_collections.ConfigDict, model: nn.Module, rng: jax.Array,
                      image_shape: tuple[int, ...]) -> dict:
  """theta_0 of a run: a fresh init from `rng`, or, where `config.pretrained` names a torchvision/timm weights
  file, every block converted from it (see pretrained.py) except blocks whose shapes differ from the fresh init
  (the head, when the number of classes is not 1000), which keep their fresh init."""
  from jaxshort.models.pretrained import load_pretrained  # pylint: disable=g-import-not-at-top
  from jaxshort.training.state import init_variables  # pylint: disable=g-import-not-at-top
  path = config.get("pretrained", "")
  if not path:
    return init_variables(model, rng, image_shape)
  loaded = load_pretrained(config.name, path, image_size=image_shape[0], **model_settings(config))
  fresh = init_variables(model, rng, image_shape)

  def same_shapes(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.shape == y.shape for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

  return {collection: {block: loaded[collection][block]
                       if block in loaded.get(collection, {}) and same_shapes(loaded[collection][block], value)
                       else value for block, value in blocks.items()}
          for collection, blocks in fresh.items()}


__all__ = ["MODELS", "build_model", "initial_variables"]
