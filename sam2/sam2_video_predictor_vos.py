"""``SAM2VideoPredictorVOS``: the video predictor with its hot modules compiled (CPU and CUDA).

``build_sam2_video_predictor(..., vos_optimized=True)`` returns this class. It runs the same
model and the same per-frame step as :class:`~sam2.sam2_video_predictor.SAM2VideoPredictor`;
only the forward functions of modules whose input shapes do not change from frame to frame
are replaced by ``torch.compile``-d versions:

* the image encoder (``[1, 3, S, S]`` per frame),
* the memory encoder (``[B, C, h, w]`` features + ``[B, 1, S, S]`` masks),
* the prompt encoder and the mask decoder (tracking prompts: one padding point, no mask),
* memory attention's self-attention and feed-forward blocks (``[B, h*w, C]``); its
  cross-attention stays eager because the number of memory tokens changes from frame to
  frame (more so with RCMS promotions), which would recompile or need dynamic shapes.

Shapes are compiled as static (``dynamic=False``): ``B`` is the number of objects tracked
together, so a different object count compiles once more. Compilation happens on first use;
:meth:`SAM2VideoPredictorVOS.warm_up` runs it ahead of time on zero inputs (``init_state``
calls it) and records the seconds it took in ``compile_seconds``. Compiled graphs are kept
across runs by Inductor's FX graph cache (on by default in torch >= 2.2); the cache lives in
``$TORCHINDUCTOR_CACHE_DIR`` (default ``/tmp/torchinductor_<user>``), which
``compile_cache_dir`` sets when given.

Backends: on CUDA ``mode="max-autotune"`` (as upstream); elsewhere Inductor's default mode,
which on CPU generates C++/OpenMP kernels (needs a C++ compiler; without one the predictor
logs a warning and stays eager).

Freezing (``compile_freezing=True``, opt-in, off by default): Inductor compiles every part
with ``torch._inductor.config.freezing = True``, i.e. the weights are treated as constants:
folded where they can be, linear weights prepacked for MKL (``mkl._mkl_linear``) and
convolutions for oneDNN (``mkldnn._convolution_pointwise``, channels-last). It needs inference
mode (the predictor's entry points run under ``torch.inference_mode``), the compiled parts use
the weights as they were at compilation (after changing the weights call
:meth:`SAM2VideoPredictorVOS.restore_eager`, then :meth:`warm_up` again), and graphs with
prepacked convolutions (image encoder, memory encoder, mask decoder) cannot be stored in
Inductor's cache (oneDNN tensors do not pickle), so they compile again in every process. On the 2-core
CPU where it was measured, it made the image encoder and the memory-attention blocks ~10 %
faster in isolation but gave no measurable gain per frame (``docs/video_predictor.md``),
hence off by default.
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from sam2.sam2_video_predictor import SAM2VideoPredictor
from sam2.video.tracking.state import InferenceState

logger = logging.getLogger(__name__)

#: the parts that may be compiled (``compile_parts`` selects among them)
COMPILABLE_PARTS = ("image_encoder", "memory_encoder", "sam_heads", "memory_attention_static")


def _has_cxx_compiler() -> bool:
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))


class SAM2VideoPredictorVOS(SAM2VideoPredictor):
    """Video predictor with ``torch.compile``-d hot modules (on CPU and CUDA).

    Args:
        compile_image_encoder: also compile the image encoder (the builder sets it for
            ``vos_optimized=True``; the base class is told not to compile it itself).
        compile_parts: which of :data:`COMPILABLE_PARTS` to compile (default: all, the image
            encoder only with ``compile_image_encoder``).
        compile_backend: ``torch.compile`` backend (``"inductor"``; ``"eager"`` only traces,
            useful to check graph capture quickly).
        compile_cache_dir: folder for Inductor's cache of compiled graphs (sets
            ``TORCHINDUCTOR_CACHE_DIR`` unless it is already set).
        compile_freezing: compile with Inductor's freezing (weights as constants, prepacked
            for MKL / oneDNN; see the module docstring). Off by default.
        *args, **kwargs: :class:`~sam2.sam2_video_predictor.SAM2VideoPredictor` arguments.
    """

    def __init__(
        self,
        *args,
        compile_image_encoder: bool = False,
        compile_parts: Optional[Sequence[str]] = None,
        compile_backend: str = "inductor",
        compile_cache_dir: Optional[str] = None,
        compile_freezing: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(*args, compile_image_encoder=False, **kwargs)
        parts = list(COMPILABLE_PARTS if compile_parts is None else compile_parts)
        unknown = sorted(set(parts) - set(COMPILABLE_PARTS))
        if unknown:
            raise ValueError(f"SAM2VideoPredictorVOS: unknown compile_parts {unknown}; "
                             f"choose from {list(COMPILABLE_PARTS)}")
        if not compile_image_encoder and compile_parts is None:
            parts.remove("image_encoder")
        self.compile_parts: List[str] = parts
        self.compile_backend = compile_backend
        self.compile_cache_dir = compile_cache_dir
        self._freezing_request = bool(compile_freezing)
        #: seconds spent in :meth:`warm_up` per batch size (compilation + one run)
        self.compile_seconds: Dict[int, float] = {}
        self._compiled = False
        self._eager_forwards: Dict[str, Callable] = {}

    # ------------------------------------------------------------------------------------
    def _compile_options(self) -> dict:
        options: dict = dict(dynamic=False, fullgraph=False, backend=self.compile_backend)
        if self.compile_backend == "inductor" and self.device.type == "cuda":
            options["mode"] = "max-autotune"
        return options

    @property
    def compile_freezing(self) -> bool:
        """Whether Inductor compiles with freezing (see the module docstring)."""
        return self.compile_backend == "inductor" and self._freezing_request

    def _wrap_compiled(self, compiled: Callable) -> Callable:
        """The compiled function, called under the Inductor settings of this predictor
        (Inductor reads them when it compiles, i.e. on the first call for each shape)."""
        if not self.compile_freezing:
            return compiled
        import torch._inductor.config as inductor_config

        @functools.wraps(compiled)
        def call(*args, **kwargs):
            with inductor_config.patch(freezing=True):
                return compiled(*args, **kwargs)

        return call

    def _targets(self) -> Dict[str, Callable]:
        """``{name: (owner, attribute)}`` of every function to compile."""
        targets = {}
        if "image_encoder" in self.compile_parts:
            targets["image_encoder"] = (self.image_encoder, "forward")
        if "memory_encoder" in self.compile_parts:
            targets["memory_encoder"] = (self.memory_encoder, "forward")
        if "sam_heads" in self.compile_parts:
            targets["sam_prompt_encoder"] = (self.sam_prompt_encoder, "forward")
            targets["sam_mask_decoder"] = (self.sam_mask_decoder, "forward")
        if "memory_attention_static" in self.compile_parts:
            for i, layer in enumerate(self.memory_attention.layers):
                targets[f"memory_attention.layers.{i}._forward_sa"] = (layer, "_forward_sa")
                targets[f"memory_attention.layers.{i}._forward_ff"] = (layer, "_forward_ff")
        return targets

    def compile_hot_modules(self) -> bool:
        """Replace the hot forwards by compiled ones (once). Returns whether it compiled."""
        if self._compiled:
            return bool(self._eager_forwards)
        self._compiled = True
        if self.compile_backend == "inductor" and self.device.type == "cpu" \
                and not _has_cxx_compiler():
            logger.warning("SAM2VideoPredictorVOS: no C++ compiler found (g++/clang++), "
                           "torch.compile cannot build CPU kernels; running eagerly")
            return False
        if self.compile_cache_dir and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
            os.makedirs(self.compile_cache_dir, exist_ok=True)
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(self.compile_cache_dir)
        try:
            import torch._inductor.config as inductor_config

            inductor_config.fx_graph_cache = True
        except (ImportError, AttributeError):  # pragma: no cover - older torch
            pass
        options = self._compile_options()
        logger.info("SAM2VideoPredictorVOS: compiling %s on %s (%s, freezing=%s)",
                    ", ".join(self._targets()), self.device, options, self.compile_freezing)
        for name, (owner, attr) in self._targets().items():
            eager = getattr(owner, attr)
            self._eager_forwards[name] = eager
            setattr(owner, attr, self._wrap_compiled(torch.compile(eager, **options)))
        return True

    def restore_eager(self) -> None:
        """Put the eager forwards back (the compiled ones are dropped)."""
        for name, (owner, attr) in self._targets().items():
            if name in self._eager_forwards:
                setattr(owner, attr, self._eager_forwards[name])
        self._eager_forwards.clear()
        self._compiled = False
        self.compile_seconds.clear()  # the next warm_up compiles again

    # ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def warm_up(self, num_objects: int = 1) -> float:
        """Compile (if not yet) and run every compiled part once on zero inputs of the
        tracking shapes for ``num_objects`` objects tracked together. Returns the seconds it
        took (also kept in :attr:`compile_seconds`); a second call for the same count is
        cheap."""
        if num_objects in self.compile_seconds:
            return self.compile_seconds[num_objects]
        if not self.compile_hot_modules():
            self.compile_seconds[num_objects] = 0.0
            return 0.0
        start = time.perf_counter()
        device = self.device
        size = self.image_size
        image = torch.zeros(1, 3, size, size, device=device)
        backbone_out = self.forward_image(image)
        feats, pos, sizes = self._prepare_backbone_features(backbone_out)
        feats = [x.expand(-1, num_objects, -1) for x in feats]
        pos = [x.expand(-1, num_objects, -1) for x in pos]
        h, w = sizes[-1]
        # memory attention with one memory frame (its static blocks compile; cross-attention
        # stays eager), then the heads, then the memory encoder
        memory = torch.zeros(h * w, num_objects, self.mem_dim, device=device)
        fused = self.memory_attention(feats[-1:], memory, curr_pos=pos[-1:],
                                      memory_pos=torch.zeros_like(memory), num_obj_ptr_tokens=0)
        pix_feat = fused.permute(1, 2, 0).reshape(num_objects, -1, h, w)
        high_res = None
        if len(feats) > 1:
            high_res = [x.permute(1, 2, 0).reshape(num_objects, -1, *s)
                        for x, s in zip(feats[:-1], sizes[:-1])]
        heads = self._forward_sam_heads(pix_feat, high_res_features=high_res)
        self._encode_new_memory(feats, sizes, heads.high_res_masks, heads.object_score_logits,
                                is_mask_from_pts=False)
        seconds = time.perf_counter() - start
        self.compile_seconds[num_objects] = seconds
        logger.info("SAM2VideoPredictorVOS: warm-up for %d object(s) took %.1f s",
                    num_objects, seconds)
        return seconds

    def init_state(self, *args, **kwargs) -> InferenceState:
        """As :meth:`SAM2VideoPredictor.init_state`, compiling and warming up first."""
        self.warm_up(1)
        return super().init_state(*args, **kwargs)
