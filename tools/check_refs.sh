#!/bin/sh
# check_refs.sh [ROOT [PATH ...]] — checks that every § citation in kvq's
# sources names a section heading that exists in ROOT/doc/*.md.
#
# Citations recognised:
#   in code (PATHs; default src cl include tests bench tools README.md kvq.1):
#     doc/<name>.md §N[.M…]   -> heading "## N." / "### N.M" in doc/<name>.md
#     doc/<name>.md           -> the file doc/<name>.md exists
#     §N without a doc file, SPEC §N, SPEC N, SPECN -> always dangling
#   in doc/*.md:
#     <name>.md §N            -> heading in doc/<name>.md
#     §N                      -> heading in the same document
# Prints every dangling citation as path:line: citation (reason) and exits 1
# if there is one; exit 0 otherwise, 2 on usage errors.
set -u
root=${1:-.}
[ $# -gt 0 ] && shift
cd "$root" 2>/dev/null || { echo "check_refs: cannot enter '$root'" >&2; exit 2; }
[ -d doc ] || { echo "check_refs: no doc/ directory in '$root'" >&2; exit 2; }
if [ $# -eq 0 ]; then
    set --
    for p in src cl include tests bench tools README.md kvq.1; do
        [ -e "$p" ] && set -- "$@" "$p"
    done
fi
LC_ALL=C
export LC_ALL
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# Headings: "<name>.md<TAB>N" for "## N. Title" and "### N.M Title".
for f in doc/*.md; do
    [ -e "$f" ] || continue
    awk -v f="${f#doc/}" '
        /^##+ [0-9]+(\.[0-9]+)*\.? / { n = $2; sub(/\.$/, "", n); print f "\t" n }
    ' "$f"
done > "$tmp/heads"
ls doc | grep '\.md$' > "$tmp/files"

# Code: source files only (build outputs and logs would repeat old text).
grep -rnoIE \
    --include='*.[ch]' --include='*.cl' --include='*.sh' --include='*.py' \
    --include='*.mk' --include='*.am' --include='*.ac' --include='*.md' \
    --include='*.1' --include='*.in' --exclude='kernels_cl.c' \
    --exclude='check_refs.sh' --exclude='doc_refs.sh' \
    'doc/[A-Za-z0-9_-]+\.md( §[0-9]+(\.[0-9]+)*)?|SPEC ?§ ?[0-9][0-9.]*|SPEC ?[0-9][0-9.]*|§ ?[0-9]+(\.[0-9]+)*|§' \
    "$@" 2>/dev/null | sed 's/^/code:/' > "$tmp/cites"
# Docs: cross-references and self-references.
# (a lone "§" is allowed here: the docs show the citation syntax "§N")
grep -noE '[A-Za-z0-9_-]+\.md §[0-9]+(\.[0-9]+)*|§ ?[0-9]+(\.[0-9]+)*' doc/*.md \
    | sed 's/^/doc:/' >> "$tmp/cites"

awk -F'\t' -v heads="$tmp/heads" -v files="$tmp/files" '
    BEGIN {
        while ((getline l < heads) > 0) { split(l, a, "\t"); have[a[1] " " a[2]] = 1 }
        while ((getline l < files) > 0) file[l] = 1
        bad = 0; total = 0
    }
    {
        kind = $0; sub(/:.*/, "", kind)
        rest = substr($0, length(kind) + 2)
        path = rest; sub(/:.*/, "", path)
        rest = substr(rest, length(path) + 2)
        line = rest; sub(/:.*/, "", line)
        cite = substr(rest, length(line) + 2)
        total++
        why = ""
        if (cite ~ /^SPEC/) {
            why = "cites the external SPEC"
        } else if (cite == "§") {
            why = "no section number"
        } else {
            c = cite; sub(/^doc\//, "", c)
            name = c; num = ""
            if (c ~ /§/) {
                name = c; sub(/ ?§.*/, "", name)
                num = c; sub(/.*§ ?/, "", num)
            }
            if (name == "" || name == c && num != "") {
                # bare §N
                if (kind == "doc") { name = path; sub(/^doc\//, "", name) }
                else why = "no document named (write doc/<file>.md §N)"
            }
            if (why == "" && !(name in file))
                why = "no file doc/" name
            else if (why == "" && num != "" && !((name " " num) in have))
                why = "no heading " num " in doc/" name
        }
        if (why != "") { printf "%s:%s: %s (%s)\n", path, line, cite, why; bad++ }
    }
    END {
        printf "check_refs: %d citations checked, %d dangling\n", total, bad > "/dev/stderr"
        exit bad ? 1 : 0
    }
' "$tmp/cites"
