"""The training data source: a dataset, a resumable distributed batch order and a DataLoader."""
from __future__ import annotations

import logging
from typing import Callable, Iterator, List, Optional, Sequence

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

log = logging.getLogger(__name__)


class ResumableDistributedBatchSampler(Sampler[List[int]]):
    """Batches of one rank for one epoch, in an order fixed by ``(seed, epoch)``.

    Every rank draws the same permutation, keeps every ``world_size``-th index (so all ranks
    get the same number of batches), and can start at batch ``start_batch`` (the sampler
    position saved in a checkpoint) to resume an epoch exactly.
    """

    def __init__(
        self,
        dataset_len: int,
        batch_size: int,
        rank: int,
        world_size: int,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        drop_last: bool = True,
        start_batch: int = 0,
    ) -> None:
        self.dataset_len = dataset_len
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = epoch
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.start_batch = start_batch

    def _rank_indices(self) -> List[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.dataset_len, generator=g).tolist()
        else:
            order = list(range(self.dataset_len))
        per_rank = len(order) // self.world_size
        if per_rank == 0:
            # fewer samples than ranks: wrap around so every rank trains
            order = (order * self.world_size)[: self.world_size]
            per_rank = 1
        return order[self.rank:: self.world_size][:per_rank]

    def num_batches(self) -> int:
        n = len(self._rank_indices())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[List[int]]:
        idx = self._rank_indices()
        for b in range(self.start_batch, self.num_batches()):
            yield idx[b * self.batch_size: (b + 1) * self.batch_size]

    def __len__(self) -> int:
        return max(0, self.num_batches() - self.start_batch)


class TorchTrainMixedDataset:
    """Builds the per-epoch DataLoader of the training data.

    Args:
        datasets: datasets to concatenate (the configs use one).
        batch_sizes: per-rank batch size (one per dataset; they must agree).
        num_workers: data-loading worker processes per rank.
        shuffle, pin_memory, drop_last: DataLoader options (pinned memory on CUDA only).
        collate_fn: partial of :func:`training.utils.data_utils.collate_fn`.
        phases_per_epoch: accepted for config compatibility; must be 1.
    """

    def __init__(
        self,
        datasets: Sequence[Dataset],
        batch_sizes: Sequence[int],
        num_workers: int,
        shuffle: bool,
        pin_memory: bool,
        drop_last: bool,
        collate_fn: Callable,
        worker_init_fn: Optional[Callable] = None,
        phases_per_epoch: int = 1,
        dataset_prob: Optional[Sequence[float]] = None,
    ) -> None:
        if int(phases_per_epoch) != 1:
            raise ValueError("phases_per_epoch other than 1 is not supported")
        sizes = {int(b) for b in batch_sizes}
        if len(sizes) != 1:
            raise ValueError(f"all datasets must share one batch size, got {list(batch_sizes)}")
        self.dataset = datasets[0] if len(datasets) == 1 else ConcatDataset(list(datasets))
        self.batch_size = sizes.pop()
        self.num_workers = int(num_workers)
        self.shuffle = shuffle
        self.pin_memory = pin_memory
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.worker_init_fn = worker_init_fn

    def _set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        for d in getattr(self.dataset, "datasets", []):
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def batch_sampler(self, epoch: int, rank: int, world_size: int, seed: int, start_batch: int = 0):
        return ResumableDistributedBatchSampler(
            len(self.dataset), self.batch_size, rank, world_size, seed, epoch,
            shuffle=self.shuffle, drop_last=self.drop_last, start_batch=start_batch,
        )

    def get_loader(
        self, epoch: int, rank: int, world_size: int, seed: int, start_batch: int = 0, use_cuda: bool = False
    ) -> DataLoader:
        """The loader of ``epoch`` for ``rank``, starting at batch ``start_batch``."""
        self._set_epoch(epoch)
        sampler = self.batch_sampler(epoch, rank, world_size, seed, start_batch)
        return DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=bool(self.pin_memory and use_cuda),
            collate_fn=self.collate_fn,
            worker_init_fn=self.worker_init_fn,
            persistent_workers=False,
            # a private generator: creating the loader must not consume the global RNG, or a
            # resumed run would drift from an uninterrupted one
            generator=torch.Generator().manual_seed(seed * 1000 + epoch),
        )
