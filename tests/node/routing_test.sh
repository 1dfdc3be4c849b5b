#!/usr/bin/env bash
# poold with a routed pool (label "node"): a [pools.orders] section with
# replicas=[...] against the test cluster's primary (127.0.0.1,
# $POOL_TEST_PGPORT) and its streaming replica ($POOL_TEST_REPLICA_PORT):
#
#   routing_test.sh POOLD POOLCTL
#
# --dump-config shows the routing keys with the replica's conninfo redacted;
# a bad replica conninfo is refused naming its key, without the password;
# the running node serves one pool "orders": /metrics has the replica's
# serving and lag samples and connections to both ports (promtool accepts
# the page), /health is ok, poolctl stats --json shows the replica, a
# read-only query runs on the replica and a plain one on the primary
# (inet_server_port); a reload that changes the replica keys and max-size
# logs what takes a restart. Exit 77 (skipped) without a replica.
set -uo pipefail

POOLD=$1
POOLCTL=$2
# shellcheck source=tests/support/test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
require_test_server POOL_TEST_PGPORT
require_replica
use_poold_nodes

PW=pool_auth_pw # role pool_auth's password (scripts/lib.sh)
P=$POOL_TEST_PGPORT
R=$POOL_TEST_REPLICA_PORT

# check WHAT FILE PATTERN...: FILE matches every extended regular expression
# PATTERN and does not hold the password.
check() {
  local what=$1 file=$2 pattern good=1
  shift 2
  for pattern in "$@"; do
    if ! grep -Eq -- "$pattern" "$file"; then
      fail "$what: does not match /$pattern/"
      good=0
    fi
  done
  if grep -Fq -- "$PW" "$file"; then
    fail "$what: holds the password"
    good=0
  fi
  if ((good)); then
    ok "$what"
  else
    sed 's/^/  | /' "$file" | head -60 >&2
  fi
}

conn() { echo "host=127.0.0.1 port=$1 dbname=pooltest user=pool_auth password=$PW"; }
CFG=$WORK/poold.ini
write_config() { # MAX_SIZE MAX_REPLICA_LAG [REPLICA_EXTRA]
  cat >"$CFG" <<EOC
[poold]
http-port-file="$WORK/http.port"
[pools.orders]
conninfo="$(conn "$P")"
replicas=["$(conn "$R")${3:-}"]
max-replica-lag=$2
lag-check-interval=200ms
reads-fall-back-to-primary=false
min-size=1
max-size=$1
EOC
}
write_config 2 5s

# -- the configuration -----------------------------------------------------------
"$POOLD" --config-file="$CFG" --dump-config >"$WORK/dump.ini" 2>&1 ||
  fail "--dump-config: exit code $?"
check "--dump-config" "$WORK/dump.ini" '^\[pools\.orders\]$' \
  "^replicas=\\[\"[^\"]*password=\\*\\*\\* [^\"]*port=$R\"\\]\$" \
  '^max-replica-lag=5s$' '^lag-check-interval=200ms$' \
  '^reads-fall-back-to-primary=false$'
"$POOLD" --config-file="$WORK/dump.ini" --dump-config >"$WORK/dump2.ini" 2>&1
cmp -s "$WORK/dump.ini" "$WORK/dump2.ini" ||
  fail "--dump-config: its output read back dumps differently"
"$POOLD" --config-file="$CFG" \
  --pools.orders.replicas="[\"$(conn "$R")\", \"$(conn "$R") bogus=1\"]" \
  >"$WORK/bad.out" 2>&1
rc=$?
((rc == 2)) || fail "a bad replica conninfo: exit code $rc, want 2"
check "a bad replica conninfo" "$WORK/bad.out" \
  'pools\.orders\.replicas\[1\] \(orders\.replica2\): conninfo: cannot parse'
"$POOLD" --config-file="$CFG" --pools.orders.lag-check-interval=0 \
  >"$WORK/bad2.out" 2>&1
check "a bad lag-check-interval" "$WORK/bad2.out" \
  'pools\.orders\.lag-check-interval: must be positive'

