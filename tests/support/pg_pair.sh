#!/usr/bin/env bash
# A private primary + streaming replica for tests that break their servers
# (the failover scenario stops its primary and promotes the replica, so it
# must not use the shared cluster of scripts/test):
#
#   tests/support/pg_pair.sh start DIR [OWNER_PID]  # DIR empty or missing
#   tests/support/pg_pair.sh stop DIR               # idempotent, never fails
#
# With OWNER_PID, a detached guard process stops the pair and deletes DIR
# once that process is gone (a test that aborts leaves no server behind);
# it ends by itself when DIR is gone.
#
# `start` runs scripts/lib.sh pg_start in DIR (primary in DIR/data, replica
# in DIR/replica, both on 127.0.0.1 and the socket directory DIR) and
# writes DIR/pair.env: lines KEY=VALUE (no quoting; the values hold no
# newline) with PRIMARY_PORT, PRIMARY_PGDATA, PRIMARY_LOG, PRIMARY_OPTS,
# REPLICA_PORT, REPLICA_PGDATA, REPLICA_LOG, REPLICA_OPTS, PGBIN, PGUSER_OS,
# SOCKET_DIR. On failure nothing is left running and DIR is gone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start|stop DIR"

case $cmd in
  start)
    POOL_PG_REPLICA=1
    pg_start "$dir" "" || exit 1
    rport=${POOL_TEST_REPLICA_PORT:-}
    if [[ -z $rport ]]; then
      pg_stop "$dir"
      die "pg_start made no replica"
    fi
    ropts=${POOL_TEST_PGOPTS/"-p $POOL_TEST_PGPORT "/"-p $rport "}
    if ! {
      echo "PRIMARY_PORT=$POOL_TEST_PGPORT"
      echo "PRIMARY_PGDATA=$POOL_TEST_PGDATA"
      echo "PRIMARY_LOG=$POOL_TEST_PGLOG"
      echo "PRIMARY_OPTS=$POOL_TEST_PGOPTS"
      echo "REPLICA_PORT=$rport"
      echo "REPLICA_PGDATA=$POOL_TEST_REPLICA_PGDATA"
      echo "REPLICA_LOG=$POOL_TEST_REPLICA_PGLOG"
      echo "REPLICA_OPTS=$ropts"
      echo "PGBIN=$POOL_TEST_PGBIN"
      echo "PGUSER_OS=$POOL_TEST_PGUSER_OS"
      echo "SOCKET_DIR=$POOL_TEST_PGHOST"
    } >"$POOL_TEST_PGHOST/pair.env.tmp" ||
      ! mv -f "$POOL_TEST_PGHOST/pair.env.tmp" "$POOL_TEST_PGHOST/pair.env"; then
      pg_stop "$dir"
      die "cannot write $dir/pair.env"
    fi
    owner=${3:-}
    if [[ -n $owner ]]; then
      [[ $owner =~ ^[0-9]+$ ]] || {
        pg_stop "$dir"
        die "OWNER_PID must be a number: $owner"
      }
      pair_dir=$POOL_TEST_PGHOST
      # Its own session, no terminal, no inherited output (ctest would wait
      # for the pipes to close).
      # shellcheck disable=SC2016 # expanded by the guard's shell
      setsid bash -c '
        source "$1"
        while [[ -d $2 ]] && kill -0 "$3" 2>/dev/null; do sleep 0.5; done
        pg_stop "$2"' pg_pair_guard "$here/../../scripts/lib.sh" \
        "$pair_dir" "$owner" </dev/null >/dev/null 2>&1 &
    fi
    ;;
  stop)
    pg_stop "$dir"
    ;;
  *)
    die "usage: $0 start|stop DIR"
    ;;
esac
