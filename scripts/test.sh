#!/usr/bin/env bash
# Sets up .venv and runs the test suite (CPU only, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
set +e
# Two test processes (pytest-xdist), each file whole in one of them so its module fixtures are made once:
# the suite's training runs and pilot sessions are single-threaded enough to use both cores of a small machine.
# Files go out longest first (tests/conftest.py orders them), not xdist's most-tests-first.
.venv/bin/python -m pytest -q -n "${SFT_WIZARD_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
