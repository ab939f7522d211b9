/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Explicit HWPTs (IOMMU_HWPT_ALLOC) and the attachments of a device's RID
 * and PASIDs to them.  The books (dev->hwpt, dev->pasids, hwpt->users,
 * ioas->ndevices) change under ctx->lock, only after the kernel said yes,
 * so a failed call leaves them as they were.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

#define HWPT_FLAGS (IOMMUFD_HWPT_NEST_PARENT | IOMMUFD_HWPT_DIRTY_TRACKING | IOMMUFD_HWPT_PASID)
/* Vendor data of IOMMU_HWPT_ALLOC, paging or nested: no driver's struct
 * comes near; the bound keeps a caller's length from pinning much. */
#define HWPT_DATA_MAX 65536u

static bool hwpt_ok(const struct iommufd_hwpt *h)
{
	return h && h->state == IFD_ALIVE;
}

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

static uint32_t kernel_flags(uint32_t flags)
{
	uint32_t k = 0;

	if (flags & IOMMUFD_HWPT_NEST_PARENT)
		k |= IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT;
	if (flags & IOMMUFD_HWPT_DIRTY_TRACKING)
		k |= IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	if (flags & IOMMUFD_HWPT_PASID)
		k |= IFD_K_IOMMU_HWPT_ALLOC_PASID;
	return k;
}

/* Why the library cannot attach @dev anywhere: 0 if it can. */
static int dev_attachable(struct iommufd_device *dev, const char *what)
{
	struct iommufd_ctx *ctx = dev->ctx;

	if (!ctx->ops->dev_attach_pt) {
		ifd_err(ctx, "%s: %s: the %s backend has no HWPTs or PASID attachments: use the cdev backend "
			"(a kernel with iommufd and VFIO_DEVICE_CDEV)", dev->name, what,
			iommufd_backend_name(ctx->backend));
		return -EOPNOTSUPP;
	}
	if (dev->fd < 0) {
		ifd_err(ctx, "%s: %s: the device was adopted by ID without its VFIO fd, so only its owner can "
			"attach or detach it", dev->name, what);
		return -EOPNOTSUPP;
	}
	return 0;
}

static const char *flag_names(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", flags & IOMMUFD_HWPT_NEST_PARENT ? " nesting-parent" : "",
		 flags & IOMMUFD_HWPT_DIRTY_TRACKING ? " dirty-tracking" : "",
		 flags & IOMMUFD_HWPT_PASID ? " PASID" : "", "");
	return buf;
}

static void explain_alloc(struct iommufd_device *dev, struct iommufd_ioas *ioas, uint32_t flags, bool fault,
			  int r)
{
	struct iommufd_ctx *ctx = dev->ctx;
	char f[64];

	if (r == -EOPNOTSUPP)
		ifd_err(ctx, "%s: IOMMU_HWPT_ALLOC on IOAS %u: the IOMMU (or this kernel) cannot give the device an "
			"HWPT with%s%s%s (EOPNOTSUPP); iommufd_feature_query() says which%s", dev->name, ioas->id,
			flags ? flag_names(flags, f, sizeof(f)) : "", fault ? " page faults" : "",
			!flags && !fault ? " no flags" : "",
			fault ? "; some kernels (6.12) take a fault queue only on a nested HWPT "
				"(iommufd_hwpt_create_nested())" : "");
	else
		ifd_err(ctx, "%s: IOMMU_HWPT_ALLOC on IOAS %u failed: %s", dev->name, ioas->id, strerror(-r));
}

