# shellcheck shell=bash
# Sourced by the shell tests that CTest runs (tests/node/*.sh,
# tests/poolctl/poolctl_test.sh, tests/bench/remote.sh): the checks of their
# preamble and the tally of their checks. Exit codes as CTest reads them: 1
# failed (or no test server), 77 skipped (SKIP_RETURN_CODE).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
#   require_test_server POOL_TEST_DSN     # exit 1 without the test server
#   require_replica                       # exit 77 without its replica
#   use_poold_nodes                       # start_node, stop_nodes, WORK
#   fail "WHAT: why"; ok "WHAT"           # a failed check, a passed one
#   finish "routing test"                 # exit 1 if any check failed

TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILS=0

# require_test_server VAR: exits with 1 unless VAR (POOL_TEST_DSN,
# POOL_TEST_PGPORT: what the test uses of the server that scripts/test
# starts) is set.
require_test_server() {
  local var=$1
  if [[ -z ${!var:-} ]]; then
    echo "$var is not set: run the tests with scripts/test" >&2
    exit 1
  fi
}

# require_replica: exits with 77 (skipped) unless the test server has a
# streaming replica (POOL_TEST_REPLICA_PORT; none with POOL_PG_REPLICA=0).
require_replica() {
  if [[ -z ${POOL_TEST_REPLICA_PORT:-} ]]; then
    echo "POOL_TEST_REPLICA_PORT is not set (no replica): skipped" >&2
    exit 77
  fi
}

# use_poold_nodes: sources tests/support/poold_node.sh (start_node,
# stop_nodes, NODE_PIDS; WORK, a scratch directory deleted at exit). Needs
# POOLD, the poold binary.
use_poold_nodes() {
  # shellcheck source=tests/support/poold_node.sh
  source "$TEST_LIB_DIR/poold_node.sh"
}

# fail WHAT: counts a failed check and says so on stderr.
fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

# ok WHAT: says that a check passed.
ok() { echo "ok: $*"; }

# wait_log FILE TEXT: waits (at most 20 s) until FILE (a poold's log) holds
# TEXT; a failed check if it does not.
wait_log() {
  local i
  for ((i = 0; i < 200; ++i)); do
    grep -qF -- "$2" "$1" && return 0
    sleep 0.1
  done
  fail "poold's log does not show '$2' within 20 s"
  return 1
}

# finish NAME: exits with 1 if any check failed, else says that all passed
# (NAME: "routing test").
finish() {
  if ((FAILS > 0)); then
    echo "$1: $FAILS check(s) failed" >&2
    exit 1
  fi
  echo "$1: all checks passed"
}
