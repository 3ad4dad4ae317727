#!/bin/sh
# Turn OpenCL C sources into a C table {name, text}. Usage: embed-cl.sh OUT.c FILE.cl...
# Each file becomes a NUL-terminated byte array written by od, so kernels stay plain .cl files.
set -e
out=$1; shift
tmp="$out.tmp"
{
  echo "/* Generated from the cl/ folder by build-aux/embed-cl.sh; do not edit. */"
  echo "#include \"runtime/kernels.h\""
  for f in "$@"; do
    n=$(basename "$f" .cl)
    echo "static const char src_$n[] = {"
    od -v -A n -t o1 "$f" | sed -e 's/^ *//' -e 's/  */ /g' -e 's/ *$//' \
      -e '/^$/d' -e 's/\([0-7][0-7]*\)/0\1,/g'
    echo "0};"
  done
  echo "const kvq__cl_source kvq__cl_sources[] = {"
  for f in "$@"; do
    n=$(basename "$f" .cl)
    echo "  {\"$n\", src_$n, sizeof src_$n - 1},"
  done
  echo "  {0, 0, 0}"
  echo "};"
} > "$tmp"
mv "$tmp" "$out"
