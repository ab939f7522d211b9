/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Dirty tracking for live migration: the HWPT calls (iommufd), and the
 * IOAS-level form a migration loop uses on every backend.  The iommufd
 * implementation of the IOAS-level ops lives here too; TYPE1's is in
 * backend_type1.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

static bool hwpt_ok(const struct iommufd_hwpt *hwpt)
{
	return hwpt && hwpt->state == IFD_ALIVE;
}

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

int ifd_dirty_check(uint64_t iova, uint64_t len, uint64_t page_size, const uint64_t *bitmap, uint32_t flags)
{
	uint64_t words;

	if (!bitmap || !len || !page_size || (page_size & (page_size - 1)))
		return -EINVAL;
	if ((iova | len) & (page_size - 1))
		return -EINVAL;
	if (iova + (len - 1) < iova)
		return -EINVAL;
	if (flags & ~IOMMUFD_DIRTY_NO_CLEAR)
		return -EINVAL;
	/* The caller's buffer must be addressable as one object. */
	words = ifd_dirty_words(len, page_size);
	if (words > SIZE_MAX / sizeof(uint64_t))
		return -EINVAL;
	return 0;
}

/* Name what is wrong with a refused bitmap request: misaligned ranges are
 * the usual mistake, and -EINVAL alone does not say which argument. */
static void bad_args(struct iommufd_ctx *ctx, const char *obj, uint32_t id, uint64_t iova, uint64_t len,
		     uint64_t page_size)
{
	ifd_err(ctx, "%s %u: dirty bitmap of [%#llx, +%#llx) at page size %#llx refused: the page size must be a "
		"power of two, the IOVA and the length non-zero multiples of it, the bitmap non-NULL and the "
		"flags known", obj, id, (unsigned long long)iova, (unsigned long long)len,
		(unsigned long long)page_size);
}

void ifd_dirty_zero(uint64_t *bitmap, uint64_t len, uint64_t page_size)
{
	/* Both kernels only ever set bits: clean pages must read 0. */
	memset(bitmap, 0, (size_t)ifd_dirty_words(len, page_size) * sizeof(uint64_t));
}

/* The kernel's answer turned into the library's, with the fix logged. */
static int explain(struct iommufd_ctx *ctx, const char *call, uint32_t hwpt_id, int r)
{
	if (r == -ENOTTY) {
		ifd_err(ctx, "/dev/iommu: this kernel has no %s: dirty tracking needs Linux 6.7 or later", call);
		return -EOPNOTSUPP;
	}
	if (r == -EOPNOTSUPP)
		ifd_err(ctx, "HWPT %u: %s: the IOMMU domain cannot track dirty pages (the IOMMU lacks it, or the "
			"HWPT is not a paging HWPT allocated with IOMMUFD_HWPT_DIRTY_TRACKING)", hwpt_id, call);
	else if (r < 0 && r != -ECHILD)
		ifd_err(ctx, "HWPT %u: %s failed: %s", hwpt_id, call, strerror(-r));
	return r;
}

static int hwpt_set_raw(struct iommufd_ctx *ctx, uint32_t hwpt_id, bool enable)
{
	struct ifd_k_hwpt_set_dirty_tracking s = {
		.size = sizeof(s),
		.flags = enable ? IFD_K_IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt_id,
	};

	return ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING, &s);
}

static int hwpt_read_raw(struct iommufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova, uint64_t len,
			 uint64_t page_size, uint64_t *bitmap, uint32_t flags)
{
	struct ifd_k_hwpt_get_dirty_bitmap g = {
		.size = sizeof(g),
		.hwpt_id = hwpt_id,
		.flags = (flags & IOMMUFD_DIRTY_NO_CLEAR) ? IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0,
		.iova = iova,
		.length = len,
		.page_size = page_size,
		.data = (uintptr_t)bitmap,
	};

	return ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP, &g);
}

