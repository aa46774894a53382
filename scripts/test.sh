#!/usr/bin/env bash
# The test command of the README: every test of the workspace, against real SQLite
# files and the real PostgreSQL and MariaDB servers (each test creates and drops its
# own database).
# Ends with one summary line, "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-citus.sh
scripts/ensure-mariadb.sh
scripts/ensure-chromium.sh
export BACKFILL_TEST_PG_URL="${BACKFILL_TEST_PG_URL:-postgres://root@127.0.0.1:5432/postgres}"
export BACKFILL_TEST_MYSQL_URL="${BACKFILL_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
