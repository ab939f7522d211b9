/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* I/O address spaces: the mapping bookkeeping every backend shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SZ_2M (UINT64_C(1) << 21)
#define SZ_1G (UINT64_C(1) << 30)

struct ifd_resv {
	struct ifd_list link;
	uint64_t iova, len;
};

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

IFD_EXPORT int iommufd_ioas_create(struct iommufd_ctx *ctx, struct iommufd_ioas **out)
{
	struct iommufd_ioas *ioas;
	int r;

	if (!ctx || !out)
		return ifd_ret(-EINVAL);
	ioas = calloc(1, sizeof(*ioas));
	if (!ioas)
		return ifd_ret(-ENOMEM);
	ioas->ctx = ctx;
	ioas->container_fd = -1;
	ioas->alignment = (uint64_t)ctx->page_size;
	ifd_itree_init(&ioas->by_iova);
	ifd_itree_init(&ioas->by_va);
	ifd_list_init(&ioas->link);
	ifd_list_init(&ioas->resv);
	pthread_rwlock_init(&ioas->lock, NULL);
	pthread_rwlock_init(&ioas->kern_lock, NULL);
	r = ifd_iova_space_create(&ioas->space);
	if (r < 0)
		goto fail;

	pthread_mutex_lock(&ctx->lock);
	r = ctx->ops->ioas_alloc(ioas);
	if (r == 0) {
		r = ifd_ioas_refresh(ioas);
		if (r < 0)
			ctx->ops->ioas_free(ioas);
	}
	if (r == 0) {
		ioas->state = IFD_ALIVE;
		ifd_list_add(&ctx->ioas_list, &ioas->link);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (r < 0)
		goto fail;
	*out = ioas;
	return 0;
fail:
	ifd_iova_space_destroy(ioas->space);
	pthread_rwlock_destroy(&ioas->lock);
	pthread_rwlock_destroy(&ioas->kern_lock);
	free(ioas);
	return ifd_ret(r);
}

static void free_maps(struct iommufd_ioas *ioas)
{
	struct ifd_itree_node *n = ifd_itree_postorder_first(&ioas->by_iova), *next;

	/* Post-order so each node is freed after its subtree was visited. */
	for (; n; n = next) {
		next = ifd_itree_postorder_next(n);
		free(ifd_container_of(n, struct ifd_map, by_iova));
	}
	ifd_itree_init(&ioas->by_iova);
	ifd_itree_init(&ioas->by_va);
	while (!ifd_list_empty(&ioas->resv)) {
		struct ifd_list *l = ioas->resv.next;

		ifd_list_del(l);
		free(l); /* link is struct ifd_resv's first member */
	}
}

IFD_EXPORT int iommufd_ioas_destroy(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx;

	if (!ioas)
		return 0;
	ctx = ioas->ctx;
	if (ioas->state != IFD_ALIVE) {
		ifd_err(ctx, "IOAS %p destroyed twice", (void *)ioas);
		return ifd_ret(-EINVAL);
	}
	pthread_mutex_lock(&ctx->lock);
	if (ioas->ndevices) {
		pthread_mutex_unlock(&ctx->lock);
		ifd_err(ctx, "IOAS %u still has %u device(s) attached: destroy or move them first", ioas->id,
			ioas->ndevices);
		return ifd_ret(-EBUSY);
	}
	/* Destroying the kernel object (or closing the container) unmaps and
	 * unpins everything at once; no need for per-mapping unmaps. */
	ctx->ops->ioas_free(ioas);
	ioas->state = IFD_DEAD;
	ifd_list_del(&ioas->link);
	ifd_list_add(&ctx->zombies, &ioas->link);
	pthread_mutex_unlock(&ctx->lock);

	free_maps(ioas);
	ifd_iova_space_destroy(ioas->space);
	ioas->space = NULL;
	pthread_rwlock_destroy(&ioas->lock);
	pthread_rwlock_destroy(&ioas->kern_lock);
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
	if (ioas->ctx->backend == IOMMUFD_BACKEND_TYPE1)
		return ifd_ret(-EOPNOTSUPP);
	return ioas->id;
}

IFD_EXPORT int iommufd_ioas_get_fd(const struct iommufd_ioas *ioas)
{
	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	return ioas->ctx->backend == IOMMUFD_BACKEND_TYPE1 ? ioas->container_fd : ioas->ctx->fd;
}

/*
 * Ask the kernel for the usable ranges again: they shrink when a device
 * with a smaller aperture or an MSI window attaches.  Fails with -ERANGE,
 * changing nothing, if a live mapping would fall outside.
 */
int ifd_ioas_refresh(struct iommufd_ioas *ioas)
{
	struct ifd_iova_range *r = NULL;
	size_t n = 0;
	uint64_t align = 0;
	int ret;

	ret = ioas->ctx->ops->ioas_query(ioas, &r, &n, &align);
	if (ret < 0)
		return ret;
	if (align < (uint64_t)ioas->ctx->page_size)
		align = (uint64_t)ioas->ctx->page_size;
	pthread_rwlock_wrlock(&ioas->lock);
	ret = n ? ifd_iova_set_ranges(ioas->space, r, n) : -ERANGE;
	if (ret == 0)
		ioas->alignment = align;
	pthread_rwlock_unlock(&ioas->lock);
	free(r);
	if (ret == -EBUSY) {
		ifd_err(ioas->ctx, "IOAS %u: existing mappings lie outside the IOVA ranges the device allows", ioas->id);
		ret = -ERANGE;
	}
	return ret;
}

IFD_EXPORT int iommufd_ioas_get_ranges(struct iommufd_ioas *ioas, struct iommufd_iova_range *ranges, size_t max)
{
	struct ifd_iova_range tmp[64], *r = tmp;
	size_t n;

	if (!ioas_ok(ioas) || (max && !ranges))
		return ifd_ret(-EINVAL);
	pthread_rwlock_rdlock(&ioas->lock);
	n = ifd_iova_get_ranges(ioas->space, tmp, 64);
	if (n > 64) {
		r = malloc(n * sizeof(*r));
		if (r)
			n = ifd_iova_get_ranges(ioas->space, r, n);
	}
	pthread_rwlock_unlock(&ioas->lock);
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
	pthread_rwlock_rdlock(&ioas->lock);
	a = (int64_t)ioas->alignment;
	pthread_rwlock_unlock(&ioas->lock);
	return a;
}

static bool range_ok(uint64_t start, uint64_t len, uint64_t align)
{
	return len && !(start & (align - 1)) && !(len & (align - 1)) && start + (len - 1) >= start;
}

IFD_EXPORT int iommufd_ioas_reserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len)
{
	struct ifd_resv *rv;
	int r;

	if (!ioas_ok(ioas) || !range_ok(iova, len, (uint64_t)ioas->ctx->page_size))
		return ifd_ret(-EINVAL);
	rv = calloc(1, sizeof(*rv));
	if (!rv)
		return ifd_ret(-ENOMEM);
	rv->iova = iova;
	rv->len = len;
	pthread_rwlock_wrlock(&ioas->lock);
	/* Claimed like a mapping nobody maps: the allocator avoids it and a
	 * fixed map there fails with -EEXIST. */
	r = ifd_iova_claim(ioas->space, iova, len);
	if (r == 0)
		ifd_list_add(&ioas->resv, &rv->link);
	pthread_rwlock_unlock(&ioas->lock);
	if (r < 0)
		free(rv);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_unreserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len)
{
	struct ifd_resv *found = NULL;
	struct ifd_list *pos;
	int r = -ENOENT;

	if (!ioas_ok(ioas) || !range_ok(iova, len, (uint64_t)ioas->ctx->page_size))
		return ifd_ret(-EINVAL);
	pthread_rwlock_wrlock(&ioas->lock);
	/* Only an exact reservation: the allocator cannot tell a reservation
	 * from a mapping still on its way to the kernel. */
	ifd_list_for_each(pos, &ioas->resv) {
		struct ifd_resv *rv = ifd_container_of(pos, struct ifd_resv, link);

		if (rv->iova == iova && rv->len == len) {
			found = rv;
			break;
		}
	}
	if (found) {
		/* Freeing can need a tree node: on -ENOMEM keep the record. */
		r = ifd_iova_release(ioas->space, iova, len);
		if (r == 0)
			ifd_list_del(&found->link);
	}
	pthread_rwlock_unlock(&ioas->lock);
	if (r == 0)
		free(found);
	return ifd_ret(r);
}