static void read_failed(struct iommufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova, uint64_t len,
			uint64_t page_size, int r)
{
	if (r == -EINVAL)
		ifd_err(ctx, "HWPT %u: IOMMU_HWPT_GET_DIRTY_BITMAP of IOVA 0x%llx+0x%llx at page size 0x%llx: "
			"refused (EINVAL): the range and page size must be multiples of the IOAS's IOMMU page "
			"(iommufd_ioas_get_alignment())", hwpt_id, (unsigned long long)iova,
			(unsigned long long)len, (unsigned long long)page_size);
	else
		explain(ctx, "IOMMU_HWPT_GET_DIRTY_BITMAP", hwpt_id, r);
}

static void set_enabled(struct iommufd_ctx *ctx, uint32_t hwpt_id, bool enable)
{
	struct ifd_list *pos;

	/* By ID: the handle a caller passed may be gone by now, the ID's
	 * HWPT (if still in the list) is the one the kernel changed. */
	ifd_ctx_lock(ctx);
	ifd_list_for_each(pos, &ctx->hwpt_list) {
		struct iommufd_hwpt *h = ifd_container_of(pos, struct iommufd_hwpt, link);

		if (h->id == hwpt_id && h->state == IFD_ALIVE)
			h->dirty_enabled = enable;
	}
	ifd_ctx_unlock(ctx);
}

IFD_EXPORT int iommufd_hwpt_set_dirty_tracking(struct iommufd_hwpt *hwpt, bool enable)
{
	struct iommufd_ctx *ctx;
	int r;

	if (!hwpt_ok(hwpt))
		return ifd_ret(-EINVAL);
	ctx = hwpt->ctx;
	if (!(hwpt->flags & IOMMUFD_HWPT_DIRTY_TRACKING)) {
		ifd_err(ctx, "HWPT %u: created without IOMMUFD_HWPT_DIRTY_TRACKING: create the HWPT with that flag "
			"to track dirty pages", hwpt->id);
		return ifd_ret(-EINVAL);
	}
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = hwpt_set_raw(ctx, hwpt->id, enable);
	if (r < 0)
		return ifd_ret(explain(ctx, "IOMMU_HWPT_SET_DIRTY_TRACKING", hwpt->id, r));
	set_enabled(ctx, hwpt->id, enable);
	return 0;
}

IFD_EXPORT int iommufd_hwpt_get_dirty_bitmap(struct iommufd_hwpt *hwpt, uint64_t iova, uint64_t len,
					     uint64_t page_size, uint64_t *bitmap, uint32_t flags)
{
	struct iommufd_ctx *ctx;
	int r;

	if (!hwpt_ok(hwpt))
		return ifd_ret(-EINVAL);
	ctx = hwpt->ctx;
	if (ifd_dirty_check(iova, len, page_size, bitmap, flags) < 0) {
		bad_args(ctx, "HWPT", hwpt->id, iova, len, page_size);
		return ifd_ret(-EINVAL);
	}
	if (!(hwpt->flags & IOMMUFD_HWPT_DIRTY_TRACKING)) {
		ifd_err(ctx, "HWPT %u: created without IOMMUFD_HWPT_DIRTY_TRACKING: it has no dirty bitmap",
			hwpt->id);
		return ifd_ret(-EINVAL);
	}
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	ifd_dirty_zero(bitmap, len, page_size);
	r = hwpt_read_raw(ctx, hwpt->id, iova, len, page_size, bitmap, flags);
	if (r < 0) {
		read_failed(ctx, hwpt->id, iova, len, page_size, r);
		return ifd_ret(r == -ENOTTY ? -EOPNOTSUPP : r);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The IOAS-level form                                                       */

static int no_backend(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = ioas->ctx;

	ifd_err(ctx, "IOAS %u: the %s backend has no dirty tracking: use the cdev backend (iommufd with HWPTs "
		"created with IOMMUFD_HWPT_DIRTY_TRACKING) or type1 on a kernel that offers "
		"VFIO_IOMMU_DIRTY_PAGES", ioas->id, iommufd_backend_name(ctx->backend));
	return -EOPNOTSUPP;
}

IFD_EXPORT int iommufd_ioas_set_dirty_tracking(struct iommufd_ioas *ioas, bool enable)
{
	struct iommufd_ctx *ctx;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ctx = ioas->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->ioas_set_dirty)
		return ifd_ret(no_backend(ioas));
	return ifd_ret(ctx->ops->ioas_set_dirty(ioas, enable));
}

IFD_EXPORT int iommufd_ioas_get_dirty_bitmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len,
					     uint64_t page_size, uint64_t *bitmap, uint32_t flags)
{
	struct iommufd_ctx *ctx;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ctx = ioas->ctx;
	if (ifd_dirty_check(iova, len, page_size, bitmap, flags) < 0) {
		bad_args(ctx, "IOAS", ioas->id, iova, len, page_size);
		return ifd_ret(-EINVAL);
	}
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->ioas_get_dirty)
		return ifd_ret(no_backend(ioas));
	return ifd_ret(ctx->ops->ioas_get_dirty(ioas, iova, len, page_size, bitmap, flags));
}

