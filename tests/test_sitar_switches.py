"""SITAR's switches for what the paper leaves open (sitar/loss.py) and the latent diagnostics (sitar/diagnostics.py):
each against what it should change, computed by hand from the same model and noise draw."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort.errors import UserError
from jaxshort.models import init_variables
from jaxshort.experiments.sitar import cue_probe_without_top_dims
from jaxshort.models.vae import SitarVAE, sample_latent
from jaxshort.sitar import SitarHParams, sitar_loss
from jaxshort.sitar.diagnostics import cue_correlation, latent_sensitivity
from jaxshort.sitar.loss import consistency_distance, noise_scale
from jaxshort.sitar.scores import shortcut_scores
from tests.conftest import FAST_COMPILE

MODEL = SitarVAE(num_classes=2, latent_dim=4, channels=(4, 8), image_shape=(8, 8, 3), hidden=8)
VARIABLES = init_variables(MODEL, jax.random.key(0), (8, 8, 3))
RNG = np.random.default_rng(0)
IMAGES = jnp.asarray(RNG.uniform(-1, 1, (16, 8, 8, 3)), jnp.float32)
LABELS = jnp.asarray(np.array([0, 1] * 8), jnp.int32)


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def _loss_and_grads(hp: SitarHParams, step, params):
  loss = lambda p: sitar_loss(p, MODEL.apply, IMAGES, LABELS, jax.random.key(3), hp, 2, step)
  return jax.value_and_grad(loss, has_aux=True)(params)


def loss_and_grads(hp: SitarHParams, step: int = 0):
  return _loss_and_grads(hp, step, VARIABLES["params"])


def encode_mean(params=None):
  return MODEL.apply({"params": params or VARIABLES["params"]}, IMAGES, method="encode")[0]


def classify(codes):
  return MODEL.apply(VARIABLES, codes, method="classify")


def test_stop_gradient_keeps_the_classifier_terms_out_of_the_encoder():
  """With stop_gradient the encoder's gradient is the VAE loss's alone; the classifier still learns."""
  (_, plain), grads = loss_and_grads(SitarHParams(stop_gradient=True))
  (_, vae_only), vae_grads = loss_and_grads(SitarHParams(stop_gradient=True, warmup_steps=1))  # classifier off
  chex.assert_trees_all_close(grads["encoder"], vae_grads["encoder"], rtol=1e-5, atol=1e-7)
  assert float(jnp.abs(grads["classifier"]["out"]["kernel"]).sum()) > 0
  _, through = loss_and_grads(SitarHParams())
  assert not np.allclose(through["encoder"]["mu"]["kernel"], vae_grads["encoder"]["mu"]["kernel"], atol=1e-6)


def test_warmup_trains_the_vae_alone_until_its_last_step():
  (loss, metrics), grads = loss_and_grads(SitarHParams(warmup_steps=5), step=4)
  assert float(loss) == pytest.approx(float(metrics["vae_loss"]), rel=1e-6)
  assert float(jnp.abs(grads["classifier"]["out"]["kernel"]).sum()) == 0.0
  (loss, metrics), grads = loss_and_grads(SitarHParams(warmup_steps=5), step=5)
  assert float(loss) > float(metrics["vae_loss"]) + 1e-3
  assert float(jnp.abs(grads["classifier"]["out"]["kernel"]).sum()) > 0


def test_spread_scaled_noise_is_alpha_v_times_the_batch_std_of_mu():
  mu = encode_mean()
  v = shortcut_scores(mu, LABELS, 2)
  np.testing.assert_allclose(noise_scale(mu, v, SitarHParams(alpha=2.0)), 2.0 * v, rtol=1e-6)
  np.testing.assert_allclose(noise_scale(mu, v, SitarHParams(alpha=2.0, noise_scale="spread")),
                             2.0 * v * np.std(np.asarray(mu), axis=0), rtol=1e-5)
  (_, metrics), _ = loss_and_grads(SitarHParams(alpha=2.0, noise_scale="spread"))
  np.testing.assert_allclose([metrics[f"noise_std_{j}"] for j in range(4)],
                             2.0 * v * np.std(np.asarray(mu), axis=0), rtol=1e-4)


def test_noise_on_mu_and_probability_consistency_by_hand():
  """noise_on='mu': both branches read mu; consistency='probabilities': the distance of the softmax outputs. By
  hand from the same noise draw (sitar_loss splits its key into the VAE's and the noise's)."""
  hp = SitarHParams(alpha=1.5, noise_on="mu", consistency="probabilities", lambda_cons=10.0)
  (_, metrics), _ = loss_and_grads(hp)
  mu = encode_mean()
  _, noise_rng = jax.random.split(jax.random.key(3))
  scale = 1.5 * shortcut_scores(mu, LABELS, 2)
  noisy = classify(mu + scale * jax.random.normal(noise_rng, mu.shape))
  clean = classify(mu)
  expected = 10.0 * float(jnp.mean(jnp.sum((jax.nn.softmax(noisy) - jax.nn.softmax(clean))**2, -1)))
  assert float(metrics["regularizer"]) == pytest.approx(expected, rel=1e-4)
  ce = optax.softmax_cross_entropy_with_integer_labels(noisy, LABELS).mean()
  assert float(metrics["cross_entropy"]) == pytest.approx(float(ce), rel=1e-4)
  logits_distance = consistency_distance(noisy, clean, "logits")
  np.testing.assert_allclose(logits_distance, np.sum((noisy - clean)**2, -1), rtol=1e-5)


def test_switch_values_are_checked():
  with pytest.raises(UserError, match="sitar.noise_scale must be one of absolute, spread"):
    SitarHParams(noise_scale="relative")
  with pytest.raises(UserError, match="applies to sitar.method='noise'"):
    SitarHParams(method="penalty_exact", consistency="probabilities")
  with pytest.raises(UserError, match="sitar.warmup_steps must be >= 0"):
    SitarHParams(warmup_steps=-1)


def test_diagnostics_by_hand():
  rng = np.random.default_rng(1)
  cues = rng.integers(0, 2, 64)
  mu = np.stack([cues + 0.3 * rng.normal(size=64), rng.normal(size=64), -cues + rng.normal(size=64)], 1)
  expected = [abs(np.corrcoef(mu[:, j], cues)[0, 1]) for j in range(3)]
  np.testing.assert_allclose(cue_correlation(jnp.asarray(mu), jnp.asarray(cues), 2), expected, rtol=1e-4)
  codes = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
  jacobians = jax.vmap(jax.jacfwd(lambda z: classify(z[None])[0]))(codes)  # [B, C, d]
  np.testing.assert_allclose(latent_sensitivity(classify, codes),
                             np.linalg.norm(np.asarray(jacobians), axis=1).mean(0), rtol=1e-5)


def test_decoder_noise_path_classifies_the_re_encoded_counterfactual():
  """noise_path='decoder': zbar = enc(dec(code + noise)) (its mean), by hand from the same noise draw; the
  classifier's cross-entropy is on zbar and the consistency is between f(zbar) and f(code)."""
  hp = SitarHParams(alpha=1.5, noise_on="mu", noise_path="decoder", lambda_cons=10.0)
  (_, metrics), _ = loss_and_grads(hp)
  mu = encode_mean()
  _, noise_rng = jax.random.split(jax.random.key(3))
  noisy = mu + 1.5 * shortcut_scores(mu, LABELS, 2) * jax.random.normal(noise_rng, mu.shape)
  decoded = MODEL.apply(VARIABLES, noisy, method="decode")
  counterfactual = MODEL.apply(VARIABLES, decoded, method="encode")[0]
  logits = classify(counterfactual)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, LABELS).mean()
  assert float(metrics["cross_entropy"]) == pytest.approx(float(ce), rel=1e-4)
  expected = 10.0 * float(jnp.mean(jnp.sum((logits - classify(mu))**2, -1)))
  assert float(metrics["regularizer"]) == pytest.approx(expected, rel=1e-4)
  with pytest.raises(UserError, match="noise_path='decoder' applies to sitar.method='noise'"):
    SitarHParams(method="penalty_sample", noise_path="decoder")


