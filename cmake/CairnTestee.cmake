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
