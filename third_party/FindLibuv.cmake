# Finds libuv (Debian: libuv1-dev) through pkg-config; defines Libuv::uv.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
if(NOT TARGET Libuv::uv)
  add_library(Libuv::uv INTERFACE IMPORTED)
  set_target_properties(Libuv::uv PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::LIBUV)
endif()
set(Libuv_FOUND TRUE)
