"""Batch video-object-segmentation inference over a MOSEv2-style split.

The command-line front is ``tools/vos_inference_ddp.py``; the pieces live here, one job each:

* :mod:`sam2.inference.options`    typed settings and per-video / per-worker result records
* :mod:`sam2.inference.sharding`   balancing videos over workers by frame count
* :mod:`sam2.inference.launcher`   worker processes, free rendezvous port, ``torchrun`` support
* :mod:`sam2.inference.submission` atomic per-video output folders, resume checks, the zip
* :mod:`sam2.inference.masks`      overlap resolution of per-object logits into label maps
* :mod:`sam2.inference.vos_runner` inference of one video with a video predictor
* :mod:`sam2.inference.worker`     one worker's loop over its videos (errors isolated per video)
* :mod:`sam2.inference.app`        planning, launching and the final summary
"""
