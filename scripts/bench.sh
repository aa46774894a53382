#!/usr/bin/env bash
# Benchmarks: each backfill against the set-based SQL that does the same work, measured
# in the same run on identical copies of the same seeded data, on SQLite, PostgreSQL and
# MariaDB.
#
#   scripts/bench.sh [features|project-id|seed|pacing|console|citus|all]
#   BENCH_BASELINE=<git revision> scripts/bench.sh compare
#
# `citus` makes a throwaway Citus cluster (a coordinator and two workers on this
# machine, in the bench's directory) and times backfill-project-id over one table of
# BENCH_CITUS_ROWS (1000000) rows distributed by `id`, with --workers 1 and 2, against
# one set-based UPDATE on the coordinator.
#
# `console` times the console's pages (`serve`) with 1,000 runs, 100,000 anomalies and
# a week of one run's history, and a backfill with and without a console watching it.
#
# `compare` times this tree's binary against the one built from BENCH_BASELINE (in a
# worktree, into target/baseline), the two in turn on copies of the same seeded data,
# for both backfills: whether a change made them slower, within the run-to-run spread.
#
# Sizes can be changed with BENCH_TESTS (200000), BENCH_LARGE_TESTS (1000000, for the
# memory comparison), BENCH_MEMORY_ROWS (2000000 over the eleven tables) and
# BENCH_SEED_TESTS (1000000); BENCH_BACKENDS ("sqlite postgres mysql") picks the backends
# (`mysql` is the local MariaDB server), and BENCH_WORKERS ("1 2 4") the --workers
# each backfill is timed with, and BENCH_JOBS ("features project-id") the backfills
# `compare` times.
# Each comparison runs the tool and the SQL in turn BENCH_REPEAT times (3), each on a
# fresh copy, and prints the medians: wall times on a shared 2-core machine drift by
# tens of percent within minutes, and alternating the two sides lets the drift hit
# both. Timings are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
tests_n=${BENCH_TESTS:-200000}
large_n=${BENCH_LARGE_TESTS:-1000000}
memory_rows=${BENCH_MEMORY_ROWS:-2000000}
seed_n=${BENCH_SEED_TESTS:-1000000}
repeat=${BENCH_REPEAT:-3}
backends=${BENCH_BACKENDS:-sqlite postgres mysql}
worker_counts=${BENCH_WORKERS:-1 2 4}
compare_jobs=${BENCH_JOBS:-features project-id}
# What production memory tables hold: half the project_ids NULL, 0.1% legacy aliases.
production_shape=(--null-project-id 0.5 --alias-project-id 0.001)
case "$repeat" in
  '' | *[!0-9]* | 0) echo "bench: BENCH_REPEAT must be a whole number of runs, at least 1 (got '$repeat')" >&2; exit 2 ;;
esac
for job in $compare_jobs; do
  case "$job" in
    features | project-id) ;;
    *) echo "bench: BENCH_JOBS names the backfills to compare, features and project-id (got '$job')" >&2; exit 2 ;;
  esac
done
work=${BENCH_DIR:-$(mktemp -d /tmp/backfill-bench.XXXXXX)}
pg_admin=postgres://root@127.0.0.1:5432/postgres
mysql_url=mysql://root@127.0.0.1:3306
maria() { mariadb -h 127.0.0.1 -P 3306 -u root "$@"; }

for tool in sqlite3 /usr/bin/time psql; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench: installing $tool" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 time postgresql-client >/dev/null
  fi
done
scripts/ensure-postgres.sh
scripts/ensure-mariadb.sh
cargo build --release --quiet
bin=$PWD/target/release/backfill

# run LABEL URL ARGS… — runs the binary under /usr/bin/time; sets $secs and $rss_mb.
run() {
  local label=$1 url=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$work/time" env DATABASE_URL="$url" "${run_bin:-$bin}" --quiet --no-progress "$@" >"$work/$label.out" 2>"$work/$label.err" || {
    local code=$?
    if [ "$code" -ne 1 ]; then echo "bench: $label failed ($code): $(cat "$work/$label.err")" >&2; exit 1; fi
  }
  # The last line: after a non-zero exit GNU time writes "Command exited with…" first.
  read -r secs kb < <(tail -n 1 "$work/time")
  rss_mb=$((kb / 1024))
}

