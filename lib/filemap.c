/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * File-backed maps (memfd, shmem, hugetlbfs; dma-bufs through the p2p
 * code) and the move of their pinned-page accounting to another process.
 *
 * A file map is an ordinary record of the IOAS's index with IFD_MAPF_FILE
 * set; what only file maps need (the file, the offset, the library's own
 * mmap on the fallback path) lives in a per-IOAS side table, because file
 * maps are few and the record is one cache line shared by every map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "kabi.h"

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

static void ent_release(struct iommufd_ctx *ctx, struct ifd_filemap_ent *e)
{
	/* Straight to the syscall table: this runs under ioas->wlock, where
	 * nothing may log. */
	if (e->mm)
		ctx->sys->munmap(e->mm, e->mm_len);
	if (e->fd >= 0)
		ctx->sys->close(e->fd);
	free(e);
}

void ifd_filemap_link(struct iommufd_ioas *ioas, struct iommufd_map *m, struct ifd_filemap_ent *ent)
{
	ent->rec = m;
	ent->next = ioas->files;
	ioas->files = ent;
}

struct ifd_filemap_ent *ifd_filemap_find(struct iommufd_ioas *ioas, const struct iommufd_map *m)
{
	for (struct ifd_filemap_ent *e = ioas->files; e; e = e->next)
		if (e->rec == m)
			return e;
	return NULL;
}

void ifd_filemap_forget(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	for (struct ifd_filemap_ent **pp = &ioas->files; *pp; pp = &(*pp)->next) {
		struct ifd_filemap_ent *e = *pp;

		if (e->rec == m) {
			*pp = e->next;
			ent_release(ioas->ctx, e);
			return;
		}
	}
}

void ifd_filemap_ioas_free(struct iommufd_ioas *ioas)
{
	struct ifd_filemap_ent *e, *next;

	for (e = ioas->files; e; e = next) {
		next = e->next;
		ent_release(ioas->ctx, e);
	}
	ioas->files = NULL;
}

static int map_fd(struct iommufd_ioas *ioas, int fd, uint64_t offset, uint64_t len, uint32_t flags,
		  const struct iommufd_map_opts *opts, bool handle, bool allow_mmap_fallback,
		  struct iommufd_map **out)
{
	const uint32_t prot = IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE;
	struct ifd_map_src src = { .fd = -1, .offset = offset };
	struct ifd_filemap_ent *e;
	struct iommufd_ctx *ctx;
	uint64_t page;
	void *mm = NULL;
	int r;

