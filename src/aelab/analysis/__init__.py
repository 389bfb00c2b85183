"""Studying trained models: evaluation against PCA, sweeps, latent figures, the lab's Steps 4-6,
plots and the speed benchmark. Importing this package is free (no torch)."""
