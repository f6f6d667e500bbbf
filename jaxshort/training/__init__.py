"""Train state, jitted steps, metrics, optimizers, checkpoints and the training loop."""
