#!/usr/bin/env bash
# Makes sure a MariaDB server answers at 127.0.0.1:3306 for user `root` with an empty
# password: starts the local server if it is down, installs it with apt where it is
# missing, and fails loudly when none can be had. Tests never skip MariaDB.
set -euo pipefail

reachable() {
  mariadb -h 127.0.0.1 -P 3306 -u root -N -e 'select 1' >/dev/null 2>&1
}

if ! command -v mariadb >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
  echo "ensure-mariadb: MariaDB is not installed; installing it with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi

if ! reachable; then
  echo "ensure-mariadb: starting mariadbd" >&2
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 30); do
    reachable && break
    # A fresh install answers on its socket: root logs in there by unix_socket.
    mariadb -u root -N -e 'select 1' >/dev/null 2>&1 && break
    sleep 1
  done
fi

if ! reachable && mariadb -u root -N -e 'select 1' >/dev/null 2>&1; then
  # A fresh apt install: root only by unix_socket. Make it what the tests (and this
  # machine's documented setup) expect: root over TCP with an empty password.
  echo "ensure-mariadb: letting root in over TCP with an empty password" >&2
  mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; \
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; \
    CREATE DATABASE IF NOT EXISTS test; FLUSH PRIVILEGES;" || true
fi

if ! reachable; then
  echo "ensure-mariadb: FATAL: no MariaDB server is reachable at 127.0.0.1:3306 as root; the tests need one and do not skip it" >&2
  exit 1
fi
mariadb -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test'
echo "ensure-mariadb: $(mariadb -h 127.0.0.1 -P 3306 -u root -N -e 'select version()') at 127.0.0.1:3306" >&2
