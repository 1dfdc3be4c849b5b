# cmake -DBENCH=<pool-bench> -DOUT=<json file> -P smoke.cmake
#
# Runs pool-bench on configuration 4x4 for 2 s (+0.5 s warm-up) against
# $POOL_TEST_DSN, then checks that the JSON file is an array with one object
# carrying every field, that the numbers are plausible, and that the RESULT
# lines of both peers have exactly the agreed fields, in the agreed order.
cmake_minimum_required(VERSION 3.19) # string(JSON)

set(dsn "$ENV{POOL_TEST_DSN}")
if(dsn STREQUAL "")
  message(FATAL_ERROR "POOL_TEST_DSN is not set: run the tests with "
                      "scripts/test, which starts PostgreSQL and exports it")
endif()

file(REMOVE "${OUT}")
execute_process(
  COMMAND "${BENCH}" --configs 4x4 --duration 2 --warmup 0.5 --json "${OUT}"
          --result-line --conninfo "${dsn}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 110)
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

# -- the JSON file ------------------------------------------------------------
string(JSON type ERROR_VARIABLE error TYPE "${json}")
if(error OR NOT type STREQUAL "ARRAY")
  message(FATAL_ERROR "${OUT} is not a JSON array: ${error}\n${json}")
endif()
string(JSON n LENGTH "${json}")
if(NOT n EQUAL 1)
  message(FATAL_ERROR "want 1 configuration in ${OUT}, got ${n}")
endif()
json_get(obj "${json}" 0)
foreach(f clients pool qps p50_us p99_us p999_us max_us mean_us acq_p50_us
          acq_p99_us raw_qps ratio allocs_per_query mallocs_per_query ops
          errors worker_ops_min worker_ops_max client_cpu_us_per_q seconds
          raw_p50_us raw_p99_us raw_allocs_per_query connect_qps)
  expect_number("${obj}" ${f})
endforeach()
foreach(f qps p50_us p99_us p999_us acq_p50_us acq_p99_us raw_qps ratio
          allocs_per_query ops worker_ops_min connect_qps)
  expect_positive("${obj}" ${f})
endforeach()
json_get(clients "${obj}" clients)
json_get(pool "${obj}" pool)
json_get(errors "${obj}" errors)
if(NOT clients EQUAL 4 OR NOT pool EQUAL 4 OR NOT errors EQUAL 0)
  message(FATAL_ERROR "want clients 4, pool 4, errors 0; got ${clients}, "
                      "${pool}, ${errors}")
endif()

# -- the RESULT lines ---------------------------------------------------------
set(want peer clients pool qps p50_us p99_us p999_us max_us mean_us acq_p50_us
    acq_p99_us ops errors worker_ops_min worker_ops_max client_cpu_us_per_q
    seconds query version)
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
  expect_positive("${doc}" qps)
  list(APPEND peers ${peer})
endforeach()
foreach(p libpool raw-libpq)
  if(NOT p IN_LIST peers)
    message(FATAL_ERROR "no RESULT line with peer ${p} (got: ${peers})")
  endif()
endforeach()
message(STATUS "bench.smoke: JSON and RESULT lines OK (peers: ${peers})")
