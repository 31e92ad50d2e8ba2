# cairn_binding_unavailable(<Language> <reason>): a binding that is ON cannot be built here.
# With CAIRN_REQUIRE_BINDINGS (what scripts/test.sh and scripts/demo.sh pass) that is a configure
# error, so a missing toolchain never turns into a silent pass; otherwise the binding is skipped with
# a status line, and its name is recorded for the summary (CAIRN_SKIPPED_BINDINGS).
# A macro, so that its return() leaves the calling CMakeLists.txt.
macro(cairn_binding_unavailable lang reason)
  if(CAIRN_REQUIRE_BINDINGS)
    message(FATAL_ERROR "${lang} binding: cannot be built: ${reason}. Install what is missing "
      "(scripts/setup.sh), or skip it on purpose: CAIRN_SKIP_BINDINGS=<name> for the scripts, "
      "-DCAIRN_BUILD_<LANG>=OFF for cmake.")
  endif()
  message(STATUS "${lang} binding: OFF (${reason})")
  set_property(GLOBAL APPEND PROPERTY CAIRN_SKIPPED_BINDINGS "${lang}")
  return()
endmacro()