"$POOLD" --help >"$WORK/help.txt" 2>&1
check "--help" "$WORK/help.txt" '^  replicas=<list of strings>' \
  '^  max-replica-lag=<duration>' '^  lag-check-interval=<duration>' \
  '^  reads-fall-back-to-primary=<bool>'

# -- a running node ----------------------------------------------------------------
start_node a PORT --config-file="$CFG" || exit 1
NODE=(--node "127.0.0.1:$PORT" --timeout 20s --pool orders)
http_get() { # PATH FILE: GET on poold's HTTP port, the body to FILE
  curl -s --max-time 10 "http://127.0.0.1:$(cat "$WORK/http.port")$1" >"$2"
}
SERVING='^libpool_replica_serving\{pool="orders",replica="orders\.replica1"\} 1$'
for ((i = 0; i < 100; ++i)); do # the first lag check, both hosts connected
  # A commit on the primary that the replica replays: its lag is then
  # measured from a fresh transaction, whatever ran before this test.
  "$POOLCTL" "${NODE[@]}" query "SELECT txid_current()" >/dev/null 2>&1
  http_get /metrics "$WORK/metrics.txt"
  grep -Eq "$SERVING" "$WORK/metrics.txt" &&
    grep -q "host=\"127.0.0.1:$R\"" "$WORK/metrics.txt" && break
  sleep 0.2
done
check "/metrics" "$WORK/metrics.txt" "$SERVING" \
  '^libpool_replica_lag_seconds\{pool="orders",replica="orders\.replica1"\} [0-9.e+-]+$' \
  "^libpool_connections_by_host\\{pool=\"orders\",host=\"127\\.0\\.0\\.1:$P\"\\} [1-9]" \
  "^libpool_connections_by_host\\{pool=\"orders\",host=\"127\\.0\\.0\\.1:$R\"\\} [1-9]" \
  '^libpool_pool_up\{pool="orders"\} 1$'
if grep -q 'pool="orders.replica1"' "$WORK/metrics.txt"; then
  fail "/metrics: the replica is served as a pool of its own"
fi
if [[ -n ${PROMTOOL:-} ]]; then
  "$PROMTOOL" check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1 ||
    { fail "promtool check metrics"; cat "$WORK/promtool.out" >&2; }
else
  fail "promtool not found (PROMTOOL unset)"
fi
http_get /health "$WORK/health.json"
check "/health" "$WORK/health.json" '"status":"ok"' \
  '"orders":\{"ok":true,"replicas":\{"orders\.replica1":\{"serving":true\}\}\}'
"$POOLCTL" "${NODE[@]}" stats --json >"$WORK/stats.json" 2>&1
check "poolctl stats --json" "$WORK/stats.json" '"pool": "orders"' \
  '"replicas": \[\{"name": "orders\.replica1", "serving": true' \
  "\"127\\.0\\.0\\.1:$R\": [1-9]"
"$POOLCTL" "${NODE[@]}" query --read-only "SELECT inet_server_port()" \
  >"$WORK/read.txt" 2>&1
check "poolctl query --read-only: on the replica" "$WORK/read.txt" "^ *$R *\$"
"$POOLCTL" "${NODE[@]}" query "SELECT inet_server_port()" \
  >"$WORK/write.txt" 2>&1
check "poolctl query: on the primary" "$WORK/write.txt" "^ *$P *\$"

# -- a reload by signal ------------------------------------------------------------
write_config 3 7s " application_name=routing_test"
kill -HUP "${NODE_PIDS[0]}"
wait_log "$WORK/a.log" "reload: pool orders: changed max_size"
check "the reload's warnings" "$WORK/a.log" \
  'reload: pool orders: replicas, max-replica-lag take a restart'
"$POOLCTL" "${NODE[@]}" query --read-only "SELECT inet_server_port()" \
  >"$WORK/read2.txt" 2>&1
check "poolctl query --read-only after the reload" "$WORK/read2.txt" "^ *$R *\$"
stop_nodes || fail "poold did not stop cleanly"
check "poold's log" "$WORK/a.log" \
  'replica orders\.replica1 at .*password=\*\*\*' '\] stopped$'

finish "routing test"
