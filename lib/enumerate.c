/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufd_device_list(): which devices exist, through the context's
 * syscall table.  The names come from libudev where the table offers it
 * (sys->enumerate), else from /sys/bus/{pci,mdev}/devices; the facts of
 * each device are read from its sysfs directory either way, so both give
 * the same entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEVICES 65536 /* bounds the walk of a hostile or broken sysfs */

struct name {
	char s[64];
	bool mdev;
};

struct names {
	struct iommufd_ctx *ctx;
	struct name *v;
	size_t n, cap;
	int err;
};

static int add_name(const char *name, const char *subsystem, void *arg)
{
	struct names *ns = arg;
	bool mdev = !strcmp(subsystem, "mdev");

	if (!mdev && strcmp(subsystem, "pci"))
		return 0;
	if (strlen(name) >= sizeof(ns->v[0].s) || strchr(name, '/') || name[0] == '.') {
		ifd_warn(ns->ctx, "device list: %s device \"%.64s...\" has no usable name; left out", subsystem, name);
		return 0;
	}
	if (ns->n == MAX_DEVICES) {
		ns->err = -E2BIG;
		return 1;
	}
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 64;
		struct name *v = realloc(ns->v, cap * sizeof(*v));

		if (!v) {
			ns->err = -ENOMEM;
			return 1;
		}
		ns->v = v;
		ns->cap = cap;
	}
	snprintf(ns->v[ns->n].s, sizeof(ns->v[0].s), "%s", name);
	ns->v[ns->n++].mdev = mdev;
	return 0;
}

static int add_pci(const char *name, void *arg)
{
	return add_name(name, "pci", arg);
}

static int add_mdev(const char *name, void *arg)
{
	return add_name(name, "mdev", arg);
}

static int cmp_name(const void *a, const void *b)
{
	const struct name *x = a, *y = b;

	if (x->mdev != y->mdev)
		return x->mdev ? 1 : -1;
	return strcmp(x->s, y->s);
}

/* Last component of a symlink's target, or "" if there is no link. */
static void link_base(struct iommufd_ctx *ctx, const char *dir, const char *entry, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, entry) >= sizeof(path))
		return;
	n = ctx->sys->readlink(path, target, sizeof(target) - 1);
	if (n <= 0 || (size_t)n >= sizeof(target))
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) < len)
		strcpy(out, base);
}

static uint16_t read_id(struct iommufd_ctx *ctx, const char *dir, const char *entry)
{
	char path[PATH_MAX], val[16], *end;
	unsigned long v;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, entry) >= sizeof(path) ||
	    ifd_sysfs_read(ctx, path, val, sizeof(val)) <= 0)
		return 0;
	v = strtoul(val, &end, 16);
	return *end || v > 0xffff ? 0 : (uint16_t)v;
}

struct cdev_find {
	char found[32];
};

/* "vfioN", or "noiommu-vfioN": VFIO's name for the cdev of a device it
 * drives without an IOMMU. */
static int find_cdev(const char *name, void *arg)
{
	struct cdev_find *f = arg;
	const char *v = strncmp(name, "noiommu-", 8) ? name : name + 8;
	size_t n = strlen(v);

	if (n < 5 || n > 14 || strncmp(v, "vfio", 4) || strspn(v + 4, "0123456789") != n - 4)
		return 0;
	snprintf(f->found, sizeof(f->found), "%s", name);
	return 1;
}

