"""Is the hybrid table fast? All 2^K hybrids in one compiled program (jaxshort.localization.hybrids), by both
methods (prefix tree, the default, and per mask), against a Python loop over the hybrids (splice, then a jitted
evaluation per mask), and the cost of one hybrid against one plain forward pass of the same test set.

    python benchmarks/hybrid_table.py [--examples 512] [--repeats 3]

Model: SmallCNN with 5 conv blocks + head (K = 6 blocks, 64 hybrids), 32x32x3 inputs, 10 classes, two random
initializations as the (clean, skewed) pair. The host CPU is split into one JAX device per core, as launch.py
does. Each variant is compiled and run once, then timed `--repeats` times in turn (interleaved); medians.
Targets: the table >= 10x faster than the loop, and per hybrid <= 1.2x a plain forward pass.
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

from jaxshort.data.arrays import make_split  # pylint: disable=wrong-import-position
from jaxshort.data.pipeline import eval_batches, normalize_images  # pylint: disable=wrong-import-position
from jaxshort.localization import hybrids  # pylint: disable=wrong-import-position
from jaxshort.localization.splice import all_masks, splice  # pylint: disable=wrong-import-position
from jaxshort.models.simple import SmallCNN  # pylint: disable=wrong-import-position
from jaxshort.training.metrics import count_correct  # pylint: disable=wrong-import-position
from jaxshort.models import init_variables  # pylint: disable=wrong-import-position

NUM_CLASSES, NUM_GROUPS = 10, 1


def test_split(num_examples: int):
  rng = np.random.default_rng(0)
  return make_split(rng.integers(0, 256, (num_examples, 32, 32, 3), dtype=np.uint8),
                    rng.integers(0, NUM_CLASSES, num_examples))


def eval_step(model):
  """Jitted (variables, batch) -> counts; built once, so timed runs never recompile."""
  return jax.jit(lambda v, batch: count_correct(model.apply(v, normalize_images(batch["image"]), train=False),
                                                batch, NUM_CLASSES, NUM_GROUPS))


def loop_table(step, clean, skewed, blocks, masks, split, mesh, batch_size):
  """The table the slow way: for each mask, splice outside jit and evaluate batch by batch."""
  rows = []
  for mask in masks:
    variables = splice(clean, skewed, mask, blocks)
    totals = [step(variables, sharding.shard_batch(batch, mesh)) for batch in eval_batches(split, batch_size)]
    rows.append(jax.device_get(jax.tree.map(lambda *x: sum(x), *totals)))
  return rows


def forward_pass(step, variables, split, mesh, batch_size):
  """One plain forward pass (+ counts) over the split, data-parallel over the mesh."""
  totals = [step(variables, sharding.shard_batch(batch, mesh)) for batch in eval_batches(split, batch_size)]
  return jax.device_get(jax.tree.map(lambda *x: sum(x), *totals))


def load() -> str:
  with open("/proc/loadavg", encoding="utf-8") as f:
    return " ".join(f.read().split()[:3])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--examples", type=int, default=512, help="test-set size")
  parser.add_argument("--chunk_size", type=int, default=256, help="batch size of every variant")
  parser.add_argument("--widths", default="16,32,32,64,64", help="conv block widths (K = this many + 1)")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  model = SmallCNN(num_classes=NUM_CLASSES, widths=tuple(int(w) for w in args.widths.split(",")))
  blocks = model.blocks
  clean = init_variables(model, jax.random.key(0), (32, 32, 3))
  skewed = init_variables(model, jax.random.key(1), (32, 32, 3))
  masks = all_masks(len(blocks))
  split = test_split(args.examples)
  mesh = sharding.data_mesh()
  sharded_clean = sharding.replicate(clean, mesh)
  step = eval_step(model)

  def table(method):
    return lambda: hybrids.hybrid_counts(model, clean, skewed, blocks, masks, {"test": split}, NUM_CLASSES,
                                         NUM_GROUPS, args.chunk_size, method)

  variants = {
      "table, prefix tree": table("prefix_tree"),
      "table, per mask": table("per_mask"),
      "loop over hybrids": lambda: loop_table(step, clean, skewed, blocks, masks, split, mesh, args.chunk_size),
      "plain forward": lambda: forward_pass(step, sharded_clean, split, mesh, args.chunk_size),
  }
  seconds = {name: [] for name in variants}
  for name, run in variants.items():
    run()  # compile
  for _ in range(args.repeats):
    for name, run in variants.items():
      start = time.perf_counter()
      run()
      seconds[name].append(time.perf_counter() - start)
  median = {name: statistics.median(s) for name, s in seconds.items()}

  loop, forward = median["loop over hybrids"], median["plain forward"]
  print(f"jax {jax.__version__}, {jax.device_count()} CPU devices; K = {len(blocks)} blocks {blocks}, "
        f"{len(masks)} hybrids, {args.examples} test examples in batches of {args.chunk_size}; "
        f"median of {args.repeats}; load after: {load()}")
  print(f"  {'variant':<22}{'seconds':>9}{'per hybrid ms':>15}")
  for name, value in median.items():
    per = value / (1 if name == "plain forward" else len(masks))
    print(f"  {name:<22}{value:>9.3f}{per * 1e3:>15.1f}")
  for name in ("table, prefix tree", "table, per mask"):
    table = median[name]
    print(f"  {name}: {loop / table:.1f}x faster than the loop (target >= 10x); per hybrid "
          f"{table / len(masks) / forward:.2f}x a plain forward pass (target <= 1.2x)")


if __name__ == "__main__":
  main()