def test_batch_noise_moves_each_row_toward_another_rows_code():
  """noise='batch': zbar = code + alpha * v * (code[pi] - code), pi the permutation drawn from the noise key."""
  hp = SitarHParams(alpha=0.5, noise_on="mu", noise="batch", lambda_cons=10.0)
  (_, metrics), _ = loss_and_grads(hp)
  mu = encode_mean()
  _, noise_rng = jax.random.split(jax.random.key(3))
  v = shortcut_scores(mu, LABELS, 2)
  partner = mu[jax.random.permutation(noise_rng, mu.shape[0])]
  noisy = classify(mu + 0.5 * v * (partner - mu))
  ce = optax.softmax_cross_entropy_with_integer_labels(noisy, LABELS).mean()
  assert float(metrics["cross_entropy"]) == pytest.approx(float(ce), rel=1e-4)
  np.testing.assert_allclose([metrics[f"noise_std_{j}"] for j in range(4)],
                             0.5 * v * np.sqrt(2.0) * np.std(np.asarray(mu), axis=0), rtol=1e-4)
  with pytest.raises(UserError, match="sitar.noise='batch' applies to"):
    SitarHParams(noise="batch", noise_scale="spread")


def test_the_default_objective_by_hand_on_the_sampled_code():
  """The paper's reading: z = mu + sigma * eps from the first key, zbar = z + alpha * v * e from the second; the
  loss is the VAE loss plus the mean of CE(f(zbar)) + lambda_cons ||f(zbar) - f(z)||^2."""
  hp = SitarHParams(alpha=1.5, lambda_cons=7.0)
  (loss, metrics), _ = loss_and_grads(hp, step=3)
  mu, logvar = MODEL.apply(VARIABLES, IMAGES, method="encode")
  vae_rng, noise_rng = jax.random.split(jax.random.key(3))
  z = sample_latent(mu, logvar, vae_rng)
  noisy = classify(z + 1.5 * shortcut_scores(mu, LABELS, 2) * jax.random.normal(noise_rng, z.shape))
  ce = optax.softmax_cross_entropy_with_integer_labels(noisy, LABELS)
  regularizer = 7.0 * jnp.sum((noisy - classify(z))**2, -1)
  assert float(metrics["cross_entropy"]) == pytest.approx(float(ce.mean()), rel=1e-4)
  assert float(metrics["regularizer"]) == pytest.approx(float(regularizer.mean()), rel=1e-4)
  assert float(loss) == pytest.approx(float(metrics["vae_loss"] + ce.mean() + regularizer.mean()), rel=1e-5)


