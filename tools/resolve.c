/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* A user's DEVICE argument: BDF, short BDF, sysfs path, mdev UUID, or interface name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int set(struct ctl_target *t, const char *bus, const char *name)
{
	char p[PATH_MAX];

	if (strlen(name) >= sizeof(t->name))
		return -ENAMETOOLONG;
	strcpy(t->bus, bus);
	strcpy(t->name, name);
	if (ctl_path(p, sizeof(p), "/sys/bus/%s/devices/%s", bus, name) < 0 || !ctl_exists(p))
		return -ENODEV;
	return 0;
}

static int from_name(struct ctl_target *t, const char *s)
{
	char full[16];

	if (ctl_is_bdf(s))
		return set(t, "pci", s);
	if (strlen(s) == 7 && snprintf(full, sizeof(full), "0000:%s", s) == 12 && ctl_is_bdf(full))
		return set(t, "pci", full);
	if (ctl_is_uuid(s))
		return set(t, "mdev", s);
	return -EINVAL;
}

/*
 * Returns 0, -ENODEV (well formed, but no such device), -EINVAL (not a
 * device name, no such interface), -EPROTONOSUPPORT (an interface name in
 * a build without libnl), or -ENXIO/-EMEDIUMTYPE (an interface without a
 * PCI device).
 */
int ctl_resolve(const char *arg, struct ctl_target *t)
{
	char bdf[CTL_NAME_MAX];
	int r;

	memset(t, 0, sizeof(*t));
	if (!arg[0])
		return -EINVAL;
	if (arg[0] == '/') {
		/* /sys/bus/pci/devices/BDF, /sys/devices/.../BDF, /sys/bus/mdev/devices/UUID */
		char tmp[PATH_MAX], *b;
		size_t n = strlen(arg);

		if (strncmp(arg, "/sys/", 5) || n >= sizeof(tmp))
			return -EINVAL;
		memcpy(tmp, arg, n + 1);
		while (n > 1 && tmp[n - 1] == '/')
			tmp[--n] = '\0';
		b = strrchr(tmp, '/') + 1;
		return from_name(t, b);
	}
	r = from_name(t, arg);
	if (r != -EINVAL)
		return r;

	/* An interface name (at most IFNAMSIZ-1 bytes, no '/'). */
	if (strlen(arg) >= sizeof(t->ifname) || strlen(arg) > 15 || strchr(arg, '/') || strchr(arg, ':'))
		return -EINVAL;
	if (ctl_root_is_real()) {
		r = ctl_nl_parent(arg, bdf, sizeof(bdf));
	} else {
		/* Netlink cannot see a test tree: its sysfs link stands in. */
		char p[PATH_MAX];

		r = ctl_path(p, sizeof(p), "/sys/class/net/%s", arg);
		if (!r && !ctl_exists(p))
			r = -EINVAL;
		else if (!r) {
			ctl_path(p, sizeof(p), "/sys/class/net/%s/device", arg);
			r = ctl_link_base(p, bdf, sizeof(bdf)) < 0 ? -ENXIO : 0;
		}
	}
	if (r == -ENODEV)
		r = -EINVAL;
	if (r < 0)
		return r;
	if (!ctl_is_bdf(bdf))
		return -EMEDIUMTYPE;
	strcpy(t->ifname, arg);
	return set(t, "pci", bdf);
}
