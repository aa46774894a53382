#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at 127.0.0.1:5432 for role `root` with trust
# auth: starts the local cluster if it is down, installs it with apt where it is
# missing, and fails loudly when none can be had. Tests never skip PostgreSQL.
set -euo pipefail

reachable() {
  psql "postgres://root@127.0.0.1:5432/postgres" -XAtqc 'select 1' >/dev/null 2>&1
}

if ! command -v psql >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if ! command -v psql >/dev/null 2>&1 || ! reachable; then
    echo "ensure-postgres: PostgreSQL is not installed; installing it with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql postgresql-client >/dev/null
  fi
fi

if ! reachable; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    echo "ensure-postgres: starting cluster $version/main" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q && break
      sleep 1
    done
  fi
fi

if ! reachable && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  # A fresh apt install: no role `root`, password auth on TCP. Make it what the tests
  # (and this machine's documented setup) expect: role root, trust on loopback.
  echo "ensure-postgres: creating role root and trusting loopback connections" >&2
  su postgres -c "psql -XAtqc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'root') THEN CREATE ROLE root SUPERUSER LOGIN; END IF; END\\\$\\\$\"" || true
  hba=$(su postgres -c "psql -XAtqc 'show hba_file'" 2>/dev/null || true)
  if [ -n "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    su postgres -c "psql -XAtqc 'select pg_reload_conf()'" >/dev/null || true
  fi
  su postgres -c "psql -XAtqc \"select 1 from pg_database where datname = 'test'\"" | grep -q 1 \
    || su postgres -c "createdb -O root test" || true
fi

if ! reachable; then
  echo "ensure-postgres: FATAL: no PostgreSQL server is reachable at 127.0.0.1:5432 as role root; the tests need one and do not skip it" >&2
  exit 1
fi
echo "ensure-postgres: $(psql "postgres://root@127.0.0.1:5432/postgres" -XAtqc 'show server_version') at 127.0.0.1:5432" >&2
