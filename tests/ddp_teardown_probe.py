"""Run under torchrun: train, then count the DDP wrappers still in memory after the run."""

import gc
import sys

from torch.nn.parallel import DistributedDataParallel

from aelab.cli import script_main

gc.disable()  # only the run's own collections free cycles, so the count does not depend on timing
code = script_main("train", sys.argv[1:])
left = sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())
print(f"DDP wrappers left: {left}", flush=True)
sys.exit(code)
