# Flags for the project's own targets: warnings as errors, and an optional sanitizer variant.
set(A4PS_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                  -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
                  -Wdouble-promotion -Wformat=2 -Werror
                  # GCC 12 reports std::string concatenation at -O3 as overlapping memcpy
                  # (GCC bug 105329), a false positive in libstdc++ itself.
                  -Wno-restrict
                  # GCC 12 warns on C++20 designated initializers that leave members at their
                  # defaults, which is the point of them.
                  -Wno-missing-field-initializers)
set(A4PS_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)

# a4ps_project_target(TARGET [SANITIZED]) applies the project's warning policy and, with
# SANITIZED, compiles and links TARGET under ASan + UBSan.
function(a4ps_project_target target)
  cmake_parse_arguments(ARG "SANITIZED" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE ${A4PS_WARNINGS})
  # cpp-httplib listens with a backlog of 5, which drops connections when a hundred SSE clients
  # arrive at once; every target of ours sees the same value, so its inline code agrees.
  target_compile_definitions(${target} PRIVATE CPPHTTPLIB_LISTEN_BACKLOG=512)
  if(ARG_SANITIZED)
    # Sanitizer instrumentation makes GCC 12 report libstdc++'s own std::regex and
    # std::function internals as maybe-uninitialized; the plain build keeps the warning.
    target_compile_options(${target} PRIVATE ${A4PS_SANITIZE_FLAGS} -Wno-maybe-uninitialized)
    target_link_options(${target} PRIVATE ${A4PS_SANITIZE_FLAGS})
  endif()
endfunction()
