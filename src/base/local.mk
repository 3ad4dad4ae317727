# base: utilities below every other layer (clock, atomic file replacement);
# they include nothing from kvq.
libkvq_impl_la_SOURCES += src/base/clock.h src/base/clock.c src/base/file.h src/base/file.c
