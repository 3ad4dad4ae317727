# data: synthetic sources, the .npy and .safetensors readers, the public
# tensor and KV handles.
libkvq_impl_la_SOURCES += src/data/data_internal.h src/data/util.c src/data/npy.c \
	src/data/safetensors.c src/data/load.c src/data/generate.c src/data/handles.c
