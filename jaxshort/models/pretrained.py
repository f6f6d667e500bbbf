"""Pretrained starts: torchvision/timm state dicts converted into our block-keyed variables.

    variables = load_pretrained("resnet50", "resnet50-0676ba61.pth")   # {"params": .., "batch_stats": ..}

Supported: ResNet-18/50 (torchvision's key names, which timm's ResNets share), DeiT-Ti/S (timm's
deit_*_patch16_224) and ConvNeXt-T/nano/atto (timm's convnext_*). Files: .safetensors (read with the
`safetensors` package, no torch needed) or PyTorch .pth/.pt/.bin (read with torch). Nothing is downloaded.

Each family has a small function naming the PyTorch key of every one of our parameters; one converter does the
rest: conv kernels [O, I, kh, kw] -> [kh, kw, I, O], Dense kernels [O, I] (or 1x1 convs [O, I, 1, 1]) -> [I, O],
everything else as is. Every expected key must be present with the expected shape, and no key may be left over.
"""

import os
import re
from typing import Callable

import jax
import numpy as np

from jaxshort.errors import UserError
from jaxshort.models.registry import MODELS
from jaxshort.models.layers import split_depth

# where a user gets each model's weights
SOURCES = {
    "resnet18": "torchvision's ResNet18_Weights.IMAGENET1K_V1 (resnet18-f37072fd.pth) or timm/resnet18.a1_in1k",
    "resnet50": "torchvision's ResNet50_Weights.IMAGENET1K_V1 (resnet50-0676ba61.pth) or timm/resnet50.a1_in1k",
    "deit_ti": "timm/deit_tiny_patch16_224.fb_in1k on the Hugging Face Hub (model.safetensors)",
    "deit_s": "timm/deit_small_patch16_224.fb_in1k on the Hugging Face Hub (model.safetensors)",
    "convnext_t": "timm/convnext_tiny.fb_in1k on the Hugging Face Hub (model.safetensors)",
    "convnext_nano": "timm/convnext_nano.in12k_ft_in1k on the Hugging Face Hub (model.safetensors)",
    "convnext_atto": "timm/convnext_atto.d2_in1k on the Hugging Face Hub (model.safetensors)",
}
# our leaf names -> PyTorch's
LEAF_NAMES = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
IGNORED = re.compile(r"num_batches_tracked$")


def resnet_key(path: tuple[str, ...], model) -> str:
  """torchvision key of our ResNet module path, e.g. (stage2, block1, downsample_conv) -> layer2.0.downsample.0."""
  block, *rest = path
  if block == "stem":
    return {"conv": "conv1", "bn": "bn1"}[rest[0]]
  if block == "head":
    return "fc"
  layer = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}.get(rest[1], rest[1])
  return f"layer{block[len('stage'):]}.{int(rest[0][len('block'):]) - 1}.{layer}"


def deit_key(path: tuple[str, ...], model) -> str:
  """timm key of our DeiT module path, e.g. (stage2, layer1, qkv) -> blocks.3.attn.qkv for 12 layers in 4 stages."""
  block, *rest = path
  if block == "embed":
    return "patch_embed.proj" if rest[0] == "proj" else rest[0]
  if block == "head":
    return rest[0]  # norm, head, head_dist
  stage, layer = int(block[len("stage"):]) - 1, int(rest[0][len("layer"):]) - 1
  index = sum(split_depth(model.depth, model.num_stages)[:stage]) + layer
  inner = {"qkv": "attn.qkv", "proj": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}.get(rest[1], rest[1])
  return f"blocks.{index}.{inner}"


def convnext_key(path: tuple[str, ...], model) -> str:
  """timm key of our ConvNeXt module path, e.g. (stage2, layer3, fc1) -> stages.1.blocks.2.mlp.fc1."""
  block, *rest = path
  if block == "stem":
    return {"conv": "stem.0", "norm": "stem.1"}[rest[0]]
  if block == "head":
    return f"head.{rest[0]}"
  stage = f"stages.{int(block[len('stage'):]) - 1}"
  if rest[0].startswith("downsample"):
    return f"{stage}.downsample.{0 if rest[0] == 'downsample_norm' else 1}"
  inner = {"fc1": "mlp.fc1", "fc2": "mlp.fc2"}.get(rest[1], rest[1])
  return f"{stage}.blocks.{int(rest[0][len('layer'):]) - 1}.{inner}"


KEY_FUNCTIONS: dict[str, Callable] = {
    "resnet18": resnet_key, "resnet50": resnet_key, "deit_ti": deit_key, "deit_s": deit_key,
    "convnext_t": convnext_key, "convnext_nano": convnext_key, "convnext_atto": convnext_key,
}


def torch_key(path: tuple[str, ...], key_function: Callable, model) -> str:
  """The full PyTorch key of our leaf at `path`: the module part from `key_function` and the leaf's PyTorch
  name (weight, bias, running_mean, ..); timm's bare parameters (cls_token, gamma, ..) are named by
  `key_function` whole."""
  *modules, leaf = path
  if leaf in LEAF_NAMES:
    return f"{key_function(tuple(modules), model)}.{LEAF_NAMES[leaf]}"
  return key_function(path, model)


