/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * DMA mappings: the IOVA-returning calls and map handles share one
 * bookkeeping, the IOAS's index (mapidx.h), whose record is the handle.
 *
 * A record enters the index PENDING before its kernel call, so a
 * concurrent map never picks the same IOVA and a concurrent range unmap
 * sees it (and answers -EBUSY, as the kernel would); it becomes LIVE and
 * visible to translate after the kernel said yes.  An unmap marks records
 * UNMAPPING, drops the lock for the kernel call and removes them after.
 * Nothing is logged with ioas->wlock held: messages are built under it
 * and emitted after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mapidx_impl.h" /* the engine's fast paths, in line */

#define SZ_64K (UINT64_C(1) << 16)
#define SZ_2M (UINT64_C(1) << 21)
#define SZ_1G (UINT64_C(1) << 30)
/* How many foreign mappings one map steps past before giving up. */
#define FOREIGN_TRIES 8

static const uint32_t prot_mask = IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE;

static inline unsigned int rec_state(const struct iommufd_map *m)
{
	return m->state;
}

static inline void set_state(struct iommufd_map *m, unsigned int st)
{
	m->state = (uint8_t)st;
}

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static bool range_ok(uint64_t start, uint64_t len, uint64_t align)
{
	return len && !(start & (align - 1)) && !(len & (align - 1)) && start + (len - 1) >= start;
}

/*
 * From 64 KiB up, an IOVA is aligned to its length's largest power of two,
 * up to 2 MiB (as the kernel's DMA API aligns its IOVAs to their size): an
 * IOTLB invalidation then covers the range with one aligned mask instead
 * of several (VT-d, AMD), virtio-iommu unmaps it in one notification
 * instead of one per power-of-two piece (measured in QEMU: 64 KiB pairs
 * 13% slower at 4 KiB-aligned IOVAs), and memory that is physically
 * contiguous at that alignment (THP, hugetlbfs) can map with larger
 * IOMMU entries.  1 GiB when the memory is 1 GiB aligned and that long
 * (a 1 GiB IOMMU page).  Below 64 KiB: the allocator would skip more
 * holes for no gain.
 */
static uint64_t default_align(const struct iommufd_ioas *ioas, uint64_t va, uint64_t len)
{
	uint64_t p = 1ULL << (63 - __builtin_clzll(len)), a;

	if (p < SZ_64K)
		return ioas->alignment;
	a = p < SZ_2M ? p : SZ_2M;
	/* a file's offset 0 is aligned to anything */
	if (p >= SZ_1G && !(va & (SZ_1G - 1)))
		a = SZ_1G;
	return a > ioas->alignment ? a : ioas->alignment;
}

static int explain_map_error(struct iommufd_ioas *ioas, int r, uint64_t iova, uint64_t len, uint32_t flags,
			     bool kfile)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	char what[96];

	snprintf(what, sizeof(what), "%smap of %llu bytes at IOVA 0x%llx", kfile ? "file " : "",
		 (unsigned long long)len, (unsigned long long)iova);
	if (r == -ENOMEM)
		ctx->ops->explain_enomem(ctx, what, len);
	else if (kfile && r != -EEXIST)
		ifd_err(ctx, "%s failed: %s (IOMMU_IOAS_MAP_FILE takes memfds, shmem and hugetlbfs files and "
			"dma-bufs, the range inside the file, and a file open for writing with IOMMUFD_MAP_WRITE)",
			what, strerror(-r));
	else if (r == -EFAULT && (flags & IOMMUFD_MAP_WRITE))
		ifd_err(ctx, "%s: the memory is not mapped in this process, or is mapped read-only while "
			"IOMMUFD_MAP_WRITE asks the device to write it", what);
	else if (r == -EFAULT)
		ifd_err(ctx, "%s: the memory is not mapped in this process", what);
	else if (r == -EOVERFLOW)
		ifd_err(ctx, "%s: the address lies outside user space", what);
	else if (r == -EEXIST)
		ifd_err(ctx, "%s: the kernel already has a mapping there that this library did not make", what);
	else
		ifd_err(ctx, "%s failed: %s", what, strerror(-r));
	return r;
}

