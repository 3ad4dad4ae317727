# tools: helper scripts shipped with the source (not installed).
EXTRA_DIST += tools/make_corpus.py tools/export_kv.py tools/check_refs.sh