# timed_sql BACKEND TARGET FILE — runs a SQL file with the backend's own client; sets $secs.
timed_sql() {
  local backend=$1 target=$2 file=$3 start end
  start=$(date +%s.%N)
  case "$backend" in
    sqlite) sqlite3 -bail "$target" <"$file" >/dev/null ;;
    postgres) psql "$target" -XqAt -v ON_ERROR_STOP=1 -f "$file" >/dev/null ;;
    mysql) maria "${target##*/}" <"$file" >/dev/null ;;
  esac
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }

# median X… — the middle one of the values (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# fresh BACKEND NAME — an empty migrated database; prints its URL.
fresh() {
  local backend=$1 name=$2
  case "$backend" in
    sqlite)
      rm -f "$work/$name.db"
      echo "sqlite://$work/$name.db?mode=rwc" ;;
    postgres)
      psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
      echo "postgres://root@127.0.0.1:5432/$name" ;;
    mysql)
      maria -e "DROP DATABASE IF EXISTS $name; CREATE DATABASE $name"
      echo "$mysql_url/$name" ;;
  esac
}

# seed_base BACKEND SEED_ARGS… — bench_seed, migrated, seeded and settled: what every
# timed run copies.
seed_base() {
  local backend=$1 url; shift
  url=$(fresh "$backend" bench_seed)
  run migrate "$url" migrate up
  run seed "$url" seed "$@"
  settle "$backend" "$url" vacuum
  # MariaDB has no template databases: copies are restored from a dump.
  if [ "$backend" = mysql ]; then
    mariadb-dump -h 127.0.0.1 -P 3306 -u root --single-transaction --triggers bench_seed >"$work/bench_seed.sql"
  fi
}

# copy BACKEND FROM TO — an identical copy, settled (below); prints its URL.
copy() {
  local backend=$1 from=$2 to=$3
  case "$backend" in
    sqlite)
      cp "$work/$from.db" "$work/$to.db"
      echo "sqlite://$work/$to.db?mode=rwc" ;;
    postgres)
      psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $to WITH (FORCE)" -c "CREATE DATABASE $to TEMPLATE $from" >/dev/null
      settle postgres "postgres://root@127.0.0.1:5432/$to"
      echo "postgres://root@127.0.0.1:5432/$to" ;;
    mysql)
      maria -e "DROP DATABASE IF EXISTS $to; CREATE DATABASE $to"
      maria "$to" <"$work/$from.sql"
      settle mysql "$mysql_url/$to"
      echo "$mysql_url/$to" ;;
  esac
}

# discard BACKEND NAME — drops a copy once measured, so that no copy but the one being
# timed is left to the server's background work (autovacuum, writeback).
discard() {
  case "$1" in
    sqlite) rm -f "$work/$2.db" "$work/$2.db-wal" "$work/$2.db-shm" ;;
    postgres) psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null ;;
    mysql) maria -e "DROP DATABASE IF EXISTS $2" ;;
  esac
}

# counts BACKEND URL — test_features rows / attributed bugs, as "N/N".
counts() {
  local q1='select count(*) from test_features' q2='select count(test_feature_id) from bugs'
  case "$1" in
    sqlite) sqlite3 "$(target "$2")" "$q1; $q2" | paste -sd/ ;;
    postgres) psql "$2" -XAtc "$q1" -c "$q2" | paste -sd/ ;;
    mysql) maria -N "${2##*/}" -e "$q1; $q2" | paste -sd/ ;;
  esac
}

