#!/usr/bin/env bash
# poolctl against real pool nodes (label "node"):
#
#   poolctl_test.sh POOLD POOLCTL
#
# Starts two poold processes on port 0 (port files) with $POOL_TEST_DSN as
# conninfo: node A serves "orders" and "broken" (a conninfo nothing listens
# on), node B serves only "solo". Then checks poolctl's commands, output
# formats and exit codes. Both nodes are always stopped (trap), and must
# exit with 0 on SIGTERM.
set -uo pipefail

POOLD=$1
POOLCTL=$2
# shellcheck source=tests/support/test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
require_test_server POOL_TEST_DSN
use_poold_nodes

# A port nothing listens on: bound once, then closed.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# run ARGS...: runs poolctl; sets OUT, ERR, RC.
run() {
  OUT=$("$POOLCTL" "$@" 2>"$WORK/err")
  RC=$?
  ERR=$(cat "$WORK/err")
  echo "\$ poolctl $* -> rc $RC"
  [[ -n $OUT ]] && printf '%s\n' "$OUT" | sed 's/^/  out: /'
  [[ -n $ERR ]] && printf '%s\n' "$ERR" | sed 's/^/  err: /'
}

# expect RC PATTERN_OUT PATTERN_ERR WHAT: checks the last run.
expect() {
  local rc=$1 out=$2 err=$3 what=$4
  if [[ $RC -ne $rc ]]; then
    fail "$what: exit code $RC, want $rc"
  elif [[ -n $out ]] && ! grep -Eq -- "$out" <<<"$OUT"; then
    fail "$what: stdout does not match /$out/"
  elif [[ -n $err ]] && ! grep -Eq -- "$err" <<<"$ERR"; then
    fail "$what: stderr does not match /$err/"
  else
    ok "$what"
  fi
}

DEAD_PORT=$(free_port)
start_node a PORT_A --pools.orders.conninfo="$POOL_TEST_DSN" \
  --pools.orders.min-size=1 --pools.orders.max-size=2 \
  --pools.broken.conninfo="host=127.0.0.1 port=$DEAD_PORT connect_timeout=2" \
  --pools.broken.min-size=1 --pools.broken.max-size=1 || exit 1
start_node b PORT_B --pools.solo.conninfo="$POOL_TEST_DSN" \
  --pools.solo.min-size=1 --pools.solo.max-size=3 || exit 1
A=(--node "127.0.0.1:$PORT_A" --timeout 20s)
B=(--node "127.0.0.1:$PORT_B" --timeout 20s)

# -- usage ---------------------------------------------------------------------
run --help
expect 0 'query SQL \[PARAM\.\.\.\]' '' "--help lists the commands"
run "${A[@]}" stat
expect 2 '' "unknown command 'stat' \(commands: pools, stats, health, query" \
  "unknown command: exit 2"
run "${A[@]}" --frobnicate stats
expect 2 '' "unknown option '--frobnicate'" "unknown option: exit 2"
run --node nowhere stats
expect 2 '' "--node: expected HOST:PORT" "bad --node: exit 2"
run "${A[@]}" query
expect 2 '' 'usage: poolctl \[OPTIONS\] query SQL' "query without SQL: exit 2"
run "${A[@]}" --timeout 0s stats
expect 2 '' '--timeout: bad duration' "bad --timeout: exit 2"

# -- pools ---------------------------------------------------------------------
run "${A[@]}" pools
expect 0 '' '' "pools"
[[ $OUT == $'broken\norders' ]] || fail "pools: want broken, orders; got '$OUT'"
run "${A[@]}" pools --json
expect 0 '' '' "pools --json"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d == {"pools": ["broken", "orders"]}, d' \
  "$OUT" || fail "pools --json: not {\"pools\": [\"broken\", \"orders\"]}"

# -- choosing the pool ---------------------------------------------------------
run "${A[@]}" stats
expect 2 '' 'serves 2 pools \(broken, orders\): choose one with --pool NAME' \
  "two pools and no --pool: exit 2, the pools listed"
run "${A[@]}" --pool nosuch stats
expect 1 '' "pool node at 127.0.0.1:$PORT_A: invalid_request.*nosuch" \
  "unknown pool: exit 1"
run "${B[@]}" stats
expect 0 '^pool solo: total=[0-9]+ idle=' '' "one pool and no --pool: that one"

# -- stats ---------------------------------------------------------------------
run "${A[@]}" --pool orders stats
expect 0 '^pool orders: total=[0-9]+ idle=[0-9]+ .* breaker=closed ' '' "stats"
TEXT=$OUT
run "${A[@]}" --pool orders stats --json
expect 0 '' '' "stats --json"
python3 - "$TEXT" "$OUT" <<'PY' || fail "stats --json: see above"
import json, re, sys
text, doc = sys.argv[1], sys.argv[2]
d = json.loads(doc)  # strict: raises on anything but one JSON value
assert isinstance(d, dict), d
# The one quoted value may hold anything: blank it before reading labels.
text = re.sub(r'last_connect_error="(?:[^"\\]|\\.)*"', 'last_connect_error=""', text)
labels = re.findall(r'(?:^pool orders: | )([a-z_.]+)=', text)
want = ["pool"] + labels
assert list(d.keys()) == want, f"keys {list(d.keys())}\nwant {want}"
assert d["pool"] == "orders"
assert d["breaker"] == "closed" and d["shutting_down"] is False, d
assert isinstance(d["wait_time_total"], (int, float)), d
for k in ["total", "idle", "acquired", "connections_created"]:
    assert isinstance(d[k], int) and d[k] >= 0, (k, d[k])
