# Finds c-ares (Debian 12: libc-ares-dev 1.18.1) for the resolver (proxy/dns.c).
# By default through pkg-config (libcares); point at your own build with
# -DCARES_ROOT=/path/to/c-ares (expects include/ares.h and lib/libcares.*).
#
# Defines the imported target Cares::cares. proxy/dns.c relies on c-ares
# >= 1.16 (ares_set_servers_ports, ARES_OPT_EDNSPSZ, ARES_FLAG_NOCHECKRESP);
# it was written against 1.18.1, where ares_send keeps the query id it is
# given (dns.c checks the answer against it).

set(CARES_ROOT "" CACHE PATH "Root of a c-ares build to use instead of the system's")

if(CARES_ROOT)
  find_path(CARES_INCLUDE_DIR ares.h HINTS "${CARES_ROOT}/include" NO_DEFAULT_PATH)
  find_library(CARES_LIBRARY NAMES cares HINTS "${CARES_ROOT}/lib" "${CARES_ROOT}/build/lib"
    NO_DEFAULT_PATH)
else()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_CARES QUIET libcares>=1.16)
  endif()
  find_path(CARES_INCLUDE_DIR ares.h HINTS ${PC_CARES_INCLUDE_DIRS})
  find_library(CARES_LIBRARY NAMES cares HINTS ${PC_CARES_LIBRARY_DIRS})
endif()

if(CARES_INCLUDE_DIR AND EXISTS "${CARES_INCLUDE_DIR}/ares_version.h")
  file(STRINGS "${CARES_INCLUDE_DIR}/ares_version.h" _cares_ver
       REGEX "^#define ARES_VERSION_STR \"[0-9.]+\"")
  string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" CARES_VERSION "${_cares_ver}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Cares
  REQUIRED_VARS CARES_LIBRARY CARES_INCLUDE_DIR CARES_VERSION
  VERSION_VAR CARES_VERSION)

if(Cares_FOUND AND NOT TARGET Cares::cares)
  add_library(Cares::cares UNKNOWN IMPORTED)
  set_target_properties(Cares::cares PROPERTIES
    IMPORTED_LOCATION "${CARES_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CARES_INCLUDE_DIR}")
endif()
