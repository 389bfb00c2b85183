"""Where a run's batches come from: the whole split on the device as floats, or streamed a batch at a
time from its uint8 images (in memory, or memory-mapped from the cache of a folder) by a DataLoader.

Both shuffle from a generator of their own, seeded by the run, so a run repeats exactly and
its data order can be saved and resumed. Under torchrun each source cuts every global batch
into per-process shares (:meth:`shard`); see :mod:`.distributed` for why the shares are
weighted as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from ..data.images import ImageSet, streaming_loader
from ..data.sources import PIXEL_MAX
from ..errors import UserError
from .config import TrainConfig

# Above this many bytes of float32 images the data streams (from disk, for a folder's cache) instead of
# living on the device as one float tensor.
MEMORY_LOADER_LIMIT_BYTES = 4 * 1024**3
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class Shares:
    """Rank ``rank``'s contiguous share of any global batch, and that share's loss weight."""

    rank: int
    world_size: int

    def take(self, batch):
        """``(share, weight)``; the weights over all ranks average to 1."""
        base, extra = divmod(len(batch), self.world_size)
        start = self.rank * base + min(self.rank, extra)
        size = base + (self.rank < extra)
        if size == 0:
            return batch[:1], 0.0  # a stand-in that counts for nothing, so this rank still steps
        return batch[start : start + size], size * self.world_size / len(batch)


def check_shardable(batch_size: int, world_size: int) -> None:
    if batch_size < world_size:
        raise UserError(
            f"-b {batch_size} is the global batch and cannot be split over "
            f"{world_size} processes; use -b {world_size} or more"
        )


class MemoryBatches:
    """Batches sliced from one device tensor; one ``randperm`` per epoch, the last batch kept short."""

    loader = "memory"  # what --loader calls this source

    def __init__(self, data: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, batch_size, generator
        self._buffers: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return math.ceil(len(self.data) / self.batch_size)

    def batch_sizes(self) -> list[int]:
        """The distinct batch sizes an epoch yields: the full one, and the short last one if any."""
        return sorted({min(self.batch_size, len(self.data)), len(self.data) % self.batch_size} - {0})

    def index_batches(self):
        """This epoch's permutation, cut into batches of indices."""
        order = torch.randperm(len(self.data), generator=self.generator, device=self.generator.device)
        return order.split(self.batch_size)

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at ``indices``, in a buffer kept for that batch size and overwritten by
        the next batch of that size (a fresh one per batch costs page faults on a CPU)."""
        out = self._buffers.get(len(indices))
        if out is None:
            out = self._buffers[len(indices)] = self.data.new_empty((len(indices), *self.data.shape[1:]))
        # index_select, not data[indices]: the faster gather on a CPU.
        return torch.index_select(self.data, 0, indices, out=out)

    def __iter__(self):
        for batch in self.index_batches():
            yield self.gather(batch)

    def shard(self, shares: Shares) -> ShardedMemoryBatches:
        check_shardable(self.batch_size, shares.world_size)
        return ShardedMemoryBatches(self, shares)


class ShardedMemoryBatches:
    """This rank's shares of :class:`MemoryBatches`' global batches."""

    loader = MemoryBatches.loader

    def __init__(self, batches: MemoryBatches, shares: Shares):
        self.batches, self.shares = batches, shares
        self.generator, self.batch_size = batches.generator, batches.batch_size
        # Written in place before each step, so a compiled step reads it without recompiling.
        self.weight = torch.ones((), device=batches.data.device)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches.index_batches():
            share, weight = self.shares.take(batch)
            self.weight.fill_(weight)
            yield self.batches.gather(share)


class StreamBatches:
    """The DataLoader's uint8 batches, made floats in [0, 1] on the device one batch at a time (the
    values :meth:`ImageSet.floats` gives), so no float copy of the whole split is ever made."""

    loader = "stream"

    def __init__(self, dataloader: DataLoader, device: torch.device, generator: torch.Generator, batch_size: int):
        # not self.loader: that names the kind of source, as on every source
        self.dataloader, self.device, self.generator, self.batch_size = dataloader, device, generator, batch_size

    def __len__(self) -> int:
        return len(self.dataloader)

    def __iter__(self):
        for images, _ in self.dataloader:
            yield as_floats(images, self.device)

    def shard(self, shares: Shares) -> ShardedStreamBatches:
        check_shardable(self.batch_size, shares.world_size)
        return ShardedStreamBatches(self, shares)


def as_floats(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``B x C x H x W`` as flat floats on ``device``: moved as bytes, a quarter of the floats."""
    return images.to(device, non_blocking=True).reshape(len(images), -1).float().div_(PIXEL_MAX)


class ShareSampler:
    """A batch sampler of this rank's shares of another batch sampler's global batches."""

    def __init__(self, batches: BatchSampler, shares: Shares):
        self.batches, self.shares = batches, shares

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield self.shares.take(batch)[0]


class ShardedStreamBatches:
    """The DataLoader reading only this rank's share of each global batch."""

    loader = StreamBatches.loader

    def __init__(self, batches: StreamBatches, shares: Shares):
        whole = batches.dataloader
        self.generator, self.device, self.shares = batches.generator, batches.device, shares
        self.batch_size, self.n_images = batches.batch_size, len(whole.dataset)
        # The same sampler chain as the single process's loader, so the same order.
        global_batches = BatchSampler(
            RandomSampler(whole.dataset, generator=self.generator), self.batch_size, drop_last=False
        )
        self.dataloader = DataLoader(
            whole.dataset,
            batch_size=None,
            sampler=ShareSampler(global_batches, shares),
            num_workers=whole.num_workers,
            generator=self.generator,
        )
        self.weight = torch.ones((), device=self.device)

    def __len__(self) -> int:
        return len(self.dataloader)

    def __iter__(self):
        for index, (images, _) in enumerate(self.dataloader):
            global_size = min(self.batch_size, self.n_images - index * self.batch_size)
            self.weight.fill_(self.shares.take(range(global_size))[1])
            yield as_floats(images, self.device)


def use_memory_loader(config: TrainConfig, n_images: int, n_pixels: int) -> bool:
    if config.loader != "auto":
        return config.loader == "memory"
    return n_images * n_pixels * FLOAT32_BYTES <= MEMORY_LOADER_LIMIT_BYTES


def seeded_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed) if seed is not None else generator.seed()
    return generator


def make_batches(train_set: ImageSet, config: TrainConfig, device: torch.device):
    """The run's batch source: the whole split on ``device`` as floats, or streamed from its uint8
    images when their float copy would pass :data:`MEMORY_LOADER_LIMIT_BYTES` (``--loader auto``).

    Shuffling draws from its own generator, seeded by ``config.seed``, so a run repeats exactly.
    """
    if use_memory_loader(config, len(train_set), train_set.n_pixels):
        return MemoryBatches(train_set.floats(device), config.batch_size, seeded_generator(config.seed, device))
    generator = seeded_generator(config.seed)
    return StreamBatches(
        streaming_loader(train_set, config.batch_size, generator=generator), device, generator, config.batch_size
    )
