# Finds BoringSSL. By default Debian's android-libboringssl-dev:
#   headers   /usr/include/android
#   libraries /usr/lib/x86_64-linux-gnu/android (libssl.so.0, libcrypto.so.0)
# Point at your own BoringSSL build with -DBORINGSSL_ROOT=/path/to/boringssl
# (expects include/openssl/ssl.h and libssl/libcrypto in ROOT/build or ROOT/lib).
#
# Defines the imported targets BoringSSL::SSL and BoringSSL::Crypto.
# OpenSSL's libssl/libcrypto must never be linked beside these: the symbols
# collide. The test "no_openssl_linked" checks the built binary.

set(BORINGSSL_ROOT "" CACHE PATH "Root of a BoringSSL build to use instead of Debian's")

if(BORINGSSL_ROOT)
  set(_bssl_inc_hints "${BORINGSSL_ROOT}/include")
  set(_bssl_lib_hints "${BORINGSSL_ROOT}/build" "${BORINGSSL_ROOT}/build/ssl"
      "${BORINGSSL_ROOT}/build/crypto" "${BORINGSSL_ROOT}/lib")
  set(_bssl_opts NO_DEFAULT_PATH)
else()
  set(_bssl_inc_hints /usr/include/android)
  set(_bssl_lib_hints /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android
      /usr/lib/x86_64-linux-gnu/android)
  set(_bssl_opts NO_DEFAULT_PATH)
endif()

find_path(BORINGSSL_INCLUDE_DIR openssl/base.h HINTS ${_bssl_inc_hints} ${_bssl_opts})
# Debian ships only the versioned shared objects (libssl.so.0) beside the
# .so links; accept either.
find_library(BORINGSSL_SSL_LIBRARY NAMES ssl libssl.so.0 HINTS ${_bssl_lib_hints} ${_bssl_opts})
find_library(BORINGSSL_CRYPTO_LIBRARY NAMES crypto libcrypto.so.0 HINTS ${_bssl_lib_hints} ${_bssl_opts})

if(BORINGSSL_INCLUDE_DIR AND EXISTS "${BORINGSSL_INCLUDE_DIR}/openssl/base.h")
  file(STRINGS "${BORINGSSL_INCLUDE_DIR}/openssl/base.h" _bssl_api
       REGEX "^#define BORINGSSL_API_VERSION [0-9]+")
  string(REGEX REPLACE ".* ([0-9]+)$" "\\1" BORINGSSL_API_VERSION "${_bssl_api}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BORINGSSL_SSL_LIBRARY BORINGSSL_CRYPTO_LIBRARY BORINGSSL_INCLUDE_DIR BORINGSSL_API_VERSION)

if(BoringSSL_FOUND AND NOT TARGET BoringSSL::Crypto)
  add_library(BoringSSL::Crypto UNKNOWN IMPORTED)
  set_target_properties(BoringSSL::Crypto PROPERTIES
    IMPORTED_LOCATION "${BORINGSSL_CRYPTO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}")
  add_library(BoringSSL::SSL UNKNOWN IMPORTED)
  set_target_properties(BoringSSL::SSL PROPERTIES
    IMPORTED_LOCATION "${BORINGSSL_SSL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES BoringSSL::Crypto)
  get_filename_component(BORINGSSL_LIBRARY_DIR "${BORINGSSL_SSL_LIBRARY}" DIRECTORY)
endif()
