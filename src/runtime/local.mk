# runtime: platforms, devices, contexts, programs, buffer pool, status codes
libkvq_impl_la_SOURCES += src/runtime/status.c src/runtime/device.c \
	src/runtime/context.c src/runtime/options.c src/runtime/pool.c src/runtime/tuned.c src/runtime/runtime.h \
	src/runtime/kernels.h src/runtime/devices.h
KVQ_CL_FILES += cl/copy.cl
