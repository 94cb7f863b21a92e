#!/usr/bin/env bash
# Builds and installs Innsikt, then builds an archive from corpus-sample/ and prints a report.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore .
innsikt demo corpus-sample --archive demo-arkiv
