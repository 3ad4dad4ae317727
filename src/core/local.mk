# core: the host reference math (doc/quantization.md) — Philox streams, Lloyd–Max codebooks,
# rotations, codecs, bit-planar packing, schemes — and its tests.
libkvq_impl_la_SOURCES += src/core/core.h src/core/philox.c src/core/codebook.c \
	src/core/rotation.c src/core/pack.c src/core/codec.c src/core/scheme.c \
	src/core/distribution.c src/core/attention_ref.c
# `kvq codebook` is part of the kvq program (declared in src/cli/cli.h).
kvq_SOURCES += src/cli/cmd_codebook.c

check_PROGRAMS += tests/test_philox tests/test_codebook tests/test_wht tests/test_pack \
	tests/test_codec tests/test_qjl tests/test_scheme
tests_test_philox_LDADD = $(TEST_LDADD)
tests_test_codebook_LDADD = $(TEST_LDADD)
tests_test_wht_LDADD = $(TEST_LDADD)
tests_test_pack_LDADD = $(TEST_LDADD)
tests_test_codec_LDADD = $(TEST_LDADD)
tests_test_qjl_LDADD = $(TEST_LDADD)
tests_test_scheme_LDADD = $(TEST_LDADD)
TESTS += tests/test_philox tests/test_codebook tests/test_wht tests/test_pack \
	tests/test_codec tests/test_qjl tests/test_scheme
dist_check_SCRIPTS += tests/cli_codebook.sh
TESTS += tests/cli_codebook.sh
