# Helpers that keep each folder's CMakeLists.txt to a few lines.
include(CheckCCompilerFlag)

# ThreadSanitizer (`./outdial test --tsan`, build dir build-tsan). It cannot be combined with
# AddressSanitizer, so it replaces OUTDIAL_SANITIZE rather than adding to it.
option(OUTDIAL_TSAN "Build everything with ThreadSanitizer" OFF)

# Warnings are errors everywhere; each extra flag is checked before use.
function(outdial_setup_flags)
  set(flags -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
            -Wformat=2 -Wno-unused-parameter -Wvla -Wpointer-arith -Wundef)
  foreach(flag IN LISTS flags)
    string(MAKE_C_IDENTIFIER "HAVE${flag}" var)
    check_c_compiler_flag(${flag} ${var})
    if(${var})
      add_compile_options(${flag})
    endif()
  endforeach()
  if(OUTDIAL_SANITIZE AND OUTDIAL_TSAN)
    message(FATAL_ERROR "OUTDIAL_SANITIZE (ASan/UBSan) and OUTDIAL_TSAN cannot be combined: "
                        "build them in separate directories (build-asan, build-tsan)")
  endif()
  if(OUTDIAL_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
  endif()
  if(OUTDIAL_TSAN)
    # -O1: TSan's own advice (plain -O0 is several times slower under it).
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -O1 -g)
    add_link_options(-fsanitize=thread)
  endif()
endfunction()

# outdial_embed_migrations(<target> <dir> <name>): compiles every <dir>/NNN_*.sql into the target
# as `const struct migration <name>_migrations[]`, so a binary carries its own schema history
# and deploys need no loose files.
function(outdial_embed_migrations target dir cname)
  file(GLOB sql_files CONFIGURE_DEPENDS "${dir}/*.sql")
  list(SORT sql_files)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${cname}_migrations.c")
  # A CMake list is ';'-separated, which a shell would split into commands: pass it '|'-joined.
  string(REPLACE ";" "|" files_arg "${sql_files}")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${cname} "-DFILES=${files_arg}"
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake"
    DEPENDS ${sql_files} "${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake"
    COMMENT "Embedding migrations for ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()

# outdial_test(<name> SOURCES ... LIBS ... [TIMEOUT s] [LABELS ...]): one Check test binary.
function(outdial_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CHECK)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    ENVIRONMENT "CK_DEFAULT_TIMEOUT=${T_TIMEOUT};OUTDIAL_SOURCE_DIR=${PROJECT_SOURCE_DIR};OUTDIAL_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()
