# cli: the kvq command, one file per subcommand.
kvq_SOURCES += src/cli/main.c src/cli/util.c src/cli/cli.h src/cli/cmd_devices.c \
	src/cli/common.h src/cli/common.c src/cli/cmd_run.c src/cli/grid.h src/cli/grid.c \
	src/cli/cmd_sweep.c src/cli/plots.c src/cli/cmd_compare.c src/cli/cmd_codebook.c \
	src/cli/cmd_bench.c
kvq_SOURCES += src/cli/cmd_merge.c src/cli/cmd_tune.c src/cli/sweep.h src/cli/open_devices.c
# MPI (doc/scaling.md §3): only mpi.c sees its headers, only kvq links it.
noinst_LTLIBRARIES += libkvq_mpi.la
libkvq_mpi_la_SOURCES = src/cli/mpi.h src/cli/mpi.c
libkvq_mpi_la_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS)
kvq_LDADD += libkvq_mpi.la $(MPI_LIBS)
