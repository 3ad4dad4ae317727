# bench: the benchmark suite behind `kvq bench` (doc/conformance.md §3) and
# `make bench`; its device-side runners are src/device/bench_kernels.c.
kvq_SOURCES += bench/bench.c bench/bench.h
EXTRA_DIST += bench/README.md bench/mainjob_numpy.py bench/roofline.py
# The OpenBLAS peer (bench/README.md, "Peers"): only peers.c sees cblas.h, only
# kvq links OpenBLAS (libkvq never does).
noinst_LTLIBRARIES += libkvq_peers.la
libkvq_peers_la_SOURCES = bench/peers.h bench/peers.c
libkvq_peers_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
kvq_LDADD += libkvq_peers.la $(OPENBLAS_LIBS)

# The full suite as a table (make bench BENCH_FLAGS=--json for JSON), then the
# main job against a plain numpy + OpenBLAS implementation of it
# (bench/mainjob_numpy.py, options in MAINJOB_FLAGS; --json and --quick of
# BENCH_FLAGS reach it too; skipped with a message when numpy is missing).
.PHONY: bench
bench: kvq$(EXEEXT)
	./kvq$(EXEEXT) bench $(BENCH_FLAGS)
	@if test -n "$(NUMPY_PYTHON)"; then \
	  $(NUMPY_PYTHON) $(srcdir)/bench/mainjob_numpy.py --kvq ./kvq$(EXEEXT) \
	    $(if $(findstring --json,$(BENCH_FLAGS)),--json) \
	    $(if $(findstring --quick,$(BENCH_FLAGS)),--quick) $(MAINJOB_FLAGS); \
	else \
	  echo "make bench: numpy not found (configure looked for a python3 that imports numpy); main job vs numpy skipped"; \
	fi
