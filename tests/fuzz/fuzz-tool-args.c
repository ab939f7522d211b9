/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufdctl's command line (ctl_main): the input split at NUL bytes into
 * argv.  The commands are stubs that check what the parser hands them: the
 * arguments are argv's own strings and only the options of that command
 * are set.  (The commands' own parsing of sysfs is fuzz-sysfs's.)
 */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static char **cur_argv;
static int cur_argc;

static void check_arg(const char *a)
{
	for (int i = 0; i < cur_argc; i++)
		if (cur_argv[i] == a)
			return;
	abort(); /* not one of argv's strings */
}

int ctl_cmd_list(const struct ctl_opts *o)
{
	if (o->yes || o->force || o->apply || o->memlock)
		abort();
	return CTL_EXIT_OK;
}

int ctl_cmd_info(const struct ctl_opts *o, const char *arg)
{
	check_arg(arg);
	if (o->json || o->yes || o->force || o->apply || o->memlock)
		abort();
	return CTL_EXIT_OK;
}

int ctl_cmd_bind(const struct ctl_opts *o, const char *arg)
{
	check_arg(arg);
	if (o->json || o->apply || o->memlock)
		abort();
	return CTL_EXIT_OK;
}

int ctl_cmd_unbind(const struct ctl_opts *o, const char *arg)
{
	check_arg(arg);
	if (o->json || o->force || o->apply || o->memlock)
		abort();
	return CTL_EXIT_OK;
}

int ctl_cmd_setup_user(const struct ctl_opts *o, const char *user, const char *arg)
{
	check_arg(user);
	check_arg(arg);
	if (o->json || o->yes || o->force)
		abort();
	if (o->memlock) { /* "--memlock=SIZE" points inside its argument */
		bool in = false;

		for (int i = 0; i < cur_argc; i++)
			in |= o->memlock >= cur_argv[i] && o->memlock <= cur_argv[i] + strlen(cur_argv[i]);
		if (!in)
			abort();
	}
	return CTL_EXIT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *argv[17];
	int argc = 0, r;
	size_t i = 0;

	copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = (char *)"iommufdctl";
	while (i < size && argc < 16) {
		argv[argc++] = copy + i;
		i += strlen(copy + i) + 1;
	}
	argv[argc] = NULL;
	cur_argv = argv;
	cur_argc = argc;
	optind = 0; /* glibc: start a new scan */
	opterr = 0;
	r = ctl_main(argc, argv);
	if (r < CTL_EXIT_OK || r > CTL_EXIT_UNSUPPORTED)
		abort();
	free(copy);
	return 0;
}
