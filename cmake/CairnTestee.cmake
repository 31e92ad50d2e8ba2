# cairn_register_testee(NAME <name> COMMAND <argv...> [ENV <VAR=value>...] [DEPENDS <targets...>])
#
# A binding registers its conformance testee here; tests/conformance/CMakeLists.txt turns every
# registration into testees.json for the driver and into a ctest test `conformance.<name>`, and
# runs the cross-language matrix over all of them.
function(cairn_register_testee)
  cmake_parse_arguments(T "" "NAME" "COMMAND;ENV;DEPENDS" ${ARGN})
  set_property(GLOBAL APPEND PROPERTY CAIRN_TESTEES ${T_NAME})
  set_property(GLOBAL PROPERTY CAIRN_TESTEE_COMMAND_${T_NAME} "${T_COMMAND}")
  set_property(GLOBAL PROPERTY CAIRN_TESTEE_ENV_${T_NAME} "${T_ENV}")
  set_property(GLOBAL PROPERTY CAIRN_TESTEE_DEPENDS_${T_NAME} "${T_DEPENDS}")
endfunction()

# CAIRN_ASAN_PRELOAD: under CAIRN_SANITIZE, the "LD_PRELOAD=<libasan>" entry a test needs when an
# uninstrumented interpreter (python3, lua5.4, node, dotnet) loads the instrumented core: the ASan
# runtime must come first in the library list. Empty otherwise. Leak checks stay off in those
# tests (the interpreters' own allocations at exit are not ours): add ASAN_OPTIONS=detect_leaks=0.
set(CAIRN_ASAN_PRELOAD "")
if(CAIRN_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _cairn_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(CAIRN_ASAN_PRELOAD "LD_PRELOAD=${_cairn_asan}")
endif()
