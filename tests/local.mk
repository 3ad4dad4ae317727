# tests: every test of `make check`, registered here and nowhere else. TAP
# programs link the whole library (LDADD in Makefile.am) except the public-API
# test, which links only the shared libkvq a host program would.
KVQ_C_TESTS = \
	tests/test_status tests/test_device_spec tests/test_runtime tests/test_public_api \
	tests/test_philox tests/test_codebook tests/test_wht tests/test_pack tests/test_codec \
	tests/test_qjl tests/test_scheme tests/test_stage_format \
	tests/test_npy tests/test_safetensors tests/test_generators tests/test_corpus \
	tests/test_conf_wht tests/test_conf_quantize tests/test_conf_attention tests/test_causal \
	tests/test_stream \
	tests/test_metrics tests/test_stats tests/test_findings tests/test_report \
	tests/test_attention_ref tests/test_runner tests/test_real_fixture \
	tests/test_stage_eden tests/test_stage_sqjl tests/test_pareto tests/test_stage_out \
	tests/test_batch tests/test_memo tests/test_format_kernels tests/test_tuning
KVQ_SH_TESTS = \
	tests/exports.sh tests/cli_devices.sh tests/cli_codebook.sh tests/fuzz_smoke.sh \
	tests/conf_gpu_limits.sh tests/cli_run.sh tests/cli_formats.sh tests/bench_smoke.sh \
	tests/doc_refs.sh tests/cli_budgets.sh tests/cli_shard.sh tests/cli_mpi.sh \
	tests/cli_multidevice.sh tests/cli_outlier.sh tests/bench_numpy_smoke.sh \
	tests/cli_tune.sh

check_PROGRAMS += $(KVQ_C_TESTS)
check_HEADERS += tests/conformance.h tests/bad_specs.h
dist_check_SCRIPTS += $(KVQ_SH_TESTS)
TESTS += $(KVQ_C_TESTS) $(KVQ_SH_TESTS)
tests_test_public_api_LDADD = libkvq.la

AM_TESTS_ENVIRONMENT += CLANG='$(CLANG)'; export CLANG;
EXTRA_DIST += tests/common.sh tests/device.sh tests/untime.sh tests/agree.py tests/data/bad \
	tests/data/good tests/data/real tests/data/tune tests/fuzz/fuzz_npy.c \
	tests/fuzz/fuzz_safetensors.c tests/fuzz/fuzz_spec.c tests/fuzz/fuzz_tune.c

# libFuzzer targets for the two parsers: `make fuzz` builds them with clang,
# `make fuzz-run FUZZ_SECONDS=300` runs each seeded with tests/data.
FUZZ_SRCS = src/base/file.c src/data/util.c src/data/npy.c src/data/safetensors.c
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(top_srcdir)/include -I$(top_srcdir)/src
FUZZ_TARGETS = tests/fuzz/fuzz_npy tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_spec \
	tests/fuzz/fuzz_tune
FUZZ_SPEC_SRCS = $(filter src/base/%.c src/core/%.c src/data/%.c,$(libkvq_impl_la_SOURCES)) \
	src/cli/util.c src/cli/grid.c
FUZZ_SECONDS = 60
CLEANFILES += $(FUZZ_TARGETS)
if HAVE_CLANG
fuzz: $(FUZZ_TARGETS)
tests/fuzz/fuzz_npy tests/fuzz/fuzz_safetensors: $(FUZZ_SRCS) tests/fuzz/fuzz_npy.c \
		tests/fuzz/fuzz_safetensors.c include/kvq.h src/data/data_internal.h
	$(AM_V_CC)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_FLAGS) \
		$(FUZZ_SRCS:%=$(top_srcdir)/%) $(top_srcdir)/$@.c -lm -o $@
tests/fuzz/fuzz_spec: $(FUZZ_SPEC_SRCS) tests/fuzz/fuzz_spec.c include/kvq.h
	$(AM_V_CC)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_FLAGS) -D_DEFAULT_SOURCE \
		$(FUZZ_SPEC_SRCS:%=$(top_srcdir)/%) $(top_srcdir)/tests/fuzz/fuzz_spec.c -lm -lpthread -o $@
tests/fuzz/fuzz_tune: src/base/tuning.c src/base/tuning.h tests/fuzz/fuzz_tune.c
	$(AM_V_CC)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_FLAGS) -D_DEFAULT_SOURCE \
		$(top_srcdir)/src/base/tuning.c $(top_srcdir)/tests/fuzz/fuzz_tune.c -lm -o $@
fuzz-run: $(FUZZ_TARGETS)
	@for t in npy safetensors spec tune; do \
	  rm -rf tests/fuzz/corpus_$$t && $(MKDIR_P) tests/fuzz/corpus_$$t && \
	  case $$t in npy) pat='npy_* *.npy';; tune) pat='../tune/*';; *) pat='st_* *.safetensors';; esac; \
	  for p in $$pat; do cp $(top_srcdir)/tests/data/bad/$$p $(top_srcdir)/tests/data/good/$$p \
	    tests/fuzz/corpus_$$t/ 2>/dev/null; done; \
	  ./tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -artifact_prefix=tests/fuzz/crash_$$t- tests/fuzz/corpus_$$t || exit 1; \
	done
else
fuzz fuzz-run:
	@echo "make $@ needs clang with libFuzzer (configure found no clang)"; exit 1
endif
.PHONY: fuzz fuzz-run
