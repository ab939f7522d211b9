/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * vIOMMUs (IOMMU_VIOMMU_ALLOC), the vDEVICEs (IOMMU_VDEVICE_ALLOC) and HW
 * queues (IOMMU_HW_QUEUE_ALLOC) on them, and IOMMU_HWPT_INVALIDATE, which
 * the kernel takes on a nested HWPT or a vIOMMU alike.
 *
 * The kernel keeps a vIOMMU (and its parent HWPT) alive while anything
 * refers to it, and would answer IOMMU_DESTROY with EBUSY; the library
 * refuses first from its own books (ctx->lock), so the message can name
 * what is left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

_Static_assert(IOMMUFD_INVALIDATE_DATA_VTD_S1 == IFD_K_IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 &&
		       IOMMUFD_INVALIDATE_DATA_ARM_SMMUV3 == IFD_K_IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
	       "invalidation data types pass through unchanged");
_Static_assert(IOMMUFD_VIOMMU_TYPE_ARM_SMMUV3 == IFD_K_IOMMU_VIOMMU_TYPE_ARM_SMMUV3 &&
		       IOMMUFD_VIOMMU_TYPE_TEGRA241_CMDQV == IFD_K_IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
	       "vIOMMU types pass through unchanged");
_Static_assert(IOMMUFD_HW_QUEUE_TYPE_TEGRA241_CMDQV == IFD_K_IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
	       "HW queue types pass through unchanged");

/* The kernel's bounds of one IOMMU_HWPT_INVALIDATE (hw_pagetable.c). */
#define INVAL_ENTRY_MAX 4096u
#define INVAL_NUM_MAX (1u << 19)
/* Driver data the library passes; far above any driver's struct. */
#define VIOMMU_DATA_MAX 65536u

bool ifd_viommu_ok(const struct iommufd_viommu *v)
{
	return v && v->state == IFD_ALIVE;
}

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

/*
 * The one answer to "may this context do @f": the feature query's, so the
 * calls and iommufd_feature_query() never disagree.  0, or -EOPNOTSUPP
 * (logged with the query's reason) or another negative errno.
 */
static int need_feature(struct iommufd_ctx *ctx, enum iommufd_feature f, const char *call)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	int r = iommufd_feature_query(ctx, NULL, f, &st);

	if (r < 0)
		return r;
	if (r == 0) {
		ifd_err(ctx, "%s: %s", call, st.why);
		return -EOPNOTSUPP;
	}
	return 0;
}

static const char *obj_what(struct iommufd_ctx *ctx, unsigned long req)
{
	(void)ctx;
	switch (req) {
	case IFD_K_IOMMU_VIOMMU_ALLOC: return "IOMMU_VIOMMU_ALLOC";
	case IFD_K_IOMMU_VDEVICE_ALLOC: return "IOMMU_VDEVICE_ALLOC";
	case IFD_K_IOMMU_HW_QUEUE_ALLOC: return "IOMMU_HW_QUEUE_ALLOC";
	default: return "ioctl";
	}
}

/* ------------------------------------------------------------------------ */
/* Invalidation                                                             */

int ifd_invalidate(struct iommufd_ctx *ctx, uint32_t id, const char *what, uint32_t data_type,
		   const void *entries, uint32_t entry_len, uint32_t *num)
{
	struct ifd_k_hwpt_invalidate c;
	uint32_t given = *num;
	int r;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.hwpt_id = id;
	c.data_uptr = (uintptr_t)entries;
	c.data_type = data_type;
	c.entry_len = entry_len;
	c.entry_num = given;
	*num = 0;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_INVALIDATE, &c);
	/* The kernel writes entry_num back on failure too; never trust it
	 * beyond what was given. */
	*num = c.entry_num <= given ? c.entry_num : given;
	if (r == 0 && c.entry_num != given) {
		ifd_err(ctx, "/dev/iommu: IOMMU_HWPT_INVALIDATE on %s %u handled %u of %u entries and said success: "
			"malformed answer", what, id, c.entry_num, given);
		*num = 0;
		return -EIO;
	}
	if (r == -ENOTTY) {
		ifd_err(ctx, "/dev/iommu: kernel lacks IOMMU_HWPT_INVALIDATE (needs Linux 6.8+)");
		return -EOPNOTSUPP;
	}
	if (r < 0)
		ifd_err(ctx, "/dev/iommu: IOMMU_HWPT_INVALIDATE on %s %u (data type %#x) stopped at entry %u of %u: %s%s",
			what, id, data_type, *num, given, strerror(-r),
			r == -EOPNOTSUPP ? " (the IOMMU driver does not take this data type here)" : "");
	return r;
}

