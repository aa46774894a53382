#!/usr/bin/env bash
# The test command of the README: every test of the workspace, against real SQLite
# files and the real PostgreSQL server (each test creates and drops its own database).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
export BACKFILL_TEST_PG_URL="${BACKFILL_TEST_PG_URL:-postgres://root@127.0.0.1:5432/postgres}"
cargo test --workspace --no-fail-fast "$@"
