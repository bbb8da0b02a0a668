# One INTERFACE target carries the compile policy; every Engram target links it.
# Nothing here touches global CMAKE_CXX_FLAGS.
add_library(engram_policy INTERFACE)
add_library(Engram::policy ALIAS engram_policy)

target_compile_features(engram_policy INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_options(engram_policy INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers>
)

# Strict Qt: no keyword macros (torch headers use `slots`), no implicit string casts.
target_compile_definitions(engram_policy INTERFACE
  QT_NO_KEYWORDS
  QT_NO_CAST_FROM_ASCII
  QT_NO_CAST_TO_ASCII
  QT_NO_CAST_FROM_BYTEARRAY
  QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
  QT_NO_URL_CAST_FROM_STRING
  QT_STRICT_ITERATORS
  QT_NO_FOREACH
  ENGRAM_VERSION="${PROJECT_VERSION}"
)
target_include_directories(engram_policy INTERFACE "${PROJECT_SOURCE_DIR}")
