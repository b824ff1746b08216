#!/bin/sh
# First start: initdb (trust for the user postgres, UTF-8, C locale) and the databases named in
# POSTGRES_DATABASES. Then the server in the foreground; extra arguments go to postgres
# (e.g. -c fsync=off). It logs "database system is ready to accept connections" when up.
set -eu
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '${PGHOST}'
unix_socket_directories = '/tmp'
max_connections = 300
CONF
  if [ -n "$POSTGRES_DATABASES" ]; then
    pg_ctl -D "$PGDATA" -o "-p $PGPORT" -w start >/dev/null
    for db in $POSTGRES_DATABASES; do createdb -h /tmp -p "$PGPORT" -U postgres "$db"; done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi
exec postgres -D "$PGDATA" -p "$PGPORT" "$@"
