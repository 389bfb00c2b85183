"""Which process this is under ``torchrun``, readable before torch is imported."""

from __future__ import annotations

import os

MAIN_RANK = 0
SEED_LIMIT = 2**32  # every torch generator takes seeds below this; a shared seed is drawn below it too


def is_main_process() -> bool:
    """Whether this process may print; true outside torchrun. Usable before any set-up."""
    return os.environ.get("RANK", str(MAIN_RANK)) == str(MAIN_RANK)


def is_single_process() -> bool:
    """Whether this process runs alone, not as one of torchrun's several."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) <= 1
    except ValueError:  # torchrun's environment, garbled: not a plain single process
        return False
