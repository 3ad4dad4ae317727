# analysis: per-trial metrics, statistics, the experiment runner, findings and
# reports (the experiment layer, private to the kvq program: analysis.h).
libkvq_impl_la_SOURCES += src/analysis/analysis.h src/analysis/metrics.c src/analysis/stats.c \
	src/analysis/findings.c src/analysis/report.c src/analysis/report.h src/analysis/runner.c \
	src/analysis/report_real.c src/analysis/kv_codes.h src/analysis/kv_codes.c src/analysis/pareto.c \
	src/analysis/partial.h src/analysis/partial.c src/analysis/parallel.c