	if (!ioas_ok(ioas) || fd < 0 || !out || !(flags & prot) || (flags & ~(prot | IOMMUFD_MAP_FIXED)))
		return -EINVAL;
	ctx = ioas->ctx;
	page = (uint64_t)ctx->page_size;
	if (!len || len > SIZE_MAX || (offset & (page - 1)) || (len & (page - 1)) || offset + (len - 1) < offset ||
	    offset + (len - 1) > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (ifd_forked(ctx))
		return -ECHILD;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->offset = offset;
	/* The library's own reference: the caller may close @fd at once, and
	 * a live update hands this one on. */
	e->fd = ifd_dup(ctx, fd);
	if (e->fd < 0) {
		r = e->fd;
		free(e);
		if (r == -EBADF)
			ifd_err(ctx, "IOAS %u: file map: fd %d is not an open file", ioas->id, fd);
		return r;
	}
	src.ent = e;
	if (ctx->ops->map_file && ifd_iommufd_has_ioctl(ctx, IFD_K_IOMMU_IOAS_MAP_FILE) > 0) {
		src.fd = e->fd;
	} else if (!allow_mmap_fallback) {
		ent_release(ctx, e);
		ifd_dbg(ctx, "IOAS %u: the %s backend on this kernel has no IOMMU_IOAS_MAP_FILE (Linux 6.13+ with "
			"iommufd)", ioas->id, iommufd_backend_name(ctx->backend));
		return -EOPNOTSUPP;
	} else {
		int mprot = PROT_READ | (flags & IOMMUFD_MAP_WRITE ? PROT_WRITE : 0);

		mm = ctx->sys->mmap(NULL, (size_t)len, mprot, MAP_SHARED, e->fd, (off_t)offset);
		if (mm == MAP_FAILED) {
			r = -errno;
			ent_release(ctx, e);
			ifd_err(ctx, "IOAS %u: file map: mmap of fd %d, %llu bytes at offset 0x%llx failed: %s%s",
				ioas->id, fd, (unsigned long long)len, (unsigned long long)offset, strerror(-r),
				r == -EACCES ? " (IOMMUFD_MAP_WRITE needs a file open for writing)" : "");
			return r;
		}
		e->mm = mm;
		e->mm_len = (size_t)len;
		ifd_dbg(ctx, "IOAS %u: no IOMMU_IOAS_MAP_FILE on the %s backend or this kernel: mapping fd %d "
			"through the library's own mmap at %p", ioas->id, iommufd_backend_name(ctx->backend), fd, mm);
	}
	r = ifd_map_common(ioas, mm, (size_t)len, flags, opts, handle, &src, out);
	if (r < 0)
		ent_release(ctx, e); /* never linked */
	return r;
}

int ifd_ioas_map_fd(struct iommufd_ioas *ioas, int fd, uint64_t offset, uint64_t len, uint32_t flags,
		    const struct iommufd_map_opts *opts, uint64_t *iova, bool allow_mmap_fallback)
{
	struct iommufd_map *m;
	int r;

	if (!iova)
		return -EINVAL;
	r = map_fd(ioas, fd, offset, len, flags, opts, false, allow_mmap_fallback, &m);
	if (r == 0)
		*iova = m->iova;
	return r;
}

IFD_EXPORT int iommufd_ioas_map_file(struct iommufd_ioas *ioas, int fd, uint64_t offset, size_t len, uint32_t flags,
				     const struct iommufd_map_opts *opts, uint64_t *iova)
{
	return ifd_ret(ifd_ioas_map_fd(ioas, fd, offset, len, flags, opts, iova, true));
}

IFD_EXPORT int iommufd_map_create_file(struct iommufd_ioas *ioas, int fd, uint64_t offset, size_t len,
				       uint32_t flags, const struct iommufd_map_opts *opts, struct iommufd_map **out)
{
	return ifd_ret(map_fd(ioas, fd, offset, len, flags, opts, true, true, out));
}

IFD_EXPORT int iommufd_ioas_find_file(struct iommufd_ioas *ioas, uint64_t iova, uint64_t *offset)
{
	struct ifd_filemap_ent *e;
	struct iommufd_map *m;
	int r = -ENOENT;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	ifd_ioas_wlock(ioas);
	m = ifd_midx_first(ioas->idx, iova, iova);
	e = m && m->kind == IFD_MAP_USER && (m->flags & IFD_MAPF_FILE) ? ifd_filemap_find(ioas, m) : NULL;
	if (e) {
		if (offset)
			*offset = e->offset + (iova - m->iova);
		r = e->fd;
	}
	ifd_ioas_wunlock(ioas);
	return ifd_ret(r);
}

/* ------------------------------------------------------------------------ */
/* IOMMU_IOAS_CHANGE_PROCESS                                                */

struct va_find {
	uint64_t iova, len;
	bool found;
};

static int find_va_map(struct iommufd_map *m, void *arg)
{
	struct va_find *f = arg;

	if (m->flags & IFD_MAPF_FILE)
		return 0;
	f->iova = m->iova;
	f->len = m->len;
	f->found = true;
	return 1;
}

IFD_EXPORT int iommufd_ctx_change_process(struct iommufd_ctx *ctx)
{
	struct va_find f = { 0 };
	struct ifd_list *pos;
	uint32_t ioas_id = 0;
	int r, has;

	if (!ctx)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->change_process) {
		ifd_err(ctx, "the %s backend cannot move pinned-page accounting to another process "
			"(IOMMU_IOAS_CHANGE_PROCESS is iommufd's): use a kernel with iommufd (Linux 6.14+)",
			iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	ifd_ctx_lock(ctx);
	has = ifd_iommufd_has_ioctl(ctx, IFD_K_IOMMU_IOAS_CHANGE_PROCESS);
	/* The kernel refuses unless every mapping is a file's; saying which
	 * one is in the way is the library's part. */
	ifd_list_for_each(pos, &ctx->ioas_list) {
		struct iommufd_ioas *ioas = ifd_container_of(pos, struct iommufd_ioas, link);

		if (has <= 0 || f.found)
			break;
		ifd_ioas_wlock(ioas);
		ifd_ioas_for_each_record(ioas, find_va_map, &f);
		ifd_ioas_wunlock(ioas);
		ioas_id = ioas->id;
	}
	if (has < 0)
		r = has;
	else if (!has)
		r = -EOPNOTSUPP;
	else if (f.found)
		r = -EINVAL;
	else
		r = ctx->ops->change_process(ctx);
	ifd_ctx_unlock(ctx);
	if (r == 0) {
		ifd_dbg(ctx, "/dev/iommu: pinned-page accounting moved to this process (IOMMU_IOAS_CHANGE_PROCESS)");
		return 0;
	}
	if (r == -EOPNOTSUPP)
		ifd_err(ctx, "/dev/iommu: the kernel lacks IOMMU_IOAS_CHANGE_PROCESS (needs Linux 6.14+)");
	else if (f.found)
		ifd_err(ctx, "IOAS %u: IOVA 0x%llx+0x%llx maps process memory, not a file: only file maps "
			"(iommufd_ioas_map_file) can move to another process; unmap it first", ioas_id,
			(unsigned long long)f.iova, (unsigned long long)f.len);
	else if (r == -ENOMEM)
		ifd_err(ctx, "/dev/iommu: IOMMU_IOAS_CHANGE_PROCESS: the pinned pages exceed %s RLIMIT_MEMLOCK: "
			"raise it for this process (ulimit -l, LimitMEMLOCK=) before the move",
			ctx->pin_mode == IOMMUFD_PIN_ACCOUNT_PROCESS ? "this process's" : "this user's");
	else if (r == -EBUSY)
		ifd_err(ctx, "/dev/iommu: IOMMU_IOAS_CHANGE_PROCESS: a mapping is being changed: try again");
	else
		ifd_err(ctx, "/dev/iommu: IOMMU_IOAS_CHANGE_PROCESS failed: %s", strerror(-r));
	return ifd_ret(r);
}
