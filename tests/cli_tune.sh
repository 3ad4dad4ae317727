#!/bin/sh
# cli_tune.sh — `kvq tune` (doc/scaling.md §7): usage errors, a missing
# tuner (exit 2 naming it and clblast-utils), the whole path with a stand-in
# tuner that writes a real CLBlast tuner output (tests/data/tune: the
# parameters reach CLBlastOverrideParameters, the cache file is written,
# kvq bench reports them), a corrupt cache (one warning, untuned run) and
# KVQ_CLBLAST_TUNED=0. The real tuners take minutes, so they are not run
# here; the stand-in keeps the test at seconds. Device parts skip without an
# OpenCL device (tests/device.sh).
name=tune
. "${top_srcdir:-.}/tests/common.sh"
. "${top_srcdir:-.}/tests/device.sh"
data="${top_srcdir:-.}/tests/data/tune"
device_pick
echo "1..14"
export KVQ_CACHE_DIR="$tmp/cache"

# 1-4: usage errors: exit 2, one line naming the input
usage "kvq: --kernels: 'xgemv'" tune --kernels xgemv; t $? "unknown kernel"
usage "kvq: --fraction:" tune --fraction 0; t $? "fraction out of range"
usage "kvq: --frobnicate:" tune --frobnicate; t $? "unknown option"
"$kvq" tune --help | grep -q "usage: kvq tune"; t $? "kvq tune --help"

# 5: no tuner on PATH: exit 2, one line naming the tuner and the package
PATH="$tmp/empty" "$kvq" tune --quick >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] &&
  grep -q "clblast_tuner_xgemm_direct.*apt-get install clblast-utils" "$tmp/e"
t $? "a missing tuner: exit 2, names it and clblast-utils"

if [ -z "$dev" ]; then
  # with KVQ_REQUIRE_DEVICE a lost device fails instead (tests/device.sh)
  for i in 6 7 8 9 10 11 12 13 14; do
    if device_required; then t 1 "$dev_why"; else skip "$dev_why"; fi
  done
  exit 0
fi

# 6: the host reference runs no CLBlast
mkdir -p "$tmp/bin"
cat >"$tmp/bin/clblast_tuner_xgemm_direct" <<EOF
#!/bin/sh
# stand-in: what the real tuner wrote once (see tests/test_tuning.c)
cp "$data/clblast_xgemm_direct_1_32.json" .
EOF
chmod +x "$tmp/bin/clblast_tuner_xgemm_direct"
PATH="$tmp/bin:$PATH" "$kvq" tune --quick --device host >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && grep -q "host reference" "$tmp/e"; t $? "--device host: exit 2"

# 7-9: the whole path with the stand-in tuner
PATH="$tmp/bin:$PATH" "$kvq" tune --quick --json --device "$dev" >"$tmp/t.json" 2>"$tmp/e"; rc=$?
[ $rc = 0 ] && grep -q '"kernel":"XgemmDirect"' "$tmp/t.json" &&
  grep -q '"tuned_gflops"' "$tmp/t.json"; t $? "kvq tune --json exits 0 and reports XgemmDirect"
[ $rc = 0 ] || sed 's/^/# /' "$tmp/e"
cache=$(ls "$KVQ_CACHE_DIR"/clblast-*.tune 2>/dev/null | head -n 1)
[ -n "$cache" ] && head -n 1 "$cache" | grep -q '^kvq-clblast-tune 1$' &&
  grep -q '^kernel XgemmDirect KWID=2 MDIMAD=16 .* WGD=32$' "$cache"
t $? "the cache file holds the tuner's best parameters"
grep -q "clblast_tuner_xgemm_direct" "$tmp/e" && ! grep -q "clblast_tuner_xgemm_direct" "$tmp/t.json"
t $? "progress on stderr, not in the JSON"

# 10-11: kvq bench says whose parameters CLBlast runs
bench() { "$kvq" bench --quick --json --repeats 1 --no-host --quiet --device "$dev" "$@"; }
bench >"$tmp/b.json" 2>"$tmp/e" && grep -q '"tuned":"kvq tune"' "$tmp/b.json"
t $? "kvq bench with the cache: \"tuned\":\"kvq tune\""
KVQ_CLBLAST_TUNED=0 bench >"$tmp/b0.json" 2>"$tmp/e" && grep -q '"tuned":"unknown"' "$tmp/b0.json"
t $? "KVQ_CLBLAST_TUNED=0: \"tuned\":\"unknown\""

# 12-14: a corrupt cache file: one warning naming it, then an untuned run
printf 'garbage\n' >"$cache"
args="--scheme KV --bits 4 --dim 64 --keys 128 --queries 4 --trials 1 --json --device $dev"
"$kvq" run $args >"$tmp/r.json" 2>"$tmp/e"; rc=$?
[ $rc = 0 ]; t $? "a corrupt cache does not fail the run"
[ "$(grep -c "warning: $cache: line 1: not a kvq tuning cache" "$tmp/e")" -ge 1 ]
t $? "one warning naming the file and the rule"
KVQ_CLBLAST_TUNED=0 "$kvq" run $args >/dev/null 2>"$tmp/e" && ! grep -q warning "$tmp/e"
t $? "KVQ_CLBLAST_TUNED=0 does not read the cache"