IFD_EXPORT int iommufd_hwpt_create(struct iommufd_device *dev, struct iommufd_ioas *ioas,
				   const struct iommufd_hwpt_opts *opts, struct iommufd_hwpt **out)
{
	struct iommufd_hwpt_opts o;
	struct ifd_k_hwpt_alloc ha;
	struct iommufd_hwpt *h;
	struct iommufd_ctx *ctx;
	struct iommufd_fault_queue *q;
	int r;

	if (!dev_ok(dev) || !ioas || ioas->state != IFD_ALIVE || ioas->ctx != dev->ctx || !out ||
	    ifd_opts_copy(&o, sizeof(o), opts) < 0 || (o.flags & ~HWPT_FLAGS))
		return ifd_ret(-EINVAL);
	/* Vendor data: all three, or none. */
	if (o.data_type ? !o.data || !o.data_len || o.data_len > HWPT_DATA_MAX : o.data || o.data_len)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	q = o.fault;
	if (q && (q->state != IFD_ALIVE || q->ctx != ctx))
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->dev_attach_pt) {
		ifd_err(ctx, "%s: the %s backend has no HWPTs: use a kernel with iommufd and VFIO_DEVICE_CDEV "
			"(the cdev backend)", dev->name, iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	if (!dev->has_devid) {
		ifd_err(ctx, "%s has no iommufd device ID, so no HWPT can be built for it", dev->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	r = ifd_iommufd_has_ioctl(ctx, IFD_K_IOMMU_HWPT_ALLOC);
	if (r == 0) {
		ifd_err(ctx, "/dev/iommu: kernel lacks IOMMU_HWPT_ALLOC (needs Linux 6.6+ with CONFIG_IOMMUFD)");
		r = -EOPNOTSUPP;
	}
	if (r < 0)
		return ifd_ret(r);
	h = calloc(1, sizeof(*h));
	if (!h)
		return ifd_ret(-ENOMEM);

	memset(&ha, 0, sizeof(ha));
	/* The smallest form that carries what we use, so 6.6 takes it too. */
	ha.size = q ? IFD_K_HWPT_ALLOC_SIZE_FAULT :
		      o.data_type ? IFD_K_HWPT_ALLOC_SIZE_DATA : IFD_K_HWPT_ALLOC_SIZE_BASE;
	ha.flags = kernel_flags(o.flags) | (q ? IFD_K_IOMMU_HWPT_FAULT_ID_VALID : 0);
	ha.dev_id = dev->devid;
	ha.pt_id = ioas->id;
	ha.data_type = o.data_type;
	ha.data_len = o.data_len;
	ha.data_uptr = (uintptr_t)o.data;

	ifd_ctx_lock(ctx);
	/* Another thread may have destroyed them since the check. */
	if (ioas->state != IFD_ALIVE || dev->state != IFD_ALIVE || (q && q->state != IFD_ALIVE)) {
		r = -EINVAL;
		goto out;
	}
	if (q)
		ha.fault_id = q->id;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_ALLOC, &ha);
	if (r < 0) {
		if (o.data_type)
			ifd_err(ctx, "%s: IOMMU_HWPT_ALLOC on IOAS %u with vendor data type 0x%x (%u bytes) failed: "
				"%s (the device's IOMMU driver takes no such data, or not this content)", dev->name,
				ioas->id, o.data_type, o.data_len, strerror(-r));
		else
			explain_alloc(dev, ioas, o.flags, q != NULL, r);
		goto out;
	}
	h->ctx = ctx;
	h->ioas = ioas;
	h->fault = q;
	h->id = ha.out_hwpt_id;
	h->flags = o.flags;
	h->state = IFD_ALIVE;
	if (q)
		q->hwpts++;
	ifd_list_add(&ctx->hwpt_list, &h->link);
	ifd_dbg(ctx, "%s: HWPT %u on IOAS %u (flags 0x%x%s)", dev->name, h->id, ioas->id, o.flags,
		q ? ", page faults" : "");
	*out = h;
	h = NULL;
out:
	ifd_ctx_unlock(ctx);
	free(h);
	return ifd_ret(r);
}

/* @force: the context is going (its iommufd closes and takes every object
 * with it), so a kernel refusal does not keep the handle. */
static int hwpt_destroy(struct iommufd_hwpt *hwpt, bool force)
{
	struct iommufd_ctx *ctx = hwpt->ctx;
	unsigned int users;
	int r = 0;

	ifd_ctx_lock(ctx);
	users = hwpt->users;
	if (hwpt->children && !force) {
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "HWPT %u is the nesting parent of %u nested HWPT(s) or vIOMMU(s): destroy them first",
			hwpt->id, hwpt->children);
		return ifd_ret(-EBUSY);
	}
	if (users && !force) {
		/* Also in a forked child: the handles of its devices point here. */
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "HWPT %u still has %u device(s) or PASID(s) attached: detach or move them first",
			hwpt->id, users);
		return ifd_ret(-EBUSY);
	}
	if (!ifd_forked(ctx)) {
		r = ifd_iommufd_destroy_obj(ctx, hwpt->id);
		if (r == -EBUSY && !force) {
			/* Someone else attached a device to it through this
			 * iommufd: the HWPT stays, and so does its handle. */
			ifd_ctx_unlock(ctx);
			ifd_err(ctx, "/dev/iommu: HWPT %u is in use by a device attached outside the library "
				"(IOMMU_DESTROY: EBUSY): detach that device first", hwpt->id);
			return ifd_ret(-EBUSY);
		}
		if (r < 0 && !force)
			ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of HWPT %u failed: %s (the handle is freed anyway; "
				 "the kernel frees the HWPT with the iommufd)", hwpt->id, strerror(-r));
	}
	if (hwpt->fault)
		hwpt->fault->hwpts--;
	if (hwpt->viommu)
		hwpt->viommu->nested--;
	else if (hwpt->parent)
		hwpt->parent->children--;
	ifd_list_del(&hwpt->link);
	hwpt->state = IFD_DEAD;
	ifd_ctx_unlock(ctx);
	free(hwpt);
	return 0;
}

