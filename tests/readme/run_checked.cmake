# Runs a program and passes only if it exits with 0 AND its output shows what
# is expected. (CTest's PASS_REGULAR_EXPRESSION alone ignores the exit code:
# a crash, an abort or a sanitizer report after the expected output would
# pass.)
#
#   cmake -DPROGRAM=<path> [-DARGS=<a;b;...>]
#         [-DEXPECT_LINE=<text>] [-DEXPECT_REGEX=<regex>]
#         [-DENV_FROM=<NAME>=<OTHER>]   # NAME gets the value of $OTHER
#         -P run_checked.cmake
#
# EXPECT_LINE: one line of stdout must be exactly <text>. EXPECT_REGEX:
# stdout must match <regex>. Output naming a sanitizer report fails too.
cmake_minimum_required(VERSION 3.16)
if(NOT DEFINED PROGRAM)
  message(FATAL_ERROR "run_checked.cmake: PROGRAM is not set")
endif()
if(NOT DEFINED EXPECT_LINE AND NOT DEFINED EXPECT_REGEX)
  message(FATAL_ERROR "run_checked.cmake: set EXPECT_LINE or EXPECT_REGEX")
endif()
if(DEFINED ENV_FROM)
  string(REGEX MATCH "^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z_][A-Za-z0-9_]*)$"
         _m "${ENV_FROM}")
  if(NOT _m)
    message(FATAL_ERROR "run_checked.cmake: ENV_FROM must be NAME=OTHER")
  endif()
  set(ENV{${CMAKE_MATCH_1}} "$ENV{${CMAKE_MATCH_2}}")
endif()
execute_process(COMMAND ${PROGRAM} ${ARGS}
                RESULT_VARIABLE rc
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message("---- stdout of ${PROGRAM}:\n${out}---- stderr:\n${err}----")
set(_failures "")
if(NOT rc STREQUAL "0")
  list(APPEND _failures "exit status '${rc}', expected 0")
endif()
if(DEFINED EXPECT_LINE)
  string(REPLACE "\r" "" _text "${out}")
  string(REPLACE ";" "\\;" _text "${_text}")
  string(REPLACE "\n" ";" _lines "${_text}")
  list(FIND _lines "${EXPECT_LINE}" _at)
  if(_at EQUAL -1)
    list(APPEND _failures "no line of stdout is exactly '${EXPECT_LINE}'")
  endif()
endif()
if(DEFINED EXPECT_REGEX AND NOT out MATCHES "${EXPECT_REGEX}")
  list(APPEND _failures "stdout does not match '${EXPECT_REGEX}'")
endif()
foreach(_marker "AddressSanitizer" "LeakSanitizer" "ThreadSanitizer"
                "runtime error:")
  string(FIND "${out}${err}" "${_marker}" _pos)
  if(NOT _pos EQUAL -1)
    list(APPEND _failures "the output contains a '${_marker}' report")
  endif()
endforeach()
if(_failures)
  string(REPLACE ";" "; " _text "${_failures}")
  message(FATAL_ERROR "FAILED: ${_text}")
endif()
message("passed: exit status 0 and the expected output")