def to_flax(array: np.ndarray, leaf: str, expected_ndim: int) -> np.ndarray:
  """A PyTorch tensor in our layout: conv kernels [O, I, kh, kw] -> [kh, kw, I, O]; Dense kernels [O, I] or
  1x1-conv kernels [O, I, 1, 1] -> [I, O]; anything else unchanged."""
  if leaf != "kernel":
    return array
  if expected_ndim == 4:
    return array.transpose(2, 3, 1, 0) if array.ndim == 4 else array
  if array.ndim == 4 and array.shape[2:] == (1, 1):
    array = array[:, :, 0, 0]
  return array.T if array.ndim == 2 else array


def read_state_dict(path: str, model_name: str) -> dict[str, np.ndarray]:
  """The tensors of a .safetensors or PyTorch (.pth/.pt/.bin) file as numpy arrays, keyed by PyTorch name.
  A checkpoint that wraps its state dict under "model" or "state_dict" (as DeiT's releases do) is unwrapped."""
  hint = f"expected a {model_name} state dict from {SOURCES[model_name]}"
  if path.endswith(".safetensors"):
    try:
      from safetensors.numpy import load_file
    except ImportError:
      raise UserError(f"reading {path!r} needs the safetensors package (pip install safetensors)") from None
    return dict(load_file(path))
  try:
    import torch
  except ImportError:
    raise UserError(f"reading {path!r} needs torch; or convert it to .safetensors first") from None
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as error:  # pickle, zip and torch errors alike: the file is not a readable state dict
    raise UserError(f"cannot read {path!r} as a PyTorch state dict ({error}); {hint}") from None
  for wrapper in ("model", "state_dict"):
    if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
      state = state[wrapper]
  return {key: value.float().numpy() for key, value in state.items() if hasattr(value, "numpy")}


def describe(kind: str, items: list[str], shown: int = 4) -> str:
  """'3 keys missing: a, b, c' with at most `shown` items listed."""
  more = f", and {len(items) - shown} more" if len(items) > shown else ""
  return f"{len(items)} keys {kind}: {', '.join(items[:shown])}{more}"


def convert_state_dict(state: dict[str, np.ndarray], model_name: str, model, expected: dict, path: str) -> dict:
  """Our variables (shaped like `expected`, e.g. from jax.eval_shape of init) from a PyTorch `state` dict.
  Raises UserError naming every missing, left-over or misshapen key."""
  key_function = KEY_FUNCTIONS[model_name]
  leaves, treedef = jax.tree_util.tree_flatten_with_path(expected)
  converted, used, missing, misshapen = [], set(), [], []
  for tree_path, leaf in leaves:
    names = tuple(entry.key for entry in tree_path)[1:]  # drop the collection: params / batch_stats
    key = torch_key(names, key_function, model)
    used.add(key)
    if key not in state:
      missing.append(key)
      converted.append(None)
      continue
    array = to_flax(state[key], names[-1], len(leaf.shape))
    if array.shape != tuple(leaf.shape):
      misshapen.append(f"{key} {tuple(state[key].shape)} converts to {array.shape} where {tuple(leaf.shape)} is "
                       "expected")
    converted.append(np.asarray(array, np.float32))
  unexpected = sorted(key for key in state if key not in used and not IGNORED.search(key))
  problems = [describe(kind, items) for kind, items in
              (("with another shape", misshapen), ("missing", missing), ("unexpected", unexpected)) if items]
  if problems:
    raise UserError(f"{path!r} does not match {model_name} with these settings: {'; '.join(problems)}. "
                    f"Expected a state dict from {SOURCES[model_name]}")
  return jax.tree_util.tree_unflatten(treedef, converted)


def check_source(model_name: str, path: str) -> None:
  """UserError unless `model_name` has a conversion and the weights file `path` exists (nothing is read)."""
  if model_name not in KEY_FUNCTIONS:
    raise UserError(f"no pretrained conversion for {model_name!r}; available: {', '.join(sorted(KEY_FUNCTIONS))}")
  if not os.path.isfile(path):
    raise UserError(f"pretrained weights file {path!r} not found; expected a {model_name} state dict from "
                    f"{SOURCES[model_name]}")


def load_pretrained(model_name: str, path: str, num_classes: int = 1000, image_size: int = 224,
                    **settings) -> dict:
  """Variables {"params": .., "batch_stats": ..} of registry model `model_name` (built with `num_classes` and
  `settings`) read from the torchvision/timm state dict at `path`. `image_size` fixes DeiT's position embedding
  (224 -> 14 x 14 patches). The arrays are numpy float32, keyed by block like a fresh init."""
  check_source(model_name, path)
  state = read_state_dict(path, model_name)
  model = MODELS.get(model_name)(num_classes=num_classes, **settings)
  images = jax.ShapeDtypeStruct((1, image_size, image_size, 3), np.float32)
  expected = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
  expected = {collection: tree for collection, tree in expected.items() if collection != "intermediates"}
  return convert_state_dict(state, model_name, model, expected, path)
