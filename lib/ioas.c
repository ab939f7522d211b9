/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* I/O address spaces: lifetime, usable ranges, reservations, options. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

static void ioas_free_mem(struct iommufd_ioas *ioas)
{
	ifd_filemap_ioas_free(ioas);
	ifd_midx_destroy(ioas->idx);
	free(ioas->allowed);

	ioas->state = IFD_DEAD;
	free(ioas);
}

/* @adopt_id 0 allocates a new kernel IOAS, else wraps that existing one. */
static int ioas_new(struct iommufd_ctx *ctx, uint32_t adopt_id, struct iommufd_ioas **out)
{
	struct iommufd_ioas *ioas;
	int r;

	ioas = calloc(1, sizeof(*ioas));
	if (!ioas)
		return -ENOMEM;
	ioas->ctx = ctx;
	ioas->container_fd = -1;
	ioas->alignment = (uint64_t)ctx->page_size;
	ifd_list_init(&ioas->link);
	ifd_lock_init(&ioas->wlock);
	ifd_rwlock_init(&ioas->kern_lock);
	r = ifd_midx_create(ioas, &ioas->idx);
	if (r < 0) {
		ioas_free_mem(ioas);
		return r;
	}

	ifd_ctx_lock(ctx);
	ioas->id = adopt_id;
	r = adopt_id ? 0 : ctx->ops->ioas_alloc(ioas);
	if (r == 0) {
		r = ifd_ioas_refresh(ioas);
		if (r < 0 && !adopt_id)
			ctx->ops->ioas_free(ioas);
	}
	if (r == 0) {
		ioas->state = IFD_ALIVE;
		ifd_list_add(&ctx->ioas_list, &ioas->link);
	}
	ifd_ctx_unlock(ctx);
	if (r < 0) {
		ioas_free_mem(ioas);
		return r;
	}
	*out = ioas;
	return 0;
}

IFD_EXPORT int iommufd_ioas_create(struct iommufd_ctx *ctx, struct iommufd_ioas **out)
{
	if (!ctx || !out)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	return ifd_ret(ioas_new(ctx, 0, out));
}

int ifd_ioas_adopt(struct iommufd_ctx *ctx, uint32_t id, struct iommufd_ioas **out)
{
	if (!id || ctx->fd < 0)
		return -EINVAL;
	return ioas_new(ctx, id, out);
}

/*
 * Destroying the kernel object (or closing the container) unmaps and
 * unpins everything at once.  In a forked child the kernel object is the
 * parent's: only the child's copy of a container fd is closed.
 */
IFD_EXPORT int iommufd_ioas_destroy(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx;
	unsigned int ndev;

	if (!ioas)
		return 0;
	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ctx = ioas->ctx;
	ifd_ctx_lock(ctx);
	ndev = ioas->ndevices;
	if (ndev && !ifd_forked(ctx)) {
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "IOAS %u still has %u device(s) attached: destroy or move them first", ioas->id, ndev);
		return ifd_ret(-EBUSY);
	}
	/* An HWPT holds the IOAS in the kernel and its handle points here. */
	if (ifd_hwpt_ioas_busy(ioas)) {
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "IOAS %u still has HWPTs: destroy them first", ioas->id);
		return ifd_ret(-EBUSY);
	}
	if (ifd_forked(ctx))
		ifd_close(ctx, ioas->container_fd);
	else
		ctx->ops->ioas_free(ioas);
	ifd_p2p_ioas_gone(ioas);
	ifd_list_del(&ioas->link);
	ifd_ctx_unlock(ctx);
	ioas_free_mem(ioas);
	return 0;
}

IFD_EXPORT struct iommufd_ctx *iommufd_ioas_get_ctx(const struct iommufd_ioas *ioas)
{
	return ioas_ok(ioas) ? ioas->ctx : NULL;
}

IFD_EXPORT int64_t iommufd_ioas_get_id(const struct iommufd_ioas *ioas)
{
	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	if (ioas->container_fd >= 0 || ioas->ctx->fd < 0)
		return ifd_ret(-EOPNOTSUPP); /* a container has no object ID */
	return ioas->id;
}

IFD_EXPORT int iommufd_ioas_get_fd(const struct iommufd_ioas *ioas)
{
	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	return ioas->container_fd >= 0 ? ioas->container_fd : ioas->ctx->fd;
}

