#!/usr/bin/env bash
# No password in anything poold or poolctl prints (label "node", issue 11):
#
#   secrets_test.sh POOLD POOLCTL
#
# A poold with two pools of the test server's SCRAM role pool_auth over TCP
# (127.0.0.1:$POOL_TEST_PGPORT): "good" with the right password (and an
# sslpassword), "bad" with a wrong one, so that auth_failed errors flow into
# the log, /health, stats and metrics. Each output below must be non-empty,
# hold what it should (so that the test cannot pass by reading nothing) and
# hold none of the three secrets: --dump-config (and CAF's dump, asked for
# by the file), --help, the errors of bad pool sections, /metrics, /health,
# poolctl's stats and health of both pools, and poold's log at level debug
# through a reload by signal that changes a conninfo and one that is
# refused.
set -uo pipefail

POOLD=$1
POOLCTL=$2
# shellcheck source=tests/support/test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
require_test_server POOL_TEST_PGPORT
use_poold_nodes

GOOD_PW=pool_auth_pw              # role pool_auth's password (scripts/lib.sh)
WRONG_PW=Wr0ng-secrets-test-pw    # the "bad" pool's password
SSL_PW=ssl-secrets-test-passwd    # an sslpassword (no client key: unused)
SECRETS=("$GOOD_PW" "$WRONG_PW" "$SSL_PW")

# leaks FILE: prints and succeeds when FILE holds a secret.
leaks() {
  local s found=1
  for s in "${SECRETS[@]}"; do
    if grep -F -n -- "$s" "$1" >&2; then
      echo "  ^ holds the secret '$s'" >&2
      found=0
    fi
  done
  return $found
}

# check WHAT FILE PATTERN...: FILE is non-empty, matches every extended
# regular expression PATTERN and holds no secret.
check() {
  local what=$1 file=$2 pattern good=1
  shift 2
  if [[ ! -s $file ]]; then
    fail "$what: empty output"
    return
  fi
  for pattern in "$@"; do
    if ! grep -Eq -- "$pattern" "$file"; then
      fail "$what: does not match /$pattern/"
      sed 's/^/  | /' "$file" | head -40 >&2
      good=0
    fi
  done
  if leaks "$file"; then
    fail "$what: a password leaked"
    good=0
  fi
  ((good)) && ok "$what"
}

# The matcher itself finds each secret (else every check below is void).
for s in "${SECRETS[@]}"; do
  printf 'conninfo="host=x password=%s port=1"\n' "$s" >"$WORK/selftest"
  leaks "$WORK/selftest" 2>/dev/null || fail "self-test: '$s' not found"
done

CONN="host=127.0.0.1 port=$POOL_TEST_PGPORT dbname=pooltest user=pool_auth"
CFG=$WORK/poold.ini
# write_config GOOD_EXTRA: the configuration file; GOOD_EXTRA ends the good
# pool's conninfo.
write_config() {
  cat >"$CFG" <<EOF
[log]
level="debug"
[poold]
http-port-file="$WORK/http.port"
[pools.good]
conninfo="$CONN password=$GOOD_PW sslpassword=$SSL_PW$1"
min-size=1
max-size=2
[pools.bad]
conninfo="$CONN password='$WRONG_PW'"
min-size=1
max-size=1
backoff-min=20ms
backoff-max=200ms
breaker-threshold=3
breaker-cooldown=500ms
EOF
}
write_config ""

# -- --dump-config ---------------------------------------------------------------
"$POOLD" --config-file="$CFG" --dump-config >"$WORK/dump.ini" 2>&1
rc=$?
((rc == 0)) || fail "--dump-config: exit code $rc, want 0"
check "--dump-config: every conninfo redacted" "$WORK/dump.ini" \
  '^\[pools\.good\]$' '^\[pools\.bad\]$' '^\[node\]$' '^\[http\]$' \
  '^\[log\]$' '^level="debug"$' '^\[poold\]$' '^shutdown-deadline=10s$' \
  '^conninfo=".*user=pool_auth password=\*\*\* .*sslpassword=\*\*\*' \
  "^conninfo=\".*port=$POOL_TEST_PGPORT.*\"\$" '^max-size=2$' \
  '^backoff-min=20ms$' '^lease-timeout=0$'
