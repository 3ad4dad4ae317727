# base: utilities below every other layer; they include nothing from kvq.
libkvq_impl_la_SOURCES += src/base/clock.h src/base/clock.c
