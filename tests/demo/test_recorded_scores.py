"""The shipped models' recorded scores (sam2/checkpoints/<checkpoint>_scores.json; the demo
model's are printed by `python tools/demo.py`) are the numbers the model record shows, and the
demo model's are the numbers of the README."""
import json
from pathlib import Path

import pytest

from sam2.demo import DEMO_IMAGE_SIZE, SHIPPED_MODELS

ROOT = Path(__file__).resolve().parents[2]
SCORES = SHIPPED_MODELS[DEMO_IMAGE_SIZE].scores_path


@pytest.mark.parametrize("image_size", sorted(SHIPPED_MODELS))
def test_readme_and_record_show_the_recorded_scores(image_size):
    shipped = SHIPPED_MODELS[image_size]
    doc = json.loads(shipped.scores_path.read_text(encoding="utf-8"))
    assert doc["model"] == f"sam2/checkpoints/{shipped.checkpoint_name}"
    places = {"record": (ROOT / "sam2" / "checkpoints" / "sam2.1_hiera_demo.md").read_text(encoding="utf-8")}
    if image_size == DEMO_IMAGE_SIZE:
        places["README"] = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(doc["splits"]) == 2
    for entry in doc["splits"]:
        for run in ("rcms_off", "rcms_on"):
            m = entry[run]
            for where, text in places.items():
                for key in ("J&F_new", "J", "F_new", "disappear_J&F_new", "reappear_J&F_new"):
                    assert f"{m[key]:.2f}" in text, (where, entry["description"], run, key)
                if "photographic" in entry["description"]:  # the photographic rows show the interval
                    interval = f"{m['J&F_new']:.2f} [{m['J&F_new_ci'][0]:.2f}, {m['J&F_new_ci'][1]:.2f}]"
                    assert interval in text, (where, run, interval)


def test_demo_prints_the_recorded_scores():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_tool_recorded", ROOT / "tools" / "demo.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = "\n".join(tool.recorded_lines())
    doc = json.loads(SCORES.read_text(encoding="utf-8"))
    for entry in doc["splits"]:
        assert entry["description"] in text
        for run in ("rcms_off", "rcms_on"):
            assert f"J&Ḟ {entry[run]['J&F_new']:.2f}" in text
