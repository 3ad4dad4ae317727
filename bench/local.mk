# bench: the benchmark suite behind `kvq bench` (doc/conformance.md §3) and
# `make bench`; its device-side runners are src/device/bench_kernels.c.
kvq_SOURCES += bench/bench.c bench/bench.h
EXTRA_DIST += bench/README.md
# The OpenBLAS peer (bench/README.md, "Peers"): only peers.c sees cblas.h, only
# kvq links OpenBLAS (libkvq never does).
noinst_LTLIBRARIES += libkvq_peers.la
libkvq_peers_la_SOURCES = bench/peers.h bench/peers.c
libkvq_peers_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
kvq_LDADD += libkvq_peers.la $(OPENBLAS_LIBS)

# The full suite as a table (make bench BENCH_FLAGS=--json for JSON).
.PHONY: bench
bench: kvq$(EXEEXT)
	./kvq$(EXEEXT) bench $(BENCH_FLAGS)
