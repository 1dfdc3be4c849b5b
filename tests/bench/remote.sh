#!/usr/bin/env bash
# pool-bench --remote against a real pool node (label "bench"):
#
#   remote.sh POOLD POOL_BENCH
#
# Starts poold (port 0) serving pool "bench" (min = max = 4) on
# $POOL_TEST_DSN, then
#  1. pool-bench --configs 4x4 --remote: its RESULT lines include peer
#     libpool-remote with exactly the fields of the other peers, and a
#     REMOTE line with positive in-process and remote qps, their ratio, the
#     remote pool's 4 connections and no errors; no WARNING;
#  2. --configs 4x2: a WARNING that the remote pool has 4 connections, not 2;
#  3. --remote with --idle: refused with exit code 2.
set -uo pipefail

POOLD=$1
BENCH=$2
# shellcheck source=tests/support/test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
require_test_server POOL_TEST_DSN
use_poold_nodes

start_node bench PORT --pools.bench.conninfo="$POOL_TEST_DSN" \
  --pools.bench.min-size=4 --pools.bench.max-size=4 || exit 1

bench() {
  "$BENCH" --conninfo "$POOL_TEST_DSN" --remote "127.0.0.1:$PORT" \
    --scheduler io --duration 1 --warmup 0.3 --acquire-samples 1000 \
    --idle-seconds -1 --result-line "$@"
}

echo "== 1. 4x4 against the node's pool of 4"
OUT=$(bench --configs 4x4)
RC=$?
printf '%s\n' "$OUT"
[[ $RC -eq 0 ]] || { echo "FAIL: pool-bench exited with $RC" >&2; exit 1; }
if grep -q WARNING <<<"$OUT"; then
  echo "FAIL: a WARNING although the remote pool's size matches" >&2
  exit 1
fi
python3 - "$OUT" <<'PY' || exit 1
import json, sys
lines = sys.argv[1].splitlines()
results = [json.loads(l[len("RESULT "):]) for l in lines if l.startswith("RESULT ")]
remotes = [json.loads(l[len("REMOTE "):]) for l in lines if l.startswith("REMOTE ")]
peers = {r["peer"]: r for r in results}
assert "libpool" in peers and "libpool-remote" in peers, sorted(peers)
r, l = peers["libpool-remote"], peers["libpool"]
assert list(r.keys()) == list(l.keys()), (list(r.keys()), list(l.keys()))
assert r["qps"] > 0 and r["ops"] > 0 and r["errors"] == 0, r
assert r["clients"] == 4 and r["pool"] == 4, r
assert len(remotes) == 1, remotes
x = remotes[0]
assert x["scheduler_mode"] == "io", x
assert x["inprocess_qps"] > 0 and x["remote_qps"] > 0, x
assert abs(x["ratio"] - x["remote_qps"] / x["inprocess_qps"]) < 0.01, x
assert x["remote_pool_connections"] == 4, x
assert x["inprocess_errors"] == 0 and x["remote_errors"] == 0, x
print("ok: RESULT libpool-remote and REMOTE lines:", json.dumps(x))
PY

echo "== 2. 4x2: the remote pool's size differs"
OUT=$(bench --configs 4x2)
RC=$?
printf '%s\n' "$OUT"
[[ $RC -eq 0 ]] || { echo "FAIL: pool-bench 4x2 exited with $RC" >&2; exit 1; }
grep -q "WARNING: the remote pool has 4 connections, the configuration asks for 2" \
  <<<"$OUT" || { echo "FAIL: no WARNING about the remote pool's size" >&2; exit 1; }
echo "ok: size mismatch warned"

echo "== 3. --remote with --idle"
"$BENCH" --conninfo "$POOL_TEST_DSN" --remote "127.0.0.1:$PORT" --idle \
  >/dev/null 2>"$WORK/err"
RC=$?
cat "$WORK/err"
[[ $RC -eq 2 ]] && grep -q -- "--remote runs with the throughput run only" "$WORK/err" ||
  { echo "FAIL: --remote --idle: exit $RC" >&2; exit 1; }
echo "ok: --remote --idle refused"

stop_nodes || exit 1
echo "bench.remote: all checks passed"