static bool inval_args_ok(const void *entries, uint32_t entry_len, const uint32_t *num)
{
	if (!num)
		return false;
	if (*num == 0)
		return true;
	return entries && entry_len && entry_len <= INVAL_ENTRY_MAX && *num <= INVAL_NUM_MAX;
}

IFD_EXPORT int iommufd_viommu_invalidate(struct iommufd_viommu *viommu, uint32_t data_type, const void *entries,
					 uint32_t entry_len, uint32_t *num)
{
	struct iommufd_ctx *ctx;

	if (!ifd_viommu_ok(viommu) || !inval_args_ok(entries, entry_len, num))
		return ifd_ret(-EINVAL);
	ctx = viommu->ctx;
	if (ifd_forked(ctx)) {
		*num = 0;
		return ifd_ret(-ECHILD);
	}
	return ifd_ret(ifd_invalidate(ctx, viommu->id, "vIOMMU", data_type, entries, entry_len, num));
}

/* ------------------------------------------------------------------------ */
/* vIOMMU                                                                   */

IFD_EXPORT int iommufd_viommu_create(struct iommufd_device *dev, struct iommufd_hwpt *parent,
				     const struct iommufd_viommu_opts *opts, struct iommufd_viommu **out)
{
	struct iommufd_viommu_opts o;
	struct ifd_k_viommu_alloc a;
	struct iommufd_viommu *v;
	struct iommufd_ctx *ctx;
	int r;

	if (!dev_ok(dev) || !out || !opts || ifd_opts_copy(&o, sizeof(o), opts) < 0)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	/* Arguments first: a bad one is -EINVAL whatever the kernel has. */
	if (!parent || parent->state != IFD_ALIVE || parent->ctx != ctx || !o.type ||
	    o.data_len > VIOMMU_DATA_MAX || (o.data_len && !o.data))
		return ifd_ret(-EINVAL);
	if (!(parent->flags & IOMMUFD_HWPT_NEST_PARENT)) {
		ifd_err(ctx, "%s: HWPT %u was not created with IOMMUFD_HWPT_NEST_PARENT, so no vIOMMU can use it",
			dev->name, parent->id);
		return ifd_ret(-EINVAL);
	}
	r = need_feature(ctx, IOMMUFD_FEATURE_VIOMMU, "iommufd_viommu_create");
	if (r < 0)
		return ifd_ret(r);
	if (!dev->has_devid)
		return ifd_ret(-EINVAL);
	v = calloc(1, sizeof(*v));
	if (!v)
		return ifd_ret(-ENOMEM);
	memset(&a, 0, sizeof(a));
	/* The short form unless there is driver data, so 6.13 takes it. */
	a.size = o.data_len ? IFD_K_VIOMMU_ALLOC_SIZE_DATA : IFD_K_VIOMMU_ALLOC_SIZE_BASE;
	a.type = o.type;
	a.dev_id = dev->devid;
	a.hwpt_id = parent->id;
	a.data_len = o.data_len;
	a.data_uptr = (uintptr_t)o.data;

	ifd_ctx_lock(ctx);
	if (parent->state != IFD_ALIVE || dev->state != IFD_ALIVE) {
		r = -EINVAL;
		goto out;
	}
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_VIOMMU_ALLOC, &a);
	if (r < 0) {
		ifd_err(ctx, "%s: %s of type %#x on HWPT %u failed: %s%s", dev->name, obj_what(ctx, IFD_K_IOMMU_VIOMMU_ALLOC),
			o.type, parent->id, strerror(-r),
			r == -EOPNOTSUPP ? " (the IOMMU driver has no vIOMMU of this type)" : "");
		goto out;
	}
	v->ctx = ctx;
	v->id = a.out_viommu_id;
	v->parent = parent;
	ifd_list_init(&v->vdevs);
	ifd_list_init(&v->hwqs);
	ifd_list_init(&v->veventqs);
	v->state = IFD_ALIVE;
	parent->children++;
	ifd_list_add(&ctx->viommu_list, &v->link);
	ifd_dbg(ctx, "%s: vIOMMU %u (type %#x) on HWPT %u", dev->name, v->id, o.type, parent->id);
	*out = v;
	v = NULL;
