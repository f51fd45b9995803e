# check_layers.cmake — the layers (src/job, src/load, and later src/exec ...)
# and the command-line tool (src/cli) use only the public API: include/*.h
# and include/dbfork/*.h, the MySQL client library, libuv, the C library,
# and headers of their own directory (a layer also the job core's job.h).
# Any include of the core's private headers (src/*.h) fails the build.
#   cmake -DROOT=<source dir> -DOUT=<stamp file> -P check_layers.cmake
cmake_policy(SET CMP0057 NEW) # IN_LIST
file(GLOB _core_private RELATIVE ${ROOT}/src ${ROOT}/src/*.h)
set(_bad "")
foreach(_dir job load exec cli)
  file(GLOB _files ${ROOT}/src/${_dir}/*.c ${ROOT}/src/${_dir}/*.h)
  foreach(_f ${_files})
    file(STRINGS ${_f} _incs REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
    foreach(_i ${_incs})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<]([^\">]+)[\">].*" "\\1" _h "${_i}")
      get_filename_component(_base ${_h} NAME)
      if(_h MATCHES "\\.\\." OR _h MATCHES "^src/")
        list(APPEND _bad "${_f}: ${_i} (a path out of the layer)")
      elseif(_base IN_LIST _core_private AND NOT EXISTS ${ROOT}/src/${_dir}/${_h})
        list(APPEND _bad "${_f}: ${_i} (the core's private ${_base})")
      endif()
      if(_dir STREQUAL "cli" AND _h STREQUAL "job.h")
        list(APPEND _bad "${_f}: ${_i} (the CLI uses the public API only)")
      endif()
    endforeach()
  endforeach()
endforeach()
if(_bad)
  string(REPLACE ";" "\n  " _msg "${_bad}")
  message(FATAL_ERROR "check_layers: a layer or the CLI reaches into the core's private headers:\n  ${_msg}")
endif()
file(WRITE ${OUT} "ok\n")
