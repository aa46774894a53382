#!/usr/bin/env bash
# Benchmarks: each backfill against the set-based SQL that does the same work, measured
# in the same run on identical copies of the same seeded data, on SQLite and PostgreSQL.
#
#   scripts/bench.sh [features|project-id|seed|all]
#
# Sizes can be changed with BENCH_TESTS (200000), BENCH_LARGE_TESTS (1000000, for the
# memory comparison), BENCH_MEMORY_ROWS (2000000 over the eleven tables) and
# BENCH_SEED_TESTS (1000000). Timings are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
tests_n=${BENCH_TESTS:-200000}
large_n=${BENCH_LARGE_TESTS:-1000000}
memory_rows=${BENCH_MEMORY_ROWS:-2000000}
seed_n=${BENCH_SEED_TESTS:-1000000}
work=${BENCH_DIR:-$(mktemp -d /tmp/backfill-bench.XXXXXX)}
pg_admin=postgres://root@127.0.0.1:5432/postgres

for tool in sqlite3 /usr/bin/time psql; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench: installing $tool" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 time postgresql-client >/dev/null
  fi
done
scripts/ensure-postgres.sh
cargo build --release --quiet
bin=$PWD/target/release/backfill

# run LABEL URL ARGS… — runs the binary under /usr/bin/time; sets $secs and $rss_mb.
run() {
  local label=$1 url=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$work/time" env DATABASE_URL="$url" "$bin" --quiet --no-progress "$@" >"$work/$label.out" 2>"$work/$label.err" || {
    local code=$?
    if [ "$code" -ne 1 ]; then echo "bench: $label failed ($code): $(cat "$work/$label.err")" >&2; exit 1; fi
  }
  read -r secs kb <"$work/time"
  rss_mb=$((kb / 1024))
}

# timed_sql BACKEND TARGET FILE — runs a SQL file with the backend's own client; sets $secs.
timed_sql() {
  local backend=$1 target=$2 file=$3 start end
  start=$(date +%s.%N)
  if [ "$backend" = sqlite ]; then
    sqlite3 -bail "$target" <"$file" >/dev/null
  else
    psql "$target" -XqAt -v ON_ERROR_STOP=1 -f "$file" >/dev/null
  fi
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }

# fresh BACKEND NAME — an empty migrated database; prints its URL.
fresh() {
  local backend=$1 name=$2
  if [ "$backend" = sqlite ]; then
    rm -f "$work/$name.db"
    echo "sqlite://$work/$name.db?mode=rwc"
  else
    psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
    echo "postgres://root@127.0.0.1:5432/$name"
  fi
}

# copy BACKEND FROM TO — an identical copy; prints its URL / file.
copy() {
  local backend=$1 from=$2 to=$3
  if [ "$backend" = sqlite ]; then
    cp "$work/$from.db" "$work/$to.db"
    echo "$work/$to.db"
  else
    psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $to WITH (FORCE)" -c "CREATE DATABASE $to TEMPLATE $from" >/dev/null
    echo "postgres://root@127.0.0.1:5432/$to"
  fi
}

# settle BACKEND URL — before a copy and before each timed run: on PostgreSQL the seeded
# tables are vacuumed and analyzed once (as a live database's are), and a checkpoint
# flushes what came before, so neither side of a comparison pays for the other's writes.
settle() {
  if [ "$1" = postgres ]; then
    if [ "${3:-}" = vacuum ]; then psql "$2" -XqAt -c "VACUUM ANALYZE" >/dev/null; fi
    psql "$2" -XqAt -c "CHECKPOINT" >/dev/null
  fi
}

drop_all() {
  psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS bench_a WITH (FORCE)" -c "DROP DATABASE IF EXISTS bench_b WITH (FORCE)" -c "DROP DATABASE IF EXISTS bench_large WITH (FORCE)" >/dev/null
}
trap drop_all EXIT