out:
	ifd_ctx_unlock(ctx);
	free(v);
	return ifd_ret(r);
}

/* Caller holds ctx->lock.  @force: the context is going. */
static void destroy_obj(struct iommufd_ctx *ctx, uint32_t id, const char *what, bool force)
{
	int r;

	if (ifd_forked(ctx))
		return;
	r = ifd_iommufd_destroy_obj(ctx, id);
	/* -ENOENT: the kernel took it already (a vDEVICE goes with its device). */
	if (r < 0 && r != -ENOENT && !force)
		ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of %s %u failed: %s (the handle is freed anyway; the "
			 "kernel frees the object with the iommufd)", what, id, strerror(-r));
}

static void vdev_free(struct iommufd_vdevice *vd, bool force)
{
	destroy_obj(vd->viommu->ctx, vd->id, "vDEVICE", force);
	ifd_list_del(&vd->link);
	vd->state = IFD_DEAD;
	free(vd);
}

static void hwq_free(struct iommufd_hw_queue *q, bool force)
{
	destroy_obj(q->viommu->ctx, q->id, "HW queue", force);
	ifd_list_del(&q->link);
	q->state = IFD_DEAD;
	free(q);
}

static void viommu_free(struct iommufd_viommu *v, bool force)
{
	destroy_obj(v->ctx, v->id, "vIOMMU", force);
	v->parent->children--;
	ifd_list_del(&v->link);
	v->state = IFD_DEAD;
	free(v);
}

IFD_EXPORT int iommufd_viommu_destroy(struct iommufd_viommu *viommu)
{
	struct iommufd_ctx *ctx;
	unsigned int nv = 0, nq = 0, ne = 0, nn;
	struct ifd_list *pos;

	if (!viommu)
		return 0;
	if (!ifd_viommu_ok(viommu))
		return ifd_ret(-EINVAL);
	ctx = viommu->ctx;
	ifd_ctx_lock(ctx);
	ifd_list_for_each(pos, &viommu->vdevs)
		nv++;
	ifd_list_for_each(pos, &viommu->hwqs)
		nq++;
	ifd_list_for_each(pos, &viommu->veventqs)
		ne++;
	nn = viommu->nested;
	if (nv || nq || ne || nn) {
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "vIOMMU %u is still used by %u vDEVICE(s), %u HW queue(s), %u vEVENTQ(s) and %u nested "
			"HWPT(s): destroy them first", viommu->id, nv, nq, ne, nn);
		return ifd_ret(-EBUSY);
	}
	viommu_free(viommu, false);
	ifd_ctx_unlock(ctx);
	return 0;
}

IFD_EXPORT uint32_t iommufd_viommu_get_id(const struct iommufd_viommu *viommu)
{
	if (!ifd_viommu_ok(viommu)) {
		errno = EINVAL;
		return 0;
	}
	return viommu->id;
}

/* Everything on the vIOMMUs first (nested HWPTs are hwpt.c's and went
 * before), then the vIOMMUs. */
