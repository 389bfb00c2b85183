"""``python -m mnist_ae``: the ``mnist-ae`` command, where the console script is not on PATH."""

import sys

from .cli import main

sys.exit(main())
