"""``python -m aelab``: the ``aelab`` command, where the console script is not on PATH."""

from .launch import main

main()
