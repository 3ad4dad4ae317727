# cli: the kvq command, one file per subcommand.
kvq_SOURCES += src/cli/main.c src/cli/util.c src/cli/cli.h src/cli/cmd_devices.c \
	src/cli/common.h src/cli/common.c src/cli/cmd_run.c src/cli/grid.h src/cli/grid.c \
	src/cli/cmd_sweep.c src/cli/plots.c src/cli/cmd_compare.c src/cli/cmd_codebook.c \
	src/cli/cmd_bench.c
