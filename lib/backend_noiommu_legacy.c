/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Backend 4, legacy path: VFIO's no-IOMMU groups (/dev/vfio/noiommu-N) in a
 * /dev/vfio/vfio container set to VFIO_NOIOMMU_IOMMU, one container per
 * IOAS.  That IOMMU driver maps nothing, so the library does the kernel's
 * part itself: a mapping is mlock(2)ed for as long as it exists, and its
 * physical addresses come from /proc/self/pagemap.  mlock is not counted:
 * unlocking one mapping unlocks every other that shares its pages, which
 * are then locked again.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"

/* /proc/self/pagemap entries (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define PM_BATCH 64

static int leg_ctx_open(struct iommufd_ctx *ctx)
{
	int fd = ifd_open_node(ctx, "/dev/vfio/vfio", O_RDWR, "the VFIO container");
	int v;

	if (fd == -ENOENT)
		ifd_err(ctx, "noiommu backend: neither iommufd's no-IOMMU mode nor /dev/vfio/vfio is there: it needs "
			"CONFIG_VFIO_CONTAINER (legacy path) or Linux 7.3 with CONFIG_VFIO_DEVICE_CDEV");
	if (fd < 0)
		return fd == -ENOENT ? -ENODEV : fd;
	v = ifd_ioctl(ctx, fd, VFIO_GET_API_VERSION, NULL);
	ifd_close(ctx, fd);
	if (v != VFIO_API_VERSION) {
		ifd_err(ctx, "/dev/vfio/vfio: VFIO API version %d, not %d", v, VFIO_API_VERSION);
		return -ENODEV;
	}
	return 0;
}

static int leg_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	if (want == IOMMUFD_PIN_ACCOUNT_USER) {
		ifd_err(ctx, "noiommu backend (legacy path): mlock(2) charges this process's RLIMIT_MEMLOCK; "
			"per-user accounting needs the iommufd path");
		return -EOPNOTSUPP;
	}
	ctx->pin_mode = IOMMUFD_PIN_ACCOUNT_PROCESS;
	return 0;
}

static void leg_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len)
{
	ifd_err(ctx, "%s: mlock failed: locking %llu more bytes exceeds this process's RLIMIT_MEMLOCK (raise it: "
		"ulimit -l), or part of the memory is not mapped", what, (unsigned long long)len);
}

static int leg_ioas_alloc(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = ioas->ctx;

	ioas->id = ++ctx->type1_ids; /* a number for messages */
	ioas->container_fd = ifd_open_node(ctx, "/dev/vfio/vfio", O_RDWR, "the VFIO container");
	return ioas->container_fd < 0 ? ioas->container_fd : 0;
}

static bool va_overlap(const struct iommufd_map *m, uint64_t va, uint64_t len)
{
	return m->vaddr < va + len && va < m->vaddr + m->len;
}

/*
 * Lock again, in every IOAS of the context, the user mappings that share
 * pages with [va, va + len) and are not being removed.  Caller holds
 * ctx->lock and no IOAS's wlock.
 */
static void relock(struct iommufd_ctx *ctx, uint64_t va, uint64_t len)
{
	struct ifd_list *pos;

	ifd_list_for_each(pos, &ctx->ioas_list) {
		struct iommufd_ioas *io = ifd_container_of(pos, struct iommufd_ioas, link);
		struct iommufd_map *m;

		ifd_ioas_wlock(io);
		for (m = ifd_midx_first(io->idx, 0, UINT64_MAX); m; m = ifd_midx_next(io->idx, m, UINT64_MAX)) {
			unsigned int st = m->state;

			if (m->kind == IFD_MAP_USER && st != IFD_REC_UNMAPPING && st != IFD_REC_GONE &&
			    va_overlap(m, va, len))
				ctx->sys->mlock((const void *)(uintptr_t)m->vaddr, m->len);
		}
		ifd_ioas_wunlock(io);
	}
}

/* munlock every user record of @ioas in [first, last]; their VA ranges
 * go to *out (malloc'ed) for relock(). */
struct unlocked {
	uint64_t va, len;
};

static size_t unlock_range(struct iommufd_ioas *ioas, uint64_t first, uint64_t last, uint64_t *bytes,
			   struct unlocked **out)
{
	struct iommufd_map *m;
	struct unlocked *u = NULL, *t;
	size_t n = 0, cap = 0;

