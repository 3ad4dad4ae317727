# runtime: platforms, devices, contexts, programs, buffer pool, status codes
libkvq_impl_la_SOURCES += src/runtime/status.c src/runtime/device.c \
	src/runtime/context.c src/runtime/pool.c src/runtime/runtime.h src/runtime/kernels.h
KVQ_CL_FILES += cl/copy.cl

check_PROGRAMS += tests/test_status tests/test_device_spec tests/test_runtime
tests_test_status_LDADD = $(TEST_LDADD)
tests_test_device_spec_LDADD = $(TEST_LDADD)
tests_test_runtime_LDADD = $(TEST_LDADD)
TESTS += tests/test_status tests/test_device_spec tests/test_runtime
dist_check_SCRIPTS += tests/cli_devices.sh
EXTRA_DIST += tests/device.sh
TESTS += tests/cli_devices.sh
dist_check_SCRIPTS += tests/exports.sh
TESTS += tests/exports.sh
