#!/bin/sh
# cli_shard.sh — scheduler-agnostic shards (doc/scaling.md §2): `--shard I/N`
# partial results merged by `kvq merge` equal one run (every report, apart
# from timing); a missing, duplicate or foreign shard is one clear error
# (exit 2) and nothing is written.
name=shard
. "${top_srcdir:-.}/tests/common.sh"
echo "1..16"
. "${top_srcdir:-.}/tests/untime.sh"
args="--schemes KV,KQV,QKQV --bits 2,4 --dist gauss,t5 --trials 3 --keys 128 --queries 8 --dim 64 --quiet"

# 1-3: two shards + merge == one run (JSON on stdout)
"$kvq" sweep $args --json >"$tmp/one.json"; t $? "one run"
"$kvq" sweep $args --shard 0/2 --partial "$tmp/p0.json" &&
  "$kvq" sweep $args --shard 1/2 --partial "$tmp/p1.json"; t $? "shards 0/2 and 1/2"
"$kvq" merge --json "$tmp/p1.json" "$tmp/p0.json" >"$tmp/merged.json" &&
  untime_json "$tmp/one.json" >"$tmp/a" && untime_json "$tmp/merged.json" >"$tmp/b" &&
  [ -s "$tmp/a" ] && cmp -s "$tmp/a" "$tmp/b"; t $? "merge (any file order) equals one run apart from timing"

# 4-6: findings in three uneven shards, --out DIR: every report file the same
"$kvq" findings $args --out "$tmp/one" >"$tmp/one.txt" &&
  for i in 2 0 1; do "$kvq" findings $args --shard $i/3 --out "$tmp/sh" || exit 1; done; t $? "findings in 3 shards"
"$kvq" merge --out "$tmp/m" "$tmp"/sh/partial-*-of-3.json >"$tmp/m.txt" &&
  sed "s|$tmp/one/|DIR/|; /^timing: /d" "$tmp/one.txt" >"$tmp/a" &&
  sed "s|$tmp/m/|DIR/|; /^timing: /d" "$tmp/m.txt" >"$tmp/b" &&
  grep -q "^F1 " "$tmp/a" && cmp -s "$tmp/a" "$tmp/b"; t $? "merged verdicts print as one run"
untime_json "$tmp/one/results.json" >"$tmp/a"; untime_json "$tmp/m/results.json" >"$tmp/b"
untime_csv "$tmp/one/results.csv" >"$tmp/c"; untime_csv "$tmp/m/results.csv" >"$tmp/d"
cmp -s "$tmp/a" "$tmp/b" && cmp -s "$tmp/c" "$tmp/d" && cmp -s "$tmp/one/findings.md" "$tmp/m/findings.md"
t $? "results.json, results.csv, findings.md equal one run's apart from timing"

# 7-12: bad sets of shards: exit 2, one line naming the input, nothing written
bad() { # expected-substring merge-args...
  want=$1; shift
  rm -rf "$tmp/out"
  "$kvq" merge --out "$tmp/out" "$@" >"$tmp/o" 2>"$tmp/e"; rc=$?
  [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "^kvq: .*$want" "$tmp/e" &&
    [ ! -e "$tmp/out" ] && [ ! -s "$tmp/o" ]
}
bad "shard 1/2 is missing" "$tmp/p0.json"; t $? "missing shard"
bad "p0.json: shard 0/2 given twice" "$tmp/p0.json" "$tmp/p1.json" "$tmp/p0.json"; t $? "duplicate shard"
"$kvq" sweep $args --seed 9 --shard 1/2 --partial "$tmp/s9.json"
bad "s9.json: not the same grid, seed" "$tmp/p0.json" "$tmp/s9.json"; t $? "another seed"
"$kvq" sweep $args --bits 2,3 --shard 1/2 --partial "$tmp/g.json"
bad "g.json: not the same grid" "$tmp/p0.json" "$tmp/g.json"; t $? "another grid"
head -c 300 "$tmp/p1.json" >"$tmp/cut.json"
bad "cut.json: not a kvq partial result" "$tmp/p0.json" "$tmp/cut.json"; t $? "truncated file"
bad "shard 0/3 is missing" "$tmp"/sh/partial-1-of-3.json "$tmp"/sh/partial-2-of-3.json; t $? "missing first of three"

# 13-14: usage errors of --shard
"$kvq" sweep $args --shard 2/2 --partial "$tmp/x.json" 2>"$tmp/e"; [ $? = 2 ] && grep -q "^kvq: --shard" "$tmp/e" &&
  [ ! -e "$tmp/x.json" ]; t $? "shard index out of range"
"$kvq" sweep $args --shard 0/2 2>"$tmp/e"; [ $? = 2 ] && grep -q "needs --partial" "$tmp/e"; t $? "shard without an output"

# 15: more shards than items: the empty shards run nothing and merge fine
tiny="--schemes KV --bits 2 --trials 2 --keys 64 --queries 4 --dim 16 --quiet"
"$kvq" sweep $tiny --json >"$tmp/t1.json" &&
  for i in 0 1 2; do "$kvq" sweep $tiny --shard $i/3 --partial "$tmp/t$i-3.json" || exit 1; done &&
  grep -q '"items":\[0,0\]' "$tmp/t0-3.json" &&
  "$kvq" merge --json "$tmp"/t?-3.json >"$tmp/t3.json" &&
  untime_json "$tmp/t1.json" >"$tmp/a" && untime_json "$tmp/t3.json" >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"
t $? "3 shards of 2 items (one empty) merge to one run"

# 16: one shard of one is still a partial result, and merges alone
"$kvq" sweep $tiny --shard 0/1 --partial "$tmp/only.json" && "$kvq" merge --json "$tmp/only.json" >"$tmp/o1.json" &&
  untime_json "$tmp/o1.json" >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"
t $? "--shard 0/1 writes a partial result that merges alone"
