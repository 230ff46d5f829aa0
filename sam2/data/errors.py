"""The error raised for bad or missing data on disk (shared by the data readers)."""
from __future__ import annotations

import os


class DataFormatError(ValueError):
    """Bad or missing data on disk; ``path`` names the file or folder at fault."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):  # keep (path, message) across process boundaries
        return (type(self), (self.path, self.message))


__all__ = ["DataFormatError"]