/* A record for the new mapping, its IOVA range claimed: the caller holds
 * ioas->wlock. */
static inline __attribute__((always_inline)) int
place(struct iommufd_ioas *ioas, const struct iommufd_map *init, uint64_t len, uint32_t flags,
      const struct iommufd_map_opts *o, uint64_t hint, uint64_t *align_out, struct iommufd_map **out)
{
	uint64_t page = (uint64_t)ioas->ctx->page_size, align;
	uint64_t max_last = o->iova_max ? o->iova_max : UINT64_MAX;

	if (flags & IOMMUFD_MAP_FIXED) {
		if (!range_ok(o->iova, len, ioas->alignment) || (o->align && (o->iova & (o->align - 1))))
			return -EINVAL;
		if (o->iova + (len - 1) > max_last)
			return -ERANGE;
		return ifd_midx_claim_new(ioas->idx, init, o->iova, len, out);
	}
	align = o->align ? o->align : default_align(ioas, hint, len);
	if (align < ioas->alignment)
		align = ioas->alignment;
	*align_out = align;
	/* min = one page: IOVA 0 looks like NULL to too many drivers. */
	return ifd_midx_alloc_new_inl(ioas->idx, init, len, align, page > align ? page : align, max_last, out);
}

static __attribute__((noinline, cold)) int place_failed(struct iommufd_ioas *ioas, int r, size_t len, uint64_t align,
							const struct iommufd_map_opts *o)
{
	if (r == -ENOSPC)
		ifd_err(ioas->ctx, "IOAS %u: no free IOVA range of %zu bytes (alignment 0x%llx, limit 0x%llx)",
			ioas->id, len, (unsigned long long)align,
			(unsigned long long)(o->iova_max ? o->iova_max : UINT64_MAX));
	return r;
}

/*
 * The kernel refused the map of @m (error @r); ioas->wlock held, dropped
 * here.  1: try again elsewhere (the @tries-th time), else the error.
 */
static __attribute__((noinline, cold)) int kernel_refused(struct iommufd_ioas *ioas, struct iommufd_map *m, int r,
							   size_t len, uint32_t flags, bool kfile, unsigned int tries)
{
	uint64_t at = m->iova;

	if (r == -EEXIST && !(flags & IOMMUFD_MAP_FIXED) && tries < FOREIGN_TRIES) {
		/* Someone mapped this IOVA behind the library's back: keep
		 * the range marked so the allocator steps past it. */
		m->kind = IFD_MAP_FOREIGN;
		m->state = IFD_REC_LIVE;
		m->vaddr = 0;
		m->handle = 0;
		ifd_unlock(&ioas->wlock);
		ifd_warn(ioas->ctx, "IOAS %u: IOVA 0x%llx+0x%zx is already mapped by someone else (a raw ioctl on "
			 "iommufd_ioas_get_fd(), or a forked child): skipping it", ioas->id, (unsigned long long)at,
			 len);
		return 1;
	}
	ifd_midx_release(ioas->idx, m);
	ifd_unlock(&ioas->wlock);
	return explain_map_error(ioas, r, at, len, flags, kfile);
}

/* Inlined into each caller, so a plain map (@src NULL) pays nothing for
 * the file-map branches: the map path's instruction count is gated. */