/* ------------------------------------------------------------------------ */
/* iommufd: all DMA into an IOAS is the union of its tracking HWPTs         */

struct dirty_set {
	uint32_t *ids;     /* tracking HWPTs of the IOAS */
	bool *was_on;      /* their dirty_enabled when collected */
	size_t n;
	char culprit[64];  /* a device whose writes no HWPT would see */
	uint32_t culprit_pasid;
	bool culprit_is_pasid;
	uint32_t culprit_hwpt; /* 0: on the IOAS's implicit HWPT */
};

static bool tracks(const struct iommufd_hwpt *h)
{
	return h && (h->flags & IOMMUFD_HWPT_DIRTY_TRACKING);
}

/* Returns 0, -ENOMEM, or -EOPNOTSUPP with @ds->culprit named.  ctx->lock held. */
static int collect_locked(struct iommufd_ioas *ioas, struct dirty_set *ds)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct ifd_list *pos;
	size_t n = 0;

	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *dev = ifd_container_of(pos, struct iommufd_device, link);

		if (dev->state != IFD_ALIVE)
			continue;
		if (dev->ioas == ioas && !tracks(dev->hwpt)) {
			snprintf(ds->culprit, sizeof(ds->culprit), "%s", dev->name);
			ds->culprit_hwpt = dev->hwpt ? dev->hwpt->id : 0;
			return -EOPNOTSUPP;
		}
		/* A PASID's DMA lands in its HWPT's IOAS, whatever the RID's. */
		for (size_t i = 0; i < dev->npasids; i++) {
			struct iommufd_hwpt *h = dev->pasids[i].hwpt;

			if (h && h->ioas == ioas && !tracks(h)) {
				snprintf(ds->culprit, sizeof(ds->culprit), "%s", dev->name);
				ds->culprit_is_pasid = true;
				ds->culprit_pasid = dev->pasids[i].pasid;
				ds->culprit_hwpt = h->id;
				return -EOPNOTSUPP;
			}
		}
	}
	ifd_list_for_each(pos, &ctx->hwpt_list) {
		struct iommufd_hwpt *h = ifd_container_of(pos, struct iommufd_hwpt, link);

		n += h->state == IFD_ALIVE && h->ioas == ioas && tracks(h);
	}
	if (!n)
		return 0;
	ds->ids = calloc(n, sizeof(*ds->ids));
	ds->was_on = calloc(n, sizeof(*ds->was_on));
	if (!ds->ids || !ds->was_on)
		return -ENOMEM;
	ifd_list_for_each(pos, &ctx->hwpt_list) {
		struct iommufd_hwpt *h = ifd_container_of(pos, struct iommufd_hwpt, link);

		if (h->state == IFD_ALIVE && h->ioas == ioas && tracks(h)) {
			ds->was_on[ds->n] = h->dirty_enabled;
			ds->ids[ds->n++] = h->id;
		}
	}
	return 0;
}

static void dirty_set_free(struct dirty_set *ds)
{
	free(ds->ids);
	free(ds->was_on);
}

