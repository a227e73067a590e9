#!/bin/sh
# Entry point of the test node's PostgreSQL stand-in. Honours what the chart passes to the official image:
#   POSTGRES_USER (default postgres), POSTGRES_DB (default: the user), POSTGRES_PASSWORD_FILE or
#   POSTGRES_PASSWORD (needed once, to initialise), PGDATA.
# An empty PGDATA is initialised once (password authentication for every TCP client, the database
# created), then `postgres` runs in the foreground listening on every interface of the pod.
set -eu

user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
: "${PGDATA:?PGDATA must be set}"

if [ "${1:-postgres}" != postgres ]; then
  exec "$@"
fi
[ $# -gt 0 ] && shift   # the rest are server options, e.g. -c name=value

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    password_file="$POSTGRES_PASSWORD_FILE"
  elif [ -n "${POSTGRES_PASSWORD:-}" ]; then
    password_file="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  else
    echo "error: $PGDATA is empty and no POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD to initialise it with" >&2
    exit 1
  fi
  echo "initialising $PGDATA for user $user, database $database"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # A private server on the socket only, to create the database; nothing can connect over TCP yet.
  pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses=''" start
  PGPASSWORD="$(cat "$password_file")" createdb --username="$user" --host=/var/run/postgresql "$database" \
    || [ "$database" = postgres ]
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  echo "initialised"
fi

exec postgres -c listen_addresses='*' "$@"
