#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL cluster on 127.0.0.1 for the test suite.
#   eval "$(.ci/pg.sh start)"   -> exports MINER_TEST_PG_URL
#   .ci/pg.sh stop
set -euo pipefail
PGDATA_DIR=${PGDATA_DIR:-/tmp/outage-miner-pg}
PGPORT=${PGPORT:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
      rm -rf "$PGDATA_DIR"; mkdir -p "$PGDATA_DIR"
      [ "$(id -u)" = 0 ] && chown postgres "$PGDATA_DIR"
      as_pg "$bindir/initdb" -D "$PGDATA_DIR" -U miner --auth=trust >/dev/null
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w \
        -o "-h 127.0.0.1 -p $PGPORT -k $PGDATA_DIR -c fsync=off -c max_connections=200" start >/dev/null
    fi
    echo "export MINER_TEST_PG_URL=postgresql+psycopg://miner@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$PGDATA_DIR" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PGDATA_DIR"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
