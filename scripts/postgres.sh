#!/usr/bin/env bash
# A throwaway PostgreSQL for mlflow-cv's tracking server, on 127.0.0.1 only.
#
#   scripts/postgres.sh start DIR PORT   # initdb DIR (once), start it, create database "mlflow";
#                                        # prints the SQLAlchemy URI: postgresql://mlflow@127.0.0.1:PORT/mlflow
#   scripts/postgres.sh stop DIR
#
# Uses Debian's postgresql package, installed with apt-get when missing (as root, as in CI). As root,
# the server runs as the "postgres" user (PostgreSQL refuses to run as root).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data folder}; port=${3:-5432}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  else
    echo "PostgreSQL is not installed: sudo apt-get install postgresql" >&2; exit 3
  fi
fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir" -U mlflow --auth=trust -E UTF8 >/dev/null
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
    "$bin/psql" -h 127.0.0.1 -p "$port" -U mlflow -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlflow'" \
      | grep -q 1 || "$bin/createdb" -h 127.0.0.1 -p "$port" -U mlflow mlflow
    echo "postgresql://mlflow@127.0.0.1:$port/mlflow"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