# target URL — what the backend's own client takes: the file of an SQLite URL.
target() { local url=${1#sqlite://}; echo "${url%%\?*}"; }

# settle BACKEND URL — before a copy and before each timed run: on PostgreSQL the seeded
# tables are vacuumed and analyzed once (as a live database's are), and a checkpoint
# flushes what came before, so neither side of a comparison pays for the other's writes.
# On MariaDB a restored copy's tables are analyzed, and the dirty pages of the restore
# are written out before the clock starts.
settle() {
  case "$1" in
    postgres)
      if [ "${3:-}" = vacuum ]; then psql "$2" -XqAt -c "VACUUM ANALYZE" >/dev/null; fi
      psql "$2" -XqAt -c "CHECKPOINT" >/dev/null ;;
    mysql)
      local db=${2##*/} tables
      tables=$(maria -N -e "SELECT GROUP_CONCAT(table_name) FROM information_schema.tables WHERE table_schema = '$db'")
      if [ "$tables" != NULL ]; then maria "$db" -e "ANALYZE TABLE $tables" >/dev/null; fi
      maria -e "FLUSH TABLES" ;;
  esac
}

drop_all() {
  local name
  for name in bench_seed bench_a bench_b bench_large; do
    psql "$pg_admin" -XqAt -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    maria -e "DROP DATABASE IF EXISTS $name" 2>/dev/null || true
  done
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
  elif [ "$1" = mysql ]; then cat <<'SQL'
INSERT INTO test_features (id, customer_id, test_id, feature_id, title, description, howtofind, user_stories, enable_default, enable_content, enable_visual)
SELECT f.id, t.customer_id, t.id, f.feature_id, COALESCE(f.title, ''), f.description, f.howtofind,
       COALESCE(JSON_COMPACT(f.user_stories), '[]'),
       COALESCE(f.enable_default, 0), COALESCE(f.enable_content, 0), COALESCE(f.enable_visual, 0)
FROM tests t, JSON_TABLE(IF(JSON_VALID(t.data), COALESCE(JSON_EXTRACT(t.data, '$.features'), JSON_EXTRACT(t.data, '$.exploratory_test.features'), '[]'), '[]'),
  '$[*]' COLUMNS (
    id BIGINT PATH '$.id' NULL ON ERROR, feature_id BIGINT PATH '$.feature_id' NULL ON ERROR,
    id_json JSON PATH '$.id', feature_id_json JSON PATH '$.feature_id', user_stories JSON PATH '$.user_stories',
    title LONGTEXT PATH '$.title', description LONGTEXT PATH '$.description', howtofind LONGTEXT PATH '$.howtofind',
    enable_default BOOLEAN PATH '$.enable_default' NULL ON ERROR, enable_content BOOLEAN PATH '$.enable_content' NULL ON ERROR,
    enable_visual BOOLEAN PATH '$.enable_visual' NULL ON ERROR)) f
WHERE JSON_TYPE(f.id_json) = 'INTEGER' AND JSON_TYPE(f.feature_id_json) = 'INTEGER'
ON DUPLICATE KEY UPDATE
  feature_id = IF(test_features.customer_id = VALUES(customer_id), VALUES(feature_id), test_features.feature_id),
  title = IF(test_features.customer_id = VALUES(customer_id), VALUES(title), test_features.title),
  description = IF(test_features.customer_id = VALUES(customer_id), VALUES(description), test_features.description),
  howtofind = IF(test_features.customer_id = VALUES(customer_id), VALUES(howtofind), test_features.howtofind),
  user_stories = IF(test_features.customer_id = VALUES(customer_id), VALUES(user_stories), test_features.user_stories),
  enable_default = IF(test_features.customer_id = VALUES(customer_id), VALUES(enable_default), test_features.enable_default),
  enable_content = IF(test_features.customer_id = VALUES(customer_id), VALUES(enable_content), test_features.enable_content),
  enable_visual = IF(test_features.customer_id = VALUES(customer_id), VALUES(enable_visual), test_features.enable_visual);
UPDATE bugs b JOIN test_features f
  ON f.id = CAST(JSON_VALUE(IF(JSON_VALID(b.raw_data), b.raw_data, '{}'), '$.test_feature.id') AS SIGNED) AND f.customer_id = b.customer_id
SET b.test_feature_id = f.id WHERE NOT (b.test_feature_id <=> f.id);
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
  for backend in $backends; do
    echo "== backfill-features on $backend: $tests_n tests x 3 features, $((tests_n * 3)) bugs, median of $repeat"
    local a b i w reruns=() sqls=() rss=0
    declare -A tools=()
    seed_base "$backend" --tests "$tests_n" --memory-rows 0
    features_sql "$backend" >"$work/features.sql"
    local rows_tool rows_sql
    for i in $(seq "$repeat"); do
      for w in $worker_counts; do
        a=$(copy "$backend" bench_seed bench_a)
        run features "$a" backfill-features --no-validate --workers "$w"
        tools[$w]="${tools[$w]:-} $secs"
        if [ "$rss_mb" -gt "$rss" ]; then rss=$rss_mb; fi
        if [ "$w" = 1 ]; then
          run rerun "$a" backfill-features --no-validate
          reruns+=("$secs")
        fi
        rows_tool=$(counts "$backend" "$a")
        discard "$backend" bench_a
      done
      b=$(copy "$backend" bench_seed bench_b)
      timed_sql "$backend" "$(target "$b")" "$work/features.sql"
      sqls+=("$secs")
      rows_sql=$(counts "$backend" "$b")
      discard "$backend" bench_b
    done
    local t_tool t_rerun t_sql t_one
    t_rerun=$(median "${reruns[@]}") t_sql=$(median "${sqls[@]}")
    printf '  set-based SQL          %8.2fs                   (features/bugs written: %s; runs: %s)\n' "$t_sql" "$rows_sql" "${sqls[*]}"
    for w in $worker_counts; do
      # shellcheck disable=SC2086
      t_tool=$(median ${tools[$w]})
      if [ "$w" = 1 ]; then t_one=$t_tool; fi
      printf '  backfill-features --workers %-2s %8.2fs  ratio tool/SQL %s  (features/bugs written: %s; runs:%s)\n' "$w" "$t_tool" "$(ratio "$t_tool" "$t_sql")" "$rows_tool" "${tools[$w]}"
    done
    printf '  peak RSS %d MB; targets: --workers 1 <= 1.5, --workers 2 <= 0.75 (PostgreSQL), SQLite no worse than --workers 1\n' "$rss"
    printf '  re-run, unchanged data %8.2fs  ratio re-run/first %s (target <= 0.5)\n' "$t_rerun" "$(ratio "$t_rerun" "${t_one:-$t_rerun}")"

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
  for backend in $backends; do
    echo "== backfill-project-id on $backend: $((per_table * 11)) rows over eleven tables, half NULL and 0.1% legacy aliases (scattered), median of $repeat"
    local a b i w table sqls=() rss=0 sql="$work/project.sql"
    declare -A tools=()
    # As production tables hold them: half NULL, a few legacy aliases of the owner
    # (which the tool journals and logs one by one), a tenth of other projects.
    seed_base "$backend" --tests 0 --memory-rows "$per_table" "${production_shape[@]}"
    : >"$sql"
    for table in l2_insights nodes edges working_memory episode_memory l0_raw ground_truth stale_memory smf_proposals ief_feedback l2_insight_history; do
      echo "UPDATE $table SET project_id = 'io' WHERE project_id IS NULL OR project_id IN ('io:', 'I/O', 'ethr', 'default') OR TRIM(project_id) = '';" >>"$sql"
    done
    for i in $(seq "$repeat"); do
      for w in $worker_counts; do
        a=$(copy "$backend" bench_seed bench_a)
        run project "$a" --format json backfill-project-id --sleep 0 --no-validate --workers "$w"
        tools[$w]="${tools[$w]:-} $secs"
        if [ "$rss_mb" -gt "$rss" ]; then rss=$rss_mb; fi
        if [ "$w" = 1 ]; then cp "$work/project.out" "$work/project.$secs.out"; fi
        discard "$backend" bench_a
      done
      b=$(copy "$backend" bench_seed bench_b)
      timed_sql "$backend" "$(target "$b")" "$sql"
      sqls+=("$secs")
      discard "$backend" bench_b
    done
    local t_tool t_sql t_one="" tenths
    t_sql=$(median "${sqls[@]}")
    printf '  set-based UPDATEs      %8.2fs                   (runs: %s)\n' "$t_sql" "${sqls[*]}"
    for w in $worker_counts; do
      # shellcheck disable=SC2086
      t_tool=$(median ${tools[$w]})
      if [ "$w" = 1 ]; then t_one=$t_tool; fi
      printf '  backfill-project-id --workers %-2s %8.2fs  ratio tool/SQL %s  (runs:%s)\n' "$w" "$t_tool" "$(ratio "$t_tool" "$t_sql")" "${tools[$w]}"
    done
    printf '  peak RSS %d MB; targets: --workers 1 <= 1.3, --workers 2 <= 0.95 and --workers 4 no slower than 2 (PostgreSQL), SQLite no worse than --workers 1\n' "$rss"
    if [ -n "$t_one" ]; then
      tenths=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
t = max(s["tables"], key=lambda t: t["processed"])
print("%s: %d batches, first tenth %.2f ms, last tenth %.2f ms, last/first %.2f" % (t["table"], t["batches"], t["first_tenth_batch_ms"], t["last_tenth_batch_ms"], t["last_tenth_batch_ms"] / t["first_tenth_batch_ms"]))
' "$work/project.$t_one.out")
      printf '  batch time of the median run of one worker, %s (target last/first <= 1.2)\n' "$tenths"
    fi
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

# pace_compare BACKEND LABEL SIZES COMMAND FLAGS… — the command at each fixed batch size
# and with --batch-time 500ms (starting at the default size), each on a fresh copy of
# bench_seed, in turn, BENCH_REPEAT times; prints the medians and adaptive/best fixed.
pace_compare() {
  local backend=$1 label=$2 sizes=$3; shift 3
  local i size variant url best="" best_size="" adaptive
  declare -A times=()
  for i in $(seq "$repeat"); do
    for variant in $sizes adaptive; do
      url=$(copy "$backend" bench_seed bench_a)
      if [ "$variant" = adaptive ]; then
        run pace "$url" "$@" --batch-time 500ms
      else
        run pace "$url" "$@" --batch-size "$variant"
      fi
      times[$variant]="${times[$variant]:-} $secs"
      discard "$backend" bench_a
    done
  done
  for size in $sizes; do
    # shellcheck disable=SC2086
    local m; m=$(median ${times[$size]})
    printf '  %-22s batch size %-6s %8.2fs  (runs:%s)\n' "$label" "$size" "$m" "${times[$size]}"
    if [ -z "$best" ] || [ "$(echo "$m < $best" | bc -l)" = 1 ]; then best=$m best_size=$size; fi
  done
  # shellcheck disable=SC2086
  adaptive=$(median ${times[adaptive]})
  printf '  %-22s --batch-time 500ms %6.2fs  (runs:%s)\n' "$label" "$adaptive" "${times[adaptive]}"
  printf '  ratio adaptive/best fixed (%s) %s   (target <= 1.0)\n' "$best_size" "$(ratio "$adaptive" "$best")"
}

bench_pacing() {
  local backend per_table=$((memory_rows / 11))
  for backend in $backends; do
    echo "== --batch-time 500ms against fixed batch sizes on $backend, median of $repeat"
    seed_base "$backend" --tests 0 --memory-rows "$per_table" --null-project-id 0.5
    pace_compare "$backend" backfill-project-id "1000 5000 20000" backfill-project-id --sleep 0 --no-validate
    seed_base "$backend" --tests "$tests_n" --memory-rows 0
    pace_compare "$backend" backfill-features "100 500 2000" backfill-features --no-validate
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

bench_seed() {
  local backend
  for backend in $backends; do
    local a
    a=$(fresh "$backend" bench_a)
    run migrate "$a" migrate up
    run seed "$a" seed --tests "$seed_n" --memory-rows 0
    printf '== seed %d tests (3 features, 3 bugs each) on %s: %.2fs, peak RSS %d MB\n' "$seed_n" "$backend" "$secs" "$rss_mb"
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

# spread X… — how far apart the runs are, as (max - min) / median.
spread() {
  local sorted; sorted=$(printf '%s\n' "$@" | sort -g)
  echo "scale=2; ($(tail -n 1 <<<"$sorted") - $(head -n 1 <<<"$sorted")) / $(median "$@")" | bc -l
}

# compare_binaries BACKEND LABEL COMMAND FLAGS… — the baseline's binary and this tree's
# in turn, each on a fresh copy of bench_seed, BENCH_REPEAT times; prints the medians,
# each side's spread and new/baseline.
compare_binaries() {
  local backend=$1 label=$2; shift 2
  local i side url
  declare -A times=()
  for i in $(seq "$repeat"); do
    for side in baseline new; do
      url=$(copy "$backend" bench_seed bench_a)
      if [ "$side" = baseline ]; then run_bin=$baseline_bin; else run_bin=$bin; fi
      run compare "$url" "$@"
      run_bin=$bin
      times[$side]="${times[$side]:-} $secs"
      discard "$backend" bench_a
    done
  done
  local old new
  # shellcheck disable=SC2086
  old=$(median ${times[baseline]}) new=$(median ${times[new]})
  # shellcheck disable=SC2086
  printf '  %-36s baseline %7.2fs (spread %s; runs:%s)  new %7.2fs (spread %s; runs:%s)  new/baseline %s\n' \
    "$label" "$old" "$(spread ${times[baseline]})" "${times[baseline]}" "$new" "$(spread ${times[new]})" "${times[new]}" "$(ratio "$new" "$old")"
}

bench_compare() {
  if [ -z "${BENCH_BASELINE:-}" ]; then
    echo "bench: compare needs BENCH_BASELINE, the git revision to compare against" >&2; exit 2
  fi
  local rev backend w root=$PWD per_table=$((memory_rows / 11))
  rev=$(git rev-parse --short "$BENCH_BASELINE^{commit}")
  git worktree add --detach "$work/baseline" "$rev" >/dev/null 2>&1
  (cd "$work/baseline" && CARGO_TARGET_DIR="$root/target/baseline" cargo build --release --quiet) || {
    git worktree remove --force "$work/baseline"; exit 1
  }
  git worktree remove --force "$work/baseline"
  baseline_bin=$root/target/baseline/release/backfill
  for backend in $backends; do
    echo "== $rev against this tree on $backend, median of $repeat"
    if [[ " $compare_jobs " == *" features "* ]]; then
      seed_base "$backend" --tests "$tests_n" --memory-rows 0
      for w in $worker_counts; do
        compare_binaries "$backend" "backfill-features --workers $w" backfill-features --no-validate --workers "$w"
      done
    fi
    if [[ " $compare_jobs " == *" project-id "* ]]; then
      seed_base "$backend" --tests 0 --memory-rows "$per_table" "${production_shape[@]}"
      for w in $worker_counts; do
        compare_binaries "$backend" "backfill-project-id --workers $w" backfill-project-id --sleep 0 --no-validate --workers "$w"
      done
    fi
    if [ "$backend" = sqlite ]; then rm -f "$work"/bench_*.db; fi
  done
}

# numbers BACKEND URL N — a table bench_n holding 1…N, made the backend's way.
numbers() {
  case "$1" in
    sqlite) sqlite3 "$(target "$2")" "CREATE TABLE bench_n (i INTEGER PRIMARY KEY); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $3) INSERT INTO bench_n SELECT i FROM s;" ;;
    postgres) psql "$2" -XqAt -c "CREATE TABLE bench_n (i BIGINT PRIMARY KEY); INSERT INTO bench_n SELECT generate_series(1, $3)" >/dev/null ;;
    mysql) maria "${2##*/}" -e "CREATE TABLE bench_n (i BIGINT PRIMARY KEY); INSERT INTO bench_n SELECT seq FROM seq_1_to_$3" ;;
  esac
}

# sql BACKEND URL STATEMENTS — runs statements with the backend's own client.
sql() {
  case "$1" in
    sqlite) sqlite3 -bail "$(target "$2")" "$3" >/dev/null ;;
    postgres) psql "$2" -XqAt -v ON_ERROR_STOP=1 -c "$3" >/dev/null ;;
    mysql) maria "${2##*/}" -e "$3" ;;
  esac
}

