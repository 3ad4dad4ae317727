# bench: the benchmark suite behind `kvq bench` (doc/conformance.md §3) and
# `make bench`; its device-side runners are src/device/bench_kernels.c.
kvq_SOURCES += bench/bench.c bench/bench.h
EXTRA_DIST += bench/README.md

# The full suite as a table (make bench BENCH_FLAGS=--json for JSON).
.PHONY: bench
bench: kvq$(EXEEXT)
	./kvq$(EXEEXT) bench $(BENCH_FLAGS)
