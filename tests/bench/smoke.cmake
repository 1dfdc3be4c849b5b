# cmake -DBENCH=<pool-bench> -DOUT=<json file> -P smoke.cmake
#
# Three short pool-bench runs against $POOL_TEST_DSN (the server of
# scripts/test, whose data directory POOL_TEST_PGDATA lets pool-bench find
# the server's processes):
#  1. configuration 4x4 for 2 s (+0.5 s warm-up) with every scheduler mode
#     this build has, and a 1 s idle phase: checks the JSON file (one object
#     per scheduler mode, then one idle object per mode, every field there,
#     plausible numbers) and the RESULT lines (exactly the agreed fields, in
#     the agreed order; the per-query costs are numbers);
#  2. --tpcb at 4x2 for 1 s: the pool's TPC-B rows (per mode) and pgbench's,
#     as TPCB lines with positive tps and no errors;
#  3. --idle --idle-seconds 1 --scheduler default: its IDLE line.
cmake_minimum_required(VERSION 3.19) # string(JSON)

set(dsn "$ENV{POOL_TEST_DSN}")
if(dsn STREQUAL "")
  message(FATAL_ERROR "POOL_TEST_DSN is not set: run the tests with "
                      "scripts/test, which starts PostgreSQL and exports it")
endif()

