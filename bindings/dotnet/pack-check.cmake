# ctest dotnet.pack: `dotnet pack` the library (already built) and check the package holds the managed
# assembly and the native core under runtimes/<rid>/native/.
# Arguments: -DDOTNET= -DPROJECT= -DOUT= -DARTIFACTS= -DCONFIG= -DNATIVE_DIR= [-DCONSUMER=OFF]
file(REMOVE_RECURSE ${OUT})
execute_process(
  COMMAND ${DOTNET} pack ${PROJECT} --no-build --no-restore -c ${CONFIG} -o ${OUT}
          -p:UseArtifactsOutput=true -p:ArtifactsPath=${ARTIFACTS} -p:CairnNativeDir=${NATIVE_DIR}
          -p:UseSharedCompilation=false -nodeReuse:false
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

if(DEFINED CONSUMER AND NOT CONSUMER)
  message(STATUS "dotnet.pack: consumer check skipped (sanitizer build)")
  return()
endif()

# A consumer that knows only the package (no CAIRN_NATIVE_DIR, no project reference) restores it from
# the output folder (its dependency, Apache.Arrow, from nuget.org) into a private packages folder (never
# a stale global cache), builds and runs.
set(c ${OUT}/consumer)
file(MAKE_DIRECTORY ${c})
file(WRITE ${c}/nuget.config "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<configuration><packageSources><clear /><add key=\"local\" value=\"${OUT}\" />
  <add key=\"nuget.org\" value=\"https://api.nuget.org/v3/index.json\" /></packageSources></configuration>
")
file(WRITE ${c}/Consumer.csproj "<Project Sdk=\"Microsoft.NET.Sdk\">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings><InvariantGlobalization>true</InvariantGlobalization>
    <RestorePackagesPath>${OUT}/packages</RestorePackagesPath></PropertyGroup>
  <ItemGroup><PackageReference Include=\"Cairn\" Version=\"0.1.0\" /></ItemGroup>
</Project>
")
file(WRITE ${c}/Program.cs "using Cairn;
string dir = Path.Combine(Path.GetTempPath(), \"cairn-pack-consumer-\" + Environment.ProcessId);
using (KvStore db = KvStore.Open(dir).ThrowIfFailed())
{
    db.Put(\"k\", \"from the package\").ThrowIfFailed();
    Console.WriteLine(\"consumer: \" + db.GetString(\"k\").Result + \" core \" + CairnLibrary.Version);
    Console.WriteLine(\"native: \" + (CairnLibrary.NativePath ?? \"runtime probing\"));
}
Directory.Delete(dir, true);
")
execute_process(
  COMMAND ${DOTNET} build ${c}/Consumer.csproj -c Release -o ${c}/out -p:UseSharedCompilation=false -nodeReuse:false
  WORKING_DIRECTORY ${c}
  OUTPUT_VARIABLE build_out ERROR_VARIABLE build_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer of the package does not build (${rc}):\n${build_out}\n${build_err}")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env --unset=CAIRN_NATIVE_DIR ${DOTNET} ${c}/out/Consumer.dll
  WORKING_DIRECTORY ${c}
  OUTPUT_VARIABLE run_out ERROR_VARIABLE run_err RESULT_VARIABLE rc)
message(STATUS "${run_out}")
if(NOT rc EQUAL 0 OR NOT run_out MATCHES "consumer: from the package core [0-9]")
  message(FATAL_ERROR "the package does not work in a consumer (${rc}):\n${run_out}\n${run_err}")
endif()
message(STATUS "dotnet.pack: a consumer of the package loads the native core and round-trips a value")
