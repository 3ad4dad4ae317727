# data: sources and tests (fragment of the top-level Makefile.am)
libkvq_impl_la_SOURCES += src/data/data_internal.h src/data/util.c src/data/npy.c \
	src/data/safetensors.c src/data/load.c src/data/generate.c src/data/handles.c

DATA_TESTS = tests/test_npy tests/test_safetensors tests/test_generators tests/test_corpus
check_PROGRAMS += $(DATA_TESTS)
tests_test_npy_LDADD = $(TEST_LDADD)
tests_test_safetensors_LDADD = $(TEST_LDADD)
tests_test_generators_LDADD = $(TEST_LDADD)
tests_test_corpus_LDADD = $(TEST_LDADD)
TESTS += $(DATA_TESTS) tests/fuzz_smoke.sh
# A real model's attention tensors (tests/data/real/README.md says whence).
check_PROGRAMS += tests/test_real_fixture
tests_test_real_fixture_LDADD = $(TEST_LDADD)
TESTS += tests/test_real_fixture
EXTRA_DIST += tests/data/real
dist_check_SCRIPTS += tests/fuzz_smoke.sh
AM_TESTS_ENVIRONMENT += CLANG='$(CLANG)'; export CLANG;
EXTRA_DIST += tests/data/bad tests/data/good tools/make_corpus.py tools/export_kv.py \
	tests/fuzz/fuzz_npy.c tests/fuzz/fuzz_safetensors.c tests/fuzz/fuzz_spec.c

# libFuzzer targets for the two parsers: `make fuzz` builds them with clang,
# `make fuzz-run FUZZ_SECONDS=300` runs each seeded with tests/data.
FUZZ_SRCS = src/data/util.c src/data/npy.c src/data/safetensors.c
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(top_srcdir)/include -I$(top_srcdir)/src
FUZZ_TARGETS = tests/fuzz/fuzz_npy tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_spec
FUZZ_SPEC_SRCS = $(filter src/core/%.c src/data/%.c,$(libkvq_impl_la_SOURCES)) \
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
fuzz-run: $(FUZZ_TARGETS)
	@for t in npy safetensors spec; do \
	  rm -rf tests/fuzz/corpus_$$t && $(MKDIR_P) tests/fuzz/corpus_$$t && \
	  case $$t in npy) pat='npy_* *.npy';; *) pat='st_* *.safetensors';; esac; \
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