	ifd_ioas_wlock(ioas);
	for (m = ifd_midx_first(ioas->idx, first, last); m; m = ifd_midx_next(ioas->idx, m, last)) {
		if (m->kind != IFD_MAP_USER)
			continue;
		ioas->ctx->sys->munlock((const void *)(uintptr_t)m->vaddr, m->len);
		*bytes += m->len;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			t = realloc(u, cap * sizeof(*u));
			if (!t)
				continue; /* that range stays unlocked until its next map */
			u = t;
		}
		u[n].va = m->vaddr;
		u[n++].len = m->len;
	}
	ifd_ioas_wunlock(ioas);
	*out = u;
	return n;
}

static void relock_all(struct iommufd_ctx *ctx, struct unlocked *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		relock(ctx, u[i].va, u[i].len);
	free(u);
}

static void leg_ioas_free(struct iommufd_ioas *ioas)
{
	struct unlocked *u;
	uint64_t bytes = 0;
	size_t n;

	/* Mark ours gone first, so relock skips them (caller holds ctx->lock). */
	ifd_ioas_wlock(ioas);
	for (struct iommufd_map *m = ifd_midx_first(ioas->idx, 0, UINT64_MAX); m;
	     m = ifd_midx_next(ioas->idx, m, UINT64_MAX))
		if (m->kind == IFD_MAP_USER)
			m->state = IFD_REC_UNMAPPING;
	ifd_ioas_wunlock(ioas);
	n = unlock_range(ioas, 0, UINT64_MAX, &bytes, &u);
	relock_all(ioas->ctx, u, n);
	ifd_close(ioas->ctx, ioas->container_fd);
	ioas->container_fd = -1;
}

/* The whole address space: the IOVA only names memory, nothing translates it. */
static int leg_ioas_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct ifd_iova_range *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->start = 0;
	r->last = UINT64_MAX;
	*ranges = r;
	*n = 1;
	*align = (uint64_t)ioas->ctx->page_size;
	return 0;
}

/* Faults the pages in (writable ones with a write, breaking copy-on-write)
 * and keeps them resident, so their physical addresses stay put. */
static int leg_map(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	if (ioas->ctx->sys->mlock((const void *)(uintptr_t)m->vaddr, m->len) < 0)
		return errno == EAGAIN ? -ENOMEM : -errno;
	return 0;
}

static int leg_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct unlocked *u;
	size_t n;

	*unmapped = 0;
	n = unlock_range(ioas, iova, iova + (len - 1), unmapped, &u);
	ifd_ctx_lock(ioas->ctx);
	relock_all(ioas->ctx, u, n);
	ifd_ctx_unlock(ioas->ctx);
	return 0;
}

static int leg_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	return leg_unmap(ioas, 0, UINT64_MAX, unmapped);
}

/*
 * Physical addresses from /proc/self/pagemap: without CAP_SYS_ADMIN the
 * kernel reports every frame number as 0.
 */
static int leg_bus_addr(struct iommufd_ioas *ioas, const struct iommufd_map *m, uint64_t iova, uint64_t len,
			uint64_t *bus, uint64_t *contig)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	uint64_t page = (uint64_t)ctx->page_size, va = m->vaddr + (iova - m->iova);
	uint64_t off = va % page, first = va / page, npages = (off + len + page - 1) / page;
	uint64_t ent[PM_BATCH], got = 0, expect = 0;
	int fd, r = 0;

	fd = ctx->sys->open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (uint64_t i = 0; i < npages && r == 0;) {
		size_t want = npages - i < PM_BATCH ? (size_t)(npages - i) : PM_BATCH;
		ssize_t n = ctx->sys->pread(fd, ent, want * sizeof(ent[0]), (off_t)((first + i) * sizeof(ent[0])));

		if (n < 0) {
			r = -errno;
			break;
		}
		if (n < (ssize_t)sizeof(ent[0]) || n % (ssize_t)sizeof(ent[0])) {
			r = -EIO;
			break;
		}
		for (size_t k = 0; k < (size_t)n / sizeof(ent[0]); k++, i++) {
			uint64_t pfn = ent[k] & PM_PFN_MASK, pa;

			if (!(ent[k] & PM_PRESENT)) {
				r = -EFAULT;
				break;
			}
			if (!pfn) {
				r = -EPERM;
				break;
			}
			pa = pfn * page;
			if (i == 0) {
				*bus = pa + off;
				got = page - off;
			} else if (pa == expect) {
				got += page;
			} else {
				i = npages; /* the contiguous run ends here */
				break;
			}
			expect = pa + page;
		}
	}
	ctx->sys->close(fd);
	if (r < 0 && !(r == -EFAULT && got) && !(r == -EPERM && got))
		return r;
	*contig = got < len ? got : len;
	return 0;
}

