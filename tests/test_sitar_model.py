"""The SITAR model and loss: block names, shapes, and one training step of each objective on tiny data."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort.models import MODELS
from jaxshort.models.vae import ChromaVAE, SitarVAE
from jaxshort.methods.vae import sitar_objective
from jaxshort.sitar import SitarHParams, vae_loss
from jaxshort.training.state import create_train_state
from jaxshort.models import init_variables
from jaxshort.training.steps import make_train_step


@pytest.mark.parametrize("channels,shape", [((32, 32, 64, 128), (64, 64, 3)), ((8, 16), (28, 28, 3)),
                                            ((8, 16), (14, 14, 3))])
def test_vae_shapes_and_blocks(channels, shape):
  model = SitarVAE(num_classes=3, latent_dim=5, channels=channels, image_shape=shape)
  variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0), shape))  # shapes only, no compile
  assert set(variables["params"]) == set(model.blocks) and model.blocks == ("encoder", "decoder", "classifier")
  images = jnp.zeros((2, *shape))
  apply = lambda x, **kw: jax.eval_shape(lambda v, x: model.apply(v, x, **kw), variables, x)
  mu, logvar = apply(images, method="encode")
  chex.assert_shape([mu, logvar], (2, 5))
  chex.assert_shape(apply(mu, method="decode"), (2, *shape))
  chex.assert_shape(apply(images), (2, 3))
  chex.assert_shape(apply(images, method="features"), (2, 128))
  if channels == (32, 32, 64, 128):  # the paper's encoder: a 4x4x128 map flattened to 2048
    chex.assert_shape(variables["params"]["encoder"]["mu"]["kernel"], (2048, 5))
    assert len([k for k in variables["params"]["decoder"] if k.startswith("deconv")]) == 4


def test_registered():
  assert "sitar_vae" in MODELS and "chroma_vae" in MODELS
  model = ChromaVAE(num_classes=2, latent_dim=4, channels=(8, 16), image_shape=(28, 28, 3), shortcut_dims=1)
  variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0), (28, 28, 3)))
  assert set(variables["params"]) == set(model.blocks)


def test_vae_loss_sums_pixels_and_averages_batch():
  images = jnp.zeros((2, 4, 4, 3))
  recon = jnp.ones((2, 4, 4, 3))
  loss, reconstruction, kl = vae_loss(images, recon, jnp.zeros((2, 3)), jnp.zeros((2, 3)), beta=2.0)
  assert float(reconstruction) == 48.0 and float(kl) == 0.0 and float(loss) == 48.0


@pytest.mark.parametrize("method", ["noise", "penalty_exact", "penalty_sample"])
def test_one_sitar_step_per_method(method):
  model = SitarVAE(num_classes=2, latent_dim=4, channels=(8, 16), image_shape=(28, 28, 3))
  state = create_train_state(model, init_variables(model, jax.random.key(0), (28, 28, 3)), optax.adam(1e-3))
  hp = SitarHParams(method=method)
  step = make_train_step(sitar_objective(hp, 2, 2))
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 255, (8, 28, 28, 3), dtype=np.uint8), "label": np.array([0, 1] * 4, np.int32)}
  before = jax.device_get(state.params)
  state, metrics = step(state, batch, jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert {f"score_{j}" for j in range(4)} <= set(metrics)
  # the classification terms reach the encoder (no stop-gradient on either branch)
  changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), before, jax.device_get(state.params))
  assert all(jax.tree.leaves(changed["encoder"])) and all(jax.tree.leaves(changed["classifier"]))


def test_sitar_hparams_reject_unknown_method():
  from jaxshort.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="sitar.method"):
    SitarHParams(method="dropout")
