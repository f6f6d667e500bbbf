"""jaxshort: measuring and mitigating shortcut learning in deep networks, in JAX/Flax."""

__version__ = "0.1.0"
