"""The model zoo: parameter counts against the references, block keys, train/eval forward passes, splicing
block by block, and no recompilation across jitted train steps. Forward passes use tiny widths; the full-size
models are only shape-evaluated."""

import dataclasses
import functools
from typing import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort.errors import UserError
from jaxshort.models import MODELS
from jaxshort.training.state import create_train_state
from jaxshort.models import init_variables
from jaxshort.training.steps import train_step
from tests.conftest import fast_jit

# (registry name, settings, reference parameter count at 1000 classes and 224x224)
REFERENCE_COUNTS = [
    ("resnet18", {}, 11_689_512),
    ("resnet50", {}, 25_557_032),
    ("vgg11", {}, 132_863_336),
    ("vgg16", {}, 138_357_544),
    ("vgg11_bn", {}, 132_868_840),
    ("vgg16_bn", {}, 138_365_992),
    ("deit_ti", {}, 5_717_416),
    ("deit_s", {}, 22_050_664),
    ("deit_s", {"distilled": True}, 22_436_432),
    ("convnext_t", {}, 28_589_128),
    ("convnext_atto", {}, 3_695_520),
]

# (registry name, settings that make it tiny, image side): every family, stem, block type and head variant once
SMALL = [
    ("vgg11_bn", dict(widths=(4, 4, 8, 8, 8), hidden=16, pool_size=2), 32),
    ("resnet18", dict(widths=(4, 8, 8, 8), stem="cifar"), 16),
    ("resnet50", dict(stage_sizes=(1, 1, 1, 1), widths=(4, 4, 8, 8)), 32),
    ("deit_s", dict(embed_dim=16, depth=4, num_heads=2, patch_size=4, distilled=True, drop_path=0.1), 16),
    ("convnext_atto", dict(depths=(1, 1, 1, 1), dims=(8, 8, 16, 16), drop_path=0.1), 32),
]
SMALL_IDS = [case[0] for case in SMALL]
NUM_CLASSES = 5


# Tiny models run in milliseconds, so compiling is what costs: at XLA's lowest backend optimization level and
# without the CPU fusion emitters a ConvNeXt train step compiled here in 2.5 s instead of 15 s.


@dataclasses.dataclass
class Small:
  """A tiny member of a family, its initial variables and its jitted eval-mode apply (compiled once per module)."""
  name: str
  side: int
  model: nn.Module
  variables: dict
  apply: Callable  # (variables, images [B, side, side, 3]) -> (logits [B, NUM_CLASSES], {"intermediates": ..})


@pytest.fixture(scope="module", params=SMALL, ids=SMALL_IDS)
def small(request) -> Small:
  name, settings, side = request.param
  model = MODELS.get(name)(num_classes=NUM_CLASSES, **settings)
  # the rbg generator compiles much faster on a CPU than the default threefry; the initializers are the same
  variables = fast_jit(init_variables, static_argnums=(0, 2))(model, jax.random.key(0, impl="unsafe_rbg"),
                                                              (side, side, 3))
  apply = fast_jit(functools.partial(model.apply, train=False, mutable=["intermediates"]))
  return Small(name, side, model, variables, apply)


def images_for(small: Small, seed: int = 1) -> jnp.ndarray:
  return jax.random.normal(jax.random.key(seed), (2, small.side, small.side, 3))


def random_variables(small: Small, seed: int) -> dict:
  """Variables shaped like `small.variables`, filled from numpy (running variances 1)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    if jax.tree_util.keystr(path).endswith("['var']"):
      return jnp.ones(leaf.shape, leaf.dtype)
    return jnp.asarray(0.3 * rng.standard_normal(leaf.shape), leaf.dtype)
  return jax.tree_util.tree_map_with_path(fill, small.variables)


def splice(first: dict, second: dict, from_second: set) -> dict:
  """Variables taking the blocks in `from_second` from `second` and the rest from `first`, every collection."""
  return {collection: {block: (second if block in from_second else first)[collection][block] for block in tree}
          for collection, tree in first.items()}


def test_block_keys(small):
  blocks = set(small.model.blocks)
  assert set(small.variables["params"]) == blocks
  has_batch_norm = small.name.startswith("resnet") or small.name.endswith("_bn")
  assert ("batch_stats" in small.variables) == has_batch_norm
  if has_batch_norm:
    assert set(small.variables["batch_stats"]) <= blocks


def test_eval_forward_sows_every_block(small):
  logits, state = small.apply(small.variables, images_for(small))
  chex.assert_shape(logits, (2, NUM_CLASSES))
  chex.assert_tree_all_finite(logits)
  assert set(state["intermediates"]) == set(small.model.blocks)
  chex.assert_trees_all_close(state["intermediates"]["head"]["output"][0], logits)


def test_train_forward_shapes(small):
  train_apply = functools.partial(small.model.apply, train=True, mutable=["batch_stats"])
  logits, updates = jax.eval_shape(train_apply, small.variables, images_for(small), rngs={"dropout": jax.random.key(2)})
  chex.assert_shape(logits, (2, NUM_CLASSES))
  chex.assert_trees_all_equal_shapes(updates.get("batch_stats", {}), small.variables.get("batch_stats", {}))


def test_splicing_blocks_gives_a_working_model(small):
  first, second = small.variables, random_variables(small, seed=1)
  images = images_for(small)
  logits, _ = small.apply(splice(first, second, set(small.model.blocks[1::2])), images)
  chex.assert_shape(logits, (2, NUM_CLASSES))
  chex.assert_tree_all_finite(logits)
  chex.assert_trees_all_close(small.apply(splice(first, second, set(small.model.blocks)), images)[0],
                              small.apply(second, images)[0])


def test_train_steps_compile_once(small):
  state = create_train_state(small.model, small.variables, optax.sgd(0.01))
  chex.clear_trace_counter()
  step = fast_jit(chex.assert_max_traces(train_step, n=1))
  rng = np.random.default_rng(0)
  for _ in range(3):
    batch = {"image": rng.integers(0, 256, (4, small.side, small.side, 3), dtype=np.uint8),
             "label": rng.integers(0, NUM_CLASSES, (4,))}
    state, metrics = step(state, batch, jax.random.key(0))
  assert int(state.step) == 3
  chex.assert_tree_all_finite((state.params, state.batch_stats, metrics))


def test_resnet_rejects_an_unknown_stem():
  with pytest.raises(UserError, match="stem"):
    model = MODELS.get("resnet18")(num_classes=2, stem="tiny")
    jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros((1, 16, 16, 3)))


def test_registry_names():
  expected = {"vgg11", "vgg16", "vgg11_bn", "vgg16_bn", "resnet18", "resnet50", "deit_ti", "deit_s",
              "convnext_t", "convnext_nano", "convnext_atto"}
  assert expected <= set(MODELS.names())
