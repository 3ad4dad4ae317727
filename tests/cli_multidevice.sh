#!/bin/sh
# cli_multidevice.sh — `kvq sweep|findings --devices LIST` (doc/scaling.md §4):
# one process, one thread per context, each running a block of the work
# items, and `--streams N` (doc/scaling.md §4.1), N contexts on one device. The same device
# twice, or any number of streams, gives one run's JSON exactly (timing aside);
# an OpenCL device with the host reference agrees with a host run within the
# conformance tolerances (doc/conformance.md §1) — the blocks the OpenCL
# device ran round in float, the host's in double.
kvq="${top_builddir:-.}/kvq"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvq-mdev.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
. "${top_srcdir:-.}/tests/device.sh"
device_pick
echo "1..9"
untime_json() { sed 's/,"timing":{"seconds":[^}]*}//g' "$1"; }
args="--schemes KV,KQV,QKQV --bits 2,4 --dist gauss,t5 --trials 3 --keys 128 --queries 8 --dim 64 --quiet --json"

# 1: host twice == host once, bit for bit
"$kvq" sweep $args --device host >"$tmp/h.json" && "$kvq" sweep $args --devices host,host >"$tmp/hh.json" &&
  untime_json "$tmp/h.json" >"$tmp/a" && untime_json "$tmp/hh.json" >"$tmp/b" && [ -s "$tmp/a" ] && cmp -s "$tmp/a" "$tmp/b"
t $? "--devices host,host equals --device host apart from timing"

# 2-3: an OpenCL device twice == once; OpenCL + host within tolerance of the host
if [ -n "$dev" ] && command -v python3 >/dev/null 2>&1; then
  "$kvq" sweep $args --device "$dev" >"$tmp/d.json" && "$kvq" sweep $args --devices "$dev,$dev" >"$tmp/dd.json" &&
    untime_json "$tmp/d.json" >"$tmp/a" && untime_json "$tmp/dd.json" >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"
  t $? "--devices $dev,$dev equals --device $dev apart from timing"
  "$kvq" sweep $args --devices "$dev,host" >"$tmp/dh.json" &&
    python3 "${top_srcdir:-.}/tests/agree.py" "$tmp/h.json" "$tmp/dh.json" &&
    [ "$(grep -o '"device":"[^"]*"' "$tmp/dh.json" | sort -u | wc -l)" = 2 ]
  t $? "--devices $dev,host agrees with the host within the conformance tolerances"
elif [ -n "$dev" ]; then
  echo "ok $((n=n+1)) - # SKIP python3 missing"; echo "ok $((n=n+1)) - # SKIP python3 missing"
else
  device_skip $((n=n+1)) "$dev_why"
  device_skip $((n=n+1)) "$dev_why"
fi

# 4: with more contexts than work items, the idle ones do nothing wrong
"$kvq" sweep --schemes KV --bits 2 --trials 1 --keys 64 --queries 4 --dim 16 --quiet --json --devices host,host,host >"$tmp/x.json" &&
  "$kvq" sweep --schemes KV --bits 2 --trials 1 --keys 64 --queries 4 --dim 16 --quiet --json --device host >"$tmp/y.json" &&
  untime_json "$tmp/x.json" >"$tmp/a" && untime_json "$tmp/y.json" >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"
t $? "three contexts, one work item"

# 5-6: usage errors
"$kvq" sweep $args --devices host,nosuch >/dev/null 2>"$tmp/e"; [ $? = 2 ] && grep -q "^kvq: --devices: no device matches 'nosuch'" "$tmp/e"
t $? "an unknown device in the list"
"$kvq" sweep $args --devices host --device host >/dev/null 2>"$tmp/e"; [ $? = 2 ] && grep -q "^kvq: --devices: give either" "$tmp/e"
t $? "--device and --devices together"

# 7: streams on one device: 1 and 3 give the same JSON (the OpenCL device if
# there is one, else the host reference)
on="${dev:-host}"
"$kvq" sweep $args --device "$on" --streams 1 >"$tmp/s1.json" &&
  "$kvq" sweep $args --device "$on" --streams 3 >"$tmp/s3.json" &&
  untime_json "$tmp/s1.json" >"$tmp/a" && untime_json "$tmp/s3.json" >"$tmp/b" && [ -s "$tmp/a" ] && cmp -s "$tmp/a" "$tmp/b"
t $? "--streams 3 equals --streams 1 on $on apart from timing"

# 8-9: usage errors
"$kvq" sweep $args --streams 0 >/dev/null 2>"$tmp/e"; [ $? = 2 ] && grep -q "^kvq: --streams: 0 is out of range 1..16" "$tmp/e"
t $? "--streams 0"
"$kvq" sweep $args --devices host --streams 2 >/dev/null 2>"$tmp/e"; [ $? = 2 ] && grep -q "^kvq: --devices: give either --streams or --devices" "$tmp/e"
t $? "--streams and --devices together"
