# ctest dotnet.pack: `dotnet pack` the library (already built) and check the package holds the managed
# assembly and the native core under runtimes/<rid>/native/.
# Arguments: -DDOTNET= -DPROJECT= -DOUT= -DARTIFACTS= -DCONFIG= -DNATIVE_DIR=
file(REMOVE_RECURSE ${OUT})
execute_process(
  COMMAND ${DOTNET} pack ${PROJECT} --no-build --no-restore -c ${CONFIG} -o ${OUT}
          -p:UseArtifactsOutput=true -p:ArtifactsPath=${ARTIFACTS} -p:CairnNativeDir=${NATIVE_DIR} -nodeReuse:false
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dotnet pack failed (${rc})")
endif()
file(GLOB pkgs ${OUT}/Cairn.*.nupkg)
list(FILTER pkgs EXCLUDE REGEX "\\.snupkg$")
list(LENGTH pkgs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one Cairn .nupkg in ${OUT}, found: ${pkgs}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E tar tf ${pkgs} OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot list ${pkgs}")
endif()
message(STATUS "package contents:\n${listing}")
foreach(want "lib/net10.0/Cairn.dll" "lib/net10.0/Cairn.xml" "runtimes/linux-x64/native/libcairn.so" "README.md" "Cairn.nuspec")
  string(FIND "${listing}" "${want}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "${pkgs} lacks ${want}")
  endif()
endforeach()
# The packed native library is the one we built, not a stale copy.
set(x ${OUT}/extract)
file(MAKE_DIRECTORY ${x})
execute_process(COMMAND ${CMAKE_COMMAND} -E tar xf ${pkgs} WORKING_DIRECTORY ${x} RESULT_VARIABLE rc)
file(SHA256 ${x}/runtimes/linux-x64/native/libcairn.so packed)
file(SHA256 ${NATIVE_DIR}/libcairn.so built)
if(NOT packed STREQUAL built)
  message(FATAL_ERROR "the packed libcairn.so differs from the built one")
endif()
message(STATUS "dotnet.pack: ${pkgs} holds lib/net10.0/Cairn.dll and runtimes/linux-x64/native/libcairn.so")
