#!/bin/sh
# cli_budgets.sh — asymmetric K/V budgets from the command line
# (doc/schemes.md §2.1): `--bits k4v2` in run, budget lists with them in sweep, each tensor's
# effective bits in JSON/CSV/Markdown, and the bad forms (exit 2, one line
# naming --bits and the rule); the Pareto files and frontier of the sweep.
name=budgets
. "${top_srcdir:-.}/tests/common.sh"
echo "1..10"
small="--dim 64 --keys 128 --queries 4 --trials 2 --device host"

# 1: run --bits k4v2 on KQV: the label and both budgets in JSON; K = MSE(4) +
# ν (4 + 32/64 = 4.5), V = MSE(1) + QJL + ν + γ (2 + 64/64 = 3), by hand.
"$kvq" run --scheme KQV --bits k4v2 $small --json >"$tmp/r.json" &&
  grep -q '"bits":"k4v2","bits_k":4,"bits_v":2' "$tmp/r.json" &&
  grep -q '"effective_bits":{"k":4.5,"v":3}' "$tmp/r.json"
t $? "run --bits k4v2: label, per-tensor budgets and effective bits in JSON"

# 2: a symmetric budget keeps its numeric "bits" and has no per-tensor fields
"$kvq" run --scheme KV --bits 3 $small --json >"$tmp/s.json" &&
  grep -q '"bits":3,"dim"' "$tmp/s.json"
t $? "run --bits 3: \"bits\" stays the number n"

# 3-4: sweep with a mixed list: one cell per preset × budget, labels in CSV and Markdown
"$kvq" sweep --schemes KV,KQV --bits k4v2,k3v4,4 $small --out "$tmp/o" >/dev/null 2>&1 &&
  [ "$(grep -c '^KQV,k4v2,' "$tmp/o/results.csv")" = 1 ] &&
  [ "$(grep -c '^KV,k3v4,' "$tmp/o/results.csv")" = 1 ] &&
  [ "$(grep -c '^KV,4,' "$tmp/o/results.csv")" = 1 ] &&
  [ "$(wc -l <"$tmp/o/results.csv")" = 7 ]
t $? "sweep --bits k4v2,k3v4,4: six cells labelled in results.csv"
grep -q '^| KV | k3v4 | 3.5 / 4.5 |' "$tmp/o/findings.md"
t $? "findings.md names the budgets and both effective bits"

# 5-6: the Pareto view of the same sweep (doc/statistics.md §6): one row per
# metric × cell, each cell placed at the mean of its K and V effective bits
# (KQV at k4v2, d = 64: (4.5 + 3)/2 = 3.75), and the printed frontier
[ "$(wc -l <"$tmp/o/pareto.csv")" = 19 ] &&
  grep -q '^kl,gauss,full,KQV,k4v2,3.75,' "$tmp/o/pareto.csv" &&
  [ -s "$tmp/o/pareto.gp" ] && { ! command -v gnuplot >/dev/null || [ -s "$tmp/o/pareto.png" ]; }
t $? "pareto.csv (18 points), pareto.gp and pareto.png written"
"$kvq" sweep --schemes KV,KQV --bits k4v2,4 $small >"$tmp/p.txt" 2>/dev/null &&
  grep -q '^Pareto frontier' "$tmp/p.txt" && grep -q '^  k_dir_err on gauss/full:' "$tmp/p.txt" &&
  grep -q '^timing: ' "$tmp/p.txt"
t $? "sweep prints the frontier per metric and the timing"

# 7-10: bad forms
usage() { # expected-substring args...
  want=$1; shift
  "$kvq" "$@" >/dev/null 2>"$tmp/e"; rc=$?
  [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "^kvq: --bits: .*$want" "$tmp/e"
}
usage "k<X>v<Y> with X, Y in 1..8" run --bits k9v2; t $? "run --bits k9v2 refused with the rule"
usage "k<X>v<Y> with X, Y in 1..8" sweep --bits 2,k4; t $? "sweep --bits 2,k4 refused with the rule"
usage "given twice" sweep --bits k4v4,4; t $? "k4v4 is budget 4: given twice"
usage "presets" run --scheme 'k=wht:mse3,v=mse2' --bits k4v2; t $? "k4v2 with a custom spec refused"
