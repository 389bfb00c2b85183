"""Data-parallel training over the processes ``torchrun`` starts, and its single-process twin.

``torchrun --nproc_per_node N train.py ...`` starts N copies of the command and tells each
its place through environment variables; :func:`from_env` reads them. A plain
``python train.py`` gets :class:`SingleProcess`, whose hooks do nothing, so the trainer calls
them unconditionally and a one-process run pays nothing for the many-process path.

Sharding (the batch sources in :mod:`.batches` do the cutting). ``-b`` is the global batch.
Every rank draws the same permutation each epoch (the shuffle seed is shared) and cuts every
global batch of it into ``world_size`` contiguous shares whose sizes differ by at most one.
A rank's loss is the mean over its share times
``share_size * world_size / global_batch_size``, so DDP's mean of the ranks' gradients is the
gradient of the mean loss over the whole global batch: the same step a single process takes,
uneven and short last batches included. A share left empty (a last batch with fewer images
than ranks) takes one image at weight 0, so every rank still joins the gradient all-reduce.
"""

from __future__ import annotations

import gc
import os
import secrets
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import UserError
from .batches import Shares
from .processes import MAIN_RANK, SEED_LIMIT


class SingleProcess:
    """One process, one device: every collective is the identity."""

    rank = MAIN_RANK
    world_size = 1
    is_main = True
    peer_errors: tuple[type[Exception], ...] = ()  # what a collective raises when a peer dies

    def __init__(self, device: str = "auto"):
        self.device = device  # what --device asked for, or this rank's GPU under torchrun

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass

    def say(self, *args, **kwargs) -> None:
        """``print``, on the main process only."""
        if self.is_main:
            print(*args, **kwargs)

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather(self, value) -> list:
        return [value]

    def entry_for_this_rank(self, per_rank: list):
        """This rank's entry of an :meth:`all_gather` result saved by a run of any size."""
        return per_rank[self.rank % len(per_rank)]

    def from_main(self, load):
        """``load()`` on the main process, its result (or its UserError) on every process."""
        return load()

    def main_first(self, load):
        """``load()`` on the main process, then on the others: one download, not N at once."""
        return load()

    def main_only(self, load):
        """``load()`` on the main process, None on the others; its UserError stops them all."""
        loaded = []
        self.from_main(lambda: loaded.append(load()))
        return loaded[0] if loaded else None

    def shared_seed(self, seed: int | None) -> int | None:
        return seed

    def shard(self, batches):
        return batches

    def wrap(self, objective: nn.Module, batches) -> nn.Module:
        return objective


class ProcessGroup(SingleProcess):
    """One of ``world_size`` processes: NCCL between GPUs, gloo between CPU processes."""

    # gloo and NCCL report a vanished peer as a bare RuntimeError from inside the collective.
    peer_errors = (RuntimeError,)

    def __init__(self, rank: int, world_size: int, local_rank: int, device: str):
        super().__init__(device)
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.is_main = rank == MAIN_RANK
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)  # NCCL and the object collectives use the current GPU
        try:
            dist.init_process_group(backend, rank=rank, world_size=world_size)
        except (ValueError, RuntimeError) as err:
            raise UserError(
                f"cannot join the torchrun process group ({str(err).splitlines()[0]}); "
                "launch with torchrun as the README shows"
            ) from None

    def close(self) -> None:
        # The run's DDP wrapper can sit in a reference cycle, and it holds the gloo group. Left
        # to the interpreter's exit, gloo's threads die mid-teardown and the process aborts
        # ("terminate called without an active exception"), so free it while all is alive.
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)  # gloo has no AVG; a SUM then a divide works on both backends
        return total / self.world_size

    def all_gather(self, value) -> list:
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def from_main(self, load):
        payload = [None]
        if self.is_main:
            try:
                payload[0] = (load(), None)
            except UserError as err:
                payload[0] = (None, str(err))
        dist.broadcast_object_list(payload, src=MAIN_RANK)
        value, error = payload[0]
        if error is not None:
            raise UserError(error)
        return value

    def main_first(self, load):
        value = self.from_main(load)
        if self.is_main:
            return value
        try:
            return load()
        except UserError as err:  # only this process knows (another machine's files): say so here
            print(f"rank {self.rank}: error: {err}", file=sys.stderr)
            raise

    def shared_seed(self, seed: int | None) -> int:
        # Every rank must draw the same permutation, so an unseeded run still shares one seed.
        return seed if seed is not None else self.from_main(lambda: secrets.randbelow(SEED_LIMIT))

    def shard(self, batches):
        return batches.shard(Shares(self.rank, self.world_size))

    def wrap(self, objective: nn.Module, batches) -> nn.Module:
        device_ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(ShareWeightedLoss(objective, batches.weight), device_ids=device_ids)


def from_env(device: str) -> SingleProcess:
    """The process group torchrun described in the environment, or a single process."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return SingleProcess(device)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    except (KeyError, ValueError) as err:
        raise UserError(
            f"torchrun's environment is incomplete ({err}); launch with torchrun as the README shows"
        ) from None
    return ProcessGroup(rank, world_size, local_rank, local_device(device, local_rank))


def local_device(device: str, local_rank: int) -> str:
    """The device of one torchrun process: its own GPU, or the CPU."""
    if device.startswith("cuda:"):
        raise UserError(
            f"--device {device} names one GPU, but under torchrun each process takes the "
            "GPU of its local rank; use --device cuda or auto"
        )
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if device not in ("auto", "cuda"):
        return device  # make_runtime names the problem
    if not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    if local_rank >= torch.cuda.device_count():
        raise UserError(
            f"this node runs more processes than its {torch.cuda.device_count()} GPUs; "
            f"use --nproc_per_node {torch.cuda.device_count()} or less"
        )
    return f"cuda:{local_rank}"


class ShareWeightedLoss(nn.Module):
    """The rank's mean loss times its share's weight; DDP's mean over ranks is then exact."""

    def __init__(self, objective: nn.Module, weight: torch.Tensor):
        super().__init__()
        self.objective = objective
        # A plain attribute, not a buffer: DDP would overwrite buffers with rank 0's each step.
        self.weight = weight

    def forward(self, *args):
        return self.objective(*args) * self.weight
