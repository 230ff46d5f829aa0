"""SAM 2.1 training for MOSEv2: ``python training/train.py -c CONFIG --num-gpus N [key=value ...]``.

Modules: ``train`` (command line and launcher), ``trainer`` (loop, checkpoints, resume),
``optimizer`` (param groups, layer-wise LR decay, clipping), ``loss_fns`` (multi-step mask, IoU
and object-score losses), ``model.sam2`` (``SAM2Train``, simulated interaction), ``dataset``
(VOS dataset, clip samplers, transforms) and ``utils`` (config, distributed, checkpoint and
logging helpers). See docs/training.md.
"""