IFD_EXPORT int iommufd_hwpt_destroy(struct iommufd_hwpt *hwpt)
{
	if (!hwpt)
		return 0;
	if (!hwpt_ok(hwpt))
		return ifd_ret(-EINVAL);
	return hwpt_destroy(hwpt, false);
}

/* In the kernel's order: nested HWPTs, then the vIOMMUs and what is on
 * them, then the parents. */
void ifd_hwpt_ctx_gone(struct iommufd_ctx *ctx)
{
	struct ifd_list *pos, *tmp;

	ifd_list_for_each_safe(pos, tmp, &ctx->hwpt_list) {
		struct iommufd_hwpt *h = ifd_container_of(pos, struct iommufd_hwpt, link);

		if (h->parent)
			hwpt_destroy(h, true);
	}
	ifd_viommu_ctx_gone(ctx);
	ifd_list_for_each_safe(pos, tmp, &ctx->hwpt_list)
		hwpt_destroy(ifd_container_of(pos, struct iommufd_hwpt, link), true);
}

IFD_EXPORT uint32_t iommufd_hwpt_get_id(const struct iommufd_hwpt *hwpt)
{
	if (!hwpt_ok(hwpt)) {
		errno = EINVAL;
		return 0;
	}
	return hwpt->id;
}

IFD_EXPORT struct iommufd_ioas *iommufd_hwpt_get_ioas(const struct iommufd_hwpt *hwpt)
{
	if (!hwpt_ok(hwpt)) {
		errno = EINVAL;
		return NULL;
	}
	return hwpt->ioas;
}

IFD_EXPORT struct iommufd_hwpt *iommufd_hwpt_get_parent(const struct iommufd_hwpt *hwpt)
{
	if (!hwpt_ok(hwpt)) {
		errno = EINVAL;
		return NULL;
	}
	return hwpt->parent;
}

IFD_EXPORT uint32_t iommufd_hwpt_get_flags(const struct iommufd_hwpt *hwpt)
{
	if (!hwpt_ok(hwpt)) {
		errno = EINVAL;
		return 0;
	}
	return hwpt->flags;
}

