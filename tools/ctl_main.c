/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The command line of iommufdctl(1): options, then one command. */
#include <getopt.h>
#include <string.h>

#include <libiommufd/libiommufd.h>

#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: iommufdctl list [--json]\n"
		   "       iommufdctl info DEVICE\n"
		   "       iommufdctl bind DEVICE [--yes] [--force]\n"
		   "       iommufdctl unbind DEVICE [--yes]\n"
		   "       iommufdctl setup-user USER DEVICE [--memlock SIZE] [--apply]\n"
		   "DEVICE: a PCI address (0000:00:04.0 or 00:04.0), a sysfs path, an mdev UUID,\n"
		   "or a network interface name.  See iommufdctl(1).\n");
}

int ctl_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },   { "yes", no_argument, NULL, 'y' },
		{ "force", no_argument, NULL, 'f' },  { "apply", no_argument, NULL, 'a' },
		{ "memlock", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { 0 };
	const char *cmd;
	int c, nargs;

	while ((c = getopt_long(argc, argv, "yfh", lo, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 'y': o.yes = true; break;
		case 'f': o.force = true; break;
		case 'a': o.apply = true; break;
		case 'm': o.memlock = optarg; break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		case 'V': {
			uint32_t v = iommufd_version();

			printf("iommufdctl (libiommufd %u.%u.%u)\n", v >> 16, (v >> 8) & 0xff, v & 0xff);
			return CTL_EXIT_OK;
		}
		default: usage(stderr); return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	cmd = argv[optind++];
	nargs = argc - optind;
	/* Options that do not belong to the command are mistakes, not no-ops. */
	if ((o.json && strcmp(cmd, "list")) || (o.force && strcmp(cmd, "bind")) ||
	    (o.yes && strcmp(cmd, "bind") && strcmp(cmd, "unbind")) ||
	    ((o.apply || o.memlock) && strcmp(cmd, "setup-user"))) {
		fprintf(stderr, "iommufdctl: %s: an option given does not apply to this command\n", cmd);
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!strcmp(cmd, "list") && nargs == 0)
		return ctl_cmd_list(&o);
	if (!strcmp(cmd, "info") && nargs == 1)
		return ctl_cmd_info(&o, argv[optind]);
	if (!strcmp(cmd, "bind") && nargs == 1)
		return ctl_cmd_bind(&o, argv[optind]);
	if (!strcmp(cmd, "unbind") && nargs == 1)
		return ctl_cmd_unbind(&o, argv[optind]);
	if (!strcmp(cmd, "setup-user") && nargs == 2)
		return ctl_cmd_setup_user(&o, argv[optind], argv[optind + 1]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
