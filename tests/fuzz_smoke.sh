#!/bin/sh
# fuzz_smoke.sh — a short libFuzzer run of the .npy and .safetensors parsers and of
# the text parsers (scheme specs, sources, grid lists, CLI numbers), and of the
# CLBlast tuning parsers (tuner JSON, kvq's cache file)
# (KVQ_FUZZ_SECONDS each, default 10), seeded with tests/data. Skipped when
# clang cannot link a libFuzzer program. Crashing inputs are kept in the
# current directory as fuzz_<parser>-crash-*.
: "${top_srcdir:=.}"
CLANG=${CLANG:-clang}
secs=${KVQ_FUZZ_SECONDS:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/kvq_fuzz.XXXXXX") || { echo "1..0 # SKIP no temporary directory"; exit 0; }
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$work/probe.c"
if ! command -v "$CLANG" >/dev/null 2>&1 ||
   ! "$CLANG" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
    echo "1..0 # SKIP no libFuzzer"
    exit 0
fi
echo "1..8"
n=0
fail=0
for t in npy safetensors spec tune; do
    n=$((n + 1))
    case $t in
    tune) srcs="$top_srcdir/src/base/tuning.c" ;;
    spec) srcs="$top_srcdir/src/base/*.c $top_srcdir/src/core/*.c $top_srcdir/src/data/*.c
                $top_srcdir/src/cli/util.c $top_srcdir/src/cli/grid.c" ;;
    *) srcs="$top_srcdir/src/base/file.c $top_srcdir/src/data/util.c $top_srcdir/src/data/npy.c
             $top_srcdir/src/data/safetensors.c" ;;
    esac
    # shellcheck disable=SC2086
    if "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -D_DEFAULT_SOURCE -I"$top_srcdir/include" -I"$top_srcdir/src" $srcs \
        "$top_srcdir/tests/fuzz/fuzz_$t.c" -lm -lpthread -o "$work/fuzz_$t" 2>"$work/build.log"; then
        echo "ok $n - build fuzz_$t"
    else
        echo "not ok $n - build fuzz_$t"
        sed 's/^/# /' "$work/build.log"
        fail=1
    fi
    n=$((n + 1))
    mkdir "$work/corpus_$t"
    case $t in npy) seeds="bad/npy_* good/*.npy" ;; safetensors) seeds="bad/st_* good/*.safetensors" ;;
    spec) seeds=""
          printf 'KQV\ngauss\nfull' >"$work/corpus_spec/1"
          printf 'k=wht:mse4,v=wht2:mse3+qjl+nc\nt3+needle2\n8' >"$work/corpus_spec/2"
          printf '2-6\nKV,k=none:mse4,v=dense:qjl64+nb16\noutlier4x10' >"$work/corpus_spec/3" ;;
    tune) seeds="tune/*"
          printf 'kvq-clblast-tune 1\ndevice d\ndriver 1\nkernel Xgemm KWG=32 VWM=4\n' \
              >"$work/corpus_tune/1" ;;
    esac
    for s in $seeds; do
        for f in "$top_srcdir"/tests/data/$s; do
            [ -f "$f" ] && cp "$f" "$work/corpus_$t/"
        done
    done
    if [ -x "$work/fuzz_$t" ] &&
       "$work/fuzz_$t" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
           -close_fd_mask=2 -artifact_prefix="fuzz_$t-" "$work/corpus_$t" >"$work/run.log" 2>&1; then
        echo "ok $n - fuzz_$t ran ${secs}s without a finding ($(grep -o 'Done [0-9]* runs' "$work/run.log"))"
    else
        echo "not ok $n - fuzz_$t"
        tail -n 40 "$work/run.log" | sed 's/^/# /'
        fail=1
    fi
done
exit $fail
