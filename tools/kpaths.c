/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Which of the kernel's IOMMU paths this system offers. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "ctl.h"

/*
 * IOMMU_DESTROY (include/uapi/linux/iommufd.h): Debian 12's headers have
 * no <linux/iommufd.h>.  Destroying object 0 fails with ENOENT on an
 * iommufd and with ENOTTY on VFIO's own container.
 */
struct ctl_iommu_destroy {
	uint32_t size;
	uint32_t id;
};
#define CTL_IOMMU_DESTROY _IO(';', 0x80)

/* A name in /proc/devices' character section: registered char majors. */
static bool chrdev_registered(const char *name)
{
	char p[PATH_MAX], buf[16384], *line, *save = NULL;

	if (ctl_path(p, sizeof(p), "/proc/devices") < 0 || ctl_read(p, buf, sizeof(buf)) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = line;

		if (!strncmp(line, "Block devices", 13))
			break;
		while (*s == ' ' || (*s >= '0' && *s <= '9'))
			s++;
		if (!strcmp(s, name))
			return true;
	}
	return false;
}

/*
 * Both VFIO's container and iommufd's compat container are misc minor 196,
 * so the node's numbers cannot tell them apart: ask the file when it opens;
 * else VFIO's container implies its type1 driver module
 * (/sys/module/vfio_iommu_type1, present even built in: it has parameters).
 */
static int container_kind(const char *node)
{
	char p[PATH_MAX];
	struct stat sb;
	int fd = -1;

	/* Only a character device is asked: a test tree's node is a plain file. */
	if (stat(node, &sb) == 0 && S_ISCHR(sb.st_mode))
		fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		struct ctl_iommu_destroy d = { .size = sizeof(d), .id = 0 };
		int kind = CTL_CONTAINER_UNKNOWN;

		if (ioctl(fd, CTL_IOMMU_DESTROY, &d) < 0 && errno == ENOENT)
			kind = CTL_CONTAINER_COMPAT;
		else if (ioctl(fd, VFIO_GET_API_VERSION) == VFIO_API_VERSION)
			kind = CTL_CONTAINER_TYPE1;
		close(fd);
		if (kind != CTL_CONTAINER_UNKNOWN)
			return kind;
	}
	ctl_path(p, sizeof(p), "/sys/module/vfio_iommu_type1");
	if (ctl_exists(p))
		return CTL_CONTAINER_TYPE1;
	ctl_path(p, sizeof(p), "/dev/iommu");
	return ctl_exists(p) ? CTL_CONTAINER_COMPAT : CTL_CONTAINER_UNKNOWN;
}

void ctl_kpaths_probe(struct ctl_kpaths *k)
{
	char p[PATH_MAX], v[16];

	memset(k, 0, sizeof(*k));
	ctl_path(p, sizeof(p), "/dev/iommu");
	k->iommufd = ctl_exists(p);
	k->cdev = chrdev_registered("vfio-dev");
	k->groups = chrdev_registered("vfio");
	ctl_path(p, sizeof(p), "/dev/vfio/vfio");
	k->container = ctl_exists(p);
	k->container_kind = k->container ? container_kind(p) : CTL_CONTAINER_NONE;
	ctl_path(p, sizeof(p), "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	if (ctl_read(p, v, sizeof(v)) >= 0) {
		k->noiommu_param = true;
		k->noiommu_on = v[0] == 'Y' || v[0] == 'y' || v[0] == '1';
	}
}

const char *ctl_container_kind_name(int kind)
{
	switch (kind) {
	case CTL_CONTAINER_NONE: return "none";
	case CTL_CONTAINER_TYPE1: return "vfio-type1";
	case CTL_CONTAINER_COMPAT: return "iommufd-compat";
	default: return "unknown";
	}
}