# page_ms URL PATH — the median of 15 fetches of a page, in ms (after one to warm up).
page_ms() {
  local i times=()
  curl -sf -o /dev/null "$1$2"
  for i in $(seq 15); do
    times+=("$(curl -sf -o /dev/null -w '%{time_total}' "$1$2")")
  done
  echo "scale=1; $(median "${times[@]}") * 1000 / 1" | bc -l
}

bench_console() {
  local backend url port console week_ms
  for backend in $backends; do
    echo "== console pages on $backend: 1,000 runs, 100,000 anomalies, a week of history (median of 15)"
    url=$(fresh "$backend" bench_a)
    run migrate "$url" migrate up
    run seed "$url" seed --tests 0 --memory-rows 1100 --null-project-id 0.5
    run fill "$url" backfill-project-id --sleep 0 --no-validate
    numbers "$backend" "$url" 100000
    # Run 1 copied 999 times, ranges and all; the newest run gets a week of history
    # (four workers, a sample a minute each) and 100,000 anomalies spread over the runs.
    week_ms=$((7 * 24 * 3600 * 1000))
    sql "$backend" "$url" "INSERT INTO backfill_runs (command, arguments, status, started_at, finished_at, heartbeat_at, pid, host, counters, checkpoints)
      SELECT command, arguments, status, started_at, finished_at, heartbeat_at, pid, host, counters, checkpoints FROM backfill_runs, bench_n WHERE id = 1 AND i < 1000;
      INSERT INTO backfill_ranges (run_id, unit, phase, lower_key, upper_key, done, owner, epoch, lease_until, split_wanted, checkpoint)
      SELECT r.id, g.unit, g.phase, g.lower_key, g.upper_key, g.done, g.owner, g.epoch, g.lease_until, g.split_wanted, g.checkpoint
      FROM backfill_runs r, backfill_ranges g WHERE g.run_id = 1 AND r.id > 1;
      INSERT INTO backfill_samples (run_id, unit, at_ms, span_ms, rows_walked, batches, busy_ms, batch_size)
      SELECT 1000, 'nodes', 1700000000000 + i * 15000, 60000, 50000 + i % 7000, 10, 4000 + i % 900, 5000 FROM bench_n WHERE i * 15000 <= $week_ms;
      INSERT INTO backfill_anomalies (table_name, row_id, kind, issue_description, resolved, run_id)
      SELECT 'tests', i, 'invalid_json', '<b>payload is not JSON</b>', false, 1 + i % 1000 FROM bench_n;"
    settle "$backend" "$url" vacuum
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    DATABASE_URL="$url" "$bin" --quiet serve --addr "127.0.0.1:$port" --read-only 2>/dev/null &
    console=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
    printf '  %-44s %6s ms\n' "runs list (/)" "$(page_ms "http://127.0.0.1:$port" /)"
    printf '  %-44s %6s ms\n' "the run with a week of history (/runs/1000)" "$(page_ms "http://127.0.0.1:$port" /runs/1000)"
    printf '  %-44s %6s ms\n' "anomalies (/anomalies)" "$(page_ms "http://127.0.0.1:$port" /anomalies)"
    printf '  %-44s %6s ms\n' "one run's anomalies (/anomalies?run=7&all=1)" "$(page_ms "http://127.0.0.1:$port" '/anomalies?run=7&all=1')"
    kill "$console"; wait "$console" 2>/dev/null || true
    discard "$backend" bench_a
    watched_compare "$backend"
  done
}

