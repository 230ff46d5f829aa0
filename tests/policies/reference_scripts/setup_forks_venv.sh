#!/usr/bin/env bash
# The forks' python: a venv that sees every package of the oracle venv (../shared/oracle/setup.sh:
# torch, hydra, ...), plus the two packages the forks import that the oracle lacks. Prints the
# python path on stdout:
#   FORKS_PY="$(bash tests/policies/reference_scripts/setup_forks_venv.sh)"
#   SAM2_ORACLE_PY  the oracle's python (default: $HOME/.cache/sam2-oracle/venv/bin/python)
#   SAM2_FORKS_VENV this venv (default: $HOME/.cache/sam2-forks/venv)
#
# How it sees the oracle's packages: `python -m venv --system-site-packages` run by a venv's
# python links the *base* interpreter's site-packages, not that venv's, so a venv made that way
# has no torch. Instead the oracle's own site-packages folders (as its sys.path lists them) are
# written into a .pth file of this venv, refreshed on every run (so an existing venv is
# repaired too). Both venvs run the same Python version (checked).
set -euo pipefail
ORACLE_PY="${SAM2_ORACLE_PY:-$HOME/.cache/sam2-oracle/venv/bin/python}"
VENV="${SAM2_FORKS_VENV:-$HOME/.cache/sam2-forks/venv}"
[ -x "$ORACLE_PY" ] || { echo "no oracle python at $ORACLE_PY (run ../shared/oracle/setup.sh first)" >&2; exit 1; }
unset PYTHONPATH  # a project checkout on the path would shadow the packages checked below
cd "$(dirname "$ORACLE_PY")"  # not a folder holding a sam2/ package
if [ ! -x "$VENV/bin/python" ]; then
  "$ORACLE_PY" -m venv "$VENV" >&2
fi
VERSION='import sys; print("%d.%d" % sys.version_info[:2])'
ORACLE_VERSION="$("$ORACLE_PY" -I -c "$VERSION")"
FORKS_VERSION="$("$VENV/bin/python" -I -c "$VERSION")"
[ "$ORACLE_VERSION" = "$FORKS_VERSION" ] || {
  echo "$VENV runs Python $FORKS_VERSION but the oracle $ORACLE_VERSION: remove $VENV and run again" >&2
  exit 1
}
SITES="$("$ORACLE_PY" -I -c 'import sys; print("\n".join(p for p in sys.path if p.endswith(("site-packages", "dist-packages"))))')"
[ -n "$SITES" ] || { echo "$ORACLE_PY lists no site-packages folder" >&2; exit 1; }
PTH="$("$VENV/bin/python" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/sam2_oracle_packages.pth"
printf '%s\n' "$SITES" > "$PTH"
# loguru: SAMURAI's sam2_base; vot-toolkit (+ the attributee release it works with): DAM4SAM's tracker
"$VENV/bin/python" -m pip install -q loguru "vot-toolkit==0.7.1" "attributee==0.1.9" >&2
"$VENV/bin/python" -I -c 'import torch, hydra, loguru, vot.region.raster' >&2 || {
  echo "$VENV/bin/python cannot import torch, hydra, loguru and vot: is the oracle venv complete (../shared/oracle/setup.sh)?" >&2
  exit 1
}
echo "$VENV/bin/python"
