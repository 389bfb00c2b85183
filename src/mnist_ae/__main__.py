"""``python -m mnist_ae``: the ``mnist-ae`` command, where the console script is not on PATH."""

from .launch import main

main()
