/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Backend 1: iommufd + VFIO device cdevs (Linux 6.6+). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"
#include "kabi.h"

/*
 * The RID forms use the smallest argsz (6.6 kernels know no more); only a
 * PASID needs the longer one, which a kernel without PASID attach refuses.
 */
static int cdev_attach_pt(struct iommufd_device *dev, uint32_t pt_id, bool use_pasid, uint32_t pasid)
{
	struct ifd_k_vfio_device_attach_iommufd_pt at = { .argsz = IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE,
							  .pt_id = pt_id };

	if (use_pasid) {
		at.argsz = IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_PASID;
		at.flags = IFD_K_VFIO_DEVICE_ATTACH_PASID;
		at.pasid = pasid;
	}
	return ifd_ioctl(dev->ctx, dev->fd, IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
}

static int attach_pt(struct iommufd_device *dev, uint32_t pt_id)
{
	return cdev_attach_pt(dev, pt_id, false, 0);
}

static int cdev_detach_pt(struct iommufd_device *dev, bool use_pasid, uint32_t pasid)
{
	struct ifd_k_vfio_device_detach_iommufd_pt dt = { .argsz = IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_BASE };

	if (use_pasid) {
		dt.argsz = IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_PASID;
		dt.flags = IFD_K_VFIO_DEVICE_DETACH_PASID;
		dt.pasid = pasid;
	}
	return ifd_ioctl(dev->ctx, dev->fd, IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt);
}

/*
 * What only this backend knows: a device adopted by ID without its fd
 * cannot be attached.  Everything else is the generic iommufd probes'.
 */
static int cdev_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			      struct iommufd_feature_status *st)
{
	(void)ctx;
	if (!dev || dev->fd >= 0)
		return -ENOSYS;
	switch (f) {
	case IOMMUFD_FEATURE_HWPT:
	case IOMMUFD_FEATURE_HWPT_REPLACE:
	case IOMMUFD_FEATURE_PASID:
		st->reason = IOMMUFD_REASON_DEVICE;
		snprintf(st->why, sizeof(st->why), "%s was adopted by ID without its VFIO fd: only its owner can "
			 "attach it", dev->name);
		return 0;
	default:
		return -ENOSYS;
	}
}

/*
 * The bind says EINVAL for a malformed request, for an fd that is already
 * bound, for a device open through another cdev, and for whatever the
 * driver's open returns: name the cause only when established, and
 * otherwise pass EINVAL through (drivers/vfio/device_cdev.c).
 */
static int bind_einval(struct iommufd_device *dev, bool opened)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	const char *what = dev->cdev[0] ? dev->cdev : dev->name;

	/* Only a bound cdev fd answers device ioctls. */
	if (!opened && ifd_ioctl(ctx, dev->fd, VFIO_DEVICE_GET_INFO, &info) == 0) {
		ifd_err(ctx, "%s: the adopted fd is already bound to an iommufd; adopt a cdev fd that is not bound yet",
			what);
		return -EINVAL;
	}
	if (ifd_group_cdev_open_elsewhere(ctx, dev)) {
		ifd_err(ctx, "%s: already open elsewhere (its cdev is bound by another process, context or handle): "
			"close it there first", what);
		return -EBUSY;
	}
	ifd_err(ctx, "%s: VFIO_DEVICE_BIND_IOMMUFD refused the device (EINVAL): it may be open through its cdev "
		"elsewhere%s, or its driver refused to open it (see the kernel log)", what,
		dev->group_num >= 0 ? " (it or a device of its IOMMU group)" : "");
	return -EINVAL;
}

