# Turns an SQL file into a C header holding it as one string literal, minus
# comment lines, so the schema has one source (sql/) and the code runs it as
# is. -DIN=file.sql -DOUT=header.h -DNAME=MACRO_NAME.
file(STRINGS ${IN} lines)
set(body "")
foreach(l IN LISTS lines)
  if(NOT l MATCHES "^[ \t]*--")
    string(REPLACE "\\" "\\\\" l "${l}")
    string(REPLACE "\"" "\\\"" l "${l}")
    string(REGEX REPLACE "--[^']*$" "" l "${l}")
    string(APPEND body "  \"${l} \" \\\n")
  endif()
endforeach()
string(REGEX REPLACE ";[ ]*\" \\\\\n$" "\"\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\n#define ${NAME} \\\n${body}\n")