static inline __attribute__((always_inline)) int
map_with(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags, const struct iommufd_map_opts *o,
	 bool handle, const struct ifd_map_src *src, struct iommufd_map **out)
{
	struct iommufd_ctx *ctx;
	uintptr_t va = (uintptr_t)vaddr;
	bool kfile = src && src->fd >= 0; /* the kernel maps the file itself */
	struct iommufd_map *m, init;
	uint64_t align = 0;
	int r;
	unsigned int tries = 0;

	if (!ioas_ok(ioas) || !(flags & prot_mask) || (flags & ~(prot_mask | IOMMUFD_MAP_FIXED)))
		return -EINVAL;
	ctx = ioas->ctx;
	if (kfile ? (vaddr || !range_ok(src->offset, len, (uint64_t)ctx->page_size)) :
		    (!vaddr || !range_ok(va, len, (uint64_t)ctx->page_size)))
		return -EINVAL;
	if (o->align && !is_pow2(o->align))
		return -EINVAL;
	if (ifd_forked(ctx))
		return -ECHILD;
	init.kind = IFD_MAP_USER;
	init.state = IFD_REC_PENDING;
	init.vaddr = va;
	init.flags = flags & prot_mask;
	init.handle = handle;
	for (;;) {
		ifd_lock(&ioas->wlock);
		/* A file's huge pages follow its offsets: align the IOVA to them. */
		r = place(ioas, &init, len, flags, o, kfile ? src->offset : va, &align, &m);
		ifd_unlock(&ioas->wlock);
		if (r < 0)
			return place_failed(ioas, r, len, align, o);

		r = kfile ? ctx->ops->map_file(ioas, m, src->fd, src->offset) : ctx->ops->map(ioas, m);

		ifd_lock(&ioas->wlock);
		if (__builtin_expect(r == 0, 1))
			break;
		r = kernel_refused(ioas, m, r, len, flags, kfile, tries++);
		if (r < 0)
			return r;
	}
	set_state(m, IFD_REC_LIVE);
	if (m->vaddr && ioas->va_on)
		ifd_midx_va_insert(ioas->idx, m);
	if (src) {
		m->flags |= IFD_MAPF_FILE;
		ifd_filemap_link(ioas, m, src->ent);
	}
	ifd_unlock(&ioas->wlock);
	*out = m;
	return 0;
}

/* No options, the data path's usual case, folds to constants: opts are
 * read through a pointer to this. */
static const struct iommufd_map_opts no_opts;

/* Options or a file (filemap.c): outside the hot section, so the public
 * calls' usual path (no options) stays small. */
int ifd_map_common(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
		   const struct iommufd_map_opts *opts, bool handle, const struct ifd_map_src *src,
		   struct iommufd_map **out)
{
	struct iommufd_map_opts o;

	if (!opts)
		return map_with(ioas, vaddr, len, flags, &no_opts, handle, src, out);
	if (ifd_opts_copy_slow(&o, sizeof(o), opts) < 0)
		return -EINVAL;
	return map_with(ioas, vaddr, len, flags, &o, handle, src, out);
}

static inline __attribute__((always_inline)) int
map_common(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags, const struct iommufd_map_opts *opts,
	   bool handle, struct iommufd_map **out)
{
	if (__builtin_expect(!opts, 1))
		return map_with(ioas, vaddr, len, flags, &no_opts, handle, NULL, out);
	return ifd_map_common(ioas, vaddr, len, flags, opts, handle, NULL, out);
}

IFD_HOT IFD_EXPORT int iommufd_ioas_map(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
				const struct iommufd_map_opts *opts, uint64_t *iova)
{
	struct iommufd_map *m = NULL;
	int r;

	if (!iova)
		return ifd_ret(-EINVAL);
	r = map_common(ioas, vaddr, len, flags, opts, false, &m);
	if (r < 0)
		return ifd_ret(r);
	*iova = m->iova;
	return 0;
}

IFD_HOT IFD_EXPORT int iommufd_map_create(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
				  const struct iommufd_map_opts *opts, struct iommufd_map **out)
{
	if (!out)
		return ifd_ret(-EINVAL);
	return ifd_ret(map_common(ioas, vaddr, len, flags, opts, true, out));
}

/* Drop a record the kernel no longer maps; @keep: a live handle points at
 * it, so it stays allocated (GONE) until iommufd_map_destroy(). */
static inline __attribute__((always_inline)) void retire(struct iommufd_ioas *ioas, struct iommufd_map *m,
							bool keep)
{
	ifd_p2p_retire(ioas, m);
	if (m->flags & IFD_MAPF_FILE)
		ifd_filemap_forget(ioas, m);
	if (keep) {
		ifd_midx_remove(ioas->idx, m);
		m->state = IFD_REC_GONE;
	} else {
		ifd_midx_release_inl(ioas->idx, m);
	}
}

