# shellcheck shell=bash
# Sourced by the scripts that test against real pool nodes (poolctl,
# pool-bench --remote, tests/node), through test_lib.sh's use_poold_nodes:
# starts poold processes on port 0 and always stops them. Needs POOLD (the
# poold binary); sets WORK (a scratch directory).
#
#   source tests/support/poold_node.sh   # or use_poold_nodes (test_lib.sh)
#   start_node NAME PORT_VAR --pools.x.conninfo="$POOL_TEST_DSN" ... || exit 1
#   stop_nodes   # SIGTERM each node, fails (returns 1) unless each exits 0

WORK=$(mktemp -d /tmp/poold-node.XXXXXX)
NODE_PIDS=()

# shellcheck disable=SC2317 # invoked by the trap
_nodes_cleanup() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${NODE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap _nodes_cleanup EXIT

# start_node NAME VAR ARGS...: starts poold with ARGS on a free port, waits
# (at most 30 s) until it listens and sets VAR to its port. Its log is
# $WORK/NAME.log. Not in a command substitution: the node must be a child
# of this shell, so that the trap and stop_nodes can stop and wait for it.
start_node() {
  local name=$1 var=$2
  shift 2
  "$POOLD" --node.port=0 --poold.port-file="$WORK/$name.port" --http.port=0 \
    --poold.shutdown-deadline=2s "$@" >"$WORK/$name.log" 2>&1 &
  local pid=$! i
  NODE_PIDS+=("$pid")
  for ((i = 0; i < 300; ++i)); do
    [[ -s $WORK/$name.port ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "poold $name exited early:" >&2
      cat "$WORK/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
  if [[ ! -s $WORK/$name.port ]]; then
    echo "poold $name wrote no port file within 30 s:" >&2
    cat "$WORK/$name.log" >&2
    return 1
  fi
  printf -v "$var" '%s' "$(cat "$WORK/$name.port")"
}

# stop_nodes: SIGTERM each node and wait; returns 1 unless all exit with 0.
stop_nodes() {
  local pid rc ok=0
  for pid in "${NODE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    if [[ $rc -ne 0 ]]; then
      echo "poold (pid $pid) exited with $rc after SIGTERM" >&2
      ok=1
    fi
  done
  NODE_PIDS=()
  return $ok
}
