/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Device enumeration through libudev (built with -Dudev).  The libudev
 * symbols are weak: the shared library links libudev, but a program that
 * links the static archive -static, where no libudev.a exists (Debian
 * ships none), still links and falls back to the sysfs walk (-ENOSYS).
 */
#include <libudev.h>

#include "internal.h"

#pragma weak udev_new
#pragma weak udev_unref
#pragma weak udev_enumerate_new
#pragma weak udev_enumerate_unref
#pragma weak udev_enumerate_add_match_subsystem
#pragma weak udev_enumerate_scan_devices
#pragma weak udev_enumerate_get_list_entry
#pragma weak udev_list_entry_get_next
#pragma weak udev_list_entry_get_name
#pragma weak udev_device_new_from_syspath
#pragma weak udev_device_get_sysname
#pragma weak udev_device_get_subsystem
#pragma weak udev_device_unref

int ifd_udev_enumerate(int (*fn)(const char *name, const char *subsystem, void *arg), void *arg)
{
	struct udev_enumerate *en = NULL;
	struct udev_list_entry *le;
	struct udev *u;
	int r = 0;

	if (!udev_new)
		return -ENOSYS;
	u = udev_new();
	if (!u)
		return -ENOSYS; /* the caller walks sysfs itself */
	en = udev_enumerate_new(u);
	if (!en || udev_enumerate_add_match_subsystem(en, "pci") < 0 ||
	    udev_enumerate_add_match_subsystem(en, "mdev") < 0 || udev_enumerate_scan_devices(en) < 0) {
		r = -ENOSYS;
		goto out;
	}
	for (le = udev_enumerate_get_list_entry(en); le && !r; le = udev_list_entry_get_next(le)) {
		struct udev_device *d = udev_device_new_from_syspath(u, udev_list_entry_get_name(le));
		const char *name, *subsys;

		if (!d)
			continue; /* gone meanwhile */
		name = udev_device_get_sysname(d);
		subsys = udev_device_get_subsystem(d);
		if (name && subsys)
			r = fn(name, subsys, arg);
		udev_device_unref(d);
	}
	r = r < 0 ? r : 0;
out:
	if (en)
		udev_enumerate_unref(en);
	udev_unref(u);
	return r;
}
