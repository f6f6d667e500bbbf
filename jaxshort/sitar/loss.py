"""The SITAR training objective for one batch (Pal, Varshney & Rai, 2025, the targeted-noise objective):

  L_VAE + mean_n [ CE(f(zbar_n), y_n) + lambda_cons * ||f(zbar_n) - f(z_n)||^2 ],  zbar = z + alpha * v * e,

with z = mu + sigma * eps the VAE sample, v the batch shortcut scores (constants of the step) and one noise draw
e ~ N(0, I) per step. Gradients flow through both the noisy and the clean branch, into the encoder. The
'penalty_exact' and 'penalty_sample' methods replace the noise by its second-order expectation (penalty.py):
L_VAE + mean_n [ CE(f(z_n), y_n) + penalty_n ].

Switches for what the paper leaves open (each off by default, i.e. the literal reading above; docs/sitar.md has the
study of each):
- `stop_gradient`: the classifier reads stop_gradient(code), so its terms train the classifier only and never
  shape the encoder;
- `noise_scale='spread'`: zbar = code + alpha * v_j * s_j * e, s_j the batch std of mu_j (a constant of the step),
  so the noise is measured in units of each dimension's own spread and an encoder cannot outgrow it by scaling
  the dimension up; 'absolute' is alpha * v_j * e;
- `noise_on='mu'`: the classifier's code is the mean mu instead of the sample z (both branches);
- `consistency='probabilities'`: ||softmax f(zbar) - softmax f(code)||^2 instead of the logits' distance
  (the noise method only);
- `warmup_steps`: the classifier terms (and so the noise) start after this many steps of the VAE alone;
- `noise='batch'`: instead of Gaussian noise, each row moves alpha * v_j of the way to another row's code
  (a random permutation of the batch), zbar_j = code_j + alpha * v_j * (code_pi,j - code_j): the noise has each
  dimension's own distribution, so a bimodal cue dimension changes sign for about half the rows; 'gaussian' is
  the paper's e ~ N(0, I);
- `noise_path='decoder'`: the noisy code is decoded and the result encoded again (its mean, gradients stopped:
  a counterfactual image made by the VAE) before the classifier reads it, so zbar = enc(dec(code + noise)). The
  latent diagnostics show why: the top-scored dimension carries the cue and the classifier learns to ignore it,
  but the encoder also spreads the cue nonlinearly over the other dimensions, where the scores (linear
  correlations) are low and the noise small. Noise on the shortcut dimension, passed through the decoder, is
  meant to change the cue in the image, so that the re-encoded code carries the changed cue in every dimension
  the encoder uses for it and the consistency term and the cross-entropy on the counterfactual act wherever the
  cue is encoded (docs/sitar.md has how far that went). The clean branch stays f(code), so the consistency term
  also penalizes the VAE's own round-trip error enc(dec(code)) - code. 'latent' is the paper's path.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from jaxshort.errors import UserError
from jaxshort.models.vae import sample_latent
from jaxshort.sitar.diagnostics import batch_diagnostics
from jaxshort.sitar.penalty import exact_penalty, sample_penalty
from jaxshort.sitar.scores import shortcut_scores

METHODS = ("noise", "penalty_exact", "penalty_sample")
NOISE_SCALES = ("absolute", "spread")
NOISE_TARGETS = ("z", "mu")
CONSISTENCY_SPACES = ("logits", "probabilities")
NOISE_PATHS = ("latent", "decoder")
NOISE_DISTRIBUTIONS = ("gaussian", "batch")


@dataclasses.dataclass(frozen=True)
class SitarHParams:
  """SITAR's settings; `isotropic` replaces the scores by v = 1 (the ablation of targeting); the rest of the
  switches are described in the module docstring."""
  alpha: float = 1.0
  beta: float = 2.0
  lambda_cons: float = 10.0
  method: str = "noise"
  isotropic: bool = False
  reconstruction_weight: float = 1.0
  stop_gradient: bool = False
  noise_scale: str = "absolute"
  noise_on: str = "z"
  consistency: str = "logits"
  warmup_steps: int = 0
  noise_path: str = "latent"
  noise: str = "gaussian"

  def __post_init__(self):
    for name, choices in (("method", METHODS), ("noise_scale", NOISE_SCALES), ("noise_on", NOISE_TARGETS),
                          ("consistency", CONSISTENCY_SPACES), ("noise_path", NOISE_PATHS),
                          ("noise", NOISE_DISTRIBUTIONS)):
      if getattr(self, name) not in choices:
        raise UserError(f"sitar.{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
    for name in ("alpha", "beta", "lambda_cons", "reconstruction_weight", "warmup_steps"):
      if getattr(self, name) < 0:
        raise UserError(f"sitar.{name} must be >= 0, got {getattr(self, name)}")
    if self.consistency == "probabilities" and self.method != "noise":
      raise UserError(f"sitar.consistency='probabilities' applies to sitar.method='noise', not {self.method!r}; "
                      f"the penalties are of the logits")
    if self.noise == "batch" and (self.method != "noise" or self.noise_scale != "absolute"):
      raise UserError("sitar.noise='batch' applies to sitar.method='noise' with sitar.noise_scale='absolute' (its "
                      "steps already have each dimension's own scale)")
    if self.noise_path == "decoder" and self.method != "noise":
      raise UserError(f"sitar.noise_path='decoder' applies to sitar.method='noise', not {self.method!r}; the "
                      f"penalties differentiate the classifier alone")


def vae_loss(images: jnp.ndarray, recon: jnp.ndarray, mu: jnp.ndarray, logvar: jnp.ndarray, beta: float,
             reconstruction_weight: float = 1.0):
  """beta-VAE loss: reconstruction_weight x squared error summed over pixels, plus beta x KL(q(z|x) || N(0, I))
  summed over dims, both averaged over the batch. images, recon [B, H, W, C]; mu, logvar [B, d] ->
  (loss, reconstruction, kl), scalars; `reconstruction` is the unweighted squared error.

  The paper's loss is reconstruction_weight = 1. A weight w is a Gaussian likelihood of variance 1 / (2w) on the
  pixel scale (here [-1, 1]), so it stands for the pixel scale the paper leaves open: w = 4 on [-1, 1] images is
  the weight-1 loss on [-2, 2] images.
  """
  reconstruction = jnp.mean(jnp.sum((recon - images)**2, axis=(1, 2, 3)))
  kl = jnp.mean(0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1))
  return reconstruction_weight * reconstruction + beta * kl, reconstruction, kl


def encode_sample_decode(apply_fn, params, images: jnp.ndarray, rng: jax.Array, beta: float,
                         reconstruction_weight: float = 1.0):
  """The VAE half shared by SITAR and Chroma-VAE: images [B, H, W, C] (float) ->
  (mu [B, d], z [B, d], L_VAE, metrics)."""
  variables = {"params": params}
  mu, logvar = apply_fn(variables, images, method="encode")
  z = sample_latent(mu, logvar, rng)
  recon = apply_fn(variables, z, method="decode")
  loss, reconstruction, kl = vae_loss(images, recon, mu, logvar, beta, reconstruction_weight)
  return mu, z, loss, {"vae_loss": loss, "reconstruction": reconstruction, "kl": kl}


def noise_scale(mu: jnp.ndarray, v: jnp.ndarray, hp: SitarHParams) -> jnp.ndarray:
  """The noise std of each latent dimension [d]: alpha * v_j, times the batch std of mu_j for 'spread' (a
  constant of the step)."""
  scale = hp.alpha * v
  if hp.noise_scale == "spread":
    scale = scale * jnp.std(jax.lax.stop_gradient(mu), axis=0)
  return scale


def consistency_distance(noisy: jnp.ndarray, clean: jnp.ndarray, space: str) -> jnp.ndarray:
  """||a - b||^2 per example of two logit arrays [B, C], in logit or probability space -> [B]."""
  if space == "probabilities":
    noisy, clean = jax.nn.softmax(noisy), jax.nn.softmax(clean)
  return jnp.sum((noisy - clean)**2, -1)


def counterfactual_code(apply_fn, params, noisy_code: jnp.ndarray) -> jnp.ndarray:
  """enc(dec(noisy_code)): the mean code of the image the decoder makes from a noisy code [B, d], a constant of
  the step (noise_path='decoder')."""
  images = apply_fn({"params": params}, jax.lax.stop_gradient(noisy_code), method="decode")
  return jax.lax.stop_gradient(apply_fn({"params": params}, images, method="encode")[0])


def sitar_loss(params, apply_fn, images: jnp.ndarray, labels: jnp.ndarray, rng: jax.Array, hp: SitarHParams,
               num_classes: int, step: jnp.ndarray | int = 0, cues: jnp.ndarray | None = None,
               num_cues: int = 0) -> tuple[jnp.ndarray, dict]:
  """The SITAR objective (module docstring) of one batch at training step `step`: images float [B, H, W, C],
  labels int [B].

  Returns (scalar loss, metrics): loss parts, batch accuracy of the classifier's training input, the scores
  `score_j` and noise std `noise_std_j` of every latent dimension j, and, given the batch's `cues` [B] (metrics
  only, never the loss), the diagnostics of diagnostics.py.
  """
  vae_rng, noise_rng = jax.random.split(rng)
  mu, z, l_vae, metrics = encode_sample_decode(apply_fn, params, images, vae_rng, hp.beta,
                                               hp.reconstruction_weight)
  code = mu if hp.noise_on == "mu" else z
  if hp.stop_gradient:
    code = jax.lax.stop_gradient(code)
  v = jnp.ones(mu.shape[-1]) if hp.isotropic else shortcut_scores(mu, labels, num_classes)
  scale = noise_scale(mu, v, hp)
  classify = lambda codes: apply_fn({"params": params}, codes, method="classify")

  if hp.method == "noise":
    if hp.noise == "batch":
      partner = jax.lax.stop_gradient(code[jax.random.permutation(noise_rng, code.shape[0])])
      noisy = code + scale * (partner - jax.lax.stop_gradient(code))
    else:
      noisy = code + scale * jax.random.normal(noise_rng, code.shape)
    if hp.noise_path == "decoder":
      noisy = counterfactual_code(apply_fn, params, noisy)
    logits = classify(noisy)
    regularizer = hp.lambda_cons * consistency_distance(logits, classify(code), hp.consistency)
  elif hp.method == "penalty_exact":
    regularizer, logits = exact_penalty(classify, code, labels, scale, hp.lambda_cons)
  else:
    regularizer, logits = sample_penalty(classify, code, labels, scale, hp.lambda_cons, noise_rng)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # on the noisy code, or on it (penalty)
  classifier_on = jnp.asarray(step) >= hp.warmup_steps
  # the std of the step each dimension takes: for 'batch', that of scale * (code_pi - code), sqrt(2) x its spread
  noise_std = scale * jnp.sqrt(2.0) * jnp.std(jax.lax.stop_gradient(code), axis=0) if hp.noise == "batch" else scale
  loss = l_vae + jnp.where(classifier_on, jnp.mean(ce + regularizer), 0.0)  # where: a NaN off the gate stays out
  metrics.update({
      "cross_entropy": jnp.mean(ce),
      "regularizer": jnp.mean(regularizer),
      "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
      "latent_std": jnp.mean(jnp.std(mu, axis=0)),
      **{f"score_{j}": v[j] for j in range(v.shape[0])},
      **{f"noise_std_{j}": noise_std[j] for j in range(v.shape[0])},
  })
  if cues is not None:
    metrics.update(batch_diagnostics(mu, code, cues, num_cues, classify))
  return loss, metrics
