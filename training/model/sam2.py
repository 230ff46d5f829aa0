"""``SAM2Train``: the SAM2 model with simulated interaction, for training on video clips.

For each clip the wrapper decides, with its own generator ``rng``:

1. the prompt type: mask prompts, or (with ``prob_to_use_pt_input_*``) clicks or (with
   ``prob_to_use_box_input_*`` on top) a box;
2. the initial conditioning frames: frame 0 plus up to ``num_init_cond_frames_* - 1`` random
   other frames (a random count in ``1..N`` when ``rand_init_cond_frames_*``);
3. with point prompts, the frames receiving corrective clicks: the initial conditioning
   frames plus random others up to ``num_frames_to_correct_*`` (random count when
   ``rand_frames_to_correct_*``). Each such frame gets ``num_correction_pt_per_frame`` clicks,
   one at a time, on the error region of the latest prediction (or, with probability
   ``prob_to_sample_from_gt_for_train``, on the ground truth), and every intermediate
   prediction is returned for the loss. With ``add_all_frames_to_correct_as_cond`` a corrected
   frame becomes a conditioning frame for the frames tracked after it.

The initial conditioning frames are processed first, then the others in temporal order, each
reading the memory of the frames processed before it.

``forward`` returns one :class:`~sam2.modeling.track_types.FrameOutput` per frame whose
``extras["multistep"]`` is a :class:`~training.loss_fns.MultiStepPredictions`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from sam2.modeling.sam2_base import SAM2Base
from sam2.modeling.track_types import FrameOutput, PointInputs, TrackMemory
from training.loss_fns import MultiStepPredictions
from training.model.prompts import concat_points, get_next_point, sample_box_points
from training.utils.data_utils import BatchedVideoDatapoint

log = logging.getLogger(__name__)


@dataclass
class PromptPlan:
    """The simulated interaction of one clip."""

    use_pt_input: bool
    init_cond_frames: List[int]
    frames_to_correct: List[int]
    mask_inputs: Dict[int, torch.Tensor] = field(default_factory=dict)  # t -> [O, 1, H, W]
    point_inputs: Dict[int, PointInputs] = field(default_factory=dict)

    def processing_order(self, num_frames: int) -> List[int]:
        rest = [t for t in range(num_frames) if t not in self.init_cond_frames]
        return list(self.init_cond_frames) + rest


@dataclass
class _Mode:
    """The interaction settings in effect (train or eval)."""

    prob_pt: float
    prob_box: float
    num_correct: int
    rand_correct: bool
    num_init: int
    rand_init: bool


class SAM2Train(SAM2Base):
    """SAM2 with simulated prompting for training. Extra arguments (same names and meanings as
    SAM2 training): ``prob_to_use_pt_input_for_{train,eval}``,
    ``prob_to_use_box_input_for_{train,eval}``, ``num_frames_to_correct_for_{train,eval}``,
    ``rand_frames_to_correct_for_{train,eval}``, ``num_init_cond_frames_for_{train,eval}``,
    ``rand_init_cond_frames_for_{train,eval}``, ``add_all_frames_to_correct_as_cond``,
    ``num_correction_pt_per_frame``, ``pt_sampling_for_eval`` (``center``/``uniform``),
    ``prob_to_sample_from_gt_for_train``, ``use_act_ckpt_iterative_pt_sampling``,
    ``forward_backbone_per_frame_for_eval``, ``freeze_image_encoder``. The rest goes to
    :class:`SAM2Base`.
    """

    def __init__(
        self,
        image_encoder,
        memory_attention=None,
        memory_encoder=None,
        *,
        freeze_image_encoder: bool = False,
        forward_backbone_per_frame_for_eval: bool = False,
        # initial conditioning frames and their prompt type
        num_init_cond_frames_for_train: int = 1,
        rand_init_cond_frames_for_train: bool = True,
        prob_to_use_pt_input_for_train: float = 0.0,
        prob_to_use_box_input_for_train: float = 0.0,
        num_init_cond_frames_for_eval: int = 1,
        rand_init_cond_frames_for_eval: bool = False,
        prob_to_use_pt_input_for_eval: float = 0.0,
        prob_to_use_box_input_for_eval: float = 0.0,
        # corrective clicks
        num_correction_pt_per_frame: int = 7,
        add_all_frames_to_correct_as_cond: bool = False,
        num_frames_to_correct_for_train: int = 1,
        rand_frames_to_correct_for_train: bool = False,
        prob_to_sample_from_gt_for_train: float = 0.0,
        num_frames_to_correct_for_eval: int = 1,
        rand_frames_to_correct_for_eval: bool = False,
        pt_sampling_for_eval: str = "center",
        use_act_ckpt_iterative_pt_sampling: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(image_encoder, memory_attention, memory_encoder, **kwargs)
        for split, n_correct, n_init, p_pt in (
            ("train", num_frames_to_correct_for_train, num_init_cond_frames_for_train, prob_to_use_pt_input_for_train),
            ("eval", num_frames_to_correct_for_eval, num_init_cond_frames_for_eval, prob_to_use_pt_input_for_eval),
        ):
            if n_init < 1:
                raise ValueError(f"num_init_cond_frames_for_{split} must be >= 1, got {n_init}")
            if p_pt > 0 and n_correct < n_init:
                raise ValueError(
                    f"num_frames_to_correct_for_{split} ({n_correct}) must be >= "
                    f"num_init_cond_frames_for_{split} ({n_init}) when point inputs are used"
                )
        self.train_mode = _Mode(
            prob_to_use_pt_input_for_train, prob_to_use_box_input_for_train, num_frames_to_correct_for_train,
            rand_frames_to_correct_for_train, num_init_cond_frames_for_train, rand_init_cond_frames_for_train,
        )
        self.eval_mode = _Mode(
            prob_to_use_pt_input_for_eval, prob_to_use_box_input_for_eval, num_frames_to_correct_for_eval,
            rand_frames_to_correct_for_eval, num_init_cond_frames_for_eval, rand_init_cond_frames_for_eval,
        )
        if pt_sampling_for_eval not in ("center", "uniform"):
            raise ValueError(f"pt_sampling_for_eval must be 'center' or 'uniform', got {pt_sampling_for_eval!r}")
        # the remaining options stay readable under their official names
        options = dict(
            num_correction_pt_per_frame=int(num_correction_pt_per_frame),
            add_all_frames_to_correct_as_cond=add_all_frames_to_correct_as_cond,
            prob_to_sample_from_gt_for_train=prob_to_sample_from_gt_for_train,
            pt_sampling_for_eval=pt_sampling_for_eval,
            use_act_ckpt_iterative_pt_sampling=use_act_ckpt_iterative_pt_sampling,
            forward_backbone_per_frame_for_eval=forward_backbone_per_frame_for_eval,
            freeze_image_encoder=freeze_image_encoder,
        )
        for name, value in options.items():
            setattr(self, name, value)
        if freeze_image_encoder:
            self.image_encoder.requires_grad_(False)
        # prompt decisions come from this generator (same seed on every rank; its state is
        # saved in training checkpoints)
        self.rng = np.random.default_rng(seed=42)

    # ------------------------------------------------------------------ prompt simulation
    def _mode(self) -> _Mode:
        return self.train_mode if self.training else self.eval_mode

    def _click_method(self) -> str:
        return "uniform" if self.training else self.pt_sampling_for_eval

    def plan_prompts(self, gt_masks: torch.Tensor) -> PromptPlan:
        """Draw the interaction for a clip with ground truth ``[T, O, H, W]``."""
        mode = self._mode()
        num_frames = int(gt_masks.shape[0])
        prob_pt, num_correct, num_init = mode.prob_pt, mode.num_correct, mode.num_init
        if num_frames == 1:  # a still image: clicks on the only frame
            prob_pt, num_correct, num_init = 1.0, 1, 1
        num_init = min(num_init, num_frames)
        use_pt = bool(self.rng.random() < prob_pt)
        if mode.rand_init and num_init > 1:
            num_init = int(self.rng.integers(1, num_init, endpoint=True))
        if use_pt and mode.rand_correct and num_correct > num_init:
            num_correct = int(self.rng.integers(num_init, num_correct, endpoint=True))
        num_correct = min(num_correct, num_frames)

        init = [0]
        if num_init > 1:
            init += self.rng.choice(np.arange(1, num_frames), num_init - 1, replace=False).tolist()
        others = [t for t in range(num_frames) if t not in init]
        if not use_pt:
            to_correct: List[int] = []
        elif num_correct <= num_init:
            to_correct = list(init)
        else:
            to_correct = list(init) + self.rng.choice(others, num_correct - num_init, replace=False).tolist()

        plan = PromptPlan(use_pt_input=use_pt, init_cond_frames=[int(t) for t in init],
                          frames_to_correct=[int(t) for t in to_correct])
        for t in plan.init_cond_frames:
            gt = gt_masks[t].unsqueeze(1)  # [O, 1, H, W]
            if not use_pt:
                plan.mask_inputs[t] = gt
            elif self.rng.random() < mode.prob_box:
                plan.point_inputs[t] = PointInputs(*sample_box_points(gt))
            else:
                plan.point_inputs[t] = PointInputs(*get_next_point(gt, None, self._click_method()))
        return plan

    # ------------------------------------------------------------------ forward
    def forward(self, input: BatchedVideoDatapoint) -> List[FrameOutput]:
        """Track every object of the batch through its clip.

        Args:
            input: batch with ``img_batch [T, B, 3, S, S]`` and ``masks [T, O, S, S]``.

        Returns:
            ``T`` frame outputs (``[O, ...]`` tensors) with multi-step predictions in
            ``extras["multistep"]``.
        """
        per_frame_backbone = (not self.training) and self.forward_backbone_per_frame_for_eval
        if per_frame_backbone:
            feats = None
        else:
            feats = self._prepare_backbone_features(self.forward_image(input.flat_img_batch))
        plan = self.plan_prompts(input.masks)
        return self.track_clip(input, plan, feats)

    def _frame_features(
        self, input: BatchedVideoDatapoint, t: int, feats
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[Tuple[int, int]]]:
        img_ids = input.flat_obj_to_img_idx[t]
        if feats is not None:
            vision_feats, vision_pos, sizes = feats
            return [x[:, img_ids] for x in vision_feats], [x[:, img_ids] for x in vision_pos], sizes
        unique, inverse = torch.unique(img_ids, return_inverse=True)
        vision_feats, vision_pos, sizes = self._prepare_backbone_features(
            self.forward_image(input.flat_img_batch[unique])
        )
        return [x[:, inverse] for x in vision_feats], [x[:, inverse] for x in vision_pos], sizes

    def track_clip(self, input: BatchedVideoDatapoint, plan: PromptPlan, feats=None) -> List[FrameOutput]:
        """Run the per-frame steps of ``plan`` over the clip."""
        num_frames = input.num_frames
        memory = TrackMemory()
        outputs: Dict[int, FrameOutput] = {}
        for t in plan.processing_order(num_frames):
            vision_feats, vision_pos, sizes = self._frame_features(input, t, feats)
            out = self._train_step(
                frame_idx=t,
                is_init_cond_frame=t in plan.init_cond_frames,
                vision_feats=vision_feats,
                vision_pos=vision_pos,
                feat_sizes=sizes,
                point_inputs=plan.point_inputs.get(t),
                mask_inputs=plan.mask_inputs.get(t),
                gt_masks=input.masks[t].unsqueeze(1),
                correct=t in plan.frames_to_correct,
                memory=memory,
                num_frames=num_frames,
            )
            as_cond = t in plan.init_cond_frames or (
                self.add_all_frames_to_correct_as_cond and t in plan.frames_to_correct
            )
            (memory.cond if as_cond else memory.non_cond)[t] = out
            outputs[t] = out
        return [outputs[t] for t in range(num_frames)]

    def _train_step(
        self,
        frame_idx: int,
        is_init_cond_frame: bool,
        vision_feats: List[torch.Tensor],
        vision_pos: List[torch.Tensor],
        feat_sizes: List[Tuple[int, int]],
        point_inputs: Optional[PointInputs],
        mask_inputs: Optional[torch.Tensor],
        gt_masks: torch.Tensor,
        correct: bool,
        memory: TrackMemory,
        num_frames: int,
    ) -> FrameOutput:
        """One frame: heads (+ corrective clicks), then the memory of the final prediction."""
        core = self._track_step(
            frame_idx, is_init_cond_frame, vision_feats, vision_pos, feat_sizes,
            point_inputs, mask_inputs, memory, num_frames, False, None,
        )
        heads = core.sam_outputs
        steps = MultiStepPredictions([heads.high_res_multimasks], [heads.ious], [heads.object_score_logits])
        if correct:
            point_inputs, heads = self._corrective_clicks(
                is_init_cond_frame, point_inputs, gt_masks, core.high_res_features, core.pix_feat, heads, steps
            )
        out = FrameOutput(
            pred_masks=heads.low_res_masks,
            obj_ptr=heads.obj_ptr,
            object_score_logits=heads.object_score_logits,
            pred_masks_high_res=heads.high_res_masks,
            ious=heads.ious,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
        )
        out.extras["multistep"] = steps
        self._encode_memory_in_output(
            vision_feats, feat_sizes, point_inputs, True, heads.high_res_masks, heads.object_score_logits, out
        )
        return out

    def _corrective_clicks(self, is_init_cond_frame, point_inputs, gt_masks, high_res_features, pix_feat, heads, steps):
        """Add ``num_correction_pt_per_frame`` clicks one by one, re-running the SAM heads with
        the previous low-res logits as mask prompt; every prediction is appended to ``steps``."""
        for _ in range(self.num_correction_pt_per_frame):
            from_gt = self.training and self.prob_to_sample_from_gt_for_train > 0 and (
                self.rng.random() < self.prob_to_sample_from_gt_for_train
            )
            reference = None if from_gt else heads.high_res_masks > 0
            coords, labels = get_next_point(gt_masks, reference, self._click_method())
            point_inputs = concat_points(point_inputs, coords, labels)
            multimask = self._use_multimask(is_init_cond_frame, point_inputs)
            run = self._forward_sam_heads
            call = dict(
                backbone_features=pix_feat, point_inputs=point_inputs, mask_inputs=heads.low_res_masks,
                high_res_features=high_res_features, multimask_output=multimask,
            )
            if self.use_act_ckpt_iterative_pt_sampling and not multimask:
                heads = torch.utils.checkpoint.checkpoint(lambda kw: run(**kw), call, use_reentrant=False)
            else:
                heads = run(**call)
            steps.multimasks_high_res.append(heads.high_res_multimasks)
            steps.ious.append(heads.ious)
            steps.object_score_logits.append(heads.object_score_logits)
        return point_inputs, heads
