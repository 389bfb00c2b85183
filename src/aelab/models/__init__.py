"""Autoencoder families. Each offers ``encode``, ``decode``, ``forward`` and ``interpolate``,
so the trainer, the evaluation and the explorer never ask which one they hold.

Importing this package is free (no torch); import the family's module to use it.
"""
