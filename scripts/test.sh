#!/usr/bin/env bash
# Builds everything and runs every test: the Python package, CLI, notebooks and
# shared data cases (pytest), and the Rust core (cargo test). The wheel and the
# Rust tests share one release build of the core.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
echo "== build and install the Python package (release)"
python3 -m pip install --quiet ".[test]"
echo "== cargo test (core, release profile)"
cargo test --release --locked
echo "== pytest"
set +e
python3 -m pytest -q tests/python
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