features_sql() {
  if [ "$1" = sqlite ]; then cat <<'SQL'
INSERT INTO test_features (id, customer_id, test_id, feature_id, title, description, howtofind, user_stories, enable_default, enable_content, enable_visual)
SELECT json_extract(f.value, '$.id'), t.customer_id, t.id, json_extract(f.value, '$.feature_id'),
       COALESCE(json_extract(f.value, '$.title'), ''), json_extract(f.value, '$.description'), json_extract(f.value, '$.howtofind'),
       COALESCE(json_extract(f.value, '$.user_stories'), '[]'),
       COALESCE(json_extract(f.value, '$.enable_default'), 0), COALESCE(json_extract(f.value, '$.enable_content'), 0), COALESCE(json_extract(f.value, '$.enable_visual'), 0)
FROM tests t, json_each(CASE WHEN json_valid(t.data) THEN COALESCE(json_extract(t.data, '$.features'), json_extract(t.data, '$.exploratory_test.features'), '[]') ELSE '[]' END) f
WHERE json_type(f.value, '$.id') = 'integer' AND json_type(f.value, '$.feature_id') = 'integer'
ON CONFLICT (id) DO UPDATE SET feature_id = excluded.feature_id, title = excluded.title, description = excluded.description,
  howtofind = excluded.howtofind, user_stories = excluded.user_stories, enable_default = excluded.enable_default,
  enable_content = excluded.enable_content, enable_visual = excluded.enable_visual
  WHERE test_features.customer_id = excluded.customer_id;
UPDATE bugs SET test_feature_id = json_extract(raw_data, '$.test_feature.id')
WHERE json_valid(raw_data) AND json_type(raw_data, '$.test_feature.id') = 'integer'
  AND test_feature_id IS NOT json_extract(raw_data, '$.test_feature.id')
  AND EXISTS (SELECT 1 FROM test_features f WHERE f.id = json_extract(bugs.raw_data, '$.test_feature.id') AND f.customer_id = bugs.customer_id);
SQL
  else cat <<'SQL'
INSERT INTO test_features (id, customer_id, test_id, feature_id, title, description, howtofind, user_stories, enable_default, enable_content, enable_visual)
SELECT DISTINCT ON ((f->>'id')::bigint) (f->>'id')::bigint, t.customer_id, t.id, (f->>'feature_id')::bigint,
       COALESCE(f->>'title', ''), f->>'description', f->>'howtofind', COALESCE((f->'user_stories')::text, '[]'),
       COALESCE((f->>'enable_default')::boolean, false), COALESCE((f->>'enable_content')::boolean, false), COALESCE((f->>'enable_visual')::boolean, false)
FROM tests t CROSS JOIN LATERAL jsonb_array_elements(COALESCE(t.data::jsonb->'features', t.data::jsonb->'exploratory_test'->'features', '[]')) f
WHERE jsonb_typeof(f->'id') = 'number' AND jsonb_typeof(f->'feature_id') = 'number'
ORDER BY (f->>'id')::bigint, t.id
ON CONFLICT (id) DO UPDATE SET feature_id = excluded.feature_id, title = excluded.title, description = excluded.description,
  howtofind = excluded.howtofind, user_stories = excluded.user_stories, enable_default = excluded.enable_default,
  enable_content = excluded.enable_content, enable_visual = excluded.enable_visual
  WHERE test_features.customer_id = excluded.customer_id;
UPDATE bugs b SET test_feature_id = f.id FROM test_features f
WHERE f.id = (b.raw_data::jsonb->'test_feature'->>'id')::bigint AND f.customer_id = b.customer_id
  AND b.test_feature_id IS DISTINCT FROM f.id;
SQL
  fi
}

