/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Backend 2: iommufd + VFIO groups (Linux 6.2+, or a kernel without cdevs).
 * The group joins the iommufd as if it were a container; each device is
 * attached, when its fd is opened, to the iommufd's "compat" IOAS, which
 * IOMMU_VFIO_IOAS selects.  ctx->lock serialises that selection.
 */
#include <stdio.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"
#include "kabi.h"

static int group_dev_open(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_k_vfio_ioas sel = { .size = sizeof(sel), .ioas_id = ioas->id, .op = IFD_K_IOMMU_VFIO_IOAS_SET };
	struct ifd_group *g = dev->group;
	bool joined = false;
	int r;

	if (g->in_container && g->ioas != ioas) {
		ifd_err(ctx, "%s: IOMMU group %d already uses IOAS %u; all devices of a group share one IOAS",
			dev->name, g->num, g->ioas->id);
		return -EEXIST;
	}
	/* Select first: joining with no compat IOAS set makes the kernel
	 * allocate one that nothing would use. */
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_VFIO_IOAS, &sel);
	if (r < 0) {
		ifd_err(ctx, "/dev/iommu: IOMMU_VFIO_IOAS SET %u failed: %s", ioas->id, strerror(-r));
		return r;
	}
	if (!g->in_container) {
		r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_SET_CONTAINER, &ctx->fd);
		if (r < 0) {
			ifd_err(ctx, "/dev/vfio/%d: VFIO_GROUP_SET_CONTAINER with /dev/iommu failed: %s", g->num,
				strerror(-r));
			return r;
		}
		g->in_container = true;
		g->ioas = ioas;
		joined = true;
	}
	r = ifd_group_get_device_fd(ctx, g, dev);
	if (r == -EADDRINUSE) /* the compat attach happens at open */
		r = ifd_iommufd_resv_conflict(dev, ioas);
	else if (r == -ENOMEM) /* and so does the pinning of the IOAS's memory */
		r = ifd_iommufd_attach_enomem(dev, ioas);
	if (r < 0)
		goto undo;
	dev->fd = r;
	return 0;
undo:
	/* Leave an adopted group fd as it came: out of any container. */
	if (joined) {
		ifd_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		g->in_container = false;
		g->ioas = NULL;
	}
	return r;
}

static int group_dev_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	(void)ioas;
	ifd_err(dev->ctx, "%s: the group backend cannot move an open device to another IOAS "
		"(the cdev backend can)", dev->name);
	return -EOPNOTSUPP;
}

static void group_group_put(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas)
{
	(void)ioas;
	ifd_group_put(ctx, g);
}

/*
 * Devices of this backend attach only at open, to the compat IOAS, so
 * nothing built on attaching a device elsewhere is available.
 */
static int group_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			       struct iommufd_feature_status *st)
{
	const char *what;

	(void)ctx;
	(void)dev;
	switch (f) {
	case IOMMUFD_FEATURE_HWPT: what = "HWPTs"; break;
	case IOMMUFD_FEATURE_HWPT_REPLACE: what = "moving a running device"; break;
	case IOMMUFD_FEATURE_NEST_PARENT: what = "nesting parents"; break;
	case IOMMUFD_FEATURE_DIRTY_TRACKING: what = "dirty tracking"; break;
	case IOMMUFD_FEATURE_PASID: what = "PASID attachments"; break;
	/* All four need a nesting parent, which needs an HWPT. */
	case IOMMUFD_FEATURE_HWPT_INVALIDATE: what = "nested HWPTs"; break;
	case IOMMUFD_FEATURE_VIOMMU: what = "vIOMMUs"; break;
	case IOMMUFD_FEATURE_VEVENTQ: what = "vIOMMU event queues"; break;
	case IOMMUFD_FEATURE_HW_QUEUE: what = "vIOMMU HW queues"; break;
	default: return -ENOSYS; /* fault queues: the iommufd's, as on CDEV */
	}
	st->reason = IOMMUFD_REASON_BACKEND;
	snprintf(st->why, sizeof(st->why), "the group backend has no %s (devices attach only through the compat "
		 "IOAS): use a kernel with VFIO_DEVICE_CDEV (the cdev backend)", what);
	return 0;
}

const struct ifd_backend_ops ifd_backend_group = {
	.kind = IOMMUFD_BACKEND_GROUP,
	.ctx_open = ifd_iommufd_open,
	.ctx_set_pin_accounting = ifd_iommufd_set_pin_accounting,
	.ioas_alloc = ifd_iommufd_ioas_alloc,
	.ioas_free = ifd_iommufd_ioas_free,
	.ioas_query = ifd_iommufd_ioas_query,
	.map = ifd_iommufd_map,
	.map_file = ifd_iommufd_map_file,
	.change_process = ifd_iommufd_change_process,
	.unmap = ifd_iommufd_unmap,
	.unmap_all = ifd_iommufd_unmap_all,
	.copy = ifd_iommufd_copy,
	.allow_iovas = ifd_iommufd_allow_iovas,
	.set_huge_pages = ifd_iommufd_set_huge_pages,
	.dev_open = group_dev_open,
	.dev_attach = group_dev_attach,
	.group_put = group_group_put,
	.explain_enomem = ifd_iommufd_explain_enomem,
	.feature_query = group_feature_query,
	.kvm_file = ifd_group_kvm_file,
	.bar_dmabuf = true,
};
