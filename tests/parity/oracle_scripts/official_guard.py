"""Import guard shared by the oracle scripts: make sure ``import sam2`` gives the official 1.1.0.

Runs under the oracle interpreter only. Exits with a message when the current folder holds a
``sam2/`` subfolder (it would shadow the installed package) or when the imported package is not
the official 1.1.0 release from site-packages.
"""
import importlib.metadata
import os
import sys

OFFICIAL_VERSION = "1.1.0"


def import_official_sam2():
    """Return the official ``sam2`` module, or exit with the reason it cannot be trusted."""
    if os.path.isdir(os.path.join(os.getcwd(), "sam2")):
        sys.exit("run this from a folder without a sam2/ subfolder")
    import sam2

    found = importlib.metadata.version("sam2")
    if found != OFFICIAL_VERSION or "site-packages" not in sam2.__file__:
        sys.exit(f"not the official sam2 {OFFICIAL_VERSION}: {sam2.__file__} ({found})")
    return sam2
