"""Agreement with PyTorch: the conversion of torchvision/timm state dicts (models/pretrained.py) gives the
reference networks' logits, against reference outputs committed in tests/data/pretrained (made once with torch by
`python -m tests.torch_references`; these run on any machine) and against live torch where it is installed (these
also read the .pth/.bin formats); the conversion's errors; VGG's adaptive pooling against torch's; and the ImageNet
input normalization a pretrained start gets."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort import data, experiments, models
from jaxshort.data import pipeline
from jaxshort.errors import UserError
from jaxshort.localization import hybrids, probes
from jaxshort.methods import common
from jaxshort.models import MODELS
from jaxshort.models.layers import adaptive_avg_pool
from jaxshort.models.pretrained import load_pretrained
from jaxshort.training import loop, metrics
from jaxshort.training.state import create_train_state
from jaxshort.training.steps import eval_step, train_step
from tests.conftest import fast_jit, shrink
from tests.torch_references import (CASES, DATA_DIR, NUM_CLASSES, POOL_CASES, pool_input, randomize,
                                    reference_images, save, torch_adaptive_pool, torch_logits, torch_modules)

IDS = [case[0] for case in CASES]


def converted_logits(name: str, settings: dict, side: int, path: str) -> np.ndarray:
  variables = load_pretrained(name, path, num_classes=NUM_CLASSES, image_size=side, **settings)
  model = MODELS.get(name)(num_classes=NUM_CLASSES, **settings)
  return np.asarray(fast_jit(lambda v, x: model.apply(v, x, train=False))(variables, reference_images(side)))


@pytest.mark.parametrize("name, settings, torch_settings, side, suffix", CASES, ids=IDS)
def test_converted_weights_give_the_committed_reference_logits(name, settings, torch_settings, side, suffix):
  expected = np.load(os.path.join(DATA_DIR, "references.npz"))[f"logits_{name}"]
  logits = converted_logits(name, settings, side, os.path.join(DATA_DIR, f"{name}.safetensors"))
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, settings, torch_settings, side, suffix", CASES, ids=IDS)
def test_converted_weights_give_live_torch_logits(tmp_path, name, settings, torch_settings, side, suffix):
  torch, references = torch_modules()
  reference = randomize(torch, references[name](num_classes=NUM_CLASSES, **torch_settings))
  path = str(tmp_path / f"weights{suffix}")
  save(torch, reference, path)
  np.testing.assert_allclose(converted_logits(name, settings, side, path),
                             torch_logits(torch, reference, reference_images(side)), rtol=1e-4, atol=1e-4)


def test_a_missing_file_says_where_to_get_weights(tmp_path):
  with pytest.raises(UserError, match=r"not found.*timm/deit_small_patch16_224"):
    load_pretrained("deit_s", str(tmp_path / "nothing.safetensors"))


def test_a_model_without_a_conversion_is_refused(tmp_path):
  with pytest.raises(UserError, match="no pretrained conversion for 'vgg16'"):
    load_pretrained("vgg16", str(tmp_path / "vgg16.pth"))


def test_mismatching_keys_and_shapes_are_named(tmp_path):
  safetensors_numpy = pytest.importorskip("safetensors.numpy")
  settings = dict(depths=(1, 1, 1, 1), dims=(8, 8, 16, 16))
  state = {"stem.0.weight": np.zeros((8, 3, 5, 5), np.float32), "extra.weight": np.zeros((1,), np.float32)}
  path = str(tmp_path / "bad.safetensors")
  safetensors_numpy.save_file(state, path)
  with pytest.raises(UserError) as error:
    load_pretrained("convnext_atto", path, num_classes=NUM_CLASSES, **settings)
  message = str(error.value)
  assert "bad.safetensors" in message
  assert "stem.0.weight (8, 3, 5, 5) converts to (5, 5, 3, 8) where (4, 4, 3, 8) is expected" in message
  assert "keys missing: head.fc.bias" in message
  assert "1 keys unexpected: extra.weight" in message
  assert "timm/convnext_atto" in message


@pytest.mark.parametrize("side, size", POOL_CASES)
def test_adaptive_avg_pool_matches_committed_pytorch_outputs(side, size):
  expected = np.load(os.path.join(DATA_DIR, "references.npz"))[f"pool_{side}_{size}"]
  np.testing.assert_allclose(np.asarray(adaptive_avg_pool(jnp.asarray(pool_input(side)), size)), expected,
                             rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("side, size", POOL_CASES[:2])
def test_adaptive_avg_pool_matches_live_pytorch(side, size):
  torch = pytest.importorskip("torch")
  x = pool_input(side)
  np.testing.assert_allclose(np.asarray(adaptive_avg_pool(jnp.asarray(x), size)), torch_adaptive_pool(torch, x, size),
                             rtol=1e-6, atol=1e-6)


# ImageNet normalization: converted weights see images as their source trained them.

def imagenet_by_hand(images: np.ndarray) -> np.ndarray:
  mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
  return (images.astype(np.float32) / 255.0 - mean) / std


def uint8_split(n=12, side=8, seed=0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, n).astype(np.int32)
  return {"image": rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), "label": labels,
          "cue": labels.copy(), "group": (2 * labels + labels).astype(np.int32), "id": np.arange(n, dtype=np.int32)}


def test_imagenet_normalization_is_per_channel_mean_and_std():
  images = uint8_split()["image"]
  np.testing.assert_allclose(np.asarray(pipeline.normalize_images(images, "imagenet")), imagenet_by_hand(images),
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(pipeline.normalize_images(np.array([0, 255], np.uint8))), [-1.0, 1.0])
  with pytest.raises(ValueError, match="normalization must be one of"):
    pipeline.normalize_images(images, "imagenet1k")
  with pytest.raises(ValueError, match="needs RGB images, got 1 channel"):
    pipeline.normalize_images(images[..., :1], "imagenet")


def test_a_pretrained_model_section_selects_imagenet_normalization_for_the_run(tiny_config, tmp_path):
  assert models.input_normalization(tiny_config.model) == "symmetric"
  config = shrink(tiny_config, 1, model__pretrained="weights.safetensors")
  assert models.input_normalization(config.model) == "imagenet"
  dataset = data.build_dataset(config.dataset, config.seed)
  model = models.build_model(config.model, dataset.num_classes)
  variables = models.init_variables(model, jax.random.key(0), dataset.image_shape)
  state = loop.train_classifier(config, dataset, model, str(tmp_path), variables=variables)
  assert state.input_normalization == "imagenet"


def test_a_pretrained_train_run_records_its_input_normalization(tiny_config, tmp_path, monkeypatch):
  monkeypatch.setattr(models, "load_pretrained", lambda *args, **kwargs: {})  # no block loaded: all fresh
  results = experiments.run(shrink(tiny_config, 2, model__pretrained="stub.safetensors"), str(tmp_path))
  assert results["model"]["input_normalization"] == "imagenet"


def test_every_consumer_of_a_state_or_model_applies_its_input_normalization():
  """Training step, evaluation step, predictions, hybrid tables and probe features all see imagenet-normalized
  images when asked to (and the two normalizations give different logits here, so the check can fail)."""
  model = MODELS.get("mlp")(num_classes=2, widths=(16,))
  variables = models.init_variables(model, jax.random.key(0), (8, 8, 3))
  split = uint8_split(n=64)
  by_hand = np.asarray(model.apply(variables, imagenet_by_hand(split["image"]), train=False))
  symmetric = np.asarray(model.apply(variables, pipeline.normalize_images(split["image"]), train=False))
  split["label"] = by_hand.argmax(-1).astype(np.int32)  # all correct under imagenet normalization, not under [-1, 1]
  assert np.sum(symmetric.argmax(-1) != split["label"]) > 0
  state = create_train_state(model, variables, optax.sgd(0.0), input_normalization="imagenet")

  np.testing.assert_allclose(common.predict(state, split, 5), by_hand, rtol=1e-5, atol=1e-5)
  counts = jax.jit(eval_step, static_argnums=(2, 3))(state, split, 2, 4)
  expected = metrics.count_correct(jnp.asarray(by_hand), split, 2, 4)
  chex.assert_trees_all_close(counts, expected)
  _, out = jax.jit(train_step)(state, split, jax.random.key(1))
  expected_loss = optax.softmax_cross_entropy_with_integer_labels(by_hand, split["label"]).mean()
  np.testing.assert_allclose(float(out["loss"]), expected_loss, rtol=1e-5)

  for method in ("prefix_tree", "per_mask"):
    table = hybrids.hybrid_counts(model, variables, variables, model.blocks, np.ones((1, len(model.blocks))),
                                  {"test": split}, 2, 4, 4, method, input_normalization="imagenet")
    np.testing.assert_allclose(table["test"]["correct"][0], len(split["label"]))
  features = probes.block_features(model, variables, split["image"], model.blocks, grid=1,
                                   input_normalization="imagenet")
  head = features[model.blocks[-1]]
  np.testing.assert_allclose(head, by_hand, rtol=1e-5, atol=1e-5)
