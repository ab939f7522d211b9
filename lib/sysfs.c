/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Turning a user's device name into sysfs facts, and errors into fixes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "internal.h"

int ifd_sysfs_read(struct iommufd_ctx *ctx, const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = ctx->sys->open(path, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	while ((size_t)total < len - 1) {
		n = ctx->sys->read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0) {
			int e = errno;

			ctx->sys->close(fd);
			return -e;
		}
		if (n == 0)
			break;
		total += n;
	}
	ctx->sys->close(fd);
	buf[total] = '\0';
	while (total && buf[total - 1] == '\n')
		buf[--total] = '\0';
	return (int)total;
}

/* Final path component of a symlink's target ("../../vfio-pci" -> "vfio-pci"). */
static int link_basename(struct iommufd_ctx *ctx, const char *path, char *out, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = ctx->sys->readlink(path, target, sizeof(target) - 1);
	const char *base;

	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

static bool hexdigits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* "dddd:bb:dd.f" exactly. */
bool ifd_is_bdf(const char *s)
{
	return strlen(s) == 12 && hexdigits(s, 4) && s[4] == ':' && hexdigits(s + 5, 2) && s[7] == ':' &&
	       hexdigits(s + 8, 2) && s[10] == '.' && s[11] >= '0' && s[11] <= '7';
}

bool ifd_is_uuid(const char *s)
{
	static const int dash[] = { 8, 13, 18, 23 };

	if (strlen(s) != 36)
		return false;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!hexdigits(s + i, 1)) {
			return false;
		}
	}
	return true;
}

static bool driver_is_vfio(const char *drv)
{
	/* vfio-pci and its variant drivers (mlx5_vfio_pci, ...) all say so. */
	return strstr(drv, "vfio") != NULL;
}

/* Drivers the kernel lets share a group with a VFIO user. */
static bool driver_group_safe(const char *drv)
{
	return driver_is_vfio(drv) || !strcmp(drv, "pci-stub") || !strcmp(drv, "pcieport");
}

/*
 * Make @path the canonical sysfs directory of a device and check that the
 * bus lists it under its own name: a PCI function reached through
 * /sys/bus/pci/devices/<address> or an mdev through
 * /sys/bus/mdev/devices/<uuid>.  A crafted tree elsewhere (its own driver,
 * iommu_group and vfio-dev entries) is never taken for a device.
 */
static int canon_device(struct iommufd_ctx *ctx, const char *path, struct iommufd_device *dev, bool given)
{
	char canon[PATH_MAX], listed[PATH_MAX], via[PATH_MAX];
	const char *base;
	bool mdev;
	int err;

	if (!ctx->sys->realpath(path, canon)) {
		err = errno;
		if (given)
			ifd_err(ctx, "\"%s\" is not a VFIO device name: %s (use a PCI address, a sysfs path, a "
				"/dev/vfio/devices/vfioN node or an mdev UUID)", path, strerror(err));
		else
			ifd_err(ctx, "%s: no such device (%s)", path, strerror(err));
		return -ENODEV;
	}
	base = strrchr(canon, '/') + 1;
	mdev = ifd_is_uuid(base);
	if (strncmp(canon, "/sys/devices/", 13) || (!mdev && !ifd_is_bdf(base))) {
		ifd_err(ctx, "%s is not a VFIO device: it resolves to %s, not to a PCI device or an mdev under "
			"/sys/devices", path, canon);
		return -ENODEV;
	}
	snprintf(via, sizeof(via), "/sys/bus/%s/devices/%s", mdev ? "mdev" : "pci", base);
	if (!ctx->sys->realpath(via, listed) || strcmp(listed, canon)) {
		ifd_err(ctx, "%s is not a device of the %s bus (%s does not lead to it)", canon, mdev ? "mdev" : "PCI",
			via);
		return -ENODEV;
	}
	if (strlen(base) >= sizeof(dev->name))
		return -ENAMETOOLONG;
	snprintf(dev->sysfs, sizeof(dev->sysfs), "%s", canon);
	snprintf(dev->name, sizeof(dev->name), "%s", base);
	dev->is_mdev = mdev;
	return 0;
}

