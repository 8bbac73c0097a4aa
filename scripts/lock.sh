#!/usr/bin/env bash
# Compile the lock files with a hash for every package (pip-tools), from PyPI alone, after editing requirements*.in:
#   ./scripts/lock.sh              keep every pin that still fits, add what is new
#   ./scripts/lock.sh --upgrade    move transitive dependencies to their newest allowed versions
# requirements.txt (runtime) and requirements-dev.txt (runtime + tests) are what every install reads, with
# `pip install --require-hashes`: the Dockerfile, scripts/lib.sh (quickstart, tests, CI).
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
# Only PyPI: a machine's own pip configuration (local wheel folders, extra indexes) must not leak into the lock.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT || true
args=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
      --index-url https://pypi.org/simple "$@")
pip-compile "${args[@]}" --output-file requirements.txt requirements.in
pip-compile "${args[@]}" --output-file requirements-dev.txt requirements-dev.in