void ifd_viommu_ctx_gone(struct iommufd_ctx *ctx)
{
	struct ifd_list *pos, *tmp, *p2, *t2;

	ifd_ctx_lock(ctx);
	ifd_list_for_each_safe(pos, tmp, &ctx->viommu_list) {
		struct iommufd_viommu *v = ifd_container_of(pos, struct iommufd_viommu, link);

		ifd_list_for_each_safe(p2, t2, &v->vdevs)
			vdev_free(ifd_container_of(p2, struct iommufd_vdevice, link), true);
		ifd_list_for_each_safe(p2, t2, &v->veventqs)
			ifd_veventq_free(ifd_container_of(p2, struct iommufd_veventq, link), ifd_forked(ctx));
		/* Highest index first: a queue may depend on the one before. */
		while (!ifd_list_empty(&v->hwqs))
			hwq_free(ifd_container_of(v->hwqs.prev, struct iommufd_hw_queue, link), true);
		viommu_free(v, true);
	}
	ifd_ctx_unlock(ctx);
}

/* ------------------------------------------------------------------------ */
/* vDEVICE                                                                  */

IFD_EXPORT int iommufd_vdevice_create(struct iommufd_viommu *viommu, struct iommufd_device *dev, uint64_t virt_id,
				      struct iommufd_vdevice **out)
{
	struct ifd_k_vdevice_alloc a;
	struct iommufd_vdevice *vd;
	struct iommufd_ctx *ctx;
	int r;

	if (!ifd_viommu_ok(viommu) || !dev_ok(dev) || dev->ctx != viommu->ctx || !out || !dev->has_devid)
		return ifd_ret(-EINVAL);
	ctx = viommu->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = need_feature(ctx, IOMMUFD_FEATURE_VIOMMU, "iommufd_vdevice_create");
	if (r < 0)
		return ifd_ret(r);
	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return ifd_ret(-ENOMEM);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.viommu_id = viommu->id;
	a.dev_id = dev->devid;
	a.virt_id = virt_id;
	ifd_ctx_lock(ctx);
	if (viommu->state != IFD_ALIVE || dev->state != IFD_ALIVE) {
		r = -EINVAL;
		goto out;
	}
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_VDEVICE_ALLOC, &a);
	if (r < 0) {
		ifd_err(ctx, "%s: IOMMU_VDEVICE_ALLOC with virtual ID %#llx on vIOMMU %u failed: %s%s", dev->name,
			(unsigned long long)virt_id, viommu->id, strerror(-r),
			r == -EEXIST ? " (the device or this virtual ID has a vDEVICE already)" : "");
		goto out;
	}
	vd->viommu = viommu;
	vd->dev = dev;
	vd->id = a.out_vdevice_id;
	vd->virt_id = virt_id;
	vd->state = IFD_ALIVE;
	ifd_list_add(&viommu->vdevs, &vd->link);
	ifd_dbg(ctx, "%s: vDEVICE %u (virtual ID %#llx) on vIOMMU %u", dev->name, vd->id,
		(unsigned long long)virt_id, viommu->id);
	*out = vd;
	vd = NULL;
out:
	ifd_ctx_unlock(ctx);
	free(vd);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_vdevice_destroy(struct iommufd_vdevice *vdev)
{
	struct iommufd_ctx *ctx;

	if (!vdev)
		return 0;
	if (vdev->state != IFD_ALIVE)
		return ifd_ret(-EINVAL);
	ctx = vdev->viommu->ctx;
	ifd_ctx_lock(ctx);
	vdev_free(vdev, false);
	ifd_ctx_unlock(ctx);
	return 0;
}

IFD_EXPORT uint32_t iommufd_vdevice_get_id(const struct iommufd_vdevice *vdev)
{
	if (!vdev || vdev->state != IFD_ALIVE) {
		errno = EINVAL;
		return 0;
	}
	return vdev->id;
}