/* "vfioN", or with the backend's prefix ("noiommu-vfioN") only. */
static bool is_cdev_name(const struct iommufd_ctx *ctx, const char *s)
{
	const char *pfx = ctx->ops && ctx->ops->node_prefix ? ctx->ops->node_prefix : "";
	size_t n = strlen(pfx);

	if (strncmp(s, pfx, n))
		return false;
	s += n;
	if (strncmp(s, "vfio", 4) || !s[4] || strlen(s) > 14)
		return false;
	for (s += 4; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Is /dev/vfio/devices/@name the cdev of @dev?  Its class entry's device
 * link must lead back to the device's canonical directory, and the node
 * must carry the device number the class entry names.
 */
static bool cdev_is_of(struct iommufd_ctx *ctx, const struct iommufd_device *dev, const char *name, bool quiet)
{
	char path[PATH_MAX], canon[PATH_MAX], num[32], node[64];
	unsigned int maj, min;
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/device", name);
	if (!ctx->sys->realpath(path, canon) || strcmp(canon, dev->sysfs)) {
		if (!quiet)
			ifd_warn(ctx, "%s: %s/vfio-dev/%s is not its cdev (%s does not lead back to it); ignored",
				 dev->name, dev->sysfs, name, path);
		return false;
	}
	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/dev", name);
	snprintf(node, sizeof(node), "/dev/vfio/devices/%s", name);
	if (ifd_sysfs_read(ctx, path, num, sizeof(num)) <= 0 || sscanf(num, "%u:%u", &maj, &min) != 2 ||
	    ctx->sys->stat(node, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != maj ||
	    minor(st.st_rdev) != min) {
		if (!quiet)
			ifd_warn(ctx, "%s: %s is not the node of %s (device number %s); ignored", dev->name, node,
				 name, num);
		return false;
	}
	return true;
}

struct cdev_scan {
	struct iommufd_ctx *ctx;
	struct iommufd_device *dev;
	bool noiommu; /* saw a no-IOMMU cdev */
};

static int take_cdev(const char *name, void *arg)
{
	struct cdev_scan *s = arg;

	if (!strncmp(name, "noiommu-", 8))
		s->noiommu = true;
	if (!is_cdev_name(s->ctx, name) || !cdev_is_of(s->ctx, s->dev, name, false))
		return 0;
	snprintf(s->dev->cdev, sizeof(s->dev->cdev), "/dev/vfio/devices/%s", name);
	return 1;
}

/*
 * Fill the sysfs-derived facts of @dev whose name and canonical sysfs
 * directory are set: group number, cdev node (unless the name gave one),
 * and whether a VFIO driver holds it.
 */
static int inspect(struct iommufd_ctx *ctx, struct iommufd_device *dev)
{
	char path[PATH_MAX + 32], drv[128], grp[32];
	struct cdev_scan scan = { ctx, dev };

	if (!dev->is_mdev) {
		snprintf(path, sizeof(path), "%s/driver", dev->sysfs);
		if (link_basename(ctx, path, drv, sizeof(drv)) < 0) {
			ifd_err(ctx, "%s is not bound to any driver: bind it to vfio-pci: "
				"echo vfio-pci > %s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
				dev->name, dev->sysfs, dev->name);
			return -ENODEV;
		}
		if (!driver_is_vfio(drv)) {
			ifd_err(ctx, "%s is bound to %s, not vfio-pci: bind it to vfio-pci: "
				"echo %s > /sys/bus/pci/drivers/%s/unbind; echo vfio-pci > %s/driver_override; "
				"echo %s > /sys/bus/pci/drivers_probe", dev->name, drv, dev->name, drv, dev->sysfs,
				dev->name);
			return -ENODEV;
		}
	}
	dev->group_num = -1;
	snprintf(path, sizeof(path), "%s/iommu_group", dev->sysfs);
	if (link_basename(ctx, path, grp, sizeof(grp)) == 0)
		dev->group_num = atoi(grp);
	if (!dev->cdev[0]) {
		snprintf(path, sizeof(path), "%s/vfio-dev", dev->sysfs);
		ctx->sys->listdir(path, take_cdev, &scan);
		/* Only an explicit request may take the unsafe path. */
		if (!dev->cdev[0] && scan.noiommu && !ctx->ops->node_prefix)
			ifd_err(ctx, "%s sits behind no IOMMU (VFIO's unsafe no-IOMMU mode gave it a noiommu-vfio "
				"cdev): only the noiommu backend drives it (LIBIOMMUFD_BACKEND=noiommu)", dev->name);
	}
	return 0;
}

/* /dev/vfio/devices/vfioN -> the device behind it, via its class link. */
static int from_cdev_node(struct iommufd_ctx *ctx, const char *node, struct iommufd_device *dev)
{
	char canon[PATH_MAX], link[PATH_MAX];
	const char *base;
	int r;

	/* A kernel without cdevs still has the vfio-dev class in sysfs: a
	 * path that names no node is an error, not another way in.  A udev
	 * symlink is followed to the node it names. */
	if (!ctx->sys->realpath(node, canon)) {
		ifd_err(ctx, "%s: no such node (this kernel may have no VFIO device cdevs: name the device by "
			"its PCI address)", node);
		return -ENODEV;
	}
	base = strrchr(canon, '/') + 1;
	if (strncmp(canon, "/dev/vfio/devices/", 18) || strchr(canon + 18, '/') || !is_cdev_name(ctx, base)) {
		ifd_err(ctx, "%s: not a VFIO device cdev (it resolves to %s)", node, canon);
		return -ENODEV;
	}
	snprintf(link, sizeof(link), "/sys/class/vfio-dev/%s/device", base);
	r = canon_device(ctx, link, dev, false);
	if (r < 0) {
		ifd_err(ctx, "%s: not a VFIO device cdev (no device behind %s)", node, link);
		return r;
	}
	if (!cdev_is_of(ctx, dev, base, true)) {
		ifd_err(ctx, "%s: not the node of %s (its device number differs from %s's)", canon, dev->name, base);
		return -ENODEV;
	}
	snprintf(dev->cdev, sizeof(dev->cdev), "/dev/vfio/devices/%s", base); /* base is short */
	return 0;
}

int ifd_resolve_device(struct iommufd_ctx *ctx, const char *name, struct iommufd_device *dev)
{
	char path[64];
	int r;

	if (ifd_is_bdf(name) || (strlen(name) == 7 && name[2] == ':' && name[5] == '.')) {
		char bdf[16];

		snprintf(bdf, sizeof(bdf), "%s%s", strlen(name) == 7 ? "0000:" : "", name);
		if (!ifd_is_bdf(bdf))
			goto bad;
		for (char *p = bdf; *p; p++) /* sysfs spells hex in lower case */
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
		r = canon_device(ctx, path, dev, false);
	} else if (ifd_is_uuid(name)) {
		char uuid[40];

		snprintf(uuid, sizeof(uuid), "%s", name);
		for (char *p = uuid; *p; p++) /* sysfs spells UUIDs in lower case */
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s", uuid);
		r = canon_device(ctx, path, dev, false);
	} else if (!strncmp(name, "/dev/vfio/devices/", 18) && name[18]) {
		if (strlen(name) >= PATH_MAX)
			return -ENAMETOOLONG;
		r = from_cdev_node(ctx, name, dev);
	} else if (!strncmp(name, "/sys/", 5)) {
		if (strlen(name) >= PATH_MAX)
			return -ENAMETOOLONG;
		r = canon_device(ctx, name, dev, true);
	} else {
		goto bad;
	}
	return r < 0 ? r : inspect(ctx, dev);
bad:
	ifd_err(ctx, "\"%s\" is not a VFIO device name: use a PCI address (0000:00:04.0), a sysfs path, "
		"a /dev/vfio/devices/vfioN node or an mdev UUID", name);
	return -ENODEV;
}

struct rdev_scan {
	struct iommufd_ctx *ctx;
	char want[32];
	char found[64];
};

static int match_rdev(const char *name, void *arg)
{
	struct rdev_scan *s = arg;
	char path[PATH_MAX], val[32];

	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/dev", name);
	if (ifd_sysfs_read(s->ctx, path, val, sizeof(val)) > 0 && !strcmp(val, s->want)) {
		snprintf(s->found, sizeof(s->found), "/dev/vfio/devices/%s", name);
		return 1;
	}
	return 0;
}

/* An adopted cdev fd: find which device it is from its char major:minor. */
int ifd_resolve_cdev_fd(struct iommufd_ctx *ctx, int fd, struct iommufd_device *dev)
{
	struct rdev_scan s = { .ctx = ctx };
	struct stat st;
	int r;

	if (ctx->sys->fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISCHR(st.st_mode)) {
		ifd_err(ctx, "fd %d is not a character device, so not a VFIO device cdev", fd);
		return -ENODEV;
	}
	snprintf(s.want, sizeof(s.want), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	ctx->sys->listdir("/sys/class/vfio-dev", match_rdev, &s);
	if (!s.found[0]) {
		ifd_err(ctx, "fd %d (char %s) is not a VFIO device cdev", fd, s.want);
		return -ENODEV;
	}
	r = from_cdev_node(ctx, s.found, dev);
	return r < 0 ? r : inspect(ctx, dev);
}

struct viable_scan {
	struct iommufd_ctx *ctx;
	int group;
	int bad;
};

static int check_member(const char *name, void *arg)
{
	struct viable_scan *s = arg;
	char path[PATH_MAX], drv[128];

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices/%s/driver", s->group, name);
	if (link_basename(s->ctx, path, drv, sizeof(drv)) < 0 || driver_group_safe(drv))
		return 0;
	ifd_err(s->ctx, "IOMMU group %d is not viable: %s is bound to the host driver %s; unbind it "
		"(echo %s > /sys/bus/pci/drivers/%s/unbind) or bind it to vfio-pci too", s->group, name, drv, name,
		drv);
	s->bad++;
	return 0;
}

/* Log every device that makes @group_num unusable; returns how many. */
int ifd_explain_nonviable(struct iommufd_ctx *ctx, int group_num)
{
	struct viable_scan s = { ctx, group_num, 0 };
	char path[64];

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group_num);
	ctx->sys->listdir(path, check_member, &s);
	return s.bad;
}
