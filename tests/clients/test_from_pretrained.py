"""``from_pretrained`` with the official Hugging Face ids, through the real ``hf_hub_download``.

The hub cannot be reached from the test machine, so the test writes a local Hugging Face cache
(``models--facebook--sam2.1-hiera-tiny/{refs,blobs,snapshots}``) holding seeded official-format
weights and loads from it in a fresh process with ``HF_HUB_OFFLINE=1`` and ``HF_HOME`` /
``HF_HUB_CACHE`` pointing at the temporary folder (huggingface_hub reads them at import time).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sam2.build_sam import resolve_config
from sam2.sam2_image_predictor import SAM2ImagePredictor
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
from sam2.sam2_video_predictor import SAM2VideoPredictor
from sam2.utils.hub import HF_MODEL_ID_TO_FILENAMES, MissingExtraError, UnknownModelIdError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "parity"))
from seeded_ckpt import make_seeded_state_dict  # noqa: E402

# The official package's table (facts read from facebookresearch/sam2, sam2/build_sam.py).
OFFICIAL_IDS = {
    "facebook/sam2-hiera-tiny": ("configs/sam2/sam2_hiera_t.yaml", "sam2_hiera_tiny.pt"),
    "facebook/sam2-hiera-small": ("configs/sam2/sam2_hiera_s.yaml", "sam2_hiera_small.pt"),
    "facebook/sam2-hiera-base-plus": ("configs/sam2/sam2_hiera_b+.yaml", "sam2_hiera_base_plus.pt"),
    "facebook/sam2-hiera-large": ("configs/sam2/sam2_hiera_l.yaml", "sam2_hiera_large.pt"),
    "facebook/sam2.1-hiera-tiny": ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt"),
    "facebook/sam2.1-hiera-small": ("configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt"),
    "facebook/sam2.1-hiera-base-plus": ("configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt"),
    "facebook/sam2.1-hiera-large": ("configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt"),
}
CLASSES = (SAM2ImagePredictor, SAM2VideoPredictor, SAM2AutomaticMaskGenerator)


def test_id_table_is_the_official_one_and_every_config_ships() -> None:
    assert HF_MODEL_ID_TO_FILENAMES == OFFICIAL_IDS
    import sam2.build_sam as build_sam

    assert build_sam.HF_MODEL_ID_TO_FILENAMES == OFFICIAL_IDS  # the official module-level name
    for config, _ in OFFICIAL_IDS.values():
        assert resolve_config(config).external_dir is None  # shipped inside the package


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_unknown_id_lists_the_known_ids(cls: type) -> None:
    with pytest.raises(UnknownModelIdError) as info:
        cls.from_pretrained("facebook/sam2.1-hiera-huge")
    message = str(info.value)
    assert "'facebook/sam2.1-hiera-huge'" in message
    for model_id in OFFICIAL_IDS:
        assert model_id in message


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_without_the_extra_the_error_names_it(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # "not installed": import raises
    with pytest.raises(MissingExtraError) as info:
        cls.from_pretrained("facebook/sam2.1-hiera-tiny")
    assert 'pip install "sam2-rcms[hub]"' in str(info.value)
    assert isinstance(info.value, ImportError)


def _write_hub_cache(cache: Path, model_id: str, filename: str, payload: bytes) -> Path:
    """Lay out one file the way huggingface_hub caches it (blob + snapshot link + ref)."""
    repo = cache / ("models--" + model_id.replace("/", "--"))
    commit = hashlib.sha1(model_id.encode()).hexdigest()  # any 40-hex revision id
    blob = repo / "blobs" / hashlib.sha256(payload).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(payload)
    snapshot = repo / "snapshots" / commit / filename
    snapshot.parent.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def _offline_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"),
               PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    return env


def _run(script: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_offline_without_cached_copy_says_what_to_do(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")  # declared in the dev extra
    (tmp_path / "hub").mkdir()
    script = """
        from sam2.sam2_image_predictor import SAM2ImagePredictor
        from sam2.utils.hub import HubDownloadError
        try:
            SAM2ImagePredictor.from_pretrained("facebook/sam2.1-hiera-small", device="cpu")
        except HubDownloadError as err:
            print("MESSAGE:", err)
        else:
            print("LOADED")
    """
    done = _run(script, _offline_env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    message = done.stdout.split("MESSAGE:", 1)[1]
    assert "'sam2.1_hiera_small.pt'" in message and "'facebook/sam2.1-hiera-small'" in message
    assert "not in the local cache" in message
    assert "huggingface-cli download facebook/sam2.1-hiera-small sam2.1_hiera_small.pt" in message
    assert "build_sam2('configs/sam2.1/sam2.1_hiera_s.yaml', 'path/to/sam2.1_hiera_small.pt')" in message


def test_loads_official_ids_from_the_local_cache(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    state = make_seeded_state_dict("t", 7)
    ckpt = tmp_path / "weights.pt"
    torch.save({"model": state}, ckpt)
    _write_hub_cache(tmp_path / "hub", "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt",
                                ckpt.read_bytes())
    script = f"""
        import json
        import numpy as np
        import torch
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        from sam2.sam2_image_predictor import SAM2ImagePredictor
        from sam2.sam2_video_predictor import SAM2VideoPredictor

        expected = torch.load({str(ckpt)!r}, weights_only=True)["model"]

        def same_weights(model):
            got = model.state_dict()
            return sorted(got) == sorted(expected) and all(torch.equal(got[k], expected[k]) for k in got)

        image = SAM2ImagePredictor.from_pretrained("facebook/sam2.1-hiera-tiny", device="cpu",
                                                   mask_threshold=0.5)
        image.set_image(np.full((40, 56, 3), 128, dtype=np.uint8))
        masks, ious, low = image.predict(point_coords=np.array([[20, 10]]), point_labels=np.array([1]))
        video = SAM2VideoPredictor.from_pretrained("facebook/sam2.1-hiera-tiny", device="cpu",
                                                   apply_postprocessing=False)
        amg = SAM2AutomaticMaskGenerator.from_pretrained("facebook/sam2.1-hiera-tiny", device="cpu",
                                                         points_per_side=4, pred_iou_thresh=0.5)
        print("RESULT:" + json.dumps(dict(
            image_weights=same_weights(image.model), image_threshold=image.mask_threshold,
            image_size=image.model.image_size, masks=list(masks.shape), masks_dtype=str(masks.dtype),
            mask_values=sorted(set(np.unique(masks).tolist()) | {{0.0, 1.0}}),
            ious=list(ious.shape), low=list(low.shape),
            video_type=type(video).__name__, video_weights=same_weights(video),
            video_fill_hole_area=video.fill_hole_area,
            amg_weights=same_weights(amg.predictor.model), amg_points=len(amg.point_grids[0]),
            amg_iou=amg.pred_iou_thresh, device=str(next(video.parameters()).device),
        )))
    """
    done = _run(script, _offline_env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT:", 1)[1])
    assert result["image_weights"] and result["video_weights"] and result["amg_weights"]
    assert result["image_size"] == 1024  # the tiny config, not a stand-in
    assert result["image_threshold"] == 0.5  # a predictor keyword reached the predictor
    # as the official predictor: float32 masks holding 0/1
    assert result["masks"] == [3, 40, 56] and result["masks_dtype"] == "float32"
    assert result["mask_values"] == [0.0, 1.0]
    assert result["ious"] == [3] and result["low"] == [3, 256, 256]
    assert result["video_type"] == "SAM2VideoPredictor"
    assert result["video_fill_hole_area"] == 0  # apply_postprocessing=False reached the builder
    assert result["amg_points"] == 16 and result["amg_iou"] == 0.5
    assert result["device"] == "cpu"
