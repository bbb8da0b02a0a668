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

# Sanitizer builds (issue 18): -DENGRAM_SANITIZE=address,undefined for ASan+UBSan, or
# -DENGRAM_SANITIZE=thread for TSan (the job controller and GUI tests). Carried by the policy
# target, so every Engram library, program and test is instrumented alike; LibTorch and Qt
# themselves are not (tests/sanitizers/ holds the suppressions their uninstrumented code needs).
set(ENGRAM_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined | thread | empty for none")
if(ENGRAM_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "ENGRAM_SANITIZE needs GCC or Clang")
  endif()
  if(ENGRAM_SANITIZE MATCHES "thread" AND ENGRAM_SANITIZE MATCHES "address")
    message(FATAL_ERROR "ENGRAM_SANITIZE: thread and address cannot be combined")
  endif()
  set(engram_sanitize_flags -fsanitize=${ENGRAM_SANITIZE} -fno-omit-frame-pointer)
  if(ENGRAM_SANITIZE MATCHES "undefined")
    # A report is a failure, not a line in the log.
    list(APPEND engram_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(engram_policy INTERFACE ${engram_sanitize_flags})
  target_link_options(engram_policy INTERFACE -fsanitize=${ENGRAM_SANITIZE})
  message(STATUS "Engram: sanitizers ${ENGRAM_SANITIZE}")
endif()
