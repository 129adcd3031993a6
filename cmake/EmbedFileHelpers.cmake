# outdial_embed_file(<target> <file> <cname>): compiles <file> into the target as
# `const char <cname>[]` and `const size_t <cname>_len`, so a binary serves it without loose
# files (cmake/EmbedFile.cmake does the conversion; rebuilt when the file changes).
function(outdial_embed_file target file cname)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${cname}_embedded.c")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DNAME=${cname}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    DEPENDS "${file}" "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    COMMENT "Embedding ${file} as ${cname}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()