/* 0 with @e filled, or -ENOENT (gone, or not where a device belongs). */
static int fill_entry(struct iommufd_ctx *ctx, const struct name *nm, struct iommufd_device_entry *e)
{
	char via[128], canon[PATH_MAX], grp[16], path[PATH_MAX];
	struct cdev_find cf = { { 0 } };
	const char *base;
	struct stat st;

	memset(e, 0, sizeof(*e));
	snprintf(via, sizeof(via), "/sys/bus/%s/devices/%s", nm->mdev ? "mdev" : "pci", nm->s);
	if (!ctx->sys->realpath(via, canon))
		return -ENOENT;
	base = strrchr(canon, '/');
	if (strncmp(canon, "/sys/devices/", 13) || !base || strcmp(base + 1, nm->s)) {
		ifd_warn(ctx, "device list: %s leads to %s, not to a device directory; left out", via, canon);
		return -ENOENT;
	}
	if (strlen(canon) >= sizeof(e->sysfs)) {
		ifd_warn(ctx, "device list: %s: sysfs path longer than %zu bytes; left out", nm->s, sizeof(e->sysfs) - 1);
		return -ENOENT;
	}
	snprintf(e->name, sizeof(e->name), "%s", nm->s);
	snprintf(e->sysfs, sizeof(e->sysfs), "%s", canon);
	link_base(ctx, canon, "driver", e->driver, sizeof(e->driver));
	link_base(ctx, canon, "iommu_group", grp, sizeof(grp));
	e->group = grp[0] && strspn(grp, "0123456789") == strlen(grp) && strlen(grp) < 10 ? atoi(grp) : -1;
	if (nm->mdev) {
		e->flags |= IOMMUFD_DEVICE_ENTRY_MDEV;
		/* An mdev's driver is its parent's VFIO driver. */
		if (e->driver[0])
			e->flags |= IOMMUFD_DEVICE_ENTRY_VFIO;
	} else {
		if (strstr(e->driver, "vfio")) /* vfio-pci and its variants */
			e->flags |= IOMMUFD_DEVICE_ENTRY_VFIO;
		e->vendor = read_id(ctx, canon, "vendor");
		e->device = read_id(ctx, canon, "device");
	}
	snprintf(path, sizeof(path), "%s/vfio-dev", canon);
	ctx->sys->listdir(path, find_cdev, &cf);
	if (cf.found[0]) {
		snprintf(e->cdev, sizeof(e->cdev), "/dev/vfio/devices/%s", cf.found); /* 23 bytes at most */
		if (ctx->sys->stat(e->cdev, &st) < 0 || !S_ISCHR(st.st_mode))
			e->cdev[0] = '\0';
	}
	return 0;
}

static int collect(struct iommufd_ctx *ctx, struct names *ns)
{
	int r = -ENOSYS;

	if (ctx->sys->enumerate)
		r = ctx->sys->enumerate(add_name, ns);
	if (r == -ENOSYS) { /* no libudev at run time: walk sysfs */
		ns->n = 0;
		r = ctx->sys->listdir("/sys/bus/pci/devices", add_pci, ns);
		if (r < 0) {
			ifd_err(ctx, "/sys/bus/pci/devices: %s: is sysfs mounted?", strerror(-r));
			return r;
		}
		if (!ns->err)
			ctx->sys->listdir("/sys/bus/mdev/devices", add_mdev, ns); /* absent without mdev support */
	}
	if (ns->err == -E2BIG) {
		ifd_warn(ctx, "device list: more than %d devices; the rest left out", MAX_DEVICES);
		ns->err = 0;
	}
	return r < 0 ? r : ns->err;
}

IFD_EXPORT int iommufd_device_list(struct iommufd_ctx *ctx, struct iommufd_device_entry *out, size_t max)
{
	struct names ns = { .ctx = ctx };
	struct iommufd_device_entry e;
	size_t total = 0;
	int r;

	if (!ctx || (!out && max))
		return ifd_ret(-EINVAL);
	r = collect(ctx, &ns);
	if (r < 0) {
		free(ns.v);
		return ifd_ret(r);
	}
	if (ns.n)
		qsort(ns.v, ns.n, sizeof(ns.v[0]), cmp_name);
	for (size_t i = 0; i < ns.n; i++) {
		/* libudev may list a device under two paths; keep one. */
		if (i && !cmp_name(&ns.v[i - 1], &ns.v[i]))
			continue;
		if (fill_entry(ctx, &ns.v[i], &e) < 0)
			continue;
		if (total < max)
			out[total] = e;
		total++;
	}
	free(ns.v);
	return (int)total;
}
