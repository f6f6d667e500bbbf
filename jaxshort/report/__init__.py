"""Figures and tables written into the workdir."""