void ifd_viommu_dev_gone(struct iommufd_device *dev)
{
	struct ifd_list *pos, *p2, *t2;

	ifd_list_for_each(pos, &dev->ctx->viommu_list) {
		struct iommufd_viommu *v = ifd_container_of(pos, struct iommufd_viommu, link);

		ifd_list_for_each_safe(p2, t2, &v->vdevs) {
			struct iommufd_vdevice *vd = ifd_container_of(p2, struct iommufd_vdevice, link);

			if (vd->dev == dev)
				vdev_free(vd, false);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* HW queues                                                                */

IFD_EXPORT int iommufd_hw_queue_create(struct iommufd_viommu *viommu, uint32_t type, uint32_t index, uint64_t iova,
				       uint64_t len, struct iommufd_hw_queue **out)
{
	struct ifd_k_hw_queue_alloc a;
	struct iommufd_hw_queue *q;
	struct iommufd_ctx *ctx;
	int r;

	if (!ifd_viommu_ok(viommu) || !out || !type || !len || iova + (len - 1) < iova)
		return ifd_ret(-EINVAL);
	ctx = viommu->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = need_feature(ctx, IOMMUFD_FEATURE_HW_QUEUE, "iommufd_hw_queue_create");
	if (r < 0)
		return ifd_ret(r);
	q = calloc(1, sizeof(*q));
	if (!q)
		return ifd_ret(-ENOMEM);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.viommu_id = viommu->id;
	a.type = type;
	a.index = index;
	a.nesting_parent_iova = iova;
	a.length = len;
	ifd_ctx_lock(ctx);
	if (viommu->state != IFD_ALIVE) {
		r = -EINVAL;
		goto out;
	}
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HW_QUEUE_ALLOC, &a);
	if (r < 0) {
		ifd_err(ctx, "/dev/iommu: %s type %#x index %u at IOVA %#llx+%#llx on vIOMMU %u failed: %s%s",
			obj_what(ctx, IFD_K_IOMMU_HW_QUEUE_ALLOC), type, index, (unsigned long long)iova,
			(unsigned long long)len, viommu->id, strerror(-r),
			r == -EOPNOTSUPP ? " (the IOMMU driver has no HW queue of this type)" :
			r == -EEXIST ? " (that index is taken)" :
			r == -EIO ? " (the driver wants the queue of the index before first)" : "");
		goto out;
	}
	q->viommu = viommu;
	q->id = a.out_hw_queue_id;
	q->index = index;
	q->state = IFD_ALIVE;
	ifd_list_add(&viommu->hwqs, &q->link);
	*out = q;
	q = NULL;
out:
	ifd_ctx_unlock(ctx);
	free(q);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_hw_queue_destroy(struct iommufd_hw_queue *q)
{
	struct iommufd_ctx *ctx;
	int r = 0;

	if (!q)
		return 0;
	if (q->state != IFD_ALIVE)
		return ifd_ret(-EINVAL);
	ctx = q->viommu->ctx;
	ifd_ctx_lock(ctx);
	if (!ifd_forked(ctx)) {
		r = ifd_iommufd_destroy_obj(ctx, q->id);
		if (r == -EBUSY) {
			ifd_ctx_unlock(ctx);
			ifd_err(ctx, "/dev/iommu: HW queue %u (index %u) is in use, by the queue of the next index: "
				"destroy that first", q->id, q->index);
			return ifd_ret(-EBUSY);
		}
		if (r < 0 && r != -ENOENT)
			ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of HW queue %u failed: %s (the handle is freed anyway)",
				 q->id, strerror(-r));
	}
	ifd_list_del(&q->link);
	q->state = IFD_DEAD;
	ifd_ctx_unlock(ctx);
	free(q);
	return 0;
}

IFD_EXPORT uint32_t iommufd_hw_queue_get_id(const struct iommufd_hw_queue *q)
{
	if (!q || q->state != IFD_ALIVE) {
		errno = EINVAL;
		return 0;
	}
	return q->id;
}