static int cdev_dev_open(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_k_vfio_device_bind_iommufd bind = { .argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE,
						       .iommufd = ctx->fd };
	bool opened = false;
	int r;

	if (dev->fd < 0) {
		if (!dev->cdev[0]) {
			ifd_err(ctx, "%s has no VFIO cdev (no %s/vfio-dev/): bind it to vfio-pci, on a kernel with "
				"CONFIG_VFIO_DEVICE_CDEV", dev->name, dev->sysfs);
			return -ENODEV;
		}
		r = ifd_open_node(ctx, dev->cdev, O_RDWR, "a VFIO device cdev");
		if (r < 0)
			return r;
		dev->fd = r;
		opened = true;
	}
	if (dev->has_vf_token) {
		/* Only with a token: a kernel before the field refuses the longer form. */
		bind.argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_TOKEN;
		bind.flags = IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN;
		bind.token_uuid_ptr = (uintptr_t)dev->vf_token;
	}
	r = ifd_ioctl(ctx, dev->fd, IFD_K_VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (dev->has_vf_token && (r == -EINVAL || r == -E2BIG) && ifd_vf_sriov(dev)) {
		/* An SR-IOV device whose bind takes no token: a kernel before
		 * 6.17 (cdev bind checked no token at all then) or a PF that
		 * vfio-pci does not drive.  Either way the kernel would let
		 * the open through without one, so the token protects nothing
		 * here: bind as the kernel allows, and say so. */
		struct ifd_k_vfio_device_bind_iommufd plain = { .argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE,
								.iommufd = ctx->fd };

		r = ifd_ioctl(ctx, dev->fd, IFD_K_VFIO_DEVICE_BIND_IOMMUFD, &plain);
		if (r == 0) {
			bind.out_devid = plain.out_devid;
			ifd_vf_token_unchecked(dev, "VFIO_DEVICE_BIND_IOMMUFD");
		}
	}
	if (r == -EACCES || (dev->has_vf_token && (r == -EINVAL || r == -E2BIG))) {
		ifd_vf_explain(dev, "VFIO_DEVICE_BIND_IOMMUFD", r);
		goto fail;
	}
	if (r == -EINVAL) {
		r = bind_einval(dev, opened);
		goto fail;
	}
	if (r < 0) {
		if ((r == -EBUSY || r == -EPERM) && dev->group_num >= 0 && ifd_explain_nonviable(ctx, dev->group_num))
			r = -EBUSY;
		else if (r == -EBUSY)
			ifd_err(ctx, "%s: VFIO_DEVICE_BIND_IOMMUFD: /dev/vfio/%d, the device's IOMMU group, is open "
				"(another process, or a group or type1 context): close it first",
				dev->cdev[0] ? dev->cdev : dev->name, dev->group_num);
		else
			ifd_err(ctx, "%s: VFIO_DEVICE_BIND_IOMMUFD failed: %s", dev->cdev, strerror(-r));
		goto fail;
	}
	dev->devid = bind.out_devid;
	dev->has_devid = true;
	r = attach_pt(dev, ioas->id);
	if (r == -EADDRINUSE) {
		r = ifd_iommufd_resv_conflict(dev, ioas);
		goto fail;
	}
	if (r == -ENOMEM) {
		r = ifd_iommufd_attach_enomem(dev, ioas);
		goto fail;
	}
	if (r < 0) {
		ifd_err(ctx, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS %u failed: %s%s", dev->name, ioas->id,
			strerror(-r), r == -EINVAL ? " (devices of one IOMMU group must share one IOAS)" : "");
		goto fail;
	}
	return 0;
fail:
	/* Closing the cdev unbinds it; an adopted fd stays the caller's. */
	if (opened) {
		ifd_close(ctx, dev->fd);
		dev->fd = -1;
	}
	return r;
}

static int cdev_dev_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	int r = attach_pt(dev, ioas->id);

	if (r == -ENOMEM) /* the first device of an IOAS pins its memory */
		return ifd_iommufd_attach_enomem(dev, ioas);
	if (r < 0)
		ifd_err(dev->ctx, "%s: moving to IOAS %u failed: %s", dev->name, ioas->id, strerror(-r));
	return r;
}

/* KVM holds the device's own file: each cdev is registered on its own. */
static struct ifd_kvm_reg **cdev_kvm_file(struct iommufd_device *dev, int *fd)
{
	*fd = dev->fd;
	return &dev->kvm_reg;
}

const struct ifd_backend_ops ifd_backend_cdev = {
	.kind = IOMMUFD_BACKEND_CDEV,
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
	.dev_open = cdev_dev_open,
	.dev_attach = cdev_dev_attach,
	.explain_enomem = ifd_iommufd_explain_enomem,
	.dev_attach_pt = cdev_attach_pt,
	.dev_detach_pt = cdev_detach_pt,
	.feature_query = cdev_feature_query,
	.ioas_set_dirty = ifd_iommufd_ioas_set_dirty,
	.ioas_get_dirty = ifd_iommufd_ioas_get_dirty,
	.kvm_file = cdev_kvm_file,
	.bar_dmabuf = true,
};
