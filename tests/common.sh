# common.sh — what the CLI TAP scripts share (sourced, not run; set $name
# first): the kvq binary, a scratch directory removed on exit, the TAP
# counters t and skip, the first OpenCL device (CPU first) in $gpu, and usage,
# which expects exit 2 and one line matching a pattern (and shows the line
# when it does not).
kvq="${top_builddir:-.}/kvq"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvq-${name:-test}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
gpu=$("$kvq" devices --select cpu 2>/dev/null | cut -f1)
[ -n "$gpu" ] || gpu=$("$kvq" devices --select gpu 2>/dev/null | cut -f1)

usage() { # expected-substring args...
  want=$1; shift
  "$kvq" "$@" >/dev/null 2>"$tmp/e"; rc=$?
  [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q -- "$want" "$tmp/e" ||
    sed 's/^/# /' "$tmp/e"
  [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q -- "$want" "$tmp/e"
}
