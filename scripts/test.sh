#!/usr/bin/env bash
# The test command (README, CI): install everything the tests need, lint, type-check,
# run every test. Integration tests must not skip here: HFACTION_REQUIRE_TOOLS=1.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/bootstrap.sh --test
# aws-sam-cli (.venv-sam: sam deploy on moto, cfn-lint's schemas) and asl-validator.
bash scripts/lint-aws.sh install
.venv/bin/ruff check .
.venv/bin/mypy
HFACTION_REQUIRE_TOOLS=1 .venv/bin/python -m pytest "$@"