static uint64_t default_align(struct iommufd_ioas *ioas, const void *vaddr, uint64_t len)
{
	uintptr_t va = (uintptr_t)vaddr;

	/* Matching the IOVA to the virtual alignment lets the IOMMU use the
	 * same large pages the CPU does (THP, hugetlbfs). */
	if (len >= SZ_1G && !(va & (SZ_1G - 1)))
		return SZ_1G > ioas->alignment ? SZ_1G : ioas->alignment;
	if (len >= SZ_2M && !(va & (SZ_2M - 1)))
		return SZ_2M > ioas->alignment ? SZ_2M : ioas->alignment;
	return ioas->alignment;
}

static void map_insert(struct iommufd_ioas *ioas, struct ifd_map *m)
{
	ifd_itree_insert(&ioas->by_iova, &m->by_iova);
	ifd_itree_insert(&ioas->by_va, &m->by_va);
}

static void map_remove(struct iommufd_ioas *ioas, struct ifd_map *m)
{
	ifd_itree_remove(&ioas->by_iova, &m->by_iova);
	ifd_itree_remove(&ioas->by_va, &m->by_va);
}

static int explain_map_error(struct iommufd_ioas *ioas, int r, uint64_t iova, uint64_t len)
{
	struct iommufd_ctx *ctx = ioas->ctx;

	char what[80];

	snprintf(what, sizeof(what), "map at IOVA 0x%llx", (unsigned long long)iova);
	if (r == -ENOMEM)
		ctx->ops->explain_enomem(ctx, what, len);
	else if (r == -EFAULT)
		ifd_err(ctx, "map at IOVA 0x%llx: the virtual range is not mapped in this process",
			(unsigned long long)iova);
	else
		ifd_err(ctx, "map of %llu bytes at IOVA 0x%llx failed: %s", (unsigned long long)len,
			(unsigned long long)iova, strerror(-r));
	return r;
}

