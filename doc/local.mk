# doc: the math and conventions the code relies on (shipped with the source).
EXTRA_DIST += doc/README.md doc/quantization.md doc/schemes.md doc/metrics.md \
	doc/statistics.md doc/conformance.md doc/extending.md doc/scaling.md \
	doc/kernels.md
