cmake_minimum_required(VERSION 3.16)
# Fails if the unit test binary (UNIT_TEST) has a suite that is not in
# SUITES (the list tests/unit/CMakeLists.txt registers with CTest), or if it
# lists no suite at all. Run with cmake -P.
execute_process(COMMAND "${UNIT_TEST}" -n -a
                OUTPUT_VARIABLE _out ERROR_VARIABLE _err
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${UNIT_TEST} -a failed (${_rc}): ${_out}${_err}")
endif()
# caf::test prints one "- <suite>" line per suite.
string(REGEX MATCHALL "(^|\n) *- *[A-Za-z0-9_]+" _lines "${_out}${_err}")
set(_found)
foreach(_line IN LISTS _lines)
  string(REGEX REPLACE "^\n? *- *" "" _suite "${_line}")
  list(APPEND _found "${_suite}")
endforeach()
list(LENGTH _found _n)
if(_n EQUAL 0)
  message(FATAL_ERROR "no suites listed by ${UNIT_TEST} -a:\n${_out}${_err}")
endif()
set(_missing)
foreach(_suite IN LISTS _found)
  if(NOT _suite IN_LIST SUITES)
    list(APPEND _missing "${_suite}")
  endif()
endforeach()
if(_missing)
  message(FATAL_ERROR "suites without a CTest entry (add them to "
                      "_pool_unit_suites in tests/unit/CMakeLists.txt): "
                      "${_missing}")
endif()
message(STATUS "${_n} suites, all registered: ${_found}")