static bool adjacent(const struct iommufd_map *a, const struct iommufd_map *b)
{
	return a->iova + a->len == b->iova;
}

struct unmap_err {
	int r;
	uint64_t iova, len;
};

/*
 * Unmap every record marked UNMAPPING in [start, last], one kernel call per
 * run of adjacent ones (there is no free IOVA inside a run, so no other
 * thread's new mapping can be caught by it).  Caller holds ioas->wlock;
 * dropped around each kernel call.  On a failure the remaining marked
 * records go back to LIVE.
 */
static int unmap_marked(struct iommufd_ioas *ioas, uint64_t start, uint64_t last, uint64_t *bytes,
			struct unmap_err *err)
{
	struct iommufd_map *m = ifd_midx_first(ioas->idx, start, last), *first, *end, *next;
	uint64_t got, run_start, run_len, resume;
	int r;

	while (m) {
		if (rec_state(m) != IFD_REC_UNMAPPING) {
			m = ifd_midx_next(ioas->idx, m, last);
			continue;
		}
		first = end = m;
		for (;;) {
			next = ifd_midx_next(ioas->idx, end, last);
			if (!next || rec_state(next) != IFD_REC_UNMAPPING || !adjacent(end, next))
				break;
			end = next;
		}
		run_start = first->iova;
		run_len = end->iova + end->len - run_start;
		ifd_unlock(&ioas->wlock);
		got = 0;
		r = ioas->ctx->ops->unmap(ioas, run_start, run_len, &got);
		ifd_lock(&ioas->wlock);
		if (r < 0) {
			err->r = r;
			err->iova = run_start;
			err->len = run_len;
			for (m = first; m; m = ifd_midx_next(ioas->idx, m, last))
				if (rec_state(m) == IFD_REC_UNMAPPING)
					set_state(m, IFD_REC_LIVE);
			return r;
		}
		*bytes += got;
		/* UNMAPPING records are only ever removed by the thread that
		 * marked them, so the run is still exactly as it was. */
		for (m = first;; m = next) {
			bool done = m == end;

			next = done ? NULL : ifd_midx_next(ioas->idx, m, last);
			retire(ioas, m, m->handle);
			if (done)
				break;
		}
		resume = run_start + run_len;
		m = resume && resume <= last ? ifd_midx_first(ioas->idx, resume, last) : NULL;
	}
	return 0;
}

static void log_unmap_err(struct iommufd_ioas *ioas, const struct unmap_err *e)
{
	ifd_err(ioas->ctx, "IOAS %u: unmap of IOVA 0x%llx+0x%llx failed: %s (those mappings stay)", ioas->id,
		(unsigned long long)e->iova, (unsigned long long)e->len, strerror(-e->r));
}

/*
 * Unmap one LIVE record; caller holds ioas->wlock (dropped around the
 * kernel call, held again on return).  On success the record is retired,
 * and freed unless a handle that is not being destroyed (@destroy) holds it.
 */
static inline __attribute__((always_inline)) int
unmap_one(struct iommufd_ioas *ioas, struct iommufd_map *m, bool destroy, uint64_t *bytes, struct unmap_err *err)
{
	uint64_t got = 0, at = m->iova, len = m->len;
	int r;

	set_state(m, IFD_REC_UNMAPPING);
	ifd_unlock(&ioas->wlock);
	r = ioas->ctx->ops->unmap(ioas, at, len, &got);
	ifd_lock(&ioas->wlock);
	if (r < 0) {
		set_state(m, IFD_REC_LIVE);
		err->r = r;
		err->iova = at;
		err->len = len;
		return r;
	}
	*bytes += got;
	retire(ioas, m, m->handle && !destroy);
	return 0;
}

/* Everything but one whole mapping; called with ioas->wlock held, which it
 * drops.  @first: the first record in the range, if any. */
static __attribute__((noinline)) int unmap_range(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len,
						 struct iommufd_map *first, uint64_t *unmapped)
{
	struct iommufd_map *m, *split = NULL;
	struct unmap_err err = { 0 };
	uint64_t last, bytes = 0, split_iova = 0, split_len = 0;
	unsigned int users = 0;
	bool busy = false;
	int r;