bool ifd_hwpt_ioas_busy(struct iommufd_ioas *ioas)
{
	struct ifd_list *pos;

	ifd_list_for_each(pos, &ioas->ctx->hwpt_list)
		if (ifd_container_of(pos, struct iommufd_hwpt, link)->ioas == ioas)
			return true;
	return false;
}

void ifd_dev_set_attached(struct iommufd_device *dev, struct iommufd_hwpt *hwpt, struct iommufd_ioas *ioas)
{
	if (dev->hwpt)
		dev->hwpt->users--;
	if (dev->ioas)
		dev->ioas->ndevices--;
	dev->hwpt = hwpt;
	dev->ioas = hwpt ? hwpt->ioas : ioas;
	if (dev->hwpt)
		dev->hwpt->users++;
	if (dev->ioas)
		dev->ioas->ndevices++;
}

void ifd_dev_restore(struct iommufd_device *dev, struct iommufd_hwpt *hwpt, struct iommufd_ioas *ioas)
{
	const struct ifd_backend_ops *ops = dev->ctx->ops;
	int r;

	if (hwpt)
		r = ops->dev_attach_pt(dev, hwpt->id, false, 0);
	else if (ioas)
		r = ops->dev_attach(dev, ioas);
	else
		r = ops->dev_detach_pt ? ops->dev_detach_pt(dev, false, 0) : -EOPNOTSUPP;
	if (r < 0)
		ifd_err(dev->ctx, "%s: could not return to %s %u after a failed move: %s; its DMA may go through "
			"the new one", dev->name, hwpt ? "HWPT" : ioas ? "IOAS" : "detached state",
			hwpt ? hwpt->id : ioas ? ioas->id : 0, strerror(-r));
}

/*
 * The checks both attach calls start with; on success ctx->lock is held
 * (the HWPT cannot go meanwhile), on failure it is not.
 */
static int attach_begin(struct iommufd_device *dev, struct iommufd_hwpt *hwpt, const char *what)
{
	int r;

	if (!dev_ok(dev) || !hwpt_ok(hwpt) || hwpt->ctx != dev->ctx)
		return -EINVAL;
	if (ifd_forked(dev->ctx))
		return -ECHILD;
	r = dev_attachable(dev, what);
	if (r < 0)
		return r;
	ifd_ctx_lock(dev->ctx);
	if (hwpt->state != IFD_ALIVE) {
		ifd_ctx_unlock(dev->ctx);
		return -EINVAL;
	}
	return 0;
}

