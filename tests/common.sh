# common.sh — sourced by the shell tests: the kvq binary, a scratch directory
# removed on exit (named after $name, set before sourcing), and t STATUS TEXT,
# which prints the next TAP line.
kvq="${top_builddir:-.}/kvq"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvq-${name:-test}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
