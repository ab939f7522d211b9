/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Which devices exist and what sysfs says about each.  Enumeration comes
 * from libudev on the running system and from a directory walk under a
 * test root (udev cannot see a fake tree); everything after the list of
 * names is one code path.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef CTL_HAVE_UDEV
#include <libudev.h>
#endif

#include "ctl.h"

static bool hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

bool ctl_is_bdf(const char *s)
{
	return strlen(s) == 12 && hex(s, 4) && s[4] == ':' && hex(s + 5, 2) && s[7] == ':' && hex(s + 8, 2) &&
	       s[10] == '.' && s[11] >= '0' && s[11] <= '7';
}

bool ctl_is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !hex(s + i, 1))
			return false;
	}
	return true;
}

/*
 * A group stays viable while every member is driverless or bound to a
 * driver that leaves DMA ownership to VFIO (the kernel's driver_managed_dma:
 * vfio-pci and its variant drivers, pci-stub, pcieport).
 */
bool ctl_driver_keeps_group_viable(const char *driver)
{
	return !driver[0] || !strcmp(driver, "pci-stub") || !strcmp(driver, "pcieport") || strstr(driver, "vfio");
}

static int first_vfio_cdev(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char *end;
		long v;

		if (strncmp(e->d_name, "vfio", 4) || !e->d_name[4])
			continue;
		v = strtol(e->d_name + 4, &end, 10);
		if (*end || v < 0 || v > INT_MAX)
			continue;
		n = (int)v;
		break;
	}
	closedir(d);
	return n;
}

int ctl_dev_fill(const char *bus, const char *name, struct ctl_dev *d)
{
	char p[PATH_MAX], v[64], dv[64], g[32];
	int r;

	memset(d, 0, sizeof(*d));
	d->group = -1;
	d->cdev = -1;
	if (strlen(bus) >= sizeof(d->bus) || strlen(name) >= sizeof(d->name) || strchr(name, '/'))
		return -EINVAL;
	strcpy(d->bus, bus);
	strcpy(d->name, name);
	if (ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s", bus, name) < 0 || !ctl_exists(p))
		return -ENODEV;

	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/driver", bus, name);
	if (ctl_link_base(p, d->driver, sizeof(d->driver)) < 0)
		d->driver[0] = '\0';
	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/driver_override", bus, name);
	if (ctl_read(p, d->override, sizeof(d->override)) < 0 || !strcmp(d->override, "(null)"))
		d->override[0] = '\0';
	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/vendor", bus, name);
	r = ctl_read(p, v, sizeof(v));
	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/device", bus, name);
	if (r > 2 && ctl_read(p, dv, sizeof(dv)) > 2 && !strncmp(v, "0x", 2) && !strncmp(dv, "0x", 2))
		snprintf(d->ids, sizeof(d->ids), "%.8s:%.8s", v + 2, dv + 2);

	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/iommu_group", bus, name);
	if (ctl_link_base(p, g, sizeof(g)) == 0) {
		char *end;
		long n = strtol(g, &end, 10);

		if (!*end && n >= 0 && n <= INT_MAX)
			d->group = (int)n;
	}
	ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s/vfio-dev", bus, name);
	d->cdev = first_vfio_cdev(p);
	if (d->group >= 0) {
		ctl_path(p, sizeof(p), "/dev/vfio/%d", d->group);
		d->group_node = ctl_exists(p);
		if (!d->group_node) {
			ctl_path(p, sizeof(p), "/dev/vfio/noiommu-%d", d->group);
			d->noiommu_group = d->group_node = ctl_exists(p);
		}
	}
	return 0;
}

static int add(struct ctl_devlist *l, const char *bus, const char *name)
{
	struct ctl_dev d;

	/* A name sysfs cannot describe (raced away, too long) is skipped, not fatal. */
	if (ctl_dev_fill(bus, name, &d) < 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct ctl_dev *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = d;
	return 0;
}

static int walk_bus(struct ctl_devlist *l, const char *bus)
{
	char p[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (ctl_path(p, sizeof(p), "/sys/bus/%s/devices", bus) < 0)
		return -ENAMETOOLONG;
	d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!r && (e = readdir(d)))
		if (e->d_name[0] != '.')
			r = add(l, bus, e->d_name);
	closedir(d);
	return r;
}

#ifdef CTL_HAVE_UDEV
static int udev_scan(struct ctl_devlist *l)
{
	struct udev *u = udev_new();
	struct udev_enumerate *en;
	struct udev_list_entry *e;
	int r = 0;

	if (!u)
		return -ENOMEM;
	en = udev_enumerate_new(u);
	if (!en || udev_enumerate_add_match_subsystem(en, "pci") < 0 ||
	    udev_enumerate_add_match_subsystem(en, "mdev") < 0 || udev_enumerate_scan_devices(en) < 0) {
		r = -ENOMEM;
		goto out;
	}
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en)) {
		struct udev_device *dev = udev_device_new_from_syspath(u, udev_list_entry_get_name(e));
		const char *ss, *sn;

		if (!dev)
			continue;
		ss = udev_device_get_subsystem(dev);
		sn = udev_device_get_sysname(dev);
		if (ss && sn && (!strcmp(ss, "pci") || !strcmp(ss, "mdev")))
			r = add(l, ss, sn);
		udev_device_unref(dev);
		if (r)
			break;
	}
out:
	udev_enumerate_unref(en);
	udev_unref(u);
	return r;
}
#endif

static int cmp_dev(const void *a, const void *b)
{
	const struct ctl_dev *x = a, *y = b;
	int c = strcmp(x->bus, y->bus);

	return c ? -c : strcmp(x->name, y->name); /* pci before mdev */
}

int ctl_devlist_scan(struct ctl_devlist *l)
{
	int r;

	memset(l, 0, sizeof(*l));
#ifdef CTL_HAVE_UDEV
	if (ctl_root_is_real()) {
		r = udev_scan(l);
		goto sorted;
	}
#endif
	r = walk_bus(l, "pci");
	if (!r)
		r = walk_bus(l, "mdev");
#ifdef CTL_HAVE_UDEV
sorted:
#endif
	if (r) {
		ctl_devlist_free(l);
		return r;
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_dev);
	return 0;
}

void ctl_devlist_free(struct ctl_devlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Names of the group's members, sorted; returns how many (at most @max). */
int ctl_group_members(int group, char names[][CTL_NAME_MAX], size_t max)
{
	char p[PATH_MAX];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if (ctl_path(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices", group) < 0)
		return -ENAMETOOLONG;
	d = opendir(p);
	if (!d)
		return -errno;
	while (n < max && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= CTL_NAME_MAX)
			continue;
		strcpy(names[n++], e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, CTL_NAME_MAX, cmp_name);
	return (int)n;
}