static bool ranges_cover(const struct ifd_iova_range *have, size_t nh, const struct ifd_iova_range *want, size_t nw)
{
	for (size_t i = 0; i < nw; i++) {
		bool in = false;

		for (size_t j = 0; j < nh && !in; j++)
			in = want[i].start >= have[j].start && want[i].last <= have[j].last;
		if (!in)
			return false;
	}
	return true;
}

/*
 * Ask the kernel for the usable ranges again: they shrink when a device
 * with a smaller aperture or an MSI window attaches.  Fails with -ERANGE,
 * changing nothing, if a mapping, a reservation or an allowed range
 * (iommufd_ioas_allow_iovas) would fall outside.
 */
int ifd_ioas_refresh(struct iommufd_ioas *ioas)
{
	struct ifd_iova_range *r = NULL;
	const char *why = NULL;
	size_t n = 0;
	uint64_t align = 0;
	int ret;

	ret = ioas->ctx->ops->ioas_query(ioas, &r, &n, &align);
	if (ret < 0)
		return ret;
	if (align < (uint64_t)ioas->ctx->page_size)
		align = (uint64_t)ioas->ctx->page_size;
	ifd_lock(&ioas->wlock);
	if (!n) {
		ret = -ERANGE;
		why = "the kernel reports no usable IOVA range";
	} else if (!ranges_cover(r, n, ioas->allowed, ioas->nallowed)) {
		ret = -ERANGE;
		why = "the IOVA ranges promised with iommufd_ioas_allow_iovas() would no longer be usable";
	} else {
		ret = ifd_midx_set_ranges(ioas->idx, r, n);
		if (ret == -EBUSY) {
			ret = -ERANGE;
			why = "existing mappings or reservations lie outside the IOVA ranges the device allows";
		}
	}
	if (ret == 0)
		ioas->alignment = align;
	ifd_unlock(&ioas->wlock);
	free(r);
	if (why)
		ifd_err(ioas->ctx, "IOAS %u: %s", ioas->id, why);
	return ret;
}

IFD_EXPORT int iommufd_ioas_get_ranges(struct iommufd_ioas *ioas, struct iommufd_iova_range *ranges, size_t max)
{
	struct ifd_iova_range tmp[64], *r = tmp;
	size_t n;

	if (!ioas_ok(ioas) || (max && !ranges))
		return ifd_ret(-EINVAL);
	ifd_lock(&ioas->wlock);
	n = ifd_midx_get_ranges(ioas->idx, tmp, 64);
	if (n > 64) {
		r = malloc(n * sizeof(*r));
		if (r)
			n = ifd_midx_get_ranges(ioas->idx, r, n);
	}
	ifd_unlock(&ioas->wlock);
	if (!r)
		return ifd_ret(-ENOMEM);
	for (size_t i = 0; i < n && i < max; i++) {
		ranges[i].start = r[i].start;
		ranges[i].last = r[i].last;
	}
	if (r != tmp)
		free(r);
	if (n > INT32_MAX)
		return ifd_ret(-EOVERFLOW);
	return (int)n;
}

IFD_EXPORT int64_t iommufd_ioas_get_alignment(struct iommufd_ioas *ioas)
{
	int64_t a;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ifd_lock(&ioas->wlock);
	a = (int64_t)ioas->alignment;
	ifd_unlock(&ioas->wlock);
	return a;
}

static bool range_ok(uint64_t start, uint64_t len, uint64_t align)
{
	return len && !(start & (align - 1)) && !(len & (align - 1)) && start + (len - 1) >= start;
}

