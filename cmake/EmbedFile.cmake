# Script mode: writes OUT, a C file holding the bytes of IN as `const char NAME[]` (NUL-terminated,
# so it is also a C string) and `const size_t NAME_len` (without the NUL).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR len "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
# One line per 32 bytes keeps the generated file readable by editors and diff tools.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" hex "${hex}")
set(body "/* Generated from ${IN} by cmake/EmbedFile.cmake. Do not edit. */\n#include <stddef.h>\n\n")
string(APPEND body "extern const char ${NAME}[];\nextern const size_t ${NAME}_len;\n")
string(APPEND body "const char ${NAME}[] = {\n${hex}0x00};\nconst size_t ${NAME}_len = ${len};\n")
file(WRITE "${OUT}.tmp" "${body}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