IFD_EXPORT int iommufd_ioas_map(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
				const struct iommufd_map_opts *opts, uint64_t *iova)
{
	struct iommufd_map_opts o = { 0 };
	const uint32_t prot = IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE;
	uint64_t page, at = 0, align, max_last;
	uintptr_t va = (uintptr_t)vaddr;
	struct ifd_map *m;
	int r;

	if (!ioas_ok(ioas) || !iova || !(flags & prot) || (flags & ~(prot | IOMMUFD_MAP_FIXED)))
		return ifd_ret(-EINVAL);
	if (opts) {
		if (opts->sz < sizeof(size_t) + sizeof(uint64_t))
			return ifd_ret(-EINVAL);
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
		for (size_t i = sizeof(o); i < opts->sz; i++)
			if (((const char *)opts)[i])
				return ifd_ret(-EINVAL);
	}
	page = (uint64_t)ioas->ctx->page_size;
	if (!vaddr || !range_ok(va, len, page) || (o.align && !is_pow2(o.align)))
		return ifd_ret(-EINVAL);
	max_last = o.iova_max ? o.iova_max : UINT64_MAX;

	m = calloc(1, sizeof(*m));
	if (!m)
		return ifd_ret(-ENOMEM);
	m->by_va.start = va;
	m->by_va.last = va + len - 1;
	m->flags = flags & prot;

	pthread_rwlock_wrlock(&ioas->lock);
	if (flags & IOMMUFD_MAP_FIXED) {
		at = o.iova;
		if (!range_ok(at, len, ioas->alignment) || (o.align && (at & (o.align - 1))))
			r = -EINVAL;
		else if (at + (len - 1) > max_last)
			r = -ERANGE;
		else
			r = ifd_iova_claim(ioas->space, at, len);
	} else {
		align = o.align ? o.align : default_align(ioas, vaddr, len);
		if (align < ioas->alignment)
			align = ioas->alignment;
		/* min = one page: IOVA 0 looks like NULL to too many drivers. */
		r = ifd_iova_alloc(ioas->space, len, align, page > align ? page : align, max_last, &at);
		if (r == -ENOSPC)
			ifd_err(ioas->ctx, "no free IOVA range of %zu bytes (alignment 0x%llx, limit 0x%llx)", len,
				(unsigned long long)align, (unsigned long long)max_last);
	}
	pthread_rwlock_unlock(&ioas->lock);
	if (r < 0) {
		free(m);
		return ifd_ret(r);
	}
	m->by_iova.start = at;
	m->by_iova.last = at + len - 1;
	m->rec.iova = at;
	m->rec.len = len;
	m->rec.vaddr = va;
	m->rec.flags = m->flags;
	m->rec.state = IFD_REC_PENDING;

	/* In the IOVA tree before the kernel call (PENDING): a TYPE1 replay
	 * walks the records. */
	pthread_rwlock_wrlock(&ioas->lock);
	ifd_itree_insert(&ioas->by_iova, &m->by_iova);
	pthread_rwlock_unlock(&ioas->lock);
	r = ioas->ctx->ops->map(ioas, &m->rec);

	pthread_rwlock_wrlock(&ioas->lock);
	if (r < 0) {
		ifd_itree_remove(&ioas->by_iova, &m->by_iova);
		ifd_iova_release(ioas->space, at, len);
	} else {
		m->rec.state = (uint8_t)((m->rec.state & IFD_REC_DEFERRED) | IFD_REC_LIVE);
		ifd_itree_insert(&ioas->by_va, &m->by_va);
	}
	pthread_rwlock_unlock(&ioas->lock);
	if (r < 0) {
		free(m);
		return ifd_ret(explain_map_error(ioas, r, at, len));
	}
	*iova = at;
	return 0;
}

