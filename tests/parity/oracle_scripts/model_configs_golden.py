#!/usr/bin/env python
"""Dump the OFFICIAL SAM2 / SAM2.1 model configs, as composed by Hydra, to one JSON file.

Runs only under the oracle interpreter (official ``sam2==1.1.0``), from a folder without a
``sam2/`` subfolder and without PYTHONPATH. Regenerate::

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/model_configs_golden.py \
        --out /work/main/tests/parity/golden/official_model_configs.json

Output: ``{"meta": {...}, "configs": {"configs/sam2.1/sam2.1_hiera_t.yaml": {...}, ...}}``, each
config resolved with ``OmegaConf.to_container(resolve=True)`` (JSON keeps int vs float).
"""
import argparse
import importlib.metadata
import json
import os
import sys

sys.dont_write_bytecode = True

CONFIG_NAMES = [
    f"configs/{family}/{family}_hiera_{size}.yaml"
    for family in ("sam2.1", "sam2")
    for size in ("t", "s", "b+", "l")
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if os.path.isdir(os.path.join(os.getcwd(), "sam2")):
        sys.exit("run this from a folder without a sam2/ subfolder")
    import sam2  # official; its __init__ initialises Hydra on its config module

    version = importlib.metadata.version("sam2")
    if version != "1.1.0" or "site-packages" not in sam2.__file__:
        sys.exit(f"not the official sam2 1.1.0: {sam2.__file__} ({version})")
    from hydra import compose
    from omegaconf import OmegaConf

    configs = {}
    for name in CONFIG_NAMES:
        configs[name] = OmegaConf.to_container(compose(config_name=name), resolve=True)
    doc = {"meta": {"sam2": version, "generator": os.path.basename(__file__)}, "configs": configs}
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(configs)} configs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