# Every pool setting that --help lists, in both pools.
"$POOLD" --help >"$WORK/help.txt" 2>&1
check "--help" "$WORK/help.txt" '^  conninfo=<string>' '--dump-config'
keys=$(sed -n 's/^  \([a-z][a-z-]*\)=<.*/\1/p' "$WORK/help.txt")
nkeys=$(wc -w <<<"$keys")
((nkeys > 20)) || fail "--help: only $nkeys pool settings found"
for pool in good bad; do
  got=$(sed -n "/^\[pools\.$pool\]/,/^\[/p" "$WORK/dump.ini" |
    sed -n 's/^\([a-z-]*\)=.*/\1/p')
  [[ $got == "$keys" ]] ||
    fail "--dump-config: pool $pool's keys are not those of --help: $got"
done
# Valid input for --config-file: read back, it dumps the same text.
"$POOLD" --config-file="$WORK/dump.ini" --dump-config >"$WORK/dump2.ini" 2>&1
if cmp -s "$WORK/dump.ini" "$WORK/dump2.ini"; then
  ok "--dump-config: its output read back by --config-file dumps the same"
else
  fail "--dump-config: read back, it dumps something else:"
  diff "$WORK/dump.ini" "$WORK/dump2.ini" >&2
fi
# CAF's own dump, asked for by a global key in the file, is ours too.
{
  echo "dump-config=true"
  cat "$CFG"
} >"$WORK/caf-dump.ini"
"$POOLD" --config-file="$WORK/caf-dump.ini" >"$WORK/caf-dump.out" 2>&1
rc=$?
((rc == 0)) || fail "dump-config=true in the file: exit code $rc, want 0"
check "dump-config=true in the file: redacted" "$WORK/caf-dump.out" \
  '^\[pools\.good\]$' 'password=\*\*\*'

# -- errors of bad pool sections ---------------------------------------------------
bad_section() { # WHAT SETTINGS...: a pool "x" with SETTINGS is refused (exit 2)
  local what=$1
  shift
  {
    echo "[pools.x]"
    printf '%s\n' "$@"
  } >"$WORK/bad.ini"
  "$POOLD" --config-file="$WORK/bad.ini" >"$WORK/bad.out" 2>&1
  rc=$?
  ((rc == 2)) || fail "$what: exit code $rc, want 2"
  check "$what" "$WORK/bad.out" 'pools\.x'
}
bad_section "error: unknown conninfo keyword" \
  "conninfo=\"$CONN password=$GOOD_PW bogus=1\""
bad_section "error: unterminated quote in the conninfo" \
  "conninfo=\"$CONN password='$WRONG_PW\""
bad_section "error: min-size above max-size" \
  "conninfo=\"$CONN password=$GOOD_PW sslpassword=$SSL_PW\"" "min-size=3" \
  "max-size=1"
bad_section "error: conninfo of the wrong type" "conninfo=[\"$GOOD_PW\"]"
"$POOLD" --config-file="$CFG" --pools.y.conninfo="$CONN password=$WRONG_PW x" \
  >"$WORK/bad.out" 2>&1
rc=$?
((rc == 2)) || fail "error: bad --pools.y.conninfo: exit code $rc, want 2"
check "error: bad --pools.y.conninfo" "$WORK/bad.out" 'pools\.y'

# -- a running node ----------------------------------------------------------------
start_node a PORT --config-file="$CFG" || exit 1
NODE=(--node "127.0.0.1:$PORT" --timeout 20s)
# The bad pool has failed its connects (bounded wait).
for ((i = 0; i < 60; ++i)); do
  "$POOLCTL" "${NODE[@]}" --pool bad health >"$WORK/health-bad.txt" 2>&1
  grep -q auth_failed "$WORK/health-bad.txt" && break
  sleep 0.25
