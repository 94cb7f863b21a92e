#!/usr/bin/env bash
# Builds everything and runs every test: the Rust core (cargo test) and the
# Python package, CLI and shared data cases (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
echo "== cargo test (core)"
cargo test --locked
echo "== build and install the Python package"
python3 -m pip install --quiet ".[test]"
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
