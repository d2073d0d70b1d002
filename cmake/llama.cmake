# The embedded llama.cpp: the source scripts/fetch-llama.sh cloned from the pinned npm
# package node-llama-cpp. ggml, llama and llama-common are built as static libraries inside
# this build tree; llama-server, llama-bench and llama-finetune (test and benchmark peers) only through the
# `llama_peers` target, so the default build stays lean.
set(A4PS_LLAMA_DIR "${PROJECT_SOURCE_DIR}/third_party/llama.cpp")
if(NOT EXISTS "${A4PS_LLAMA_DIR}/.a4ps-pinned-commit")
  message(FATAL_ERROR "third_party/llama.cpp is missing: run scripts/fetch-llama.sh first "
                      "(the README's two commands do it for you)")
endif()

set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
# No network at build time: no prebuilt web UI download, no HTTPS client.
set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
set(GGML_CUDA ${A4PS_CUDA} CACHE BOOL "" FORCE)

# SYSTEM: llama.cpp's headers do not fall under our -Werror.
add_subdirectory("${A4PS_LLAMA_DIR}" "${CMAKE_BINARY_DIR}/llama.cpp" EXCLUDE_FROM_ALL SYSTEM)

# llama.cpp's own full-F32 trainer, the reference of bench/trainer.sh.
add_subdirectory("${A4PS_LLAMA_DIR}/examples/training" "${CMAKE_BINARY_DIR}/llama-finetune"
                 EXCLUDE_FROM_ALL SYSTEM)
set_target_properties(llama-finetune PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/bin")

add_custom_target(llama_peers DEPENDS llama-server llama-bench llama-finetune)