assert d["total"] <= 2, d
print(f"stats --json: {len(d)} fields, same labels as the text line")
PY

# -- health --------------------------------------------------------------------
run "${A[@]}" --pool orders health
expect 0 '^pool orders: ok$' '' "health of a working pool: ok, exit 0"
run "${A[@]}" --pool orders health --json
expect 0 '' '' "health --json"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d == {"pool": "orders", "healthy": True, "reason": ""}, d' \
  "$OUT" || fail "health --json: wrong object"
# The broken pool fails its connects; wait (bounded) until it has tried.
for ((i = 0; i < 40; ++i)); do
  run "${A[@]}" --pool broken health
  [[ $RC -ne 0 ]] && break
  sleep 0.5
done
expect 1 '^pool broken: not ok: .*(connect|breaker)' '' \
  "health of a pool whose connects fail: not ok, exit 1"

# -- query ---------------------------------------------------------------------
run "${A[@]}" --pool orders query 'SELECT $1::int + 1 AS answer' 41
expect 0 '^ *42 *$' '' "query with a parameter"
[[ $OUT == $' answer\n--------\n 42\n(1 row)' ]] ||
  fail "query: want psql's table, got '$OUT'"
run "${A[@]}" --pool orders query \
  'SELECT g AS n, repeat($1, g) AS text FROM generate_series(1, 3) g' ab
expect 0 '^\(3 rows\)$' '' "query: rows counted"
[[ $(sed -n 1p <<<"$OUT") == ' n | text' && $(sed -n 5p <<<"$OUT") == ' 3 | ababab' ]] ||
  fail "query: columns not aligned: '$OUT'"
run "${A[@]}" --pool orders --json --null NULL query \
  'SELECT $1::text AS a, $2::text AS b, 7 AS "c""d"' NULL 'x"y\z'
expect 0 '' '' "query --json with NULL and quotes"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
want = {"columns": ["a", "b", "c\"d"], "rows": [[None, "x\"y\\z", "7"]],
        "command_tag": "SELECT 1"}
assert d == want, d' "$OUT" || fail "query --json: wrong object"
run "${A[@]}" --pool orders query 'SELEC 1'
expect 1 '' '^poolctl: query_failed \[42601\]: .*syntax error' \
  "failing query: exit 1, SQLSTATE on stderr"
run "${A[@]}" --pool orders query 'CREATE TEMP TABLE t (x int)'
expect 0 '^CREATE TABLE$' '' "command without rows: its tag"

# -- operator requests ----------------------------------------------------------
field() { # NAME: a field of `poolctl --pool orders stats --json`
  "$POOLCTL" "${A[@]}" --pool orders stats --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"
}
run "${A[@]}" --pool orders pause
expect 0 '^orders: paused' '' "pause: drained"
[[ $(field paused) == True ]] || fail "pause: stats do not say paused"
run "${A[@]}" --pool orders --timeout 2s query 'SELECT 1'
expect 1 '' '' "query while paused: not served"
run "${A[@]}" --pool orders resume
expect 0 '^orders: resumed$' '' "resume"
[[ $(field paused) == False ]] || fail "resume: stats still say paused"
run "${A[@]}" --pool orders query 'SELECT 5'
expect 0 '^ 5$' '' "query after resume: served"
before=$(field connections_reset)
run "${A[@]}" --pool orders reset
expect 0 '^orders: reset' '' "reset"
after=$(field connections_reset)
((after > before)) || fail "reset: connections_reset $before -> $after"
run "${A[@]}" --pool orders resize 1 2
expect 0 '^orders: resized to min 1, max 2$' '' "resize"
(($(field total) <= 2)) || fail "resize: more than 2 connections after it"
run "${A[@]}" --pool orders resize 4 2
expect 2 '' 'resize: need 0 <= MIN <= MAX' "resize MIN > MAX: exit 2"

# -- an unreachable node -------------------------------------------------------
start=$(date +%s)
run --node "127.0.0.1:$DEAD_PORT" --timeout 5s stats
elapsed=$(($(date +%s) - start))
expect 1 '' "^poolctl: cannot reach the pool node at 127.0.0.1:$DEAD_PORT: " \
  "unreachable node: exit 1"
((elapsed <= 15)) || fail "unreachable node: took ${elapsed}s with --timeout 5s"

# -- the nodes stop cleanly ----------------------------------------------------
stop_nodes || fail "a pool node did not stop cleanly"

finish "poolctl test"