static bool is_live(const struct ifd_map *m)
{
	return (m->rec.state & ~IFD_REC_DEFERRED) == IFD_REC_LIVE;
}

/* The mapping that starts exactly at @iova, or NULL.  Caller holds the lock. */
static struct ifd_map *find_exact(struct iommufd_ioas *ioas, uint64_t iova)
{
	struct ifd_itree_node *n = ifd_itree_first_overlap(&ioas->by_iova, iova, iova);

	if (!n || n->start != iova || !is_live(ifd_container_of(n, struct ifd_map, by_iova)))
		return NULL;
	return ifd_container_of(n, struct ifd_map, by_iova);
}

static int unmap_one(struct iommufd_ioas *ioas, struct ifd_map *m)
{
	uint64_t iova = m->by_iova.start, len = m->by_iova.last - m->by_iova.start + 1;
	int r;

	/* Out of the trees first: concurrent lookups and a concurrent unmap
	 * of the same IOVA stop seeing it, while the IOVA stays claimed. */
	uint64_t got;

	map_remove(ioas, m);
	pthread_rwlock_unlock(&ioas->lock);
	r = ioas->ctx->ops->unmap(ioas, iova, len, &got);
	pthread_rwlock_wrlock(&ioas->lock);
	if (r < 0) {
		map_insert(ioas, m);
		ifd_err(ioas->ctx, "unmap of IOVA 0x%llx (%llu bytes) failed: %s", (unsigned long long)iova,
			(unsigned long long)len, strerror(-r));
		return r;
	}
	ifd_iova_release(ioas->space, iova, len);
	free(m);
	return 0;
}

