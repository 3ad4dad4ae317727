# device: the backends (host reference, OpenCL), the kernel launchers (OpenCL +
# CLBlast), their variant selection and the attention pipeline
libkvq_impl_la_SOURCES += src/device/backend.h src/device/backend.c src/device/host.c \
	src/device/opencl.c src/device/device.h src/device/layout.h src/device/select.c \
	src/device/devbuf.c src/device/codec.c src/device/attention.c
KVQ_CL_FILES += cl/common.cl cl/wht.cl cl/quantize.cl cl/attention.cl

check_HEADERS += tests/conformance.h
check_PROGRAMS += tests/test_conf_wht
tests_test_conf_wht_LDADD = $(TEST_LDADD)
TESTS += tests/test_conf_wht
check_PROGRAMS += tests/test_conf_quantize
tests_test_conf_quantize_LDADD = $(TEST_LDADD)
TESTS += tests/test_conf_quantize
check_PROGRAMS += tests/test_conf_attention
tests_test_conf_attention_LDADD = $(TEST_LDADD)
TESTS += tests/test_conf_attention
dist_check_SCRIPTS += tests/conf_gpu_limits.sh
TESTS += tests/conf_gpu_limits.sh