	last = iova + (len - 1);
	/* Check everything before touching anything: a refused range changes
	 * nothing (the kernel's iommufd would unmap up to the split). */
	for (m = first; m; m = ifd_midx_next(ioas->idx, m, last)) {
		if (m->kind == IFD_MAP_RESV)
			continue;
		if (m->iova < iova || m->iova + (m->len - 1) > last) {
			if (m->kind == IFD_MAP_USER && !split) {
				split = m;
				split_iova = m->iova;
				split_len = m->len;
			}
			continue;
		}
		if (rec_state(m) != IFD_REC_LIVE)
			busy = true;
		users += m->kind == IFD_MAP_USER;
	}
	if (split)
		r = -EINVAL;
	else if (busy)
		r = -EBUSY;
	else if (!users)
		r = -ENOENT;
	else
		r = 0;
	if (r == 0) {
		for (m = first; m; m = ifd_midx_next(ioas->idx, m, last))
			if (m->kind != IFD_MAP_RESV)
				set_state(m, IFD_REC_UNMAPPING);
		r = unmap_marked(ioas, iova, last, &bytes, &err);
	}
	ifd_unlock(&ioas->wlock);
	if (split)
		ifd_err(ioas->ctx, "IOAS %u: unmap of IOVA 0x%llx+0x%llx would split the mapping at IOVA 0x%llx "
			"(%llu bytes): unmap whole mappings", ioas->id, (unsigned long long)iova,
			(unsigned long long)len, (unsigned long long)split_iova, (unsigned long long)split_len);
	else if (busy)
		ifd_err(ioas->ctx, "IOAS %u: unmap of IOVA 0x%llx+0x%llx: a mapping there is being made or removed "
			"by another thread", ioas->id, (unsigned long long)iova, (unsigned long long)len);
	else if (r == -ENOENT)
		ifd_dbg(ioas->ctx, "IOAS %u: unmap: nothing mapped in IOVA 0x%llx+0x%llx", ioas->id,
			(unsigned long long)iova, (unsigned long long)len);
	else if (err.r)
		log_unmap_err(ioas, &err);
	if (unmapped)
		*unmapped = bytes;
	return ifd_ret(r);
}

IFD_HOT IFD_EXPORT int iommufd_ioas_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct iommufd_map *first;
	struct unmap_err err;
	uint64_t bytes = 0;
	int r;

	if (!ioas_ok(ioas) || !len || iova + (len - 1) < iova)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ioas->ctx))
		return ifd_ret(-ECHILD);
	ifd_lock(&ioas->wlock);
	first = ifd_midx_first_inl(ioas->idx, iova, iova + (len - 1));
	/* The common case, one whole mapping: records never overlap, so
	 * nothing else can lie in its range and one lookup is enough. */
	if (!first || first->iova != iova || first->len != len || first->kind != IFD_MAP_USER ||
	    rec_state(first) != IFD_REC_LIVE)
		return unmap_range(ioas, iova, len, first, unmapped);
	r = unmap_one(ioas, first, false, &bytes, &err);
	ifd_unlock(&ioas->wlock);
	if (r < 0)
		log_unmap_err(ioas, &err);
	if (unmapped)
		*unmapped = bytes;
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_ioas_unmap_all(struct iommufd_ioas *ioas)
{
	struct iommufd_map *m, *next;
	struct unmap_err err = { 0 };
	uint64_t bytes = 0;
	int r, count = 0;
	bool busy = false;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	if (ifd_forked(ioas->ctx))
		return ifd_ret(-ECHILD);
	ifd_lock(&ioas->wlock);
	for (m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m; m = ifd_midx_next(ioas->idx, m, UINT64_MAX)) {
		if (m->kind == IFD_MAP_RESV)
			continue;
		if (rec_state(m) != IFD_REC_LIVE)
			busy = true;
	}
	if (busy) {
		ifd_unlock(&ioas->wlock);
		ifd_err(ioas->ctx, "IOAS %u: unmap all: a mapping is being made or removed by another thread",
			ioas->id);
		return ifd_ret(-EBUSY);
	}
	for (m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m; m = ifd_midx_next(ioas->idx, m, UINT64_MAX)) {
		if (m->kind == IFD_MAP_RESV)
			continue;
		set_state(m, IFD_REC_UNMAPPING);
		count += m->kind == IFD_MAP_USER;
	}
	ifd_unlock(&ioas->wlock);
	r = ioas->ctx->ops->unmap_all(ioas, &bytes);
	ifd_lock(&ioas->wlock);
	if (r == 0) {
		for (m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m; m = next) {
			next = ifd_midx_next(ioas->idx, m, UINT64_MAX);
			if (rec_state(m) == IFD_REC_UNMAPPING)
				retire(ioas, m, m->handle);
		}
	} else if (r == -EOPNOTSUPP) {
		r = unmap_marked(ioas, 0, UINT64_MAX, &bytes, &err);
	} else {
		err.r = r;
		err.len = UINT64_MAX;
		for (m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m; m = ifd_midx_next(ioas->idx, m, UINT64_MAX))
			if (rec_state(m) == IFD_REC_UNMAPPING)
				set_state(m, IFD_REC_LIVE);
	}
	ifd_unlock(&ioas->wlock);
	if (err.r)
		log_unmap_err(ioas, &err);
	return r < 0 ? ifd_ret(r) : count;
}

