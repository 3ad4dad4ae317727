# core: the host reference math (doc/quantization.md) — Philox streams, Lloyd–Max
# codebooks, rotations, codecs as stages, bit-planar packing, schemes.
libkvq_impl_la_SOURCES += src/core/core.h src/core/philox.c src/core/codebook.c \
	src/core/rotation.c src/core/pack.c src/core/codec.c src/core/scheme.c \
	src/core/distribution.c src/core/attention_ref.c src/core/memo.c
# Codec stages (core/stage.h): the table, then one file per stage kind.
libkvq_impl_la_SOURCES += src/core/stage.h src/core/stages.c src/core/stage_rotation.c \
	src/core/stage_mse.c src/core/stage_qjl.c src/core/stage_nc.c src/core/stage_nb.c \
	src/core/stage_format.c src/core/minifloat.c
# TurboQuant refinements (doc/schemes.md §5).
libkvq_impl_la_SOURCES += src/core/stage_eden.c
libkvq_impl_la_SOURCES += src/core/stage_out.c
