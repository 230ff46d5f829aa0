"""Prompt masks of the video speed benchmark, shared by both sides (numpy only)."""
from typing import Dict, List

import numpy as np


def prompt_masks(masks: Dict[str, np.ndarray], count: int) -> List[np.ndarray]:
    """Frame-0 masks of ``count`` objects: the clip's disk, its square, then rectangles."""
    first = [masks["obj1"][0], masks["obj2"][0]]
    h, w = first[0].shape
    out = []
    for k in range(count):
        if k < len(first):
            out.append(first[k])
        else:
            rect = np.zeros((h, w), bool)
            y0, x0 = (h // 8) * (1 + k % 3), (w // 10) * (1 + k % 5)
            rect[y0:y0 + h // 5, x0:x0 + w // 6] = True
            out.append(rect)
    return out
