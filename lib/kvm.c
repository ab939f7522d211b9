/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Telling KVM about a device: KVM's VFIO pseudo-device takes a reference on
 * a VFIO file (KVM_DEV_VFIO_FILE_ADD), which keeps that file -- and so the
 * device -- open in the kernel until it is deleted again.  So the library
 * remembers every registration it made, on a duplicate of the caller's
 * KVM VFIO fd, and deletes it when the device goes.  Which file KVM gets
 * is the backend's business (kvm_file): the device fd on CDEV, the group
 * fd on GROUP and TYPE1, where one registration serves every device of the
 * group.
 *
 * Debian 12's <linux/kvm.h> names the attribute group and its two
 * attributes KVM_DEV_VFIO_GROUP{,_ADD,_DEL}; Linux 6.6+ calls them
 * KVM_DEV_VFIO_FILE{,_ADD,_DEL} and keeps the old names as aliases of the
 * same numbers (1, 1, 2), which accept group and device files alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "internal.h"

static int vfio_file_attr(struct iommufd_ctx *ctx, int kvm_fd, uint64_t attr, int file_fd)
{
	int32_t fd = file_fd;
	struct kvm_device_attr a = {
		.group = KVM_DEV_VFIO_GROUP,
		.attr = attr,
		.addr = (uint64_t)(uintptr_t)&fd,
	};

	return ifd_ioctl(ctx, kvm_fd, KVM_SET_DEVICE_ATTR, &a);
}

IFD_EXPORT int iommufd_kvm_vfio_create(struct iommufd_ctx *ctx, int vm_fd)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	int r;

	if (!ctx || vm_fd < 0)
		return ifd_ret(-EINVAL);
	r = ifd_ioctl(ctx, vm_fd, KVM_CREATE_DEVICE, &cd);
	if (r == -EBUSY)
		ifd_err(ctx, "KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO): this VM already has its KVM VFIO device (one per VM): "
			"pass that device's fd instead of creating another");
	else if (r == -ENODEV)
		ifd_err(ctx, "KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO): this KVM has no VFIO device: build the host kernel "
			"with CONFIG_KVM_VFIO (selected by CONFIG_VFIO with CONFIG_KVM)");
	else if (r == -ENOTTY || r == -EINVAL)
		ifd_err(ctx, "KVM_CREATE_DEVICE on fd %d failed (%s): pass a VM fd from KVM_CREATE_VM", vm_fd,
			strerror(-r));
	else if (r < 0)
		ifd_err(ctx, "KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO) failed: %s", strerror(-r));
	if (r < 0)
		return ifd_ret(r);
	if ((int32_t)cd.fd < 0) {
		ifd_err(ctx, "KVM_CREATE_DEVICE succeeded but returned fd %d", (int32_t)cd.fd);
		return ifd_ret(-EIO);
	}
	return (int)cd.fd;
}

/*
 * A second device of an already registered group: the kernel knows whether
 * @kvm_fd is the KVM VFIO device holding the group (a second ADD of the
 * same file there says EEXIST).  If the ADD succeeds, the caller named
 * another VM's device: undo it, a group cannot serve two VMs.
 */
static int add_shared(struct iommufd_device *dev, struct ifd_kvm_reg *reg, int kvm_fd, int file_fd)
{
	struct iommufd_ctx *ctx = dev->ctx;
	int r = vfio_file_attr(ctx, kvm_fd, KVM_DEV_VFIO_GROUP_ADD, file_fd);

	if (r == -EEXIST) {
		reg->refs++;
		return 0;
	}
	if (r == 0) {
		vfio_file_attr(ctx, kvm_fd, KVM_DEV_VFIO_GROUP_DEL, file_fd);
		ifd_err(ctx, "%s: its IOMMU group %d is already given to another KVM VFIO device (another VM) through "
			"another device of the group: the devices of a group go to one VM", dev->name, dev->group_num);
		return -EBUSY;
	}
	ifd_err(ctx, "%s: KVM_DEV_VFIO_FILE_ADD of IOMMU group %d failed: %s", dev->name, dev->group_num,
		strerror(-r));
	return r;
}

static int add_new(struct iommufd_device *dev, struct ifd_kvm_reg **slot, int kvm_fd, int file_fd)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_kvm_reg *reg = calloc(1, sizeof(*reg));
	int r;

	if (!reg)
		return -ENOMEM;
	/* Ours, so the DEL on destroy works after the caller closed theirs. */
	reg->kvm_fd = ifd_dup(ctx, kvm_fd);
	if (reg->kvm_fd < 0) {
		r = reg->kvm_fd;
		ifd_err(ctx, "%s: cannot duplicate the KVM VFIO fd %d: %s", dev->name, kvm_fd, strerror(-r));
		free(reg);
		return r;
	}
	r = vfio_file_attr(ctx, reg->kvm_fd, KVM_DEV_VFIO_GROUP_ADD, file_fd);
	if (r < 0) {
		if (r == -EEXIST)
			ifd_err(ctx, "%s: KVM_DEV_VFIO_FILE_ADD: KVM already holds the device's VFIO file (added outside "
				"the library?): delete it there, or leave it to the library alone", dev->name);
		else if (r == -ENXIO || r == -ENOTTY)
			ifd_err(ctx, "%s: KVM_DEV_VFIO_FILE_ADD failed (%s): fd %d is not a KVM VFIO device; create one "
				"with iommufd_kvm_vfio_create()", dev->name, strerror(-r), kvm_fd);
		else
			ifd_err(ctx, "%s: KVM_DEV_VFIO_FILE_ADD failed: %s", dev->name, strerror(-r));
		ifd_close(ctx, reg->kvm_fd);
		free(reg);
		return r;
	}
	reg->refs = 1;
	*slot = reg;
	return 0;
}

