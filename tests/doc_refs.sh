#!/bin/sh
# doc_refs.sh — every "doc/<file>.md §N" the code, README and man page cite
# names a heading that exists in doc/ (tools/check_refs.sh does the work).
src=${top_srcdir:-.}
echo "1..1"
out=$(sh "$src/tools/check_refs.sh" "$src" 2>&1); rc=$?
if [ $rc = 0 ]; then
  echo "ok 1 - $(echo "$out" | tail -n 1)"
else
  echo "not ok 1 - dangling doc citations"
  echo "$out" | sed 's/^/# /'
fi
