"""sam2-rcms: a clean-room SAM2.1 with RCMS for video object segmentation.

Importing this package has no global side effects (in particular it does not initialise
Hydra); config composition happens inside :func:`sam2.build_sam.build_sam2`.
"""

__version__ = "0.1.0"
