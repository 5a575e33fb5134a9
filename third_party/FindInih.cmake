# Finds inih (Debian: libinih-dev) through pkg-config; defines Inih::inih.
find_package(PkgConfig REQUIRED)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
if(NOT TARGET Inih::inih)
  add_library(Inih::inih INTERFACE IMPORTED)
  set_target_properties(Inih::inih PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::INIH)
endif()
set(Inih_FOUND TRUE)
