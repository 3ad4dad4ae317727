# bench: the benchmark suite behind `kvq bench` (doc/conformance.md §3) and `make bench`.
# The device-side runners live in src/device (only it may include CL headers).
kvq_SOURCES += bench/bench.c bench/bench.h src/cli/cmd_bench.c \
	src/device/bench_kernels.c src/device/bench_kernels.h
EXTRA_DIST += bench/README.md

dist_check_SCRIPTS += tests/bench_smoke.sh
TESTS += tests/bench_smoke.sh

# The full suite as a table (make bench BENCH_FLAGS=--json for JSON).
.PHONY: bench
bench: kvq$(EXEEXT)
	./kvq$(EXEEXT) bench $(BENCH_FLAGS)
