#!/bin/sh
# bench_numpy_smoke.sh — bench/mainjob_numpy.py, the numpy + OpenBLAS peer of the main job
# that `make bench` runs: it compiles under any python3, and where a python3 that imports
# numpy exists (python3, else /usr/bin/python3), a --quick --no-kvq --json run reports a
# positive time per scheme-trial for all nineteen metrics (an exact metric list check: it
# fails if the script drops one). No speed assertions; the kvq side is not run here.
name=bench_numpy_smoke
. "${top_srcdir:-.}/tests/common.sh"
script="${top_srcdir:-.}/bench/mainjob_numpy.py"
echo "1..2"
py=""
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null 2>&1 || continue
  [ -n "$py" ] || py0=$p
  if "$p" -c 'import numpy' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "${py0:-$py}" ]; then skip "no python3"; skip "no python3"; exit 0; fi
"${py:-$py0}" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$script" \
  2>"$tmp/e"; rc=$?
sed 's/^/# /' "$tmp/e"
t $rc "mainjob_numpy.py compiles"
if [ -z "$py" ]; then skip "no python3 with numpy"; exit 0; fi
PYTHONDONTWRITEBYTECODE=1 "$py" "$script" --kvq "$kvq" --quick --no-kvq --json >"$tmp/o" 2>"$tmp/e"; rc=$?
sed 's/^/# stderr: /' "$tmp/e" | head -5
[ $rc = 0 ] && "$py" - "$tmp/o" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["numpy"]["s_per_scheme_trial"] > 0, d
assert d["numpy"]["metrics_per_scheme"] == 19, d
assert d["shape"] == {"keys": 1024, "queries": 64, "dim": 128, "topk": 8}, d
print("# numpy: %.1f ms per scheme-trial, BLAS %s" % (1e3 * d["numpy"]["s_per_scheme_trial"],
                                                     d["numpy"]["blas"]))
PY
t $? "a --quick --no-kvq run reports a positive time per scheme-trial over 19 metrics"
