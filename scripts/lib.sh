# shellcheck shell=bash
# Shared helpers for libpool's scripts (scripts/test, scripts/demo,
# scripts/pg-up, scripts/pg-down, .ci/run). Source it; do not run it.
#
#   ensure_deps                  install missing Debian packages (apt-get)
#   default_build_dir            build | build-asan | build-tsan (from SANITIZE)
#   build_project DIR [ARGS...]  configure + build (extra ARGS go to cmake)
#   check_format                 clang-format --dry-run --Werror on *.cpp/*.hpp
#   pg_start [DIR] [PORT]        throwaway PostgreSQL 15 cluster; exports
#                                POOL_TEST_DSN, POOL_TEST_PGDATA,
#                                POOL_TEST_PGHOST, POOL_TEST_PGPORT, ...
#                                (and sets POOL_PG_DIR, not exported);
#                                role pool_auth (password pool_auth_pw) must
#                                log in with scram-sha-256 over TCP;
#                                the server runs with ssl=on and a
#                                throwaway CA (POOL_TEST_SSL_CA; a second,
#                                unrelated one in POOL_TEST_SSL_WRONG_CA)
#                                plus a streaming replica of it (pg_basebackup
#                                -R into DIR/replica, own port; exports
#                                POOL_TEST_REPLICA_PORT, _REPLICA_PGDATA,
#                                _REPLICA_PGLOG; POOL_PG_REPLICA=0: none)
#   pg_stop [DIR]                stop both and delete DIR (idempotent, never fails)
#
# Environment knobs: SANITIZE, POOL_JOBS, POOL_BUILD_DIR, POOL_SKIP_FORMAT,
# POOL_PG_REPLICA.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "scripts/lib.sh is a library: source it from bash (. scripts/lib.sh)" >&2
  exit 2
fi

# Packages the project needs on a bare Debian 12 machine.
POOL_DEPS=(build-essential g++ cmake make libcaf-dev libspdlog-dev libpq-dev libssl-dev
  postgresql-15 ccache clang-format gnuplot-nox prometheus-cpp-dev
  libcivetweb-dev prometheus openssl python3)
POOL_PG_BIN=${POOL_PG_BIN:-/usr/lib/postgresql/15/bin}
# Marker file that pg_start puts in its directory; pg_stop only deletes
# directories that carry it.
POOL_PG_MARKER=.libpool-pg-cluster

log() { printf '[libpool] %s\n' "$*" >&2; }
die() {
  printf '[libpool] error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- deps ----

# dpkg-query prints just the status: no pipe into `grep -q`, which under
# pipefail failed at random for packages with a long description (grep
# exits at its match, dpkg -s then dies of SIGPIPE).
_pkg_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ $status == "install ok installed" ]]
}

# Runs "$@" as root: directly when we are root, through sudo otherwise.
_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  else
    sudo "$@"
  fi
}

ensure_deps() {
  local missing=() p
  for p in "${POOL_DEPS[@]}"; do
    _pkg_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "deps: all ${#POOL_DEPS[@]} packages present, nothing installed"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    die "missing packages: ${missing[*]}; not root and no sudo, so install them as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  log "deps: installing ${missing[*]} (apt-get update + install)"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    die "apt-get update failed"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" ||
    die "apt-get install ${missing[*]} failed"
  for p in "${missing[@]}"; do
    _pkg_installed "$p" || die "package $p still not installed"
  done
  log "deps: installed ${missing[*]}"
}

# --------------------------------------------------------------- build ----

default_build_dir() {
  if [[ -n ${POOL_BUILD_DIR:-} ]]; then
    printf '%s\n' "$POOL_BUILD_DIR"
    return
  fi
  case "${SANITIZE:-}" in
    '') echo build ;;
    address,undefined | undefined,address) echo build-asan ;;
    thread) echo build-tsan ;;
    *) echo "build-san-${SANITIZE//[^A-Za-z0-9]/-}" ;;
  esac
}

