# base: utilities below every other layer (clock, atomic file replacement,
# the device-vs-host tolerance rule, a parallel loop, the CLBlast tuning
# cache file); they include nothing from kvq.
libkvq_impl_la_SOURCES += src/base/clock.h src/base/clock.c src/base/file.h src/base/file.c \
	src/base/tolerance.h src/base/tolerance.c \
	src/base/rows.h src/base/rows.c src/base/workers.h src/base/workers.c \
	src/base/tuning.h src/base/tuning.c
