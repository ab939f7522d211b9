/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * What taking a device from its driver would break: a mounted filesystem
 * or swap on one of its disks, a disk under device-mapper or md, an up
 * network interface.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MAX_DEVNUMS 256

struct blk {
	char dev[MAX_DEVNUMS][16]; /* "259:1" */
	char name[MAX_DEVNUMS][CTL_NAME_MAX];
	int n;
};

static void add_devnum(struct blk *b, const char *dir, const char *name)
{
	char p[PATH_MAX];

	if (b->n >= MAX_DEVNUMS || strlen(name) >= CTL_NAME_MAX)
		return;
	if (snprintf(p, sizeof(p), "%s/dev", dir) >= (int)sizeof(p) || ctl_read(p, b->dev[b->n], 16) <= 0)
		return;
	strcpy(b->name[b->n++], name);
}

static bool has_holders(const char *dir, char *holder, size_t len)
{
	char p[PATH_MAX];
	struct dirent *e;
	bool any = false;
	DIR *d;

	if (snprintf(p, sizeof(p), "%s/holders", dir) >= (int)sizeof(p) || !(d = opendir(p)))
		return false;
	while (!any && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (strlen(e->d_name) < len)
			strcpy(holder, e->d_name);
		else
			snprintf(holder, len, "a holder");
		any = true;
	}
	closedir(d);
	return any;
}

/* Disks whose sysfs directory lies under the device's, and their partitions. */
static int collect_disks(const char *devreal, struct blk *b, char *why, size_t len)
{
	char p[PATH_MAX], real[PATH_MAX], holder[CTL_NAME_MAX];
	size_t dl = strlen(devreal);
	struct dirent *e;
	DIR *d;

	if (ctl_path(p, sizeof(p), "/sys/block") < 0 || !(d = opendir(p)))
		return 0;
	while ((e = readdir(d))) {
		char disk[PATH_MAX];
		struct dirent *pe;
		DIR *pd;

		if (e->d_name[0] == '.')
			continue;
		if (ctl_path(disk, sizeof(disk), "/sys/block/%s", e->d_name) < 0 || !realpath(disk, real))
			continue;
		if (strncmp(real, devreal, dl) || real[dl] != '/')
			continue;
		add_devnum(b, real, e->d_name);
		if (has_holders(real, holder, sizeof(holder))) {
			snprintf(why, len, "disk %s is in use by %s (device-mapper, md or crypt)", e->d_name, holder);
			closedir(d);
			return 1;
		}
		if (!(pd = opendir(real)))
			continue;
		while ((pe = readdir(pd))) {
			char part[PATH_MAX], f[PATH_MAX];

			if (pe->d_name[0] == '.' || snprintf(part, sizeof(part), "%s/%s", real, pe->d_name) >= (int)sizeof(part))
				continue;
			if (snprintf(f, sizeof(f), "%s/partition", part) >= (int)sizeof(f) || !ctl_exists(f))
				continue;
			add_devnum(b, part, pe->d_name);
			if (has_holders(part, holder, sizeof(holder))) {
				snprintf(why, len, "partition %s is in use by %s (device-mapper, md or crypt)", pe->d_name,
					 holder);
				closedir(pd);
				closedir(d);
				return 1;
			}
		}
		closedir(pd);
	}
	closedir(d);
	return 0;
}

/* mountinfo's third field is the mounted block device's major:minor. */
static int mounted(const struct blk *b, char *why, size_t len)
{
	char p[PATH_MAX], line[4096];
	FILE *f;
	int hit = 0;

	if (ctl_path(p, sizeof(p), "/proc/self/mountinfo") < 0 || !(f = fopen(p, "re")))
		return 0;
	while (!hit && fgets(line, sizeof(line), f)) {
		char mnt[1024], devnum[32];

		if (sscanf(line, "%*s %*s %31s %*s %1023s", devnum, mnt) != 2)
			continue;
		for (int i = 0; i < b->n; i++) {
			if (strcmp(devnum, b->dev[i]))
				continue;
			snprintf(why, len, "/dev/%s is mounted on %s", b->name[i], mnt);
			hit = 1;
			break;
		}
	}
	fclose(f);
	if (hit || ctl_path(p, sizeof(p), "/proc/swaps") < 0 || !(f = fopen(p, "re")))
		return hit;
	while (!hit && fgets(line, sizeof(line), f)) {
		char dev[1024];

		if (sscanf(line, "%1023s", dev) != 1 || strncmp(dev, "/dev/", 5))
			continue;
		for (int i = 0; i < b->n; i++) {
			if (strcmp(dev + 5, b->name[i]))
				continue;
			snprintf(why, len, "/dev/%s is in use as swap", b->name[i]);
			hit = 1;
			break;
		}
	}
	fclose(f);
	return hit;
}

static int iface_up(const char *devreal, char *why, size_t len)
{
	char p[PATH_MAX], v[32];
	struct dirent *e;
	int hit = 0;
	DIR *d;

	if (snprintf(p, sizeof(p), "%s/net", devreal) >= (int)sizeof(p) || !(d = opendir(p)))
		return 0;
	while (!hit && (e = readdir(d))) {
		char f[PATH_MAX];
		unsigned long flags;
		char *end;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(f, sizeof(f), "%s/net/%s/flags", devreal, e->d_name) >= (int)sizeof(f) ||
		    ctl_read(f, v, sizeof(v)) <= 0)
			continue;
		flags = strtoul(v, &end, 16);
		if (*end || !(flags & 1ul)) /* IFF_UP */
			continue;
		snprintf(why, len, "network interface %s is up", e->d_name);
		hit = 1;
	}
	closedir(d);
	return hit;
}

/* 1 (in use; @why says by what), 0 (free), or a negative errno. */
int ctl_dev_in_use(const struct ctl_dev *d, char *why, size_t len)
{
	char p[PATH_MAX], real[PATH_MAX];
	struct blk *b;
	int r;

	if (strcmp(d->bus, "pci"))
		return 0;
	if (ctl_path(p, sizeof(p), "/sys/bus/pci/devices/%s", d->name) < 0)
		return -ENAMETOOLONG;
	if (!realpath(p, real))
		return -errno;
	r = iface_up(real, why, len);
	if (r)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = collect_disks(real, b, why, len);
	if (!r)
		r = mounted(b, why, len);
	free(b);
	return r;
}