IFD_EXPORT int iommufd_ioas_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct ifd_map *m;
	int r;

	if (!ioas_ok(ioas) || !len || iova + (len - 1) < iova)
		return ifd_ret(-EINVAL);
	pthread_rwlock_wrlock(&ioas->lock);
	m = find_exact(ioas, iova);
	if (!m)
		r = -ENOENT;
	else if (m->by_iova.last - m->by_iova.start + 1 != len)
		r = -EINVAL;
	else
		r = unmap_one(ioas, m);
	pthread_rwlock_unlock(&ioas->lock);
	if (r == -ENOENT)
		ifd_dbg(ioas->ctx, "unmap: nothing mapped at IOVA 0x%llx", (unsigned long long)iova);
	if (unmapped)
		*unmapped = r == 0 ? len : 0;
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_unmap_all(struct iommufd_ioas *ioas)
{
	struct ifd_itree_node *n;
	int count = 0, r = 0;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	pthread_rwlock_wrlock(&ioas->lock);
	for (;;) {
		for (n = ifd_itree_first(&ioas->by_iova); n; n = ifd_itree_next(n))
			if (is_live(ifd_container_of(n, struct ifd_map, by_iova)))
				break;
		if (!n)
			break;
		r = unmap_one(ioas, ifd_container_of(n, struct ifd_map, by_iova));
		if (r < 0)
			break;
		count++;
	}
	pthread_rwlock_unlock(&ioas->lock);
	return r < 0 ? ifd_ret(r) : count;
}

static void fill_info(const struct ifd_map *m, struct iommufd_map_info *info)
{
	if (!info)
		return;
	info->iova = m->by_iova.start;
	info->len = m->by_iova.last - m->by_iova.start + 1;
	info->vaddr = (void *)(uintptr_t)m->by_va.start;
	info->flags = m->flags;
}

IFD_EXPORT int iommufd_ioas_find_iova(struct iommufd_ioas *ioas, uint64_t iova, struct iommufd_map_info *info)
{
	struct ifd_itree_node *n;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	pthread_rwlock_rdlock(&ioas->lock);
	n = ifd_itree_first_overlap(&ioas->by_iova, iova, iova);
	if (n && !is_live(ifd_container_of(n, struct ifd_map, by_iova)))
		n = NULL;
	if (n)
		fill_info(ifd_container_of(n, struct ifd_map, by_iova), info);
	pthread_rwlock_unlock(&ioas->lock);
	return n ? 0 : ifd_ret(-ENOENT);
}

IFD_EXPORT int iommufd_ioas_translate(struct iommufd_ioas *ioas, const void *vaddr, size_t len, uint64_t *iova)
{
	uint64_t va = (uintptr_t)vaddr, last;
	struct ifd_itree_node *n;

	if (!ioas_ok(ioas) || !iova || !len || va + (len - 1) < va)
		return ifd_ret(-EINVAL);
	last = va + len - 1;
	pthread_rwlock_rdlock(&ioas->lock);
	/* Virtual ranges may overlap (the same buffer mapped twice): take the
	 * first mapping that holds the whole buffer. */
	for (n = ifd_itree_first_overlap(&ioas->by_va, va, last); n; n = ifd_itree_next_overlap(n, va, last)) {
		if (n->start <= va && n->last >= last) {
			*iova = ifd_container_of(n, struct ifd_map, by_va)->by_iova.start + (va - n->start);
			break;
		}
	}
	pthread_rwlock_unlock(&ioas->lock);
	return n ? 0 : ifd_ret(-ENOENT);
}

/* h-backend shim of the lead's walk: every record, in IOVA order. */
int ifd_ioas_for_each_record(struct iommufd_ioas *ioas, int (*fn)(struct iommufd_map *m, void *arg), void *arg)
{
	struct ifd_itree_node *n;
	int r;

	for (n = ifd_itree_first(&ioas->by_iova); n; n = ifd_itree_next(n)) {
		r = fn(&ifd_container_of(n, struct ifd_map, by_iova)->rec, arg);
		if (r)
			return r;
	}
	return 0;
}
