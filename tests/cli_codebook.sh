#!/bin/sh
# cli_codebook.sh — `kvq codebook`: doc/conformance.md §6.2 JSON, the table, and usage errors (exit 2, one line).
kvq="${top_builddir:-.}/kvq"
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "1..13"
err=err.codebook.$$

json=$("$kvq" codebook --dim 128 --bits 4 --json); rc=$?
t $rc "--dim 128 --bits 4 --json exits 0"
echo "# $json" | cut -c1-160
if command -v python3 >/dev/null 2>&1; then
  # D_4(128) = 0.0093148 (about 0.0093); the Gaussian limit 0.009497 is reached only as d grows.
  echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted(d) == ["bits", "centroids", "dim", "distortion", "thresholds"], d.keys()
assert d["dim"] == 128 and d["bits"] == 4
c, th = d["centroids"], d["thresholds"]
assert len(c) == 16 and len(th) == 15
assert all(a < b for a, b in zip(c, c[1:]))
assert all(abs(t - (a + b) / 2) < 1e-15 for t, a, b in zip(th, c, c[1:]))
assert all(abs(a + b) < 1e-15 for a, b in zip(c, reversed(c)))
assert abs(d["distortion"] - 0.0093148) < 1e-6, d["distortion"]
assert 2.68 < c[-1] * 128 ** 0.5 < 2.70          # not scaled by sqrt(d): about 0.2377
'
  t $? "JSON: 16 ascending symmetric centroids, 15 midpoints, distortion 0.0093148"
else
  echo "$json" | grep -q '^{"dim":128,"bits":4,"centroids":\[' &&
    [ "$(echo "$json" | sed 's/.*"centroids":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | wc -l)" -eq 16 ] &&
    echo "$json" | grep -q '"distortion":0\.00931'
  t $? "JSON: 16 centroids, distortion 0.00931 (grep)"
fi
[ "$(echo "$json" | wc -l)" -eq 1 ]; t $? "JSON is one line on stdout"

out=$("$kvq" codebook --dim=16 --bits=1); rc=$?
t $rc "--dim=16 --bits=1 (table) exits 0"
# b = 1, d = 16: centroid Γ(8)/(sqrt(π) Γ(8.5)) = 0.2026102..., times sqrt(16) = 0.810441
echo "$out" | grep -q '0\.810441' && echo "$out" | grep -q 'D_b(d)'
t $? "table shows centroid*sqrt(d) = 0.810441 and D_b(d)"

"$kvq" codebook --help >/dev/null; t $? "--help exits 0"

usage() {   # usage ARGS... : exit 2, exactly one stderr line starting with "kvq: ", no stdout
  "$kvq" codebook "$@" >out.$$ 2>$err; rc=$?
  [ $rc = 2 ] && [ "$(wc -l < $err)" = 1 ] && grep -q '^kvq: ' $err && [ ! -s out.$$ ]
}
usage --dim 15 --bits 4 && grep -q -- '--dim' $err; t $? "--dim 15: out of range"
"$kvq" codebook --dim 96 --bits 4 | grep -q '= 0.009253.* (MSE of a unit vector)'; t $? "--dim 96 (not a power of two): D_4(96) = 0.009253…"
usage --dim 2048 --bits 4 && grep -q -- '--dim' $err; t $? "--dim 2048: out of range"
usage --dim 128 --bits 0; t $? "--bits 0: out of range"
usage --dim 128 --bits four && grep -q "'four'" $err; t $? "--bits four: not an integer, names the input"
usage --dim 128; t $? "missing --bits"
usage --bits 4 --frobnicate && grep -q -- '--frobnicate' $err; t $? "unknown option named"
rm -f $err out.$$
exit 0
