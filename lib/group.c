/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * VFIO group fds.  The kernel allows one open of /dev/vfio/N at a time, so
 * every device of a group shares one fd here, reference counted, under
 * ctx->lock.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "internal.h"

int ifd_group_check_viable(struct iommufd_ctx *ctx, struct ifd_group *g, bool adopted)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_GET_STATUS, &st);

	if (r < 0) {
		ifd_err(ctx, "/dev/vfio/%d: VFIO_GROUP_GET_STATUS failed: %s", g->num, strerror(-r));
		return r;
	}
	if (adopted && (st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
		ifd_err(ctx, "/dev/vfio/%d: the adopted group fd is already in a container; "
			"hand over a group fd that is not", g->num);
		return -EBUSY;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		if (!ifd_explain_nonviable(ctx, g->num))
			ifd_err(ctx, "IOMMU group %d is not viable: bind every device in "
				"/sys/kernel/iommu_groups/%d/devices to vfio-pci", g->num, g->num);
		return -EBUSY;
	}
	return 0;
}

int ifd_group_get(struct iommufd_ctx *ctx, int num, int adopt_fd, struct ifd_group **out)
{
	struct ifd_list *pos;
	struct ifd_group *g;
	char path[48];
	int r;

	ifd_list_for_each(pos, &ctx->group_list) {
		g = ifd_container_of(pos, struct ifd_group, link);
		if (g->num != num)
			continue;
		if (adopt_fd >= 0) {
			ifd_err(ctx, "group %d is already open in this context; adopt its fd only once", num);
			ifd_close(ctx, adopt_fd);
			return -EBUSY;
		}
		g->refs++;
		*out = g;
		return 0;
	}

	g = calloc(1, sizeof(*g));
	if (!g) {
		ifd_close(ctx, adopt_fd);
		return -ENOMEM;
	}
	g->num = num;
	g->refs = 1;
	/* VFIO names a no-IOMMU group's node noiommu-N. */
	snprintf(path, sizeof(path), "/dev/vfio/%s%d", ctx->ops->node_prefix ? ctx->ops->node_prefix : "", num);
	if (adopt_fd >= 0) {
		struct stat a, b;

		g->fd = adopt_fd;
		if (ctx->sys->fstat(adopt_fd, &a) < 0 || ctx->sys->stat(path, &b) < 0 || !S_ISCHR(a.st_mode) ||
		    a.st_rdev != b.st_rdev) {
			ifd_err(ctx, "the adopted fd is not %s, the device's IOMMU group", path);
			ifd_close(ctx, adopt_fd);
			free(g);
			return -EINVAL;
		}
	} else {
		g->fd = ifd_open_node(ctx, path, O_RDWR, "a VFIO group");
		if (g->fd == -EBUSY)
			ifd_err(ctx, "%s is already open (another process, or a second context in this one)", path);
		if (g->fd < 0) {
			r = g->fd;
			free(g);
			return r;
		}
	}
	r = ifd_group_check_viable(ctx, g, adopt_fd >= 0);
	if (r < 0) {
		ifd_close(ctx, g->fd); /* adopted or not: ours now */
		free(g);
		return r;
	}
	ifd_list_add(&ctx->group_list, &g->link);
	*out = g;
	return 0;
}

void ifd_group_put(struct iommufd_ctx *ctx, struct ifd_group *g)
{
	if (!g || --g->refs)
		return;
	/* Closing our fd leaves the container only if nobody else holds the
	 * file: a caller's adopted fd may.  Say it explicitly. */
	if (g->in_container)
		ifd_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
	ifd_list_del(&g->link);
	ifd_close(ctx, g->fd);
	free(g);
}

/* A forked child's put: close our copy of the fd, say nothing to the kernel. */
void ifd_group_drop(struct iommufd_ctx *ctx, struct ifd_group *g)
{
	if (!g || --g->refs)
		return;
	ifd_list_del(&g->link);
	ifd_close(ctx, g->fd);
	free(g);
}

/* The device name carries the VF token on this path (vfio_pci_core_match()):
 * logs name the device only, never the token. */
int ifd_group_get_device_fd(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_device *dev)
{
	char req[128];
	int r = ifd_vf_group_name(dev, req, sizeof(req));

	if (r == 0)
		r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_GET_DEVICE_FD, req);
	explicit_bzero(req, sizeof(req));
	if (r == -EINVAL && dev->has_vf_token && ifd_vf_sriov(dev)) {
		/* A VF whose PF vfio-pci does not drive takes no token, and
		 * opens without one: the token protects nothing here, so open
		 * as the kernel allows (as on a cdev), and say so. */
		r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_GET_DEVICE_FD, dev->name);
		if (r >= 0)
			ifd_vf_token_unchecked(dev, "VFIO_GROUP_GET_DEVICE_FD");
	}
	if (r == -EBUSY)
		ifd_err(ctx, "%s: device is already open (another process or handle)", dev->name);
	else if (r == -EACCES || (dev->has_vf_token && r == -EINVAL))
		ifd_vf_explain(dev, "VFIO_GROUP_GET_DEVICE_FD", r);
	else if (r < 0)
		ifd_err(ctx, "/dev/vfio/%d: VFIO_GROUP_GET_DEVICE_FD %s failed: %s", g->num, dev->name, strerror(-r));
	return r;
}

struct member_scan {
	const char *name;
	unsigned int n;
	bool self;
};

static int count_member(const char *name, void *arg)
{
	struct member_scan *s = arg;

	s->n++;
	s->self |= !strcmp(name, s->name);
	return 0;
}

/*
 * VFIO_DEVICE_BIND_IOMMUFD said EINVAL, which it also says for a request it
 * dislikes: establish whether @dev is bound through a cdev elsewhere before
 * telling the user so.  The group node refuses every open (EBUSY) while a
 * device of the group is bound through its cdev; a bind would have failed
 * with EBUSY, not EINVAL, had the group itself been open.  That answers for
 * the device only when it is alone in its group.
 */
bool ifd_group_cdev_open_elsewhere(struct iommufd_ctx *ctx, const struct iommufd_device *dev)
{
	struct member_scan s = { .name = dev->name };
	char path[64];
	int fd, err;

	if (dev->group_num < 0)
		return false;
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", dev->group_num);
	if (ctx->sys->listdir(path, count_member, &s) < 0 || s.n != 1 || !s.self)
		return false;
	snprintf(path, sizeof(path), "/dev/vfio/%s%d", ctx->ops->node_prefix ? ctx->ops->node_prefix : "",
		 dev->group_num);
	fd = ctx->sys->open(path, O_RDWR | O_CLOEXEC, 0);
	err = fd < 0 ? errno : 0;
	if (fd >= 0) {
		ifd_close(ctx, fd);
		return false;
	}
	return err == EBUSY;
}

/* KVM learns of a group's devices through the group file, one registration
 * for all of them (the kernel refuses a second ADD of one file). */
struct ifd_kvm_reg **ifd_group_kvm_file(struct iommufd_device *dev, int *fd)
{
	if (!dev->group) {
		*fd = -1;
		return NULL;
	}
	*fd = dev->group->fd;
	return &dev->group->kvm;
}
