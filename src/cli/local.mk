# cli: the kvq command
kvq_SOURCES += src/cli/main.c src/cli/util.c src/cli/cli.h src/cli/cmd_devices.c