IFD_HOT IFD_EXPORT int iommufd_map_destroy(struct iommufd_map *m)
{
	struct unmap_err err = { 0 };
	struct iommufd_ioas *ioas;
	uint64_t got = 0;
	int r;

	if (!m)
		return 0;
	ioas = ifd_midx_owner(m);
	if (m->kind != IFD_MAP_USER || !m->handle || !ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ifd_lock(&ioas->wlock);
	if (m->state == IFD_REC_GONE) {
		ifd_midx_rec_free(ioas->idx, m);
		ifd_unlock(&ioas->wlock);
		return 0;
	}
	if (ifd_forked(ioas->ctx)) {
		/* The fork rule: the mapping is the parent's; free the
		 * child's copy of the handle only. */
		ifd_midx_remove(ioas->idx, m);
		if (m->flags & IFD_MAPF_FILE)
			ifd_filemap_forget(ioas, m);
		ifd_midx_rec_free(ioas->idx, m);
		ifd_unlock(&ioas->wlock);
		return 0;
	}
	if (rec_state(m) != IFD_REC_LIVE) {
		ifd_unlock(&ioas->wlock);
		return ifd_ret(-EBUSY);
	}
	r = unmap_one(ioas, m, true, &got, &err);
	ifd_unlock(&ioas->wlock);
	if (r < 0)
		log_unmap_err(ioas, &err);
	return ifd_ret(r);
}

IFD_HOT IFD_EXPORT uint64_t iommufd_map_get_iova(const struct iommufd_map *m)
{
	if (!m) {
		errno = EINVAL;
		return UINT64_MAX;
	}
	return m->iova;
}

IFD_EXPORT uint64_t iommufd_map_get_len(const struct iommufd_map *m)
{
	if (!m) {
		errno = EINVAL;
		return 0;
	}
	return m->len;
}

IFD_EXPORT void *iommufd_map_get_vaddr(const struct iommufd_map *m)
{
	if (!m) {
		errno = EINVAL;
		return NULL;
	}
	return (void *)(uintptr_t)m->vaddr;
}

IFD_EXPORT uint32_t iommufd_map_get_flags(const struct iommufd_map *m)
{
	if (!m) {
		errno = EINVAL;
		return 0;
	}
	return m->flags & prot_mask;
}

IFD_EXPORT struct iommufd_ioas *iommufd_map_get_ioas(const struct iommufd_map *m)
{
	if (!m) {
		errno = EINVAL;
		return NULL;
	}
	return ifd_midx_owner(m);
}

IFD_EXPORT int iommufd_ioas_find_iova(struct iommufd_ioas *ioas, uint64_t iova, struct iommufd_map_info *info)
{
	struct iommufd_map c;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	if (ifd_midx_lookup(ioas->idx, iova, &c) < 0 || c.kind != IFD_MAP_USER ||
	    (rec_state(&c) != IFD_REC_LIVE && rec_state(&c) != IFD_REC_UNMAPPING))
		return ifd_ret(-ENOENT);
	if (info) {
		info->iova = c.iova;
		info->len = c.len;
		info->vaddr = (void *)(uintptr_t)c.vaddr;
		info->flags = c.flags & prot_mask;
	}
	return 0;
}

/*
 * Index every mapping by VA, once per IOAS: the records a map made LIVE
 * before va_on (and not yet removed, UNMAPPING included: an eager index
 * held those too).  Maps that finish later see va_on under the same lock
 * and index themselves.
 */
static __attribute__((noinline)) void build_va_index(struct iommufd_ioas *ioas)
{
	ifd_lock(&ioas->wlock);
	if (!ioas->va_on) {
		for (struct iommufd_map *m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m;
		     m = ifd_midx_next(ioas->idx, m, UINT64_MAX)) {
			unsigned int st = rec_state(m);

			if (m->kind == IFD_MAP_USER && m->vaddr && (st == IFD_REC_LIVE || st == IFD_REC_UNMAPPING) &&
			    !ifd_midx_in_va(m))
				ifd_midx_va_insert(ioas->idx, m);
		}
		__atomic_store_n(&ioas->va_on, true, __ATOMIC_RELEASE);
	}
	ifd_unlock(&ioas->wlock);
}

IFD_HOT IFD_EXPORT int iommufd_ioas_translate(struct iommufd_ioas *ioas, const void *vaddr, size_t len, uint64_t *iova)
{
	uint64_t va = (uintptr_t)vaddr;

	if (!ioas_ok(ioas) || !iova || !len || va + (len - 1) < va)
		return ifd_ret(-EINVAL);
	if (!__atomic_load_n(&ioas->va_on, __ATOMIC_ACQUIRE))
		build_va_index(ioas);
	return ifd_ret(ifd_midx_translate(ioas->idx, va, len, iova));
}

struct piece {
	struct iommufd_map *rec; /* the destination record */
	uint64_t off, len;       /* inside the copied range */
	uint64_t vaddr;
	uint32_t flags;
};

/* The source records covering [iova, iova+len) without a hole. */
static int collect_pieces(struct iommufd_ioas *src, uint64_t iova, uint64_t len, uint32_t flags,
			  struct piece **out, size_t *nout)
{
	uint64_t last = iova + len - 1, at = iova;
	struct iommufd_map *m;
	struct piece *p = NULL, *np;
	size_t n = 0, cap = 0;
	int r = 0;

	ifd_lock(&src->wlock);
	for (m = ifd_midx_first(src->idx, iova, last); m && at <= last; m = ifd_midx_next(src->idx, m, last)) {
		uint64_t end;

		if (m->kind != IFD_MAP_USER || rec_state(m) != IFD_REC_LIVE || m->iova > at) {
			r = -ENOENT;
			break;
		}
		if ((flags & m->flags) != flags) {
			r = -EPERM;
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			np = realloc(p, cap * sizeof(*p));
			if (!np) {
				r = -ENOMEM;
				break;
			}
			p = np;
		}
		end = m->iova + (m->len - 1) < last ? m->iova + (m->len - 1) : last;
		p[n].rec = NULL;
		p[n].off = at - iova;
		p[n].len = end - at + 1;
		p[n].vaddr = m->vaddr ? m->vaddr + (at - m->iova) : 0; /* a kernel file map has none */
		p[n].flags = flags;
		n++;
		if (end == last) {
			at = 0; /* done */
			break;
		}
		at = end + 1;
	}
	if (r == 0 && (at != 0 || !n))
		r = -ENOENT;
	ifd_unlock(&src->wlock);
	if (r < 0) {
		free(p);
		return r;
	}
	*out = p;
	*nout = n;
	return 0;
}

/* Map the pieces one by one: where the kernel has no copy (TYPE1). */
static int copy_by_mapping(struct iommufd_ioas *dst, struct piece *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = dst->ctx->ops->map(dst, p[i].rec);

		if (r < 0) {
			uint64_t got;

			for (size_t j = 0; j < i; j++)
				dst->ctx->ops->unmap(dst, p[j].rec->iova, p[j].rec->len, &got);
			return r;
		}
	}
	return 0;
}

