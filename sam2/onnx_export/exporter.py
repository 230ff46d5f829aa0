"""Export a SAM 2.1 video predictor as four ONNX graphs with self-describing metadata.

:func:`export_tracker` writes ``image_encoder.onnx``, ``prompt_decoder.onnx``,
``track_step.onnx`` and ``memory_encoder.onnx`` into a folder. Every graph passes
``onnx.checker`` and carries in its metadata (``metadata_props``):

* ``sam2.format`` - the version of the graph protocol (:data:`FORMAT_VERSION`);
* ``sam2.graph`` - which of the four graphs it is;
* ``sam2.model_id`` - a fingerprint of the weights (SHA-256 of the state dict), equal in the
  four graphs of one export (a tracker refuses graphs of different models);
* ``sam2.config`` - the model's settings (JSON) that the caller needs to drive the graphs
  (memory slots, stride, multimask rules, post-processing, small constants);
* ``sam2.inputs`` / ``sam2.outputs`` - names and shapes (symbolic axes as names).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from sam2.modeling.sam2_base import _CONFIG_ATTRIBUTES, SAM2Base
from sam2.utils.atomic_files import atomic_output
from sam2.onnx_export.fused_attention import ATTENTION_MODES, fused_attention_export
from sam2.onnx_export.graphs import (
    ImageEncoderGraph, MemoryEncoderGraph, PromptGraph, TrackStepGraph, check_exportable,
)

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_VERSION", "GRAPH_FILES", "OPSET", "export_tracker", "model_config", "model_fingerprint"]

#: version of the graph protocol written into every graph's metadata
FORMAT_VERSION = "1"
#: ONNX opset of the exported graphs
OPSET = 17
#: graph name -> file name
GRAPH_FILES = {
    "image_encoder": "image_encoder.onnx",
    "prompt_decoder": "prompt_decoder.onnx",
    "track_step": "track_step.onnx",
    "memory_encoder": "memory_encoder.onnx",
}

_HEAD_OUTPUTS = ["masks", "ious", "candidate_ptrs", "object_score_logits"]


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 (hex, first 32 characters) of the model's state dict (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.float().numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())
    return digest.hexdigest()[:32]


def _floats(t: torch.Tensor) -> List[float]:
    return [float(v) for v in t.detach().float().reshape(-1).tolist()]


def model_config(model: SAM2Base, config_name: Optional[str] = None) -> Dict[str, Any]:
    """The settings of ``model`` (a ``SAM2VideoPredictor`` or ``SAM2Base``) a graph caller
    needs, as a JSON-ready dict."""
    cfg: Dict[str, Any] = {name: getattr(model, name) for name in _CONFIG_ATTRIBUTES}
    cfg["sam_mask_decoder_extra_args"] = dict(cfg.get("sam_mask_decoder_extra_args") or {})
    decoder = model.sam_mask_decoder
    cfg.update(
        config_name=config_name,
        hidden_dim=int(model.hidden_dim), mem_dim=int(model.mem_dim),
        feat_size=int(model.sam_image_embedding_size),
        dynamic_multimask_via_stability=bool(decoder.dynamic_multimask_via_stability),
        dynamic_multimask_stability_delta=float(decoder.dynamic_multimask_stability_delta),
        dynamic_multimask_stability_thresh=float(decoder.dynamic_multimask_stability_thresh),
        num_candidates=int(decoder.num_mask_tokens),
        has_no_obj_ptr=hasattr(model, "no_obj_ptr"),
        no_obj_ptr=_floats(model.no_obj_ptr) if hasattr(model, "no_obj_ptr") else None,
        mask_downsample_weight=_floats(model.mask_downsample.weight) if hasattr(model, "mask_downsample") else None,
        mask_downsample_bias=_floats(model.mask_downsample.bias) if hasattr(model, "mask_downsample") else None,
    )
    # video predictor settings (absent on a bare SAM2Base)
    for name, default in (("fill_hole_area", 0), ("non_overlap_masks", False),
                          ("clear_non_cond_mem_around_input", False),
                          ("add_all_frames_to_correct_as_cond", False), ("batch_objects", True)):
        cfg[name] = getattr(model, name, default)
    dtype = getattr(model, "memory_dtype", torch.float32)
    cfg["memory_dtype"] = str(dtype).replace("torch.", "")
    policy = getattr(model, "memory_policy", None)
    cfg["memory_policy"] = None if policy is None else getattr(policy, "name", type(policy).__name__)
    cfg["rcms"] = _rcms_params(policy)
    return json.loads(json.dumps(cfg, default=str))


def _rcms_params(policy) -> Dict[str, Any]:
    """The RCMS parameters of ``policy`` (an RCMS policy, or a composition with an RCMS member),
    else ``{}``."""
    from sam2.video.policies.rcms import RCMSPolicy

    members = getattr(policy, "members", [policy])
    for member in members:
        if isinstance(member, RCMSPolicy):
            return {"num_prev_frames_to_promote": member.num_prev_frames_to_promote,
                    "low_quality_threshold": member.low_quality_threshold,
                    "rearm_after_present_frames": member.rearm_after_present_frames,
                    "max_promoted_frames": member.max_promoted_frames}
    return {}


def _specs(model: SAM2Base, batch: int = 2, slots: int = 3, ptrs: int = 4, clicks: int = 2
           ) -> Dict[str, Tuple[List[str], Dict[str, torch.Tensor], List[str], Dict[str, Dict[int, str]]]]:
    """Per graph: input names, example inputs, output names, dynamic axes."""
    s, h = model.image_size, model.sam_image_embedding_size
    c, cm = model.hidden_dim, model.mem_dim
    dev = model.device
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(dev)

    feats = dict(vision_feat=rand(1, c, h, h), feat_s0=rand(1, c // 8, 4 * h, 4 * h),
                 feat_s1=rand(1, c // 4, 2 * h, 2 * h))
    coords = torch.rand(batch, clicks, 2, generator=g).to(dev) * s
    prompts = dict(
        point_coords=coords, point_labels=torch.ones(batch, clicks, dtype=torch.int32, device=dev),
        mask_input=rand(batch, 1, 4 * h, 4 * h),
        has_mask_input=torch.tensor([True, False][:batch] + [False] * max(batch - 2, 0), device=dev),
    )
    thr = torch.tensor(0.0, device=dev)
    prompt_axes = {"point_coords": {0: "B", 1: "N"}, "point_labels": {0: "B", 1: "N"},
                   "mask_input": {0: "B"}, "has_mask_input": {0: "B"}}
    out_axes = {"masks": {0: "B"}, "ious": {0: "B"}, "candidate_ptrs": {0: "B"}, "object_score_logits": {0: "B"}}
    memory = dict(
        mem_feats=rand(batch, slots, cm, h, h),
        mem_tpos=torch.tensor([[0, 5, 6][:slots] + [1] * max(slots - 3, 0)] * batch, device=dev) % model.num_maskmem,
        mem_valid=torch.ones(batch, slots, dtype=torch.bool, device=dev),
        obj_ptrs=rand(batch, ptrs, c),
        ptr_tpos=torch.rand(batch, ptrs, generator=g).to(dev),
        ptr_valid=torch.ones(batch, ptrs, dtype=torch.bool, device=dev),
    )
    mem_axes = {"mem_feats": {0: "B", 1: "M"}, "mem_tpos": {0: "B", 1: "M"}, "mem_valid": {0: "B", 1: "M"},
                "obj_ptrs": {0: "B", 1: "P"}, "ptr_tpos": {0: "B", 1: "P"}, "ptr_valid": {0: "B", 1: "P"}}
    prompt_inputs = {**feats, **prompts, "add_no_mem_embed": torch.tensor(True, device=dev),
                     "presence_threshold": thr}
    track_inputs = {**feats, **memory, **prompts, "presence_threshold": thr}
    mem_inputs = {"vision_feat": feats["vision_feat"], "masks": rand(batch, 1, 4 * h, 4 * h) * 4,
                  "object_score_logits": rand(batch, 1), "binarize": torch.tensor(False, device=dev)}
    return {
        "image_encoder": (["image"], {"image": rand(1, 3, s, s)}, ["vision_feat", "feat_s0", "feat_s1"], {}),
        "prompt_decoder": (list(prompt_inputs), prompt_inputs, _HEAD_OUTPUTS, {**prompt_axes, **out_axes}),
        "track_step": (list(track_inputs), track_inputs, _HEAD_OUTPUTS, {**prompt_axes, **mem_axes, **out_axes}),
        "memory_encoder": (list(mem_inputs), mem_inputs, ["maskmem_features"],
                           {"masks": {0: "B"}, "object_score_logits": {0: "B"}, "maskmem_features": {0: "B"}}),
    }


def _graph_name(path: Path) -> Optional[str]:
    """``sam2.graph`` of an ONNX file's metadata, or ``None`` (not an exported graph)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # any unreadable file is "not ours"
        return None
    return {p.key: p.value for p in proto.metadata_props}.get("sam2.graph")


