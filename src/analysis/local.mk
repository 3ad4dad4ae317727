# analysis: sources and tests (fragment of the top-level Makefile.am)
libkvq_impl_la_SOURCES += src/analysis/metrics.c src/analysis/stats.c \
	src/analysis/findings.c src/analysis/report.c src/analysis/report.h src/analysis/runner.c

check_PROGRAMS += tests/test_metrics tests/test_stats tests/test_findings tests/test_report \
	tests/test_runner
tests_test_metrics_LDADD = $(TEST_LDADD)
tests_test_stats_LDADD = $(TEST_LDADD)
tests_test_findings_LDADD = $(TEST_LDADD)
tests_test_report_LDADD = $(TEST_LDADD)
tests_test_runner_LDADD = $(TEST_LDADD)
TESTS += tests/test_metrics tests/test_stats tests/test_findings tests/test_report \
	tests/test_runner
