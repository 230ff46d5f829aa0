"""The one-command demo (``python tools/demo.py``) and the shipped demo model.

* :mod:`sam2.demo.assets`    where the shipped checkpoints (256-px demo model, 128-px one) and their configs are
* :mod:`sam2.demo.pipeline`  held-out split -> inference with RCMS on / off -> scores
* :mod:`sam2.demo.table`     the printed comparison table
* :mod:`sam2.demo.visualize` overlays, the animated GIF and the picture strip
"""

from sam2.demo.assets import (
    DEMO_IMAGE_SIZE,
    SHIPPED_MODELS,
    ShippedModel,
    DEMO_CONFIG,
    DEMO_TRAINING_SEED,
    demo_checkpoint_path,
    require_demo_checkpoint,
)
from sam2.demo.pipeline import DemoResult, DemoSettings, run_demo
from sam2.demo.table import ScoreRow, format_table

__all__ = [
    "DEMO_IMAGE_SIZE",
    "SHIPPED_MODELS",
    "ShippedModel",
    "DEMO_CONFIG",
    "DEMO_TRAINING_SEED",
    "DemoResult",
    "DemoSettings",
    "ScoreRow",
    "demo_checkpoint_path",
    "format_table",
    "require_demo_checkpoint",
    "run_demo",
]
