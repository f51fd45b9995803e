# dbforkPkgConfig.cmake — writes ${CMAKE_CURRENT_BINARY_DIR}/dbfork.pc from
# cmake/dbfork.pc.in, and dbfork-load.pc (the loader layer) from
# cmake/dbfork-load.pc.in, and dbfork-exec.pc (exec) from cmake/dbfork-exec.pc.in. Included by the top-level CMakeLists.txt.
#
# The file locates its prefix relative to itself (${pcfiledir}), so it stays
# right when the install prefix is changed at install time
# (`cmake --install build --prefix /somewhere`). An absolute LIBDIR or
# INCLUDEDIR falls back to absolute paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(DBFORK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(DBFORK_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(DBFORK_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _dbfork_up "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
  string(REGEX REPLACE "/$" "" _dbfork_up "${_dbfork_up}")
  set(DBFORK_PC_PREFIX "\${pcfiledir}/${_dbfork_up}")
  set(DBFORK_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(DBFORK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/dbfork.pc.in ${CMAKE_CURRENT_BINARY_DIR}/dbfork.pc @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/dbfork-load.pc.in ${CMAKE_CURRENT_BINARY_DIR}/dbfork-load.pc @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/dbfork-exec.pc.in ${CMAKE_CURRENT_BINARY_DIR}/dbfork-exec.pc @ONLY)