file(REMOVE "${OUT}")
execute_process(
  COMMAND "${BENCH}" --configs 4x4 --duration 2 --warmup 0.5 --json "${OUT}"
          --result-line --idle-seconds 1 --conninfo "${dsn}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
message(STATUS "pool-bench stdout:\n${out}")
message(STATUS "pool-bench stderr:\n${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pool-bench exited with ${rc}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "pool-bench wrote no ${OUT}")
endif()
file(READ "${OUT}" json)

function(json_get var doc)
  string(JSON value ERROR_VARIABLE error GET "${doc}" ${ARGN})
  if(error)
    message(FATAL_ERROR "JSON: ${error}\nin: ${doc}")
  endif()
  set(${var} "${value}" PARENT_SCOPE)
endfunction()

function(expect_number doc name)
  string(JSON type ERROR_VARIABLE error TYPE "${doc}" ${name})
  if(error OR NOT type STREQUAL "NUMBER")
    message(FATAL_ERROR "field ${name}: want a number, got '${type}' "
                        "${error}\nin: ${doc}")
  endif()
endfunction()

function(expect_positive doc name)
  expect_number("${doc}" ${name})
  json_get(v "${doc}" ${name})
  if(NOT v GREATER 0)
    message(FATAL_ERROR "field ${name} = ${v}, want > 0")
  endif()
endfunction()

# Fails unless `got` (peer/scheduler entries of the lines of kind `what`)
# holds `baseline`/none and libpool/<mode> for every scheduler mode run.
function(expect_peers what got baseline)
  set(want ${baseline}/none)
  foreach(m IN LISTS modes)
    list(APPEND want libpool/${m})
  endforeach()
  foreach(p IN LISTS want)
    if(NOT p IN_LIST got)
      message(FATAL_ERROR "no ${what} line with peer ${p} (got: ${got})")
    endif()
  endforeach()
endfunction()

# -- the scheduler modes -------------------------------------------------------
# Both run: libpool's io scheduler and CAF's default one (+ the poller).
set(modes default io)
if(out MATCHES "NOTE: scheduler io: not run")
  message(FATAL_ERROR "pool-bench did not run the io scheduler:\n${out}")
endif()
list(LENGTH modes n_modes)

# -- the JSON file ------------------------------------------------------------
string(JSON type ERROR_VARIABLE error TYPE "${json}")
if(error OR NOT type STREQUAL "ARRAY")
  message(FATAL_ERROR "${OUT} is not a JSON array: ${error}\n${json}")
endif()
string(JSON n LENGTH "${json}")
math(EXPR want_n "2 * ${n_modes}")
if(NOT n EQUAL want_n)
  message(FATAL_ERROR "want ${want_n} objects in ${OUT} (per scheduler mode: "
                      "4x4 and idle), got ${n}")
endif()
set(select_modes "")
set(idle_modes "")
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  json_get(obj "${json}" ${i})
  json_get(phase "${obj}" phase)
  json_get(mode "${obj}" scheduler_mode)
  if(phase STREQUAL "idle")
    list(APPEND idle_modes ${mode})
    foreach(f pool seconds cpu_percent ctx_switches_per_s server_cpu_percent)
      expect_number("${obj}" ${f})
    endforeach()
    json_get(secs "${obj}" seconds)
    if(secs LESS 0.9)
      message(FATAL_ERROR "idle phase measured ${secs} s, want about 1")
    endif()
    continue()
  endif()
  if(NOT phase STREQUAL "select")
    message(FATAL_ERROR "unknown phase '${phase}' in ${OUT}")
  endif()
  list(APPEND select_modes ${mode})
  foreach(f clients pool qps p50_us p99_us p999_us max_us mean_us acq_p50_us
            acq_p99_us raw_qps ratio allocs_per_query mallocs_per_query ops
            errors worker_ops_min worker_ops_max client_cpu_us_per_q
            ctx_switches_per_q server_cpu_us_per_q seconds raw_p50_us
            raw_p99_us raw_allocs_per_query raw_client_cpu_us_per_q
            raw_ctx_switches_per_q raw_server_cpu_us_per_q connect_qps)
    expect_number("${obj}" ${f})
  endforeach()
  # A closed loop through sockets cannot run without context switches, and
  # the server works for every query.
  foreach(f qps p50_us p99_us p999_us acq_p50_us acq_p99_us raw_qps ratio
            allocs_per_query ops worker_ops_min connect_qps
            client_cpu_us_per_q ctx_switches_per_q server_cpu_us_per_q
            raw_client_cpu_us_per_q raw_ctx_switches_per_q
            raw_server_cpu_us_per_q)
    expect_positive("${obj}" ${f})
  endforeach()
  json_get(clients "${obj}" clients)
  json_get(pool "${obj}" pool)
  json_get(errors "${obj}" errors)
  if(NOT clients EQUAL 4 OR NOT pool EQUAL 4 OR NOT errors EQUAL 0)
    message(FATAL_ERROR "want clients 4, pool 4, errors 0; got ${clients}, "
                        "${pool}, ${errors}")
  endif()
endforeach()
foreach(what select_modes idle_modes)
  set(got ${${what}})
  list(SORT got)
  set(want ${modes})
  list(SORT want)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "${what}: want one object per scheduler mode "
                        "(${want}), got (${got})")
  endif()
endforeach()

# -- the RESULT lines ---------------------------------------------------------
set(want peer scheduler_mode clients pool qps p50_us p99_us p999_us max_us
    mean_us acq_p50_us acq_p99_us ops errors worker_ops_min worker_ops_max
    client_cpu_us_per_q ctx_switches_per_q server_cpu_us_per_q
    allocs_per_query seconds query version)
set(want_sorted ${want})
list(SORT want_sorted)
string(REGEX MATCHALL "RESULT [^\n]*" lines "${out}")
set(peers "")
foreach(line IN LISTS lines)
  string(SUBSTRING "${line}" 7 -1 doc)
  string(JSON count ERROR_VARIABLE error LENGTH "${doc}")
  if(error)
    message(FATAL_ERROR "RESULT line is not JSON: ${error}\n${line}")
  endif()
  set(names "")
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    string(JSON name MEMBER "${doc}" ${i})
    list(APPEND names ${name})
  endforeach()
  # string(JSON MEMBER) lists the members sorted: compare as sets.
  list(SORT names)
  if(NOT names STREQUAL want_sorted)
    message(FATAL_ERROR "RESULT fields:\n  ${names}\nwant exactly:\n  "
                        "${want}")
  endif()
  # ... and the order, from the text.
  set(pos -1)
  foreach(f IN LISTS want)
    string(FIND "${doc}" "\"${f}\":" at)
    if(at LESS_EQUAL pos)
      message(FATAL_ERROR "RESULT field ${f} out of order:\n${line}")
    endif()
    set(pos ${at})
  endforeach()
  json_get(peer "${doc}" peer)
  json_get(query "${doc}" query)
  if(NOT query STREQUAL "SELECT $1::int")
    message(FATAL_ERROR "RESULT query is '${query}'")
  endif()
  foreach(f qps client_cpu_us_per_q ctx_switches_per_q server_cpu_us_per_q)
    expect_positive("${doc}" ${f})
  endforeach()
  expect_number("${doc}" allocs_per_query)
  json_get(mode "${doc}" scheduler_mode)
  if(peer STREQUAL "libpool") # raw libpq allocates with malloc only
    expect_positive("${doc}" allocs_per_query)
  endif()
  list(APPEND peers ${peer}/${mode})
endforeach()
expect_peers(RESULT "${peers}" raw-libpq)
string(REGEX MATCHALL "IDLE [^\n]*" lines "${out}")
list(LENGTH lines n_idle)
if(NOT n_idle EQUAL n_modes)
  message(FATAL_ERROR "want ${n_modes} IDLE lines, got ${n_idle}")
endif()
message(STATUS "bench.smoke: JSON, RESULT and IDLE lines OK (peers: ${peers})")

# -- 2. TPC-B -----------------------------------------------------------------
execute_process(
  COMMAND "${BENCH}" --tpcb --configs 4x2 --duration 1 --warmup 0.2
          --result-line --conninfo "${dsn}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message(STATUS "pool-bench --tpcb stdout:\n${out}")
message(STATUS "pool-bench --tpcb stderr:\n${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pool-bench --tpcb exited with ${rc}")
endif()
string(REGEX MATCHALL "TPCB [^\n]*" lines "${out}")
set(peers "")
foreach(line IN LISTS lines)
  string(SUBSTRING "${line}" 5 -1 doc)
  foreach(f clients pool scale tps transactions errors retryable
            client_cpu_us_per_txn ctx_switches_per_txn server_cpu_us_per_txn
            ratio_to_pgbench)
    expect_number("${doc}" ${f})
  endforeach()
  foreach(f tps transactions client_cpu_us_per_txn server_cpu_us_per_txn)
    expect_positive("${doc}" ${f})
  endforeach()
  json_get(errors "${doc}" errors)
  if(NOT errors EQUAL 0)
    message(FATAL_ERROR "TPC-B errors: ${line}")
  endif()
  json_get(peer "${doc}" peer)
  json_get(mode "${doc}" scheduler_mode)
  list(APPEND peers ${peer}/${mode})
endforeach()
expect_peers(TPCB "${peers}" pgbench)
message(STATUS "bench.smoke: TPCB lines OK (peers: ${peers})")

# -- 3. --idle ----------------------------------------------------------------
execute_process(
  COMMAND "${BENCH}" --idle --idle-seconds 1 --scheduler default --result-line
          --conninfo "${dsn}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message(STATUS "pool-bench --idle stdout:\n${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pool-bench --idle exited with ${rc}\n${err}")
endif()
if(NOT out MATCHES "idle default scheduler: process CPU [0-9.]+ % of one core")
  message(FATAL_ERROR "pool-bench --idle printed no idle line")
endif()
string(REGEX MATCHALL "IDLE [^\n]*" lines "${out}")
list(LENGTH lines n_idle)
if(NOT n_idle EQUAL 1)
  message(FATAL_ERROR "want 1 IDLE line from --idle, got ${n_idle}")
endif()
string(SUBSTRING "${lines}" 5 -1 doc)
expect_number("${doc}" cpu_percent)
json_get(mode "${doc}" scheduler_mode)
if(NOT mode STREQUAL "default")
  message(FATAL_ERROR "IDLE line of --scheduler default says '${mode}'")
endif()
message(STATUS "bench.smoke: --tpcb and --idle OK")