IFD_EXPORT int iommufd_device_kvm_add(struct iommufd_device *dev, int kvm_vfio_fd)
{
	struct iommufd_ctx *ctx;
	struct ifd_kvm_reg **slot;
	bool already = false, nofile = false;
	int file_fd = -1, r;

	if (!dev || dev->state != IFD_ALIVE || kvm_vfio_fd < 0)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	ifd_ctx_lock(ctx);
	slot = ctx->ops->kvm_file ? ctx->ops->kvm_file(dev, &file_fd) : NULL;
	/* The refusals are logged below, once the lock is dropped. */
	if (dev->kvm_added) {
		already = true;
		r = -EEXIST;
	} else if (!slot || file_fd < 0) {
		nofile = true;
		r = -EOPNOTSUPP;
	} else if (*slot) {
		r = add_shared(dev, *slot, kvm_vfio_fd, file_fd);
	} else {
		r = add_new(dev, slot, kvm_vfio_fd, file_fd);
	}
	if (r == 0)
		dev->kvm_added = true;
	ifd_ctx_unlock(ctx);
	if (r == 0)
		ifd_dbg(ctx, "%s: given to KVM (%s)", dev->name, slot == &dev->kvm_reg ? "device file" : "group file");
	else if (already)
		ifd_err(ctx, "%s is already given to KVM: iommufd_device_kvm_del() it first", dev->name);
	else if (nofile && !ctx->ops->kvm_file)
		/* A guest would program the device with its own addresses,
		 * which without an IOMMU reach host memory unchecked. */
		ifd_err(ctx, "%s: the %s backend gives no device to KVM: no IOMMU would translate or confine "
			"the guest's DMA", dev->name, iommufd_backend_name(ctx->backend));
	else if (nofile)
		ifd_err(ctx, "%s: no VFIO file to give KVM (a device adopted by ID without its fd)", dev->name);
	return ifd_ret(r);
}

/* Drop @dev's reference; the last one deletes the file from KVM (unless
 * @tell_kernel is false: a forked child's copy). */
static int kvm_put(struct iommufd_device *dev, bool tell_kernel)
{
	struct iommufd_ctx *ctx = dev->ctx;
	int file_fd = -1, r = 0;
	struct ifd_kvm_reg **slot = ctx->ops->kvm_file(dev, &file_fd);
	struct ifd_kvm_reg *reg = *slot;

	if (--reg->refs == 0) {
		if (tell_kernel)
			r = vfio_file_attr(ctx, reg->kvm_fd, KVM_DEV_VFIO_GROUP_DEL, file_fd);
		if (r == -ENOENT) {
			/* Deleted behind our back: what we wanted anyway. */
			ifd_warn(ctx, "%s: KVM no longer held its VFIO file (deleted outside the library)", dev->name);
			r = 0;
		}
		if (r < 0) {
			reg->refs++;
			ifd_err(ctx, "%s: KVM_DEV_VFIO_FILE_DEL failed: %s", dev->name, strerror(-r));
			return r;
		}
		ifd_close(ctx, reg->kvm_fd);
		free(reg);
		*slot = NULL;
	}
	dev->kvm_added = false;
	return 0;
}

IFD_EXPORT int iommufd_device_kvm_del(struct iommufd_device *dev)
{
	struct iommufd_ctx *ctx;
	int r;

	if (!dev || dev->state != IFD_ALIVE)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	ifd_ctx_lock(ctx);
	if (!dev->kvm_added) {
		ifd_err(ctx, "%s is not given to KVM by this library", dev->name);
		r = -ENOENT;
	} else {
		r = kvm_put(dev, true);
	}
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

void ifd_kvm_dev_gone(struct iommufd_device *dev)
{
	if (!dev->kvm_added)
		return;
	if (kvm_put(dev, !ifd_forked(dev->ctx)) < 0) {
		/* KVM keeps the file (and the device) open until the VM goes;
		 * our duplicate goes with the handle. */
		int file_fd;
		struct ifd_kvm_reg **slot = dev->ctx->ops->kvm_file(dev, &file_fd);

		if (--(*slot)->refs == 0) {
			ifd_close(dev->ctx, (*slot)->kvm_fd);
			free(*slot);
			*slot = NULL;
		}
		dev->kvm_added = false;
	}
}
