#!/usr/bin/env bash
# The forks' python: a venv on top of the oracle venv (../shared/oracle/setup.sh), plus the two
# packages the forks import that the oracle lacks. Prints the python path on stdout.
#   FORKS_PY="$(bash tests/policies/reference_scripts/setup_forks_venv.sh)"
set -euo pipefail
ORACLE_PY="${SAM2_ORACLE_PY:-$HOME/.cache/sam2-oracle/venv/bin/python}"
VENV="${SAM2_FORKS_VENV:-$HOME/.cache/sam2-forks/venv}"
[ -x "$ORACLE_PY" ] || { echo "no oracle python at $ORACLE_PY (run ../shared/oracle/setup.sh first)" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  "$ORACLE_PY" -m venv --system-site-packages "$VENV" >&2
fi
# loguru: SAMURAI's sam2_base; vot-toolkit (+ the attributee release it works with): DAM4SAM's tracker
"$VENV/bin/pip" install -q loguru "vot-toolkit==0.7.1" "attributee==0.1.9" >&2
"$VENV/bin/python" -c "import loguru, vot.region.raster" >&2
echo "$VENV/bin/python"