IFD_EXPORT int iommufd_ioas_copy(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
				 uint32_t flags, const struct iommufd_map_opts *opts, uint64_t *dst_iova)
{
	struct iommufd_map_opts o;
	struct iommufd_map *span = NULL;
	struct iommufd_ctx *ctx;
	struct piece *p = NULL;
	uint64_t align = 0, at = 0;
	size_t n = 0, i;
	int r;

	if (!ioas_ok(dst) || !ioas_ok(src) || dst == src || dst->ctx != src->ctx || !dst_iova ||
	    !(flags & prot_mask) || (flags & ~(prot_mask | IOMMUFD_MAP_FIXED)) ||
	    ifd_opts_copy(&o, sizeof(o), opts) < 0 || (o.align && !is_pow2(o.align)) ||
	    !range_ok(src_iova, len, src->alignment > dst->alignment ? src->alignment : dst->alignment))
		return ifd_ret(-EINVAL);
	ctx = dst->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = collect_pieces(src, src_iova, len, flags & prot_mask, &p, &n);
	if (r < 0) {
		ifd_err(ctx, "copy from IOAS %u, IOVA 0x%llx+0x%llx: %s", src->id, (unsigned long long)src_iova,
			(unsigned long long)len,
			r == -ENOENT ? "the range is not wholly mapped" :
			r == -EPERM ? "the source mappings do not allow that access" : strerror(-r));
		return ifd_ret(r);
	}

	/* Place the whole span, then give each piece its own record there,
	 * in one hold of the lock so nothing else lands in between. */
	ifd_lock(&dst->wlock);
	r = 0;
	for (i = 0; r == 0 && i < n; i++) {
		p[i].rec = ifd_midx_rec_alloc(dst->idx);
		if (!p[i].rec)
			r = -ENOMEM;
	}
	if (r == 0) {
		struct iommufd_map init = { .kind = IFD_MAP_RESV, .vaddr = p[0].vaddr };

		r = place(dst, &init, len, flags, &o, init.vaddr, &align, &span);
	}
	if (r == 0) {
		at = span->iova;
		ifd_midx_remove(dst->idx, span);
		ifd_midx_rec_free(dst->idx, span);
		for (i = 0; i < n; i++) {
			struct iommufd_map *m = p[i].rec;

			m->kind = IFD_MAP_USER;
			m->state = IFD_REC_PENDING;
			m->vaddr = p[i].vaddr;
			m->flags = flags & prot_mask;
			ifd_midx_claim(dst->idx, m, at + p[i].off, p[i].len); /* the span was free */
		}
	}
	if (r < 0) {
		for (i = 0; i < n; i++)
			if (p[i].rec)
				ifd_midx_rec_free(dst->idx, p[i].rec);
	}
	ifd_unlock(&dst->wlock);
	if (r < 0) {
		free(p);
		if (r == -ENOSPC)
			ifd_err(ctx, "IOAS %u: no free IOVA range of %llu bytes for the copy", dst->id,
				(unsigned long long)len);
		return ifd_ret(r);
	}

	if (ctx->ops->copy)
		r = ctx->ops->copy(dst, src, src_iova, len, at, flags & prot_mask);
	else
		r = copy_by_mapping(dst, p, n);

	ifd_lock(&dst->wlock);
	for (i = 0; i < n; i++) {
		struct iommufd_map *m = p[i].rec;

		if (r < 0) {
			ifd_midx_remove(dst->idx, m);
			ifd_midx_rec_free(dst->idx, m);
		} else {
			set_state(m, IFD_REC_LIVE);
			if (m->vaddr && dst->va_on)
				ifd_midx_va_insert(dst->idx, m);
		}
	}
	ifd_unlock(&dst->wlock);
	free(p);
	if (r < 0)
		return ifd_ret(explain_map_error(dst, r, at, len, flags, false));
	*dst_iova = at;
	return 0;
}
