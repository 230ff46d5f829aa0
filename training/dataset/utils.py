"""Dataset wrappers named by the SAM2 training configs."""
from __future__ import annotations

from typing import List, Sequence

from torch.utils.data import ConcatDataset as _TorchConcat
from torch.utils.data import Dataset


class ConcatDataset(_TorchConcat):
    """``torch`` ConcatDataset that forwards ``set_epoch`` to its parts."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        super().__init__(list(datasets))

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)


class RepeatFactorWrapper(Dataset):
    """Pass-through kept for config compatibility (repetition is ``VOSDataset.multiplier``)."""

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int):
        return self.dataset[idx]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
