# device: the backends (host reference, OpenCL), the kernel launchers (OpenCL +
# CLBlast), their variant selection and the attention pipeline
libkvq_impl_la_SOURCES += src/device/backend.h src/device/backend.c src/device/host.c \
	src/device/opencl.c src/device/device.h src/device/layout.h src/device/select.c \
	src/device/stream.h src/device/devbuf.c src/device/codec.c \
	src/device/codec_cache.c src/device/attention.c \
	src/device/trial.c src/device/formats.c src/device/logits.c \
	src/device/bench_kernels.c src/device/bench_kernels.h src/device/outlier.c
KVQ_CL_FILES += cl/common.cl cl/wht.cl cl/quantize.cl cl/attention.cl cl/logits.cl \
	cl/formats.cl cl/outlier.cl
