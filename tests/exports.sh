#!/bin/sh
# exports.sh — the shared libkvq exports only kvq_* symbols (and exports them).
lib="${top_builddir:-.}/.libs/libkvq.so"
if [ ! -f "$lib" ] || ! command -v nm >/dev/null 2>&1; then
  echo "1..0 # SKIP no shared libkvq.so or no nm"
  exit 0
fi
echo "1..3"
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
other=$(echo "$syms" | grep -v '^kvq_' | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$' | grep -v '^$')
[ -z "$other" ] && echo "ok 1 - only kvq_* symbols exported" || { echo "not ok 1 - foreign exports"; echo "$other" | sed 's/^/# /'; }
echo "$syms" | grep -qx kvq_attention_run && echo "ok 2 - kvq_attention_run exported" || echo "not ok 2 - kvq_attention_run missing"
echo "$syms" | grep -q '^kvq_cli_\|^kvq_rt_\|^kvq_dev_\|^kvq_pool_' && echo "not ok 3 - internal helpers leaked" || echo "ok 3 - internal kvq_rt_/kvq_dev_/kvq_pool_/kvq_cli_ helpers hidden"
echo "# $(echo "$syms" | grep -c '^kvq_') kvq_* symbols"
