/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufdctl setup-user USER DEVICE [--apply] [--memlock SIZE]: the udev
 * rule and the locked-memory limit an unprivileged user needs for DMA.
 */
#include <errno.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctl.h"

extern char **environ;

static bool valid_user_name(const char *u)
{
	if (!u[0] || strlen(u) > 32 || u[0] == '-')
		return false;
	for (const char *c = u; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
		      *c == '-' || *c == '.'))
			return false;
	return true;
}

static void write_rules(FILE *f, const char *user, const struct ctl_dev *d)
{
	fprintf(f, "# iommufdctl setup-user %s %s\n", user, d->name);
	fprintf(f, "# iommufd alone grants no device access (like /dev/vfio/vfio, which is 0666).\n");
	fprintf(f, "SUBSYSTEM==\"misc\", KERNEL==\"iommu\", MODE=\"0666\"\n");
	fprintf(f, "# The VFIO device cdev of %s, whatever its number.\n", d->name);
	fprintf(f, "SUBSYSTEM==\"vfio-dev\", KERNELS==\"%s\", OWNER=\"%s\", MODE=\"0600\"\n", d->name, user);
	if (d->group >= 0) {
		fprintf(f, "# The VFIO group node; group numbers can change when the PCI topology does.\n");
		fprintf(f, "SUBSYSTEM==\"vfio\", KERNEL==\"%d\", OWNER=\"%s\", MODE=\"0600\"\n", d->group, user);
	}
}

static void write_limits(FILE *f, const char *user, unsigned long long bytes)
{
	fprintf(f, "# iommufdctl setup-user: pages pinned for DMA count against RLIMIT_MEMLOCK.\n");
	fprintf(f, "%s - memlock %llu\n", user, bytes / 1024);
}

static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end || v == 0 || v > (~0ull >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int write_file(const char *sys, void (*fill)(FILE *, const char *, const void *), const char *user,
		      const void *arg)
{
	char p[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f;
	int r;

	if (ctl_path(p, sizeof(p), "%s", sys) < 0)
		return -ENAMETOOLONG;
	strcpy(dir, p);
	slash = strrchr(dir, '/');
	*slash = '\0';
	r = ctl_mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	f = fopen(p, "we");
	if (!f)
		return -errno;
	fill(f, user, arg);
	if (fclose(f) != 0)
		return -errno;
	printf("wrote %s\n", sys);
	return 0;
}

static void fill_rules(FILE *f, const char *user, const void *d)
{
	write_rules(f, user, d);
}

static void fill_limits(FILE *f, const char *user, const void *bytes)
{
	write_limits(f, user, *(const unsigned long long *)bytes);
}

static int run(const char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
		return -ENOENT;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int ctl_cmd_setup_user(const struct ctl_opts *o, const char *user, const char *arg)
{
	static const char *const reload[] = { "udevadm", "control", "--reload-rules", NULL };
	char rules[PATH_MAX], limits[PATH_MAX];
	unsigned long long bytes = 1ull << 30;
	struct ctl_target t;
	struct ctl_dev d;
	int r;

	if (o->memlock && parse_size(o->memlock, &bytes) < 0) {
		fprintf(stderr, "iommufdctl: --memlock %s: not a size (bytes, or with K, M, G, T)\n", o->memlock);
		return CTL_EXIT_USAGE;
	}
	if (!valid_user_name(user) || !getpwnam(user)) {
		fprintf(stderr, "iommufdctl: %s: no such user (see getent passwd)\n", user);
		return CTL_EXIT_USAGE;
	}
	r = ctl_resolve(arg, &t);
	if (r < 0 || ctl_dev_fill(t.bus, t.name, &d) < 0) {
		fprintf(stderr, "iommufdctl: %s: no such device (see iommufdctl list)\n", arg);
		return CTL_EXIT_NODEV;
	}
	snprintf(rules, sizeof(rules), "/etc/udev/rules.d/70-iommufdctl-%s-%s.rules", user, d.name);
	snprintf(limits, sizeof(limits), "/etc/security/limits.d/70-iommufdctl-%s.conf", user);
	if (!o->apply) {
		printf("# %s\n", rules);
		write_rules(stdout, user, &d);
		printf("\n# %s\n", limits);
		write_limits(stdout, user, bytes);
		printf("\n# A systemd service of %s, in its [Service] section:\nLimitMEMLOCK=%llu\n", user, bytes);
		printf("\n# The limit is %llu MiB: every page pinned for DMA counts (a driver's rings and buffers,\n"
		       "# a VM's whole RAM); on the iommufd backends the pins of all of %s's processes add up.\n"
		       "# Size it with --memlock. Write all this with --apply.\n",
		       bytes >> 20, user);
		if (!strstr(d.driver, "vfio"))
			printf("# %s is not bound to vfio-pci yet: iommufdctl bind %s\n", d.name, d.name);
		return CTL_EXIT_OK;
	}
	r = write_file(rules, fill_rules, user, &d);
	if (!r)
		r = write_file(limits, fill_limits, user, &bytes);
	if (r < 0) {
		fprintf(stderr, "iommufdctl: setup-user: %s (run as root)\n", strerror(-r));
		return CTL_EXIT_FAIL;
	}
	printf("A systemd service needs LimitMEMLOCK=%llu in its [Service] section; logins get the limit "
	       "at the next login.\n", bytes);
	if (!ctl_root_is_real())
		return CTL_EXIT_OK;
	if (run(reload) < 0) {
		fprintf(stderr, "iommufdctl: udevadm control --reload-rules failed: run it, then "
				"udevadm trigger --subsystem-match=vfio --subsystem-match=vfio-dev\n");
		return CTL_EXIT_FAIL;
	}
	{
		static const char *const trig[] = { "udevadm", "trigger", "--action=add", "--subsystem-match=vfio",
						    "--subsystem-match=vfio-dev", "--subsystem-match=misc", NULL };

		if (run(trig) < 0) {
			fprintf(stderr, "iommufdctl: udevadm trigger failed: the rules apply at the next boot or bind\n");
			return CTL_EXIT_FAIL;
		}
	}
	printf("udev rules reloaded and applied\n");
	return CTL_EXIT_OK;
}
