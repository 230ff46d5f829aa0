#!/usr/bin/env python
"""Golden outputs of the OFFICIAL SAM2.1 image encoder (trunk + FPN neck) on seeded weights.

Runs only under the oracle interpreter (official ``sam2==1.1.0``), from a folder without a
``sam2/`` subfolder and without PYTHONPATH. Regenerate (from the checkout root)::

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/image_encoder_golden.py --size t \
        --out /work/main/tests/parity/golden/image_encoder_t.npz
    (same with --size b+ --out .../image_encoder_b+.npz)

Weights: ``make_seeded_state_dict(size, seed=0)`` from ``tests/parity/seeded_ckpt.py``,
restricted to the ``image_encoder.*`` keys. Input: ``torch.randn(1, 3, R, R)`` from a CPU
generator seeded with ``--input-seed`` (default 1234), R = ``--resolution`` (default 128).
Stored (float32 unless noted), kept small:

* ``fpn<l>_head``: the first ``--channels`` channels of ``backbone_fpn[l]`` (l = 0, 1, 2),
* ``fpn<l>_chan_mean`` (float64): the spatial mean of every channel of ``backbone_fpn[l]``,
* ``pos_last_head``: the first channels of ``vision_pos_enc[-1]``,
* ``meta``: a JSON string (versions, arguments).
"""
import argparse
import importlib.metadata
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/parity, for seeded_ckpt
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

from official_guard import import_official_sam2  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", required=True, choices=["t", "s", "b+", "l"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input-seed", type=int, default=1234)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import_official_sam2()
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from seeded_ckpt import make_seeded_state_dict

    torch.set_num_threads(1)
    cfg = compose(config_name=f"configs/sam2.1/sam2.1_hiera_{args.size}.yaml")
    OmegaConf.resolve(cfg)
    encoder = instantiate(cfg.model.image_encoder, _recursive_=True).eval()
    prefix = "image_encoder."
    full = make_seeded_state_dict(args.size, args.seed)
    encoder.load_state_dict({k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}, strict=True)

    gen = torch.Generator(device="cpu")
    gen.manual_seed(args.input_seed)
    image = torch.randn(1, 3, args.resolution, args.resolution, generator=gen)
    with torch.no_grad():
        out = encoder(image)
    arrays = {}
    for level, feat in enumerate(out["backbone_fpn"]):
        arrays[f"fpn{level}_head"] = feat[:, : args.channels].contiguous().numpy()
        arrays[f"fpn{level}_chan_mean"] = feat.double().mean(dim=(2, 3)).numpy()
    arrays["pos_last_head"] = out["vision_pos_enc"][-1][:, : args.channels].contiguous().numpy()
    meta = dict(vars(args), torch=torch.__version__, sam2=importlib.metadata.version("sam2"),
                shapes=[list(f.shape) for f in out["backbone_fpn"]])
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {meta['shapes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
