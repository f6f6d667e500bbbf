"""Models by name. Each has `blocks`, the ordered names that key its `params` (see `simple.py`)."""

import flax.linen as nn
import ml_collections

from jaxshort.errors import UserError
from jaxshort.models.simple import MLP, SmallCNN
from jaxshort.models.vae import ChromaVAE, SitarVAE
from jaxshort.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("mlp")(MLP)
MODELS.register("small_cnn")(SmallCNN)
MODELS.register("sitar_vae")(SitarVAE)
MODELS.register("chroma_vae")(ChromaVAE)


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The model named `config.name`, its other fields passed as keyword arguments."""
  kwargs = {key: value for key, value in config.to_dict().items() if key != "name"}
  factory = MODELS.get(config.name)
  try:
    return factory(num_classes=num_classes, **kwargs)
  except TypeError as error:
    raise UserError(f"model {config.name!r} does not take these settings {sorted(kwargs)}: {error}") from None


__all__ = ["MODELS", "build_model"]
