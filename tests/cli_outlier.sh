#!/bin/sh
# cli_outlier.sh — out<c>@<b2> from the command line (doc/schemes.md §7): bad
# tokens exit 2 with one line naming the token and the rule; the host reports
# the exact effective bits (channel list amortized over N); an OpenCL device
# refuses the stage (exit 1, naming it) instead of computing anything.
name=out
. "${top_srcdir:-.}/tests/common.sh"
echo "1..5"

usage "kvq: --scheme: k: bad stage 'out4@9' (the outlier bits b2 of out<c>@<b2> must be 1..8)" \
  run --scheme 'k=wht:mse2+out4@9,v=wht:mse2' --device host
t $? "b2 out of range"
usage "kvq: --dim: d = 16 cannot run scheme .*must be below the head dimension d" \
  run --scheme 'k=wht:mse2+out16@4,v=wht:mse2' --dim 16 --device host
t $? "c not below d"
usage "bad stage 'out8'" sweep --schemes 'KV,k=wht:mse2+out8,v=wht:mse2' --bits 2 --device host
t $? "missing @<b2> in a sweep"

# 4: 120·2 + 8·4 payload + 2·32 side bits over 128, plus 8·7 list bits / (256·128)
"$kvq" run --scheme 'k=wht:mse2+out8@4,v=wht:mse2' --dist outlier --keys 256 --queries 8 \
  --trials 1 --device host --json >"$tmp/j" 2>"$tmp/e"
grep -q '"effective_bits":{"k":2.626708984375,"v":2.25}' "$tmp/j"
t $? "host: effective bits k 2.626708984375"

# 5: the OpenCL backend has no kernel for the stage: it refuses, never computes
if [ -n "$gpu" ]; then
  "$kvq" run --scheme 'k=wht:mse2+out8@4,v=wht:mse2' --keys 64 --queries 4 --trials 1 \
    --device "$gpu" >"$tmp/o" 2>"$tmp/e"; rc=$?
  [ $rc = 1 ] && grep -q 'out<c>@<b2>' "$tmp/e" && [ ! -s "$tmp/o" ]
  t $? "OpenCL refuses out<c>@<b2> (exit 1, names the stage, prints no numbers)"
else
  skip "no OpenCL device"
fi