# watched_compare BACKEND — backfill-project-id alone and with a console whose run page
# a browser would refresh (every 2 s: here every 0.5 s), in turn on fresh copies.
watched_compare() {
  local backend=$1 i side url port console poller per_table=$((memory_rows / 11))
  declare -A times=()
  seed_base "$backend" --tests 0 --memory-rows "$per_table" "${production_shape[@]}"
  for i in $(seq "$repeat"); do
    for side in alone watched; do
      url=$(copy "$backend" bench_seed bench_a)
      if [ "$side" = watched ]; then
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        DATABASE_URL="$url" "$bin" --quiet serve --addr "127.0.0.1:$port" --read-only 2>/dev/null &
        console=$!
        until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
        (while sleep 0.5; do curl -s -o /dev/null "http://127.0.0.1:$port/runs/1"; curl -s -o /dev/null "http://127.0.0.1:$port/"; done) &
        poller=$!
      fi
      run watched "$url" backfill-project-id --sleep 0 --no-validate
      times[$side]="${times[$side]:-} $secs"
      if [ "$side" = watched ]; then kill "$poller" "$console"; wait "$poller" "$console" 2>/dev/null || true; fi
      discard "$backend" bench_a
    done
  done
  local alone watched
  # shellcheck disable=SC2086
  alone=$(median ${times[alone]}) watched=$(median ${times[watched]})
  printf '  %-44s alone %7.2fs (runs:%s)  watched %7.2fs (runs:%s)  watched/alone %s\n' \
    "backfill-project-id, $memory_rows rows" "$alone" "${times[alone]}" "$watched" "${times[watched]}" "$(ratio "$watched" "$alone")"
}