done
check "poolctl health of the bad pool" "$WORK/health-bad.txt" \
  '^pool bad: not ok: .*auth_failed'
"$POOLCTL" "${NODE[@]}" --pool good health >"$WORK/health-good.txt" 2>&1
check "poolctl health of the good pool" "$WORK/health-good.txt" \
  '^pool good: ok$'
# good_stats FILE: poolctl stats of the good pool to FILE, once its
# connection is open (bounded wait: under ASan a connect with TLS and SCRAM
# takes a while, and health is ok before it).
good_stats() {
  for ((i = 0; i < 60; ++i)); do
    "$POOLCTL" "${NODE[@]}" --pool good stats >"$1" 2>&1
    grep -q '^pool good: total=1 ' "$1" && return
    sleep 0.25
  done
}
good_stats "$WORK/stats-good.txt"
for pool in good bad; do
  [[ $pool == good ]] ||
    "$POOLCTL" "${NODE[@]}" --pool $pool stats >"$WORK/stats-$pool.txt" 2>&1
  "$POOLCTL" "${NODE[@]}" --pool $pool stats --json \
    >"$WORK/stats-$pool.json" 2>&1
done
check "poolctl stats of the good pool" "$WORK/stats-good.txt" \
  '^pool good: total=1 ' 'connections_created=[1-9]'
check "poolctl stats --json of the good pool" "$WORK/stats-good.json" \
  '"pool": "good"'
# No connection of the bad pool is ever open; the one counted in total, if
# any, is the breaker's trial connect (half-open), still connecting.
check "poolctl stats of the bad pool" "$WORK/stats-bad.txt" \
  '^pool bad: total=[01] idle=0 leased=0 busy=0 ' \
  ' connections_created=0 ' 'connect_failures=[1-9]' \
  'last_connect_error="auth_failed: .*password authentication failed'
check "poolctl stats --json of the bad pool" "$WORK/stats-bad.json" \
  '"last_connect_error": "auth_failed: '

http_get() { # PATH FILE: GET on poold's HTTP port, the body to FILE
  python3 - "$(cat "$WORK/http.port")" "$1" >"$2" <<'PY'
import sys, urllib.request, urllib.error
url = f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}"
try:
    body = urllib.request.urlopen(url, timeout=10).read()
except urllib.error.HTTPError as e:  # /health answers 503 here
    body = e.read()
sys.stdout.write(body.decode())
PY
}
http_get /metrics "$WORK/metrics.txt"
check "/metrics" "$WORK/metrics.txt" '^libpool_pool_up\{pool="good"\} 1' \
  '^libpool_pool_up\{pool="bad"\} ' '^libpool_connections_open\{pool="good"\} 1'
http_get /health "$WORK/health.json"
check "/health" "$WORK/health.json" '"good":\{"ok":true' \
  '"bad":\{"ok":false,"reason":"[^"]*auth_failed'

# -- reloads by signal ---------------------------------------------------------------
# A changed conninfo (the pool replaces its connections) ...
write_config " application_name=secrets_test"
kill -HUP "${NODE_PIDS[0]}"
wait_log "$WORK/a.log" "reload: pool good: changed conninfo"
# ... and a configuration that is refused (a bad conninfo with the password).
write_config " bogus=1"
kill -HUP "${NODE_PIDS[0]}"
wait_log "$WORK/a.log" "reload refused"
# The changed conninfo replaced the good pool's connection: its new one may
# still be connecting.
good_stats "$WORK/stats-good2.txt"
check "poolctl stats of the good pool after the reloads" \
  "$WORK/stats-good2.txt" '^pool good: total=1 '
stop_nodes || fail "poold did not stop cleanly"
check "poold's log at level debug" "$WORK/a.log" \
  'starting pool: .*password=\*\*\*.*sslpassword=\*\*\*' \
  '\[poold.bad\] \[warning\] connect failed: auth_failed' \
  '\[poold.good\] \[debug\] ' 'reload: pool good: changed conninfo' \
  'reload refused, running settings kept: .*pools\.good' '\] stopped$'

finish "secrets test"
