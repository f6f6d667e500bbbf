"""What does SITAR's explicit Jacobian penalty cost? One SITAR train step (VAE + classifier, Colored MNIST
shapes) with the paper's noise objective, against the same step with the forward-mode penalty (exact over all d
latent directions, and the one-sample estimate), and with the same exact penalty built from `jax.jacrev` /
`jax.hessian` full Jacobians instead of `jax.jvp`.

    python benchmarks/jacobian_penalty.py [--latent_dim 10] [--batch_size 128] [--repeats 5]

Backbone and data shapes of configs/sitar/colored_mnist.py (14x14x3 images, encoder channels 16-32, d = 10),
random images and labels. The host CPU is split into one JAX device per core, as launch.py does. Each variant
is compiled and warmed up, then the variants are timed in turn, `--repeats` rounds of `--steps` steps; medians.
Target: the exact penalty step costs at most 2x the noise step at d = 10.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxshort.training import sharding  # pylint: disable=wrong-import-position

sharding.configure_cpu_devices(0)

import jax  # pylint: disable=wrong-import-position,g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=wrong-import-position,g-import-not-at-top
import optax  # pylint: disable=wrong-import-position,g-import-not-at-top

from jaxshort import models  # pylint: disable=wrong-import-position
from jaxshort.sitar import SitarHParams, sitar_loss  # pylint: disable=wrong-import-position
from jaxshort.sitar.loss import encode_sample_decode  # pylint: disable=wrong-import-position
from jaxshort.sitar.penalty import excess_terms  # pylint: disable=wrong-import-position
from jaxshort.sitar.scores import shortcut_scores  # pylint: disable=wrong-import-position
from jaxshort.training.state import create_train_state  # pylint: disable=wrong-import-position
from jaxshort.models import init_variables  # pylint: disable=wrong-import-position
from jaxshort.training.steps import make_train_step, stateless_objective  # pylint: disable=wrong-import-position


def full_jacobian_loss(params, apply_fn, images, labels, rng, hp: SitarHParams, num_classes: int):
  """The exact penalty of sitar/penalty.py built from full per-example Jacobians and Hessians (jacrev, hessian)."""
  vae_rng, _ = jax.random.split(rng)
  mu, z, l_vae, metrics = encode_sample_decode(apply_fn, params, images, vae_rng, hp.beta)
  scale = hp.alpha * shortcut_scores(mu, labels, num_classes)
  classify_one = lambda code: apply_fn({"params": params}, code[None], method="classify")[0]  # [d] -> [C]
  logits = jax.vmap(classify_one)(z)                                    # [B, C]
  jacobians = jax.vmap(jax.jacrev(classify_one))(z)                     # [B, C, d]
  hessians = jax.vmap(jax.hessian(classify_one))(z)                     # [B, C, d, d]
  second = jnp.diagonal(hessians, axis1=2, axis2=3)                     # [B, C, d]: d2f/dz_i^2
  terms = jax.vmap(lambda j, s: excess_terms(logits, j, s, labels, hp.lambda_cons), in_axes=(2, 2))(
      jacobians, second)                                                # [d, B]
  penalty = jnp.sum(scale[:, None]**2 * terms, 0)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return l_vae + jnp.mean(ce + penalty), {**metrics, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}


def make_step(variant: str, hp_kwargs: dict, num_classes: int):
  if variant == "jacrev_hessian":
    hp = SitarHParams(**hp_kwargs)
    loss = lambda p, f, b, r: full_jacobian_loss(p, f, b["image"], b["label"], r, hp, num_classes)
  else:
    hp = SitarHParams(**hp_kwargs, method=variant)
    loss = lambda p, f, b, r: sitar_loss(p, f, b["image"], b["label"], r, hp, num_classes)
  return make_train_step(stateless_objective(loss))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--latent_dim", type=int, default=10)
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  num_classes, image_shape = 2, (14, 14, 3)
  model = models.MODELS.get("sitar_vae")(num_classes=num_classes, latent_dim=args.latent_dim, channels=(16, 32),
                                         hidden=128, image_shape=image_shape)
  variables = init_variables(model, jax.random.key(0), image_shape)
  rng = np.random.default_rng(0)
  mesh = sharding.data_mesh()
  batch = sharding.shard_batch({"image": rng.integers(0, 256, (args.batch_size, *image_shape), dtype=np.uint8),
                                "label": rng.integers(0, num_classes, args.batch_size).astype(np.int32)}, mesh)
  hp = {"alpha": 1.0, "beta": 2.0, "lambda_cons": 10.0}
  variants = ("noise", "penalty_exact", "penalty_sample", "jacrev_hessian")
  steps, states = {}, {}
  for name in variants:
    steps[name] = make_step(name, hp, num_classes)
    own = jax.tree.map(jnp.copy, variables)  # the step donates its state: each variant gets its own buffers
    state = sharding.replicate(create_train_state(model, own, optax.adam(1e-3)), mesh)
    for _ in range(3):  # compile and warm up
      state, metrics = steps[name](state, batch, jax.random.key(1))
    jax.block_until_ready(metrics)
    states[name] = state

  times = {name: [] for name in variants}
  for _ in range(args.repeats):
    for name in variants:  # interleaved, so load changes hit every variant alike
      state, t0 = states[name], time.perf_counter()
      for _ in range(args.steps):
        state, metrics = steps[name](state, batch, jax.random.key(1))
      jax.block_until_ready(metrics)
      times[name].append((time.perf_counter() - t0) / args.steps)
      states[name] = state

  base = statistics.median(times["noise"])
  print(f"SITAR train step, d = {args.latent_dim}, batch {args.batch_size}, {jax.device_count()} devices, "
        f"load {open('/proc/loadavg').read().split()[:3]}")
  print("| variant | ms / step | vs noise |")
  print("|---|---|---|")
  for name in variants:
    median = statistics.median(times[name])
    print(f"| {name} | {1000 * median:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
  main()