/* Collect under ctx->lock, log after it. */
static int collect(struct iommufd_ioas *ioas, struct dirty_set *ds)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	int r;

	memset(ds, 0, sizeof(*ds));
	ifd_ctx_lock(ctx);
	r = collect_locked(ioas, ds);
	ifd_ctx_unlock(ctx);
	if (r == -EOPNOTSUPP && ds->culprit_is_pasid)
		ifd_err(ctx, "%s: PASID %u is attached to HWPT %u of IOAS %u, which does not track dirty pages: "
			"attach it to an HWPT created with IOMMUFD_HWPT_DIRTY_TRACKING, or its writes go unseen",
			ds->culprit, ds->culprit_pasid, ds->culprit_hwpt, ioas->id);
	else if (r == -EOPNOTSUPP && ds->culprit_hwpt)
		ifd_err(ctx, "%s: attached to HWPT %u of IOAS %u, which does not track dirty pages: attach it to "
			"an HWPT created with IOMMUFD_HWPT_DIRTY_TRACKING, or its writes go unseen", ds->culprit,
			ds->culprit_hwpt, ioas->id);
	else if (r == -EOPNOTSUPP)
		ifd_err(ctx, "%s: attached to IOAS %u directly (its implicit HWPT cannot track dirty pages): "
			"create an HWPT with IOMMUFD_HWPT_DIRTY_TRACKING and attach the device to it "
			"(iommufd_device_attach_hwpt())", ds->culprit, ioas->id);
	if (r == 0 && !ds->n) {
		ifd_err(ctx, "IOAS %u: no HWPT tracks its dirty pages: create an HWPT with "
			"IOMMUFD_HWPT_DIRTY_TRACKING and attach the devices to it", ioas->id);
		r = -EOPNOTSUPP;
	}
	if (r < 0)
		dirty_set_free(ds);
	return r;
}

int ifd_iommufd_ioas_set_dirty(struct iommufd_ioas *ioas, bool enable)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct dirty_set ds;
	size_t i;
	int r = 0;

	r = collect(ioas, &ds);
	if (r < 0)
		return r;
	for (i = 0; i < ds.n; i++) {
		/* Enabling again would clear what was recorded so far. */
		if (enable && ds.was_on[i])
			continue;
		r = hwpt_set_raw(ctx, ds.ids[i], enable);
		if (r < 0)
			break;
	}
	if (r < 0 && enable) {
		/* All or nothing: a loop that believes tracking is on must be right. */
		for (size_t j = 0; j < i; j++)
			if (!ds.was_on[j])
				hwpt_set_raw(ctx, ds.ids[j], false);
	}
	if (r < 0) {
		r = explain(ctx, "IOMMU_HWPT_SET_DIRTY_TRACKING", ds.ids[i], r);
		if (!enable) /* what was switched off is off: keep the books right */
			for (size_t j = 0; j < i; j++)
				set_enabled(ctx, ds.ids[j], false);
	} else {
		for (i = 0; i < ds.n; i++)
			set_enabled(ctx, ds.ids[i], enable);
	}
	dirty_set_free(&ds);
	return r;
}

int ifd_iommufd_ioas_get_dirty(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t page_size,
			       uint64_t *bitmap, uint32_t flags)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct dirty_set ds;
	int r;

	r = collect(ioas, &ds);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ds.n; i++) {
		if (!ds.was_on[i]) {
			ifd_err(ctx, "IOAS %u: dirty tracking is off on HWPT %u: call "
				"iommufd_ioas_set_dirty_tracking(ioas, true) (again, after attaching to a new HWPT)",
				ioas->id, ds.ids[i]);
			dirty_set_free(&ds);
			return -EINVAL;
		}
	}
	ifd_dirty_zero(bitmap, len, page_size);
	/* The kernel only sets bits, so reading every HWPT into the same
	 * words gives the union. */
	for (size_t i = 0; i < ds.n; i++) {
		r = hwpt_read_raw(ctx, ds.ids[i], iova, len, page_size, bitmap, flags);
		if (r < 0) {
			read_failed(ctx, ds.ids[i], iova, len, page_size, r);
			if (r == -ENOTTY)
				r = -EOPNOTSUPP;
			break;
		}
	}
	dirty_set_free(&ds);
	return r;
}
