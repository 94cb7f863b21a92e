#!/usr/bin/env bash
# The benchmark in one command: builds a release wheel of innsikt from this repository,
# installs it with the peers into bench/.venv, and runs bench/bench.py.
#
#   bash bench/run.sh --quick                  # a few minutes: 10 MB corpora
#   bash bench/run.sh                          # full: 100 MB and 1 GB corpora
#   bash bench/run.sh --sizes 100 --out DIR    # any bench.py option passes through
#
# INNSIKT_BENCH_SRC=/path/to/checkout builds the wheel from another checkout
# (default: the repository this script is in).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
CMDLINE="bash bench/run.sh${*:+ $*}"
if [ -n "${INNSIKT_BENCH_SRC:-}" ]; then CMDLINE="INNSIKT_BENCH_SRC=$INNSIKT_BENCH_SRC $CMDLINE"; fi
SRC="$(cd "${INNSIKT_BENCH_SRC:-$REPO}" && pwd)"
VENV="$REPO/bench/.venv"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

if [ ! -x "$PY" ]; then
  echo "== creating $VENV" >&2
  python3 -m venv "$VENV"
fi
echo "== installing pinned requirements" >&2
"$PY" -m pip install --quiet -r bench/requirements.txt

echo "== building the innsikt wheel (release) from $SRC" >&2
WHEELS="$REPO/bench/work/wheel"
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
(cd "$SRC" && "$VENV/bin/maturin" build --release --quiet --interpreter "$PY" --out "$WHEELS")
"$PY" -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/innsikt-*.whl

export INNSIKT_BENCH_SRC="$SRC"
export INNSIKT_BENCH_CMDLINE="$CMDLINE"
exec "$PY" bench/bench.py "$@"