build_project() {
  local dir=${1:-$(default_build_dir)}
  [[ $# -gt 0 ]] && shift
  local jobs=${POOL_JOBS:-2}
  # POOL_SANITIZE is always passed (empty = none) so that a cached value in
  # a reused build directory never survives a change of SANITIZE.
  log "configuring $dir (RelWithDebInfo, sanitize='${SANITIZE:-}')"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DPOOL_SANITIZE=${SANITIZE:-}" "$@" || {
    log "cmake configure failed ($dir)"
    return 1
  }
  log "building $dir with -j$jobs"
  cmake --build "$dir" -j "$jobs" || {
    log "build failed ($dir)"
    return 1
  }
}

# -------------------------------------------------------------- format ----

# Lists the C++ sources to check, one per line: in a git checkout the
# tracked files, plus untracked, not ignored ones (so a new file is caught
# before it is added) outside build*/ directories; else every *.cpp/*.hpp
# outside build*/ and .git.
_format_files() {
  if command -v git >/dev/null 2>&1 &&
    git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    {
      git ls-files --cached -- '*.cpp' '*.hpp'
      git ls-files --others --exclude-standard -- '*.cpp' '*.hpp' |
        grep -Ev '^build[^/]*/' || true
    } | sort -u | while IFS= read -r f; do
      if [[ -f $f ]]; then printf '%s\n' "$f"; fi
    done
  else
    find . \( -path './build*' -o -path './.git' \) -prune -o -type f \
      \( -name '*.cpp' -o -name '*.hpp' \) -print | sed 's|^\./||' | sort
  fi
}

check_format() {
  if [[ -n ${POOL_SKIP_FORMAT:-} && ${POOL_SKIP_FORMAT} != 0 ]]; then
    log "format: skipped (POOL_SKIP_FORMAT=$POOL_SKIP_FORMAT)"
    return 0
  fi
  command -v clang-format >/dev/null 2>&1 || die "clang-format not found"
  local files=() bad=() f
  while IFS= read -r f; do files+=("$f"); done < <(_format_files)
  for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [[ ${#bad[@]} -gt 0 ]]; then
    log "format: ${#bad[@]} of ${#files[@]} files are not clang-formatted:"
    printf '  %s\n' "${bad[@]}" >&2
    log "fix with: clang-format -i ${bad[*]}"
    return 1
  fi
  log "format: ${#files[@]} files OK"
}

# ---------------------------------------------------------- postgresql ----

# Runs a PostgreSQL binary as the cluster's owner: user postgres when we are
# root (initdb/pg_ctl refuse to run as root), else the current user. Runs
# from / so the server never inherits a working directory it cannot read.
_pg_as() {
  local bin=$1
  shift
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$POOL_PG_BIN/$bin" "$@")
  else
    (cd / && "$POOL_PG_BIN/$bin" "$@")
  fi
}

# True when something listens on 127.0.0.1:PORT (or any address, per ss).
_port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1 &&
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

_free_port() {
  local port=${1:-54330} last=$((${1:-54330} + 500))
  while ((port < last)); do
    if ! _port_in_use "$port"; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}

# _pg_make_certs DIR: a throwaway CA, a server certificate it signs (CN and
# SAN localhost, SAN IP 127.0.0.1) and a second, unrelated CA, all in DIR
# (the cluster's directory, deleted by pg_stop). The server's key is mode
# 0600 and owned by the cluster's owner, as PostgreSQL demands.
_pg_make_certs() {
  local dir=$1 d=$1/tls
  command -v openssl >/dev/null 2>&1 || {
    log "openssl not found (run ensure_deps)"
    return 1
  }
  mkdir -p "$d" || return 1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/server.ext"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  if ! {
    openssl req -x509 "${ec[@]}" -days 7 -subj "/CN=libpool test CA" \
      -keyout "$d/ca.key" -out "$d/ca.crt" &&
      openssl req -x509 "${ec[@]}" -days 7 -subj "/CN=libpool unrelated CA" \
        -keyout "$d/wrong-ca.key" -out "$d/wrong-ca.crt" &&
      openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$d/server.key" \
        -out "$d/server.csr" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" \
        -CAkey "$d/ca.key" -CAcreateserial -days 7 \
        -extfile "$d/server.ext" -out "$d/server.crt"
  } >"$dir/certs.log" 2>&1; then
    log "making the test certificates failed:"
    tail -n 20 "$dir/certs.log" >&2 || true
    return 1
  fi
  rm -f "$d/ca.key" "$d/wrong-ca.key" "$d/server.csr"
  chmod 755 "$d" && chmod 644 "$d"/*.crt && chmod 600 "$d/server.key" ||
    return 1
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$d" || return 1
  fi
}

# _pg_ctl_start WHAT DATA LOG CTL_LOG PORT FIXED OPTS PORT_VAR [OPTS_VAR]:
# starts the server of DATA with `pg_ctl start -w` (it accepts connections
# when that returns), the server's log LOG, pg_ctl's output CTL_LOG. OPTS
# are the server's options with @PORT@ where its port goes. FIXED non-empty:
# on port PORT only; else on the first free port from PORT up, and on the
# next one when another process took it first (5 attempts). Sets PORT_VAR
# and OPTS_VAR to the port and the options it runs with; else logs why
# (WHAT names the server in the messages) and returns 1.
_pg_ctl_start() {
  local what=$1 data=$2 logf=$3 ctl_log=$4 from=$5 fixed=$6 tmpl=$7
  local _port='' _opts attempt seen
  for attempt in 1 2 3 4 5; do
    if [[ -n $fixed ]]; then
      _port=$from
    else
      _port=$(_free_port "$from") || {
        log "no free port for $what from $from up"
        break
      }
    fi
    _opts=${tmpl//@PORT@/$_port}
    seen=$(wc -l 2>/dev/null <"$logf" || echo 0)
    if _pg_as pg_ctl -D "$data" -l "$logf" -w -t 60 -o "$_opts" \
      start >"$ctl_log" 2>&1; then
      printf -v "$8" '%s' "$_port"
      [[ -z ${9:-} ]] || printf -v "$9" '%s' "$_opts"
      return 0
    fi
    # Lost a race for the port? Try the next one; anything else is fatal.
    if [[ -z $fixed ]] &&
      tail -n "+$((seen + 1))" "$logf" 2>/dev/null |
      grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets'; then
      log "$what: port $_port taken (attempt $attempt), trying the next one"
      from=$((_port + 1))
      continue
    fi
    break
  done
  log "$what failed to start (data $data, port ${_port:-?}):"
  tail -n 30 "$ctl_log" "$logf" >&2 2>/dev/null || true
  return 1
}

# pg_start [DIR] [PORT]
# DIR defaults to a new mktemp -d /tmp/libpool-pg.XXXXXX, PORT to the first
# free one from 54330 up (retrying the next ones if the bind races).
pg_start() {
  local dir=${1:-} port=${2:-} fixed_port=${2:-}
  [[ -x $POOL_PG_BIN/initdb ]] ||
    die "PostgreSQL 15 not found in $POOL_PG_BIN (run ensure_deps)"
  if [[ $(id -u) -eq 0 ]] && ! getent passwd postgres >/dev/null; then
    die "user postgres does not exist (is postgresql-15 installed?)"
  fi
  if [[ -z $dir ]]; then
    dir=$(mktemp -d /tmp/libpool-pg.XXXXXX) || die "mktemp failed"
  else
    mkdir -p "$dir" || die "cannot create $dir"
    [[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
  fi
  dir=$(cd "$dir" && pwd)
  : >"$dir/$POOL_PG_MARKER"
  # Known to callers from here on, so that their EXIT trap can clean up
  # even if the rest of pg_start fails.
  # shellcheck disable=SC2034 # read by the scripts that source this file
  POOL_PG_DIR=$dir
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$dir"
  fi
  chmod 700 "$dir"

  local data=$dir/data logf=$dir/server.log
  if ! _pg_as initdb -D "$data" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync >"$dir/initdb.log" 2>&1; then
    log "initdb failed:"
    tail -n 30 "$dir/initdb.log" >&2 || true
    pg_stop "$dir"
    return 1
  fi

  # Password authentication for the chaos suite's wrong-password scenario:
  # TCP logins of role pool_auth (created below) need scram-sha-256; the
  # specific line must come before initdb's "host all all ... trust" lines,
  # so it goes first. Everything else stays trust.
  local hba=$data/pg_hba.conf
  if ! {
    {
      echo "host all pool_auth 127.0.0.1/32 scram-sha-256"
      cat "$hba"
    } >"$hba.new" && chmod 600 "$hba.new" &&
      chown --reference="$hba" "$hba.new" && mv -f "$hba.new" "$hba"
  }; then
    log "cannot write $hba"
    pg_stop "$dir"
    return 1
  fi

  if ! _pg_make_certs "$dir"; then
    pg_stop "$dir"
    return 1
  fi

  local opts="-k $dir -h 127.0.0.1 -p @PORT@ -F -c max_connections=400"
  opts+=" -c shared_buffers=32MB -c log_min_messages=warning"
  opts+=" -c ssl=on -c ssl_cert_file=$dir/tls/server.crt"
  opts+=" -c ssl_key_file=$dir/tls/server.key"
  if ! _pg_ctl_start PostgreSQL "$data" "$logf" "$dir/pg_ctl.log" \
    "${port:-54330}" "$fixed_port" "$opts" port opts; then
    pg_stop "$dir"
    return 1
  fi

  if ! "$POOL_PG_BIN/createdb" -h "$dir" -p "$port" -U postgres pooltest \
    >"$dir/createdb.log" 2>&1; then
    log "createdb pooltest failed:"
    cat "$dir/createdb.log" >&2 || true
    pg_stop "$dir"
    return 1
  fi

  # The role of the wrong-password scenario (see pg_hba.conf above).
  if ! "$POOL_PG_BIN/psql" -h "$dir" -p "$port" -U postgres -d pooltest \
    -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE ROLE pool_auth LOGIN PASSWORD 'pool_auth_pw'" \
    >"$dir/roles.log" 2>&1; then
    log "creating role pool_auth failed:"
    cat "$dir/roles.log" >&2 || true
    pg_stop "$dir"
    return 1
  fi

  # The streaming replica (after pooltest and pool_auth exist, so that it
  # has them too).
  local rport=''
  if [[ ${POOL_PG_REPLICA:-1} != 0 ]]; then
    rport=$(_pg_start_replica "$dir" "$port" "$opts") || {
      pg_stop "$dir"
      return 1
    }
  fi

  export POOL_TEST_DSN="host=$dir port=$port user=postgres dbname=pooltest"
  export POOL_TEST_PGDATA=$data
  export POOL_TEST_PGHOST=$dir
  export POOL_TEST_PGPORT=$port
  # For tests that stop/restart the server: where pg_ctl lives, which OS
  # user must run it (pg_ctl refuses root), the server's log and the exact
  # options it was started with.
  export POOL_TEST_PGBIN=$POOL_PG_BIN
  export POOL_TEST_PGLOG=$logf
  POOL_TEST_PGUSER_OS=postgres
  [[ $(id -u) -eq 0 ]] || POOL_TEST_PGUSER_OS=$(id -un)
  export POOL_TEST_PGUSER_OS
  export POOL_TEST_PGOPTS=$opts
  # TLS: the CA that signed the server's certificate, and one that did not.
  export POOL_TEST_SSL_CA=$dir/tls/ca.crt
  export POOL_TEST_SSL_WRONG_CA=$dir/tls/wrong-ca.crt
  if [[ -n $rport ]]; then
    # The replica: same host, socket directory and options but its port.
    export POOL_TEST_REPLICA_PORT=$rport
    export POOL_TEST_REPLICA_PGDATA=$dir/replica
    export POOL_TEST_REPLICA_PGLOG=$dir/replica.log
    log "PostgreSQL 15 up: $POOL_TEST_DSN; streaming replica on port $rport"
  else
    unset POOL_TEST_REPLICA_PORT POOL_TEST_REPLICA_PGDATA POOL_TEST_REPLICA_PGLOG
    log "PostgreSQL 15 up: $POOL_TEST_DSN (no replica: POOL_PG_REPLICA=0)"
  fi
}

# _pg_start_replica DIR PORT OPTS: a streaming replica of the primary in
# DIR (socket directory DIR, port PORT, started with OPTS): pg_basebackup -R
# into DIR/replica, started with OPTS on the first free port after PORT
# (the primary's "-p PORT" replaced), log DIR/replica.log. initdb's
# pg_hba.conf already lets postgres replicate over the socket and
# 127.0.0.1 (trust); wal_level=replica and max_wal_senders=10 are the
# defaults. The replica streams through a physical replication slot
# (libpool_replica, made by pg_basebackup -C): without one the primary
# recycled WAL the replica had not fetched yet while its stream was down,
# and the replica stopped for good ("requested WAL segment ... has already
# been removed"). Waits until it accepts connections, is in recovery and
# streams from the primary. Prints the replica's port.
_pg_start_replica() {
  local dir=$1 pport=$2 popts=$3 rdata=$1/replica rlog=$1/replica.log
  local t0=${EPOCHREALTIME/[.,]/}
  if ! _pg_as pg_basebackup -h "$dir" -p "$pport" -U postgres -D "$rdata" \
    -R -C -S libpool_replica -X stream -c fast --no-sync \
    >"$dir/basebackup.log" 2>&1; then
    log "pg_basebackup of the replica failed:"
    tail -n 20 "$dir/basebackup.log" >&2 || true
    return 1
  fi
  local rport
  _pg_ctl_start "the replica" "$rdata" "$rlog" "$dir/replica-pg_ctl.log" \
    "$((pport + 1))" '' "${popts/"-p $pport "/"-p @PORT@ "}" rport || return 1
  # pg_ctl -w returns once it accepts connections; wait for the WAL
  # receiver to stream (at most 30 s).
  local i state=''
  for ((i = 0; i < 300; i++)); do
    state=$("$POOL_PG_BIN/psql" -h "$dir" -p "$rport" -U postgres \
      -d postgres -qAt -c "SELECT pg_is_in_recovery()::text || ' ' ||
        coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')" \
      2>/dev/null || true)
    [[ $state == "true streaming" ]] && break
    sleep 0.1
  done
  if [[ $state != "true streaming" ]]; then
    log "the replica on port $rport does not stream (state '$state'):"
    tail -n 20 "$rlog" >&2 2>/dev/null || true
    return 1
  fi
  local t1=${EPOCHREALTIME/[.,]/}
  log "replica streaming on port $rport ($(((t1 - t0) / 1000)) ms for base backup, start and streaming)"
  printf '%s\n' "$rport"
}

# pg_stop [DIR]: stops the cluster in DIR (default: $POOL_TEST_PGHOST) and
# deletes DIR. Idempotent; always returns 0.
pg_stop() {
  local dir=${1:-${POOL_TEST_PGHOST:-}}
  [[ -n $dir && -d $dir ]] || return 0
  if [[ ! -e $dir/$POOL_PG_MARKER ]]; then
    log "pg_stop: $dir was not made by pg_start; leaving it alone"
    return 0
  fi
  # The replica first (if any), so that it does not chase a stopped
  # primary; then the primary.
  local data
  for data in "$dir/replica" "$dir/data"; do
    [[ -f $data/postmaster.pid ]] || continue
    if ! _pg_as pg_ctl -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
      _pg_as pg_ctl -D "$data" -m immediate -w -t 15 stop >/dev/null 2>&1 || {
        local pid
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
        # Only a postmaster of this very data directory (never a reused pid).
        if [[ $pid =~ ^[0-9]+$ ]] &&
          tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data"; then
          kill -KILL "$pid" 2>/dev/null || true
        fi
      }
    fi
  done
  rm -rf -- "$dir" 2>/dev/null || true
  if [[ ${POOL_TEST_PGHOST:-} == "$dir" ]]; then
    unset POOL_TEST_DSN POOL_TEST_PGDATA POOL_TEST_PGHOST POOL_TEST_PGPORT \
      POOL_TEST_PGBIN POOL_TEST_PGLOG POOL_TEST_PGUSER_OS POOL_TEST_PGOPTS \
      POOL_TEST_SSL_CA POOL_TEST_SSL_WRONG_CA POOL_TEST_REPLICA_PORT \
      POOL_TEST_REPLICA_PGDATA POOL_TEST_REPLICA_PGLOG
  fi
  return 0
}
