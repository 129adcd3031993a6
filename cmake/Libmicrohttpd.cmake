# libmicrohttpd 0.9.75, Debian 12's version (the same source and Debian's one patch), built
# static with one patch of ours: third_party/libmicrohttpd/README.md says why. Defines the
# imported target outdial_mhd.
#
# The tarball comes from Debian's archive, pinned by its SHA-256 (the checksum of Debian's
# signed libmicrohttpd_0.9.75-6.dsc), into var/downloads/ so that every build tree of one
# checkout downloads it once. OUTDIAL_MHD_TARBALL may name a local copy instead (offline).
include(ExternalProject)

set(OUTDIAL_MHD_URL
    "http://deb.debian.org/debian/pool/main/libm/libmicrohttpd/libmicrohttpd_0.9.75.orig.tar.xz"
    CACHE STRING "Where the libmicrohttpd 0.9.75 source tarball comes from")
if(DEFINED ENV{OUTDIAL_MHD_TARBALL})
  set(OUTDIAL_MHD_URL "$ENV{OUTDIAL_MHD_TARBALL}")
endif()
set(mhd_patches "${PROJECT_SOURCE_DIR}/third_party/libmicrohttpd")
set(mhd_prefix "${CMAKE_BINARY_DIR}/third_party/libmicrohttpd")

ExternalProject_Add(libmicrohttpd_build
  PREFIX "${mhd_prefix}"
  URL "${OUTDIAL_MHD_URL}"
  URL_HASH SHA256=796e7e217a4802679fcac667a4e98501c53185dcf50ca0583870e84192620131
  DOWNLOAD_DIR "${PROJECT_SOURCE_DIR}/var/downloads"
  DOWNLOAD_EXTRACT_TIMESTAMP TRUE # keep the tarball's times: make must not rerun autotools
  PATCH_COMMAND patch -p1 -s -i "${mhd_patches}/debian-0001-PostProcessor-DoS.patch"
        COMMAND patch -p1 -s -i "${mhd_patches}/0001-json-error-bodies.patch"
  # Not our flags (no sanitizers, no -Werror on its code): it is a dependency, built as
  # Debian builds it, less TLS (the gateway sits behind a TLS-terminating ingress).
  CONFIGURE_COMMAND <SOURCE_DIR>/configure --prefix=<INSTALL_DIR> --disable-shared
        --enable-static --with-pic --disable-https --disable-doc --disable-examples
        --disable-curl --disable-nls --disable-dependency-tracking --quiet
        "CC=${CMAKE_C_COMPILER}"
  BUILD_COMMAND make -s -C src/microhttpd
  INSTALL_COMMAND make -s -C src/microhttpd install COMMAND make -s -C src/include install
  BUILD_BYPRODUCTS "${mhd_prefix}/lib/libmicrohttpd.a"
  LOG_CONFIGURE TRUE LOG_BUILD TRUE LOG_INSTALL TRUE LOG_OUTPUT_ON_FAILURE TRUE)

# A changed patch re-extracts the pristine source (the download step extracts), so patches
# always apply to the tarball as shipped, never on top of an older patch.
ExternalProject_Add_StepDependencies(libmicrohttpd_build download
  "${mhd_patches}/debian-0001-PostProcessor-DoS.patch"
  "${mhd_patches}/0001-json-error-bodies.patch")

# The include directory must exist when the target is defined; it is filled at build time.
file(MAKE_DIRECTORY "${mhd_prefix}/include")
find_package(Threads REQUIRED)
add_library(outdial_mhd STATIC IMPORTED GLOBAL)
set_target_properties(outdial_mhd PROPERTIES
  IMPORTED_LOCATION "${mhd_prefix}/lib/libmicrohttpd.a"
  INTERFACE_INCLUDE_DIRECTORIES "${mhd_prefix}/include"
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_dependencies(outdial_mhd libmicrohttpd_build)
