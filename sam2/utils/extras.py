"""The error of a missing optional dependency (an extra of the package)."""
from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it
    (e.g. ``pip install "sam2-rcms[video]"``)."""