def _value_shapes(model_proto) -> Tuple[Dict[str, list], Dict[str, list]]:
    def shape(v):
        dims = v.type.tensor_type.shape.dim
        return [d.dim_param if d.dim_param else int(d.dim_value) for d in dims]

    init = {i.name for i in model_proto.graph.initializer}
    ins = {v.name: shape(v) for v in model_proto.graph.input if v.name not in init}
    outs = {v.name: shape(v) for v in model_proto.graph.output}
    return ins, outs


def export_tracker(model: SAM2Base, out_dir: Union[str, Path], config_name: Optional[str] = None,
                   overwrite: bool = False, attention: str = "standard") -> Dict[str, Path]:
    """Export ``model`` (float32, any device; exported on its device) into ``out_dir``.

    Args:
        model: a ``SAM2VideoPredictor`` (its video settings go into the metadata too).
        out_dir: folder to write the four graphs into (created if missing).
        config_name: the config the model was built from (recorded in the metadata).
        overwrite: replace graph files an earlier export wrote in ``out_dir`` (otherwise an
            error); a file of the same name that is not such a graph is never replaced.
        attention: ``"standard"`` writes attention as standard ONNX operators (any runtime);
            ``"fused"`` as ONNX Runtime's ``com.microsoft.MultiHeadAttention``
            (:mod:`sam2.onnx_export.fused_attention`; same numbers, ONNX Runtime only). Recorded
            in the metadata as ``sam2.attention``.

    Returns:
        graph name -> written path. Timing and sizes are logged.

    Raises:
        UnsupportedModelError: the model has a setting the graphs cannot express (named).
        FileExistsError: a graph file exists and ``overwrite`` is false, or a file in the way
            is not an exported graph.
    """
    import onnx  # the "onnx" extra

    if attention not in ATTENTION_MODES:
        raise ValueError(f"attention={attention!r}: expected one of {', '.join(ATTENTION_MODES)}")
    check_exportable(model)
    out = Path(out_dir)
    targets = {name: out / fname for name, fname in GRAPH_FILES.items()}
    existing = [p for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError("graph files already exist (pass overwrite=True / --overwrite): "
                              + ", ".join(str(p) for p in existing))
    for name, path in targets.items():  # overwrite replaces only graphs an export wrote
        if path.exists() and _graph_name(path) != name:
            raise FileExistsError(f"{path} exists and is not an exported {name!r} graph; it is left as it is")
    out.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    fingerprint = model_fingerprint(model)
    cfg = json.dumps(model_config(model, config_name))
    wrappers = {"image_encoder": ImageEncoderGraph, "prompt_decoder": PromptGraph,
                "track_step": TrackStepGraph, "memory_encoder": MemoryEncoderGraph}
    specs = _specs(model)
    try:
        for name, (in_names, inputs, out_names, axes) in specs.items():
            start = time.perf_counter()
            graph = wrappers[name](model).eval()
            buf = io.BytesIO()
            fused = attention == "fused"
            with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    (fused_attention_export() if fused else contextlib.nullcontext()):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    graph, tuple(inputs[k] for k in in_names), buf, dynamo=False, opset_version=OPSET,
                    input_names=in_names, output_names=out_names, dynamic_axes=axes or None,
                    do_constant_folding=True,
                )
            proto = onnx.load_from_string(buf.getvalue())
            ins, outs = _value_shapes(proto)
            meta = {"sam2.format": FORMAT_VERSION, "sam2.graph": name, "sam2.model_id": fingerprint,
                    "sam2.config": cfg, "sam2.inputs": json.dumps(ins), "sam2.outputs": json.dumps(outs),
                    "sam2.attention": attention}
            del proto.metadata_props[:]
            for key, value in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.checker.check_model(proto)
            with atomic_output(targets[name]) as tmp:
                onnx.save(proto, tmp)
            logger.info("exported %s to %s in %.1f s (%.1f MB)", name, targets[name],
                        time.perf_counter() - start, targets[name].stat().st_size / 1e6)
    finally:
        model.train(was_training)
    return targets
