# Locates third-party packages. Core needs Torch, SQLite3, zlib, nlohmann_json, utf8proc and PCRE2.
# The UI (optional, so engram-cli builds on a Qt-less GPU server) needs Qt 6 and QCustomPlot.
#
# On machines without Debian's -dev packages (a GPU server with only LibTorch), point
# ENGRAM_DEPS_PREFIX at a folder holding include/ and lib/ for the C libraries.
set(ENGRAM_DEPS_PREFIX "" CACHE PATH "Extra prefix searched for utf8proc, PCRE2, SQLite3 and nlohmann_json")
if(ENGRAM_DEPS_PREFIX)
  list(PREPEND CMAKE_PREFIX_PATH "${ENGRAM_DEPS_PREFIX}")
endif()

find_package(Torch REQUIRED)
# LibTorch 1.13 (Debian, CPU) and 2.x (official archives, Python's torch; CUDA) are supported.
if(DEFINED Torch_VERSION AND Torch_VERSION VERSION_LESS 1.13)
  message(FATAL_ERROR "LibTorch ${Torch_VERSION} in ${Torch_DIR} is too old: Engram needs 1.13 or 2.x")
endif()
# A LibTorch built with the pre-C++11 string ABI cannot share std::string with Qt and the other
# system C++ libraries: only the Qt-free parts (core, engram-cli, bench, tools) can use it.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0" AND (ENGRAM_BUILD_UI OR ENGRAM_BUILD_TESTS))
  message(FATAL_ERROR "The LibTorch in ${Torch_DIR} uses the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0), which "
                      "cannot link with Qt 6. Download the 'cxx11 ABI' LibTorch archive, or build only engram-cli with "
                      "-DENGRAM_BUILD_UI=OFF -DENGRAM_BUILD_TESTS=OFF.")
endif()
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")
find_package(SQLite3 REQUIRED)
find_package(ZLIB REQUIRED) # .npz statistics files (deflate)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
  find_path(ENGRAM_NLOHMANN_INCLUDE nlohmann/json.hpp REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  target_include_directories(nlohmann_json::nlohmann_json INTERFACE "${ENGRAM_NLOHMANN_INCLUDE}")
endif()

# engram_find_c_library(<target> <header> <library names...>): pkg-config first, then a plain search.
function(engram_find_c_library target module header)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(ENGRAM_PC_${target} QUIET IMPORTED_TARGET ${module})
    if(ENGRAM_PC_${target}_FOUND)
      add_library(${target} ALIAS PkgConfig::ENGRAM_PC_${target})
      return()
    endif()
  endif()
  find_path(${target}_INCLUDE ${header})
  find_library(${target}_LIBRARY NAMES ${ARGN})
  if(NOT ${target}_INCLUDE OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "${module} not found (header ${header}); install it (scripts/setup-deps.sh) "
                        "or set ENGRAM_DEPS_PREFIX")
  endif()
  add_library(${target} UNKNOWN IMPORTED)
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${${target}_LIBRARY}"
                                             INTERFACE_INCLUDE_DIRECTORIES "${${target}_INCLUDE}")
endfunction()
engram_find_c_library(engram_pcre2 libpcre2-8 pcre2.h pcre2-8)
engram_find_c_library(engram_utf8proc libutf8proc utf8proc.h utf8proc)

if(ENGRAM_BUILD_UI OR ENGRAM_BUILD_TESTS)
  find_package(Qt6 6.2 COMPONENTS Core Gui Widgets Test PrintSupport Concurrent)
  if(NOT Qt6_FOUND)
    message(STATUS "Qt 6 not found: building only engram_core, engram-cli and the tools")
    set(ENGRAM_BUILD_UI OFF)
    set(ENGRAM_BUILD_TESTS OFF)
  endif()
endif()
if(ENGRAM_BUILD_UI)
  find_package(QCustomPlotQt6 REQUIRED)
  find_package(Qt6 6.2 REQUIRED COMPONENTS Svg) # SVG export of plots (qt6-svg-dev)
endif()
