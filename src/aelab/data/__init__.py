"""Datasets: IDX files read directly, whole splits in memory, the lab's streaming loader, noise.

Importing this package is free (no torch); the modules below import it where they need it.
"""
