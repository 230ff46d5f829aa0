"""SAM2AutomaticMaskGenerator refuses settings that cannot mean anything, naming setting and value."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

OWNER = "SAM2AutomaticMaskGenerator: "


@pytest.mark.parametrize("name, value, error, message", [
    ("points_per_side", 0, ValueError, "points_per_side must be >= 1, got 0"),
    ("points_per_side", 2.5, ValueError, "points_per_side must be an integer, got 2.5"),
    ("points_per_side", "32", TypeError, "points_per_side must be a number, got '32'"),
    ("points_per_batch", 0, ValueError, "points_per_batch must be >= 1, got 0"),
    ("pred_iou_thresh", math.nan, ValueError, "pred_iou_thresh must be a finite number, got nan"),
    ("pred_iou_thresh", 1.5, ValueError, "pred_iou_thresh must be >= 0 and <= 1, got 1.5"),
    ("stability_score_thresh", -0.1, ValueError, "stability_score_thresh must be >= 0 and <= 1, got -0.1"),
    ("stability_score_offset", math.inf, ValueError, "stability_score_offset must be a finite number, got inf"),
    ("mask_threshold", math.nan, ValueError, "mask_threshold must be a finite number, got nan"),
    ("box_nms_thresh", 2.0, ValueError, "box_nms_thresh must be >= 0 and <= 1, got 2.0"),
    ("crop_n_layers", -1, ValueError, "crop_n_layers must be >= 0, got -1"),
    ("crop_nms_thresh", math.nan, ValueError, "crop_nms_thresh must be a finite number, got nan"),
    ("crop_overlap_ratio", 1.0, ValueError, "crop_overlap_ratio must be >= 0 and < 1, got 1.0"),
    ("crop_n_points_downscale_factor", 0, ValueError, "crop_n_points_downscale_factor must be >= 1, got 0"),
    ("min_mask_region_area", -5, ValueError, "min_mask_region_area must be >= 0, got -5"),
    ("pred_iou_thresh", True, TypeError, "pred_iou_thresh must be a number, got True"),
])
def test_bad_setting_is_refused(name, value, error, message) -> None:
    with pytest.raises(error) as err:
        SAM2AutomaticMaskGenerator(object(), **{name: value})
    assert str(err.value) == OWNER + message


def test_official_defaults_pass_the_checks() -> None:
    from sam2.automatic_mask_generator import _SETTING_RANGES, _check_settings
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(SAM2AutomaticMaskGenerator).parameters.items()}
    _check_settings({k: defaults[k] for k in _SETTING_RANGES})


@pytest.mark.parametrize("grid, shown", [
    ([[0.5, float("nan")]], "values nan..nan"),
    ([[0.5, 1.5]], "values 0.5..1.5"),
    (np.zeros((0, 2)), "no points"),
])
def test_bad_point_grid_is_refused(grid, shown) -> None:
    with pytest.raises(ValueError) as err:
        SAM2AutomaticMaskGenerator(object(), points_per_side=None, point_grids=[np.asarray(grid, float)])
    assert str(err.value) == (OWNER + "point_grids[0] must hold at least one normalised (x, y) point with finite "
                              f"values in [0, 1], got {shown}")
