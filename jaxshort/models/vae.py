"""The SITAR model: a beta-VAE whose latent code feeds an MLP classifier, trained jointly (Pal, Varshney & Rai,
2025; docs/sitar.md).

Blocks (the top-level keys of `params`): `encoder` (convs, then linear mu and log-variance heads in R^d),
`decoder` (a linear map back to the last feature map, then mirrored transposed convs) and `classifier`
(d -> hidden -> ReLU -> C logits). Every conv has kernel 4, stride 2, padding 1, so each halves the image side
and each transposed conv doubles it:

  channels (32, 32, 64, 128) on 64x64 RGB: the paper's encoder, a 4x4x128 map flattened to 2048;
  channels (32, 64) on 28x28 RGB: the 2-layer variant for Colored MNIST, a 7x7x64 map;
  on 14x14 RGB (IRM's down-sampled Colored MNIST) a 3x3 map, the decoder producing 16x16 and cropping to 14x14.

`__call__` returns the classifier's logits at the mean code mu (what the model predicts at test time), so the
generic evaluation of `training/` serves it unchanged. The other entry points, for `model.apply(..., method=...)`:
`encode`, `decode`, `classify`, `features`. `ChromaVAE` is the same VAE with the code split into a small
shortcut part z1 (read by `shortcut_classifier`) and the rest z2 (read by `classifier`).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxshort.constraints import integer, relation, sequence


class ConvEncoder(nn.Module):
  """Convs (kernel 4, stride 2, padding 1, ReLU), flatten, linear heads for mu and log sigma^2."""
  latent_dim: int
  channels: Sequence[int]

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """images float [B, H, W, C] -> (mu, logvar), each [B, latent_dim]."""
    x = images
    for i, features in enumerate(self.channels):
      x = nn.relu(nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name=f"conv{i + 1}")(x))
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.latent_dim, name="mu")(x), nn.Dense(self.latent_dim, name="logvar")(x)


class ConvDecoder(nn.Module):
  """The encoder mirrored: linear to a feature map of side ceil(H / 2^k), ReLU, k transposed convs, then a crop
  to H x W (a no-op when 2^k divides the side, as for 64x64 and 28x28; 14x14 decodes 16x16 and crops)."""
  image_shape: Sequence[int]
  channels: Sequence[int]

  @nn.compact
  def __call__(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> reconstructed images float [B, H, W, C] (in the [-1, 1] scale of `normalize_images`)."""
    height, width, colors = self.image_shape
    shrink = 2 ** len(self.channels)
    rows, cols = -(-height // shrink), -(-width // shrink)
    x = nn.Dense(rows * cols * self.channels[-1], name="linear")(z)
    x = nn.relu(x.reshape((z.shape[0], rows, cols, self.channels[-1])))
    outputs = tuple(reversed(self.channels[:-1])) + (colors,)
    for i, features in enumerate(outputs):
      x = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", name=f"deconv{i + 1}")(x)
      if i + 1 < len(outputs):
        x = nn.relu(x)
    return x[:, :height, :width]


class LatentClassifier(nn.Module):
  """MLP on a latent code: Dense `hidden` + ReLU, then Dense `out` to C logits."""
  num_classes: int
  hidden: int = 128

  def features(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> hidden features [B, hidden] (the input of the last layer, for last-layer retraining)."""
    return nn.relu(self.hidden_layer(z))

  def setup(self):
    self.hidden_layer = nn.Dense(self.hidden, name="hidden")
    self.out = nn.Dense(self.num_classes, name="out")

  def __call__(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> logits [B, num_classes]."""
    return self.out(self.features(z))


class SitarVAE(nn.Module):
  """beta-VAE + latent classifier; see the module docstring. image_shape is [H, W, C]."""
  num_classes: int
  latent_dim: int = 10
  channels: Sequence[int] = (32, 64)
  image_shape: Sequence[int] = (28, 28, 3)
  hidden: int = 128
  FIELD_RULES = {"latent_dim": integer(1), "channels": sequence(integer(1), min_length=1),
                 "image_shape": sequence(integer(1), length=3), "hidden": integer(1)}

  @property
  def blocks(self) -> tuple[str, ...]:
    return ("encoder", "decoder", "classifier")

  def setup(self):
    self.encoder = ConvEncoder(self.latent_dim, tuple(self.channels))
    self.decoder = ConvDecoder(tuple(self.image_shape), tuple(self.channels))
    self.classifier = LatentClassifier(self.num_classes, self.hidden)

  def encode(self, images: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """images float [B, H, W, C] -> (mu, logvar), each [B, d]."""
    return self.encoder(images)

  def decode(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> images float [B, H, W, C]."""
    return self.decoder(z)

  def classify(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> logits [B, C]."""
    return self.classifier(z)

  def features(self, images: jnp.ndarray) -> jnp.ndarray:
    """images [B, H, W, C] -> the classifier's hidden features at mu, [B, hidden]."""
    mu, _ = self.encoder(images)
    return self.classifier.features(mu)

  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, C] at the mean code mu. Initialization also builds the decoder."""
    del train  # no dropout or batch norm
    mu, _ = self.encoder(images)
    if self.is_initializing():
      self.decoder(mu)
    return self.classifier(mu)


class ChromaVAE(SitarVAE):
  """SitarVAE whose code is split: z1 = z[:, :shortcut_dims] feeds `shortcut_classifier`, which pulls the
  shortcut into z1 during training; z2 = z[:, shortcut_dims:] feeds `classifier`, the one used for predictions."""
  shortcut_dims: int = 1
  FIELD_RULES = {**SitarVAE.FIELD_RULES, "shortcut_dims": integer(1)}
  FIELD_RELATIONS = (relation(("shortcut_dims", "latent_dim"), lambda s, d: s < d,
                              "shortcut_dims (z1) must leave at least one latent dimension for z2"),)

  @property
  def blocks(self) -> tuple[str, ...]:
    return ("encoder", "decoder", "classifier", "shortcut_classifier")

  def setup(self):
    super().setup()
    self.shortcut_classifier = LatentClassifier(self.num_classes, self.hidden)

  def split(self, z: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """z [B, d] -> (z1 [B, shortcut_dims], z2 [B, d - shortcut_dims])."""
    return z[:, :self.shortcut_dims], z[:, self.shortcut_dims:]

  def classify(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> logits [B, C] of the classifier on z2."""
    return self.classifier(self.split(z)[1])

  def classify_shortcut(self, z: jnp.ndarray) -> jnp.ndarray:
    """z [B, d] -> logits [B, C] of the shortcut classifier on z1."""
    return self.shortcut_classifier(self.split(z)[0])

  def features(self, images: jnp.ndarray) -> jnp.ndarray:
    mu, _ = self.encoder(images)
    return self.classifier.features(self.split(mu)[1])

  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, C] of the z2 classifier at mu."""
    del train
    mu, _ = self.encoder(images)
    if self.is_initializing():
      self.decoder(mu)
      self.classify_shortcut(mu)
    return self.classify(mu)


def sample_latent(mu: jnp.ndarray, logvar: jnp.ndarray, rng: jax.Array) -> jnp.ndarray:
  """The reparameterized sample z = mu + sigma * eps, eps ~ N(0, I). mu, logvar [B, d] -> z [B, d]."""
  return mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape)