# citus_node NAME PORT — a Citus node of the bench's own (initdb as the postgres user),
# started, with database `bench` and the extension in it.
citus_node() {
  local name=$1 port=$2 bin
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
  runuser -u postgres -- "$bin/initdb" -D "$citus_dir/$name" -A trust -U postgres >/dev/null
  printf "\nport = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nshared_preload_libraries = 'citus'\nmax_prepared_transactions = 50\n" \
    "$port" "$citus_dir" >>"$citus_dir/$name/postgresql.conf"
  runuser -u postgres -- "$bin/pg_ctl" -D "$citus_dir/$name" -l "$citus_dir/$name.log" -w start >/dev/null
  psql "postgres://postgres@127.0.0.1:$port/postgres" -XqAt -c "CREATE DATABASE bench" >/dev/null
  psql "postgres://postgres@127.0.0.1:$port/bench" -XqAt -c "CREATE EXTENSION citus" >/dev/null
}

citus_stop() {
  local bin name
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
  for name in worker2 worker1 coordinator; do
    if [ -d "$citus_dir/$name" ]; then
      runuser -u postgres -- "$bin/pg_ctl" -D "$citus_dir/$name" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
}

bench_citus() {
  local rows=${BENCH_CITUS_ROWS:-1000000} port i w url sqls=()
  declare -A tools=()
  scripts/ensure-citus.sh
  # Its own directory: the postgres user cannot enter the bench's.
  citus_dir=$(mktemp -d /tmp/backfill-citus.XXXXXX)
  chown postgres "$citus_dir"
  trap citus_stop EXIT
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  citus_node coordinator "$port"
  citus_node worker1 $((port + 1))
  citus_node worker2 $((port + 2))
  url="postgres://postgres@127.0.0.1:$port/bench"
  psql "$url" -XqAt -c "SELECT citus_set_coordinator_host('127.0.0.1', $port)" \
    -c "SELECT citus_add_node('127.0.0.1', $((port + 1)))" -c "SELECT citus_add_node('127.0.0.1', $((port + 2)))" >/dev/null
  echo "== backfill-project-id on Citus (a coordinator and two workers on this machine): working_memory, $rows rows distributed by id over 32 shards, half NULL, median of $repeat"
  run migrate "$url" migrate up --distribute
  psql "$url" -XqAt -v ON_ERROR_STOP=1 \
    -c "ALTER TABLE working_memory DROP CONSTRAINT check_working_memory_project_id_not_null" \
    -c "INSERT INTO working_memory (id, content, importance, project_id) SELECT i, 'memory ' || i, 0.5, CASE WHEN i % 2 = 0 THEN NULL ELSE 'io' END FROM generate_series(1, $rows) i" >/dev/null
  cat >"$work/citus_reset.sql" <<'SQL'
SET client_min_messages = warning;
ALTER TABLE working_memory DROP CONSTRAINT IF EXISTS check_working_memory_project_id_not_null;
ALTER TABLE working_memory ALTER COLUMN project_id DROP NOT NULL;
UPDATE working_memory SET project_id = NULL WHERE id % 2 = 0;
ALTER TABLE working_memory ADD CONSTRAINT check_working_memory_project_id_not_null CHECK (project_id IS NOT NULL) NOT VALID;
TRUNCATE backfill_journal;
VACUUM ANALYZE working_memory;
SQL
  echo "UPDATE working_memory SET project_id = 'io' WHERE project_id IS NULL OR project_id IN ('io:', 'I/O', 'ethr', 'default') OR TRIM(project_id) = '';" >"$work/citus_update.sql"
  for i in $(seq "$repeat"); do
    for w in 1 2; do
      psql "$url" -XqAt -v ON_ERROR_STOP=1 -f "$work/citus_reset.sql" >/dev/null
      run citus "$url" backfill-project-id --table working_memory --sleep 0 --no-validate --workers "$w"
      tools[$w]="${tools[$w]:-} $secs"
    done
    psql "$url" -XqAt -v ON_ERROR_STOP=1 -f "$work/citus_reset.sql" >/dev/null
    timed_sql postgres "$url" "$work/citus_update.sql"
    sqls+=("$secs")
  done
  local t_sql t_one t_two
  t_sql=$(median "${sqls[@]}")
  # shellcheck disable=SC2086
  t_one=$(median ${tools[1]})
  # shellcheck disable=SC2086
  t_two=$(median ${tools[2]})
  printf '  set-based UPDATE on the coordinator  %8.2fs                 (runs: %s)\n' "$t_sql" "${sqls[*]}"
  printf '  backfill-project-id --workers 1      %8.2fs  ratio tool/SQL %s  (runs:%s)\n' "$t_one" "$(ratio "$t_one" "$t_sql")" "${tools[1]}"
  printf '  backfill-project-id --workers 2      %8.2fs  ratio tool/SQL %s  (runs:%s)\n' "$t_two" "$(ratio "$t_two" "$t_sql")" "${tools[2]}"
  printf '  --workers 2 / --workers 1 %s (target <= 0.7, and no slower than the SQL)\n' "$(ratio "$t_two" "$t_one")"
  citus_stop
  trap - EXIT
  rm -rf "$citus_dir"
}

case "$what" in
  citus) bench_citus ;;
  compare) bench_compare ;;
  console) bench_console ;;
  features) bench_features ;;
  project-id) bench_project_id ;;
  seed) bench_seed ;;
  pacing) bench_pacing ;;
  all) bench_seed; bench_features; bench_project_id; bench_pacing; bench_console ;;
  *) echo "usage: scripts/bench.sh [features|project-id|seed|pacing|console|citus|all|compare]" >&2; exit 2 ;;
esac
rm -rf "$work"