bench_features() {
  local backend
  for backend in sqlite postgres; do
    echo "== backfill-features on $backend: $tests_n tests x 3 features, $((tests_n * 3)) bugs"
    local a b
    a=$(fresh "$backend" bench_a)
    run migrate "$a" migrate up
    run seed "$a" seed --tests "$tests_n" --memory-rows 0
    settle "$backend" "$a" vacuum
    b=$(copy "$backend" bench_a bench_b)
    settle "$backend" "$a"
    run features "$a" backfill-features --no-validate
    local t_tool=$secs rss=$rss_mb
    run rerun "$a" backfill-features --no-validate
    local t_rerun=$secs
    features_sql "$backend" >"$work/features.sql"
    settle "$backend" "$b"
    timed_sql "$backend" "$b" "$work/features.sql"
    local t_sql=$secs
    local rows_tool rows_sql
    if [ "$backend" = sqlite ]; then
      rows_tool=$(sqlite3 "$work/bench_a.db" 'select count(*) from test_features; select count(test_feature_id) from bugs' | paste -sd/)
      rows_sql=$(sqlite3 "$b" 'select count(*) from test_features; select count(test_feature_id) from bugs' | paste -sd/)
    else
      rows_tool=$(psql "${a}" -XAtc 'select count(*) from test_features' -c 'select count(test_feature_id) from bugs' | paste -sd/)
      rows_sql=$(psql "$b" -XAtc 'select count(*) from test_features' -c 'select count(test_feature_id) from bugs' | paste -sd/)
    fi
    printf '  backfill-features      %8.2fs  peak RSS %4d MB  (features/bugs written: %s)\n' "$t_tool" "$rss" "$rows_tool"
    printf '  set-based SQL          %8.2fs                   (features/bugs written: %s)\n' "$t_sql" "$rows_sql"
    printf '  ratio tool/SQL         %8s   (target <= 1.5)\n' "$(ratio "$t_tool" "$t_sql")"
    printf '  re-run, unchanged data %8.2fs  ratio re-run/first %s (target <= 0.5)\n' "$t_rerun" "$(ratio "$t_rerun" "$t_tool")"

    local big
    big=$(fresh "$backend" bench_large)
    run migrate "$big" migrate up
    run seed_large "$big" seed --tests "$large_n" --memory-rows 0
    run features_large "$big" backfill-features --no-validate
    printf '  peak RSS at %d tests: %d MB; at %d tests: %d MB (target <= 100 MB, flat)\n' "$tests_n" "$rss" "$large_n" "$rss_mb"
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

bench_project_id() {
  local backend per_table=$((memory_rows / 11))
  for backend in sqlite postgres; do
    echo "== backfill-project-id on $backend: $((per_table * 11)) rows over eleven tables, half NULL (scattered)"
    local a b
    a=$(fresh "$backend" bench_a)
    run migrate "$a" migrate up
    run seed "$a" seed --tests 0 --memory-rows "$per_table" --null-project-id 0.5
    settle "$backend" "$a" vacuum
    b=$(copy "$backend" bench_a bench_b)
    settle "$backend" "$a"
    run project "$a" --format json backfill-project-id --sleep 0 --no-validate
    local t_tool=$secs rss=$rss_mb
    local sql="$work/project.sql" table
    : >"$sql"
    for table in l2_insights nodes edges working_memory episode_memory l0_raw ground_truth stale_memory smf_proposals ief_feedback l2_insight_history; do
      echo "UPDATE $table SET project_id = 'io' WHERE project_id IS NULL;" >>"$sql"
    done
    settle "$backend" "$b"
    timed_sql "$backend" "$b" "$sql"
    local t_sql=$secs
    local tenths
    tenths=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
t = max(s["tables"], key=lambda t: t["processed"])
print("%s: %d batches, first tenth %.2f ms, last tenth %.2f ms, last/first %.2f" % (t["table"], t["batches"], t["first_tenth_batch_ms"], t["last_tenth_batch_ms"], t["last_tenth_batch_ms"] / t["first_tenth_batch_ms"]))
' "$work/project.out")
    printf '  backfill-project-id    %8.2fs  peak RSS %4d MB\n' "$t_tool" "$rss"
    printf '  set-based UPDATEs      %8.2fs\n' "$t_sql"
    printf '  ratio tool/SQL         %8s   (target <= 1.3)\n' "$(ratio "$t_tool" "$t_sql")"
    printf '  batch time, %s (target last/first <= 1.2)\n' "$tenths"
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

bench_seed() {
  local backend
  for backend in sqlite postgres; do
    local a
    a=$(fresh "$backend" bench_a)
    run migrate "$a" migrate up
    run seed "$a" seed --tests "$seed_n" --memory-rows 0
    printf '== seed %d tests (3 features, 3 bugs each) on %s: %.2fs, peak RSS %d MB\n' "$seed_n" "$backend" "$secs" "$rss_mb"
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

case "$what" in
  features) bench_features ;;
  project-id) bench_project_id ;;
  seed) bench_seed ;;
  all) bench_seed; bench_features; bench_project_id ;;
  *) echo "usage: scripts/bench.sh [features|project-id|seed|all]" >&2; exit 2 ;;
esac
rm -rf "$work"