IFD_EXPORT int iommufd_ioas_reserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len)
{
	struct iommufd_map *rv;
	int r;

	if (!ioas_ok(ioas) || !range_ok(iova, len, (uint64_t)ioas->ctx->page_size))
		return ifd_ret(-EINVAL);
	ifd_lock(&ioas->wlock);
	/* A record nobody maps: the allocator avoids it and a fixed map
	 * there fails with -EEXIST. */
	rv = ifd_midx_rec_alloc(ioas->idx);
	r = rv ? 0 : -ENOMEM;
	if (rv) {
		rv->kind = IFD_MAP_RESV;
		rv->state = IFD_REC_LIVE;
		r = ifd_midx_claim(ioas->idx, rv, iova, len);
		if (r < 0)
			ifd_midx_rec_free(ioas->idx, rv);
	}
	ifd_unlock(&ioas->wlock);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_unreserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len)
{
	struct iommufd_map *rv;
	int r = -ENOENT;

	if (!ioas_ok(ioas) || !range_ok(iova, len, (uint64_t)ioas->ctx->page_size))
		return ifd_ret(-EINVAL);
	ifd_lock(&ioas->wlock);
	rv = ifd_midx_find(ioas->idx, iova);
	if (rv && rv->kind == IFD_MAP_RESV && rv->iova == iova && rv->len == len) {
		ifd_midx_remove(ioas->idx, rv);
		ifd_midx_rec_free(ioas->idx, rv);
		r = 0;
	}
	ifd_unlock(&ioas->wlock);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_allow_iovas(struct iommufd_ioas *ioas, const struct iommufd_iova_range *ranges, size_t n)
{
	struct ifd_iova_range *a = NULL, *have = NULL;
	uint64_t page;
	size_t nh;
	int r;

	if (!ioas_ok(ioas) || (n && !ranges) || n > 4096)
		return ifd_ret(-EINVAL);
	page = (uint64_t)ioas->ctx->page_size;
	for (size_t i = 0; i < n; i++)
		if (ranges[i].start > ranges[i].last || (ranges[i].start & (page - 1)) ||
		    ((ranges[i].last + 1) & (page - 1)))
			return ifd_ret(-EINVAL);
	if (ifd_forked(ioas->ctx))
		return ifd_ret(-ECHILD);
	if (n) {
		a = malloc(n * sizeof(*a));
		have = malloc(4096 * sizeof(*have));
		if (!a || !have) {
			free(a);
			free(have);
			return ifd_ret(-ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			a[i].start = ranges[i].start;
			a[i].last = ranges[i].last;
		}
	}
	/* The kernel refuses ranges that are already unusable; where it has
	 * no such call the library holds the same line. */
	if (ioas->ctx->ops->allow_iovas) {
		r = ioas->ctx->ops->allow_iovas(ioas, a, n);
		if (r == -EADDRINUSE || r == -ERANGE) {
			ifd_err(ioas->ctx, "IOAS %u: the IOVA ranges to allow are not all usable now (a device's "
				"reserved regions or aperture exclude part of them)", ioas->id);
			r = -ERANGE;
		}
	} else {
		r = 0;
	}
	ifd_lock(&ioas->wlock);
	if (r == 0 && n) {
		nh = ifd_midx_get_ranges(ioas->idx, have, 4096);
		if (nh > 4096 || !ranges_cover(have, nh, a, n))
			r = -ERANGE;
	}
	if (r == 0)
		r = ifd_midx_set_alloc_limit(ioas->idx, a, n);
	if (r == 0) {
		free(ioas->allowed);
		ioas->allowed = a;
		ioas->nallowed = n;
		a = NULL;
	}
	ifd_unlock(&ioas->wlock);
	free(a);
	free(have);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_set_huge_pages(struct iommufd_ioas *ioas, bool enable)
{
	struct iommufd_ctx *ctx;
	int r;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ctx = ioas->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->set_huge_pages) {
		ifd_err(ctx, "IOAS %u: the %s backend cannot choose the IOMMU page size (IOMMU_OPTION_HUGE_PAGES "
			"is iommufd's)", ioas->id, iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	ifd_ctx_lock(ctx);
	ifd_lock(&ioas->wlock);
	r = ioas->ndevices || ifd_midx_count(ioas->idx) ? -EBUSY : 0;
	ifd_unlock(&ioas->wlock);
	if (r == 0)
		r = ctx->ops->set_huge_pages(ioas, enable);
	ifd_ctx_unlock(ctx);
	if (r == -EBUSY)
		ifd_err(ctx, "IOAS %u: huge pages can be switched only before the first mapping and device", ioas->id);
	return ifd_ret(r);
}

int ifd_ioas_for_each_record(struct iommufd_ioas *ioas, int (*fn)(struct iommufd_map *m, void *arg), void *arg)
{
	struct iommufd_map *m;
	int r;

	for (m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m; m = ifd_midx_next(ioas->idx, m, UINT64_MAX)) {
		if (m->kind != IFD_MAP_USER)
			continue;
		r = fn(m, arg);
		if (r)
			return r;
	}
	return 0;
}