static int leg_dev_open(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_group *g = dev->group;
	bool joined = false;
	int r;

	if (g->in_container && g->ioas != ioas) {
		ifd_err(ctx, "%s: no-IOMMU group %d already uses IOAS %u; all devices of a group share one IOAS",
			dev->name, g->num, g->ioas->id);
		return -EEXIST;
	}
	if (!g->in_container) {
		r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_SET_CONTAINER, &ioas->container_fd);
		if (r < 0) {
			ifd_err(ctx, "/dev/vfio/noiommu-%d: VFIO_GROUP_SET_CONTAINER failed: %s%s", g->num,
				strerror(-r), r == -EPERM ? " (no-IOMMU groups need CAP_SYS_RAWIO)" : "");
			return r;
		}
		g->in_container = true;
		g->ioas = ioas;
		joined = true;
	}
	if (!ioas->iommu_set) {
		r = ifd_ioctl(ctx, ioas->container_fd, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_NOIOMMU_IOMMU);
		if (r < 0) {
			ifd_err(ctx, "/dev/vfio/vfio: VFIO_SET_IOMMU VFIO_NOIOMMU_IOMMU failed: %s", strerror(-r));
			goto undo;
		}
		ioas->iommu_set = true;
	}
	r = ifd_group_get_device_fd(ctx, g, dev);
	if (r == -EPERM)
		ifd_err(ctx, "%s: no-IOMMU devices need CAP_SYS_RAWIO", dev->name);
	if (r < 0)
		goto undo;
	dev->fd = r;
	return 0;
undo:
	if (joined) {
		/* The last group leaving resets the container's IOMMU driver. */
		ifd_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		g->in_container = false;
		g->ioas = NULL;
		ioas->iommu_set = false;
		for (struct ifd_list *pos = ctx->group_list.next; pos != &ctx->group_list; pos = pos->next) {
			struct ifd_group *o = ifd_container_of(pos, struct ifd_group, link);

			if (o != g && o->in_container && o->ioas == ioas)
				ioas->iommu_set = true;
		}
	}
	return r;
}

static int leg_dev_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	(void)ioas;
	ifd_err(dev->ctx, "%s: the noiommu backend's legacy path cannot move an open device to another IOAS",
		dev->name);
	return -EOPNOTSUPP;
}

static void leg_group_put(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas)
{
	struct ifd_list *pos;
	bool last = g->refs == 1 && g->in_container;

	ifd_group_put(ctx, g);
	if (!last || !ioas)
		return;
	ifd_list_for_each(pos, &ctx->group_list) {
		struct ifd_group *o = ifd_container_of(pos, struct ifd_group, link);

		if (o->in_container && o->ioas == ioas)
			return;
	}
	ioas->iommu_set = false;
}

static int leg_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			     struct iommufd_feature_status *st)
{
	(void)ctx;
	(void)dev;
	(void)f;
	st->reason = IOMMUFD_REASON_BACKEND;
	snprintf(st->why, sizeof(st->why), "the noiommu backend's legacy VFIO group path has no iommufd and no "
		 "IOMMU: none of its features (the iommufd path of Linux 7.3 has some)");
	return 0;
}

const struct ifd_backend_ops ifd_backend_noiommu_legacy = {
	.kind = IOMMUFD_BACKEND_NOIOMMU,
	.ctx_open = leg_ctx_open,
	.ctx_set_pin_accounting = leg_set_pin_accounting,
	.ioas_alloc = leg_ioas_alloc,
	.ioas_free = leg_ioas_free,
	.ioas_query = leg_ioas_query,
	.map = leg_map,
	.unmap = leg_unmap,
	.unmap_all = leg_unmap_all,
	.copy = NULL, /* the caller maps (locks) the memory again */
	.allow_iovas = NULL,
	.set_huge_pages = NULL,
	.dev_open = leg_dev_open,
	.dev_attach = leg_dev_attach,
	.group_put = leg_group_put,
	.explain_enomem = leg_explain_enomem,
	.feature_query = leg_feature_query,
	.node_prefix = "noiommu-",
	.bus_addr = leg_bus_addr,
};
