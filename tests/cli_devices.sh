#!/bin/sh
# cli_devices.sh — `kvq devices`: table, JSON, --select, no-platform behaviour, usage errors,
# and how the device tests treat a missing or mistyped device (tests/device.sh).
kvq="${top_builddir:-.}/kvq"
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "1..18"
out=$("$kvq" devices); rc=$?
t $rc "kvq devices exits 0"
echo "$out" | grep -q '^host ' ; t $? "table lists host"
dev=$(echo "$out" | grep -v '^spec' | grep -v '^host' | head -n1)
echo "# first OpenCL device: ${dev:-none}"
. "${top_srcdir:-.}/tests/device.sh"
if device_required; then [ -n "$dev" ]; t $? "KVQ_REQUIRE_DEVICE: an OpenCL device is listed"
else echo "ok $((n=n+1)) - # SKIP KVQ_REQUIRE_DEVICE not set"; fi
json=$("$kvq" devices --json); rc=$?
t $rc "--json exits 0"
if command -v python3 >/dev/null 2>&1; then
  echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[-1]["type"]=="host"; assert sum(x["default"] for x in d)==1'
  t $? "--json is a JSON array ending with host, one default"
else
  echo "$json" | grep -q '"type":"host"'; t $? "--json names host"
fi
out=$(OCL_ICD_VENDORS=/nonexistent "$kvq" devices); rc=$?
t $rc "no platform: exit 0"
lines=$(echo "$out" | grep -vc '^spec')
[ "$lines" = 1 ] && echo "$out" | grep -q '^host'; t $? "no platform: only host listed"
"$kvq" devices --select host | grep -q '^host'; t $? "--select host"
"$kvq" devices --select nosuch >/dev/null 2>err.$$; rc=$?
[ $rc = 2 ]; t $? "--select nosuch exits 2"
grep -q "^kvq: nosuch: no device matches" err.$$ && grep -q '^host ' err.$$; t $? "names the input and lists the devices"
"$kvq" devices --bogus >/dev/null 2>err.$$; rc=$?
[ $rc = 2 ] && [ "$(wc -l < err.$$)" = 1 ]; t $? "unknown option: exit 2, one line"
"$kvq" devices --select '1:' >/dev/null 2>err.$$; rc=$?
[ $rc = 2 ] && grep -q malformed err.$$; t $? "malformed spec: exit 2, says malformed"
# 13-14: with no OpenCL platform the device tests skip cleanly (not exit 77)
tests="${top_builddir:-.}/tests"
for t in test_runtime test_conf_wht; do
  first=$(OCL_ICD_VENDORS=/nonexistent KVQ_REQUIRE_DEVICE= "$tests/$t" 2>/dev/null | head -n 1); rc=$?
  reason=$(echo "$first" | sed 's/^1\.\.0 # SKIP //')
  case "$first" in "1..0 # SKIP"*) t 0 "no platform: $t plans zero tests (reason: $reason)";;
                   *) t 1 "no platform: $t does not skip";; esac
done
# 15-16: ... unless a device is required: then one `not ok` naming the reason, exit 1
for t in test_runtime test_conf_wht; do
  OCL_ICD_VENDORS=/nonexistent KVQ_REQUIRE_DEVICE=1 "$tests/$t" >out.$$ 2>/dev/null; rc=$?
  [ $rc = 1 ] && [ "$(head -n 1 out.$$)" = "1..1" ] && grep -q "^not ok 1 - no OpenCL" out.$$
  t $? "KVQ_REQUIRE_DEVICE=1, no platform: $t fails ($(sed -n 2p out.$$))"
done
# 17-18: a KVQ_DEVICE that matches nothing fails (a typo must not skip the suite)
KVQ_DEVICE=nosuch "$tests/test_conf_wht" >out.$$ 2>/dev/null; rc=$?
[ $rc = 1 ] && grep -q "^not ok 1 - KVQ_DEVICE=nosuch matches no device" out.$$
t $? "KVQ_DEVICE=nosuch: test_conf_wht fails naming it"
KVQ_DEVICE=nosuch "${top_srcdir:-.}/tests/bench_smoke.sh" >out.$$ 2>/dev/null; rc=$?
[ $rc = 1 ] && grep -q "^not ok 1 - KVQ_DEVICE=nosuch matches no device" out.$$
t $? "KVQ_DEVICE=nosuch: bench_smoke.sh fails naming it"
rm -f out.$$
rm -f err.$$
exit 0