IFD_EXPORT int iommufd_device_attach_hwpt(struct iommufd_device *dev, struct iommufd_hwpt *hwpt)
{
	struct iommufd_ctx *ctx;
	struct iommufd_hwpt *old_h;
	struct iommufd_ioas *old_ioas;
	int r;

	r = attach_begin(dev, hwpt, "attach to an HWPT");
	if (r < 0)
		return ifd_ret(r);
	ctx = dev->ctx;
	old_h = dev->hwpt;
	old_ioas = dev->ioas;
	if (old_h == hwpt)
		goto out;
	r = ctx->ops->dev_attach_pt(dev, hwpt->id, false, 0);
	if (r < 0) {
		ifd_err(ctx, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT to HWPT %u failed: %s%s", dev->name, hwpt->id,
			strerror(-r), r == -EINVAL ? " (an HWPT built for another IOMMU, or a group whose devices "
			"use another HWPT)" : "");
		goto out;
	}
	/* The device's reserved ranges now apply to the HWPT's IOAS. */
	r = ifd_ioas_refresh(hwpt->ioas);
	if (r < 0) {
		ifd_dev_restore(dev, old_h, old_ioas);
		goto out;
	}
	ifd_dev_set_attached(dev, hwpt, NULL);
	if (old_ioas && old_ioas != hwpt->ioas)
		ifd_ioas_refresh(old_ioas);
	ifd_dbg(ctx, "%s: attached to HWPT %u (IOAS %u)", dev->name, hwpt->id, hwpt->ioas->id);
out:
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_device_detach(struct iommufd_device *dev)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *old;
	int r;

	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = dev_attachable(dev, "detach");
	if (r < 0)
		return ifd_ret(r);
	ifd_ctx_lock(ctx);
	old = dev->ioas;
	/* Issued even when the books say detached: a device adopted by ID may
	 * be attached by its previous owner, and detaching twice is harmless. */
	r = ctx->ops->dev_detach_pt(dev, false, 0);
	if (r < 0) {
		ifd_err(ctx, "%s: VFIO_DEVICE_DETACH_IOMMUFD_PT failed: %s", dev->name, strerror(-r));
		goto out;
	}
	ifd_dev_set_attached(dev, NULL, NULL);
	if (old)
		ifd_ioas_refresh(old); /* its usable ranges may widen */
out:
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

IFD_EXPORT struct iommufd_hwpt *iommufd_device_get_hwpt(const struct iommufd_device *dev)
{
	if (!dev_ok(dev)) {
		errno = EINVAL;
		return NULL;
	}
	return dev->hwpt;
}

static struct ifd_pasid_att *pasid_find(struct iommufd_device *dev, uint32_t pasid)
{
	for (size_t i = 0; i < dev->npasids; i++)
		if (dev->pasids[i].pasid == pasid)
			return &dev->pasids[i];
	return NULL;
}

/* Caller holds ctx->lock.  0 if @pasid fits the device's PASID width. */
static int pasid_check(struct iommufd_device *dev, uint32_t pasid)
{
	int w = ifd_dev_pasid_width(dev);

	if (w < 0)
		return w; /* logged */
	if (w == 0) {
		ifd_err(dev->ctx, "%s cannot use PASIDs: IOMMU_GET_HW_INFO reports max_pasid_log2 0 (no PASID "
			"capability enabled, or an IOMMU or kernel without PASID support)", dev->name);
		return -EOPNOTSUPP;
	}
	if (w < 32 && pasid >= (1u << w)) {
		ifd_err(dev->ctx, "%s: PASID %u does not fit the device's %d-bit PASID width", dev->name, pasid, w);
		return -ERANGE;
	}
	return 0;
}

IFD_EXPORT int iommufd_device_attach_pasid(struct iommufd_device *dev, uint32_t pasid, struct iommufd_hwpt *hwpt)
{
	struct iommufd_ctx *ctx;
	struct ifd_pasid_att *a, *grown;
	int r;

	r = attach_begin(dev, hwpt, "attach a PASID");
	if (r < 0)
		return ifd_ret(r);
	ctx = dev->ctx;
	/* A device without PASIDs is refused as such (-EOPNOTSUPP) whatever
	 * the HWPT: that is the answer a caller can act on. */
	r = pasid_check(dev, pasid);
	if (r < 0)
		goto out;
	if (!(hwpt->flags & IOMMUFD_HWPT_PASID)) {
		/* logged after the unlock: ifd_ctx_lock defers it */
		ifd_err(ctx, "%s: HWPT %u was not created with IOMMUFD_HWPT_PASID, so no PASID may use it", dev->name,
			hwpt->id);
		r = -EINVAL;
		goto out;
	}
	a = pasid_find(dev, pasid);
	if (a && a->hwpt == hwpt)
		goto out;
	if (!a) {
		/* Room first: nothing may fail after the kernel said yes. */
		grown = realloc(dev->pasids, (dev->npasids + 1) * sizeof(*grown));
		if (!grown) {
			r = -ENOMEM;
			goto out;
		}
		dev->pasids = grown;
	}
	r = ctx->ops->dev_attach_pt(dev, hwpt->id, true, pasid);
	if (r < 0) {
		ifd_err(ctx, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT of PASID %u to HWPT %u failed: %s%s", dev->name, pasid,
			hwpt->id, strerror(-r), r == -EOPNOTSUPP ? " (the device's driver or this kernel cannot "
			"attach PASIDs)" : "");
		goto out;
	}
	if (a) {
		a->hwpt->users--;
	} else {
		a = &dev->pasids[dev->npasids++];
		a->pasid = pasid;
	}
	a->hwpt = hwpt;
	hwpt->users++;
	ifd_dbg(ctx, "%s: PASID %u attached to HWPT %u", dev->name, pasid, hwpt->id);
out:
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_device_detach_pasid(struct iommufd_device *dev, uint32_t pasid)
{
	struct iommufd_ctx *ctx;
	struct ifd_pasid_att *a;
	int r;

	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = dev_attachable(dev, "detach a PASID");
	if (r < 0)
		return ifd_ret(r);
	ifd_ctx_lock(ctx);
	a = pasid_find(dev, pasid);
	if (!a) {
		ifd_err(ctx, "%s: PASID %u is not attached by this library", dev->name, pasid);
		r = -ENOENT;
		goto out;
	}
	r = ctx->ops->dev_detach_pt(dev, true, pasid);
	if (r < 0) {
		ifd_err(ctx, "%s: VFIO_DEVICE_DETACH_IOMMUFD_PT of PASID %u failed: %s", dev->name, pasid,
			strerror(-r));
		goto out;
	}
	a->hwpt->users--;
	*a = dev->pasids[--dev->npasids];
out:
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

void ifd_hwpt_dev_gone(struct iommufd_device *dev)
{
	if (dev->hwpt)
		dev->hwpt->users--;
	dev->hwpt = NULL;
	for (size_t i = 0; i < dev->npasids; i++)
		dev->pasids[i].hwpt->users--;
	free(dev->pasids);
	dev->pasids = NULL;
	dev->npasids = 0;
}

/* ------------------------------------------------------------------------ */
/* Nested HWPTs                                                             */

/* What the kernel takes for a nested HWPT besides the fault queue. */
#define NESTED_FLAGS IOMMUFD_HWPT_PASID

static int need_nesting(struct iommufd_ctx *ctx, enum iommufd_feature f, const char *call)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	int r = iommufd_feature_query(ctx, NULL, f, &st);

	if (r == 0) {
		ifd_err(ctx, "%s: %s", call, st.why);
		r = -EOPNOTSUPP;
	}
	return r < 0 ? r : 0;
}

IFD_EXPORT int iommufd_hwpt_create_nested(struct iommufd_device *dev, struct iommufd_hwpt *parent,
					  struct iommufd_viommu *viommu, const struct iommufd_hwpt_nested_opts *opts,
					  struct iommufd_hwpt **out)
{
	struct iommufd_hwpt_nested_opts o;
	struct ifd_k_hwpt_alloc ha;
	struct iommufd_fault_queue *q;
	struct iommufd_hwpt *h, *base;
	struct iommufd_ctx *ctx;
	int r;

	if (!dev_ok(dev) || !out || !opts || ifd_opts_copy(&o, sizeof(o), opts) < 0)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	/* Arguments first: a bad one is -EINVAL whatever the kernel has. */
	if (!parent == !viommu || (o.flags & ~NESTED_FLAGS) || !o.data_type || !o.data || !o.data_len ||
	    o.data_len > HWPT_DATA_MAX)
		return ifd_ret(-EINVAL);
	if (parent && (!hwpt_ok(parent) || parent->ctx != ctx || parent->parent))
		return ifd_ret(-EINVAL);
	if (viommu && (!ifd_viommu_ok(viommu) || viommu->ctx != ctx))
		return ifd_ret(-EINVAL);
	if (parent && !(parent->flags & IOMMUFD_HWPT_NEST_PARENT)) {
		ifd_err(ctx, "%s: HWPT %u was not created with IOMMUFD_HWPT_NEST_PARENT, so nothing can nest on it",
			dev->name, parent->id);
		return ifd_ret(-EINVAL);
	}
	q = o.fault;
	if (q && (q->state != IFD_ALIVE || q->ctx != ctx))
		return ifd_ret(-EINVAL);
	/* A nested HWPT on a parent is a 6.7 HWPT_ALLOC with data; on a
	 * vIOMMU it needs IOMMU_VIOMMU_ALLOC's kernel.  No backend without
	 * HWPTs gets here: the query says BACKEND. */
	r = need_nesting(ctx, IOMMUFD_FEATURE_HWPT, "iommufd_hwpt_create_nested");
	if (r == 0)
		r = need_nesting(ctx, viommu ? IOMMUFD_FEATURE_VIOMMU : IOMMUFD_FEATURE_HWPT_INVALIDATE,
				 "iommufd_hwpt_create_nested");
	if (r < 0)
		return ifd_ret(r);
	if (!dev->has_devid)
		return ifd_ret(-EINVAL);
	h = calloc(1, sizeof(*h));
	if (!h)
		return ifd_ret(-ENOMEM);

	memset(&ha, 0, sizeof(ha));
	ha.size = q ? IFD_K_HWPT_ALLOC_SIZE_FAULT : IFD_K_HWPT_ALLOC_SIZE_DATA;
	ha.flags = kernel_flags(o.flags) | (q ? IFD_K_IOMMU_HWPT_FAULT_ID_VALID : 0);
	ha.dev_id = dev->devid;
	ha.data_type = o.data_type;
	ha.data_len = o.data_len;
	ha.data_uptr = (uintptr_t)o.data;

	ifd_ctx_lock(ctx);
	if (dev->state != IFD_ALIVE || (parent && parent->state != IFD_ALIVE) ||
	    (viommu && viommu->state != IFD_ALIVE) || (q && q->state != IFD_ALIVE)) {
		r = -EINVAL;
		goto out;
	}
	base = parent ? parent : viommu->parent;
	ha.pt_id = parent ? parent->id : viommu->id;
	if (q)
		ha.fault_id = q->id;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_ALLOC, &ha);
	if (r < 0) {
		ifd_err(ctx, "%s: IOMMU_HWPT_ALLOC of a nested HWPT (data type %#x, %u bytes) on %s %u failed: %s%s",
			dev->name, o.data_type, o.data_len, parent ? "HWPT" : "vIOMMU", ha.pt_id, strerror(-r),
			r == -EOPNOTSUPP ? " (the IOMMU does not take this data type, or nesting here)" :
			r == -EINVAL ? " (the IOMMU driver refused the vendor data)" : "");
		goto out;
	}
	h->ctx = ctx;
	h->ioas = base->ioas;
	h->fault = q;
	h->id = ha.out_hwpt_id;
	h->flags = o.flags;
	h->parent = base;
	h->viommu = viommu;
	h->state = IFD_ALIVE;
	if (q)
		q->hwpts++;
	if (viommu)
		viommu->nested++;
	else
		parent->children++;
	ifd_list_add(&ctx->hwpt_list, &h->link);
	ifd_dbg(ctx, "%s: nested HWPT %u on %s %u (data type %#x)", dev->name, h->id, parent ? "HWPT" : "vIOMMU",
		ha.pt_id, o.data_type);
	*out = h;
	h = NULL;
out:
	ifd_ctx_unlock(ctx);
	free(h);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_hwpt_invalidate(struct iommufd_hwpt *hwpt, uint32_t data_type, const void *entries,
				       uint32_t entry_len, uint32_t *num)
{
	struct iommufd_ctx *ctx;

	if (!hwpt_ok(hwpt) || !num || (*num && (!entries || !entry_len || entry_len > 4096u || *num > (1u << 19))))
		return ifd_ret(-EINVAL);
	ctx = hwpt->ctx;
	if (ifd_forked(ctx)) {
		*num = 0;
		return ifd_ret(-ECHILD);
	}
	if (!hwpt->parent) {
		ifd_err(ctx, "HWPT %u is not nested: only a nested HWPT's caches are invalidated by the caller",
			hwpt->id);
		*num = 0;
		return ifd_ret(-EINVAL);
	}
	return ifd_ret(ifd_invalidate(ctx, hwpt->id, "HWPT", data_type, entries, entry_len, num));
}