def test_the_decoder_counterfactual_carries_no_gradient():
  """With stop_gradient, noise through the decoder leaves the encoder and the decoder the VAE loss's gradient."""
  _, grads = loss_and_grads(SitarHParams(stop_gradient=True, noise_path="decoder"))
  _, vae_grads = loss_and_grads(SitarHParams(stop_gradient=True, noise_path="decoder", warmup_steps=1))
  for block in ("encoder", "decoder"):
    chex.assert_trees_all_close(grads[block], vae_grads[block], rtol=1e-5, atol=1e-7)


def test_cues_reach_the_diagnostics_and_never_the_loss():
  def run(cues):
    loss = lambda p: sitar_loss(p, MODEL.apply, IMAGES, LABELS, jax.random.key(3), SitarHParams(), 2, 0, cues, 2)
    return jax.value_and_grad(loss, has_aux=True)(VARIABLES["params"])
  (plain, _), plain_grads = run(None)
  (with_cues, metrics), cue_grads = run(jnp.asarray(RNG.integers(0, 2, 16), jnp.int32))
  assert float(plain) == float(with_cues) and "cue_correlation_0" in metrics
  chex.assert_trees_all_equal(plain_grads, cue_grads)


def test_the_cue_probe_loses_the_cue_with_its_dimension():
  rng = np.random.default_rng(0)
  labels, cues = rng.integers(0, 2, 800), rng.integers(0, 2, 800)
  mu = np.concatenate([3.0 * cues[:, None] + 0.1 * rng.normal(size=(800, 1)), rng.normal(size=(800, 3))], 1)
  probe = cue_probe_without_top_dims(mu, cues, 2 * labels + cues, [0, 1, 2, 3], 0, 4, max_removed=1)["accuracy"]
  assert probe["0"] > 0.95 and abs(probe["1"] - 0.5) < 0.1
  majority_only = cue_probe_without_top_dims(mu, labels, 3 * labels, [0, 1, 2, 3], 0, 4)
  assert majority_only["accuracy"] is None and "group counts" in majority_only["reason"]
