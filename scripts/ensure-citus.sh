#!/usr/bin/env bash
# Makes sure the Citus extension is installed for the local PostgreSQL, so that the
# Citus tests can make a throwaway cluster of their own: built from the vendored source
# in ../shared/vendor (never downloaded), with the build packages its README names
# installed by apt where they are missing. Fails loudly when it cannot be had: the
# Citus tests never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

vendor="${BACKFILL_VENDOR_DIR:-../shared/vendor}"
version=13.2.2
pg_config=$(ls /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_config" ]; then
  # pg_config comes with the server's dev package, installed below.
  pg_config=/usr/lib/postgresql/$(ls /etc/postgresql | sort -V | tail -n 1)/bin/pg_config
fi
major=$(basename "$(dirname "$(dirname "$pg_config")")")
libdir=/usr/lib/postgresql/$major/lib

if [ -f "$libdir/citus.so" ]; then
  echo "ensure-citus: Citus is installed for PostgreSQL $major" >&2
  exit 0
fi

if [ ! -f "$vendor/citus-$version.tar.gz" ]; then
  echo "ensure-citus: FATAL: $vendor/citus-$version.tar.gz is missing; the Citus tests need it and do not skip" >&2
  exit 1
fi

packages="postgresql-server-dev-$major libkrb5-dev liblz4-dev libzstd-dev make gcc"
missing=$(for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "ensure-citus: installing $(echo $missing) with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
pg_config=/usr/lib/postgresql/$major/bin/pg_config

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "ensure-citus: building Citus $version for PostgreSQL $major from $vendor (about a minute)" >&2
tar xzf "$vendor/citus-$version.tar.gz" -C "$build"
cd "$build/citus-$version"
patch="$OLDPWD/$vendor/citus-$version-pg15.20.patch"
# The patch is for PostgreSQL 15.20, which exports what Citus's shim defines again.
if [ "$major" = 15 ] && [ -f "$patch" ]; then
  patch -p1 -s < "$patch"
fi
./configure -q --without-libcurl PG_CONFIG="$pg_config" >/dev/null
make -s -j"$(nproc)" with_llvm=no >/dev/null
make -s install with_llvm=no >/dev/null
echo "ensure-citus: Citus $version installed in $libdir" >&2
