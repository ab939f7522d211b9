/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Backend 3: the legacy VFIO container with the type1 IOMMU driver, one
 * container per IOAS.  A container cannot map until a group has joined it
 * and VFIO_SET_IOMMU has run, so mappings made before the first device are
 * only recorded (the IOAS's records, marked here) and replayed at the first
 * attach.  The same ioctls work on iommufd's
 * compat /dev/vfio/vfio.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"
#include "kabi.h"

static int open_container(struct iommufd_ctx *ctx)
{
	int fd = ifd_open_node(ctx, "/dev/vfio/vfio", O_RDWR, "the VFIO container");
	int r;

	if (fd == -ENOENT)
		ifd_err(ctx, "/dev/vfio/vfio: absent: load vfio-pci (modprobe vfio-pci), or use a kernel "
			"with CONFIG_VFIO_CONTAINER or CONFIG_IOMMUFD_VFIO_CONTAINER");
	if (fd < 0)
		return fd;
	r = ifd_ioctl(ctx, fd, VFIO_GET_API_VERSION, NULL);
	if (r != VFIO_API_VERSION) {
		ifd_err(ctx, "/dev/vfio/vfio: VFIO API version %d, expected %d", r, VFIO_API_VERSION);
		goto fail;
	}
	if (ifd_ioctl(ctx, fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0 &&
	    ifd_ioctl(ctx, fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1_IOMMU) <= 0) {
		ifd_err(ctx, "/dev/vfio/vfio: no type1 IOMMU driver: modprobe vfio_iommu_type1");
		goto fail;
	}
	return fd;
fail:
	ifd_close(ctx, fd);
	return -ENODEV;
}

static int type1_ctx_open(struct iommufd_ctx *ctx)
{
	/* Probe now so a missing driver fails the context, not the first
	 * IOAS; the fd is then the first IOAS's container. */
	int fd = open_container(ctx);

	if (fd < 0)
		return fd;
	ctx->spare_container = fd;
	return 0;
}

static int type1_ioas_alloc(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = ioas->ctx;

	/* No kernel object ID here; number them so messages tell them apart. */
	ioas->id = ++ctx->type1_ids;
	if (ctx->spare_container >= 0) {
		ioas->container_fd = ctx->spare_container;
		ctx->spare_container = -1;
		return 0;
	}
	ioas->container_fd = open_container(ctx);
	return ioas->container_fd < 0 ? ioas->container_fd : 0;
}

static void type1_ioas_free(struct iommufd_ioas *ioas)
{
	/* Closing the container unmaps and unpins everything. */
	ifd_close(ioas->ctx, ioas->container_fd);
	ioas->container_fd = -1;
}

static int type1_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	if (want == IOMMUFD_PIN_ACCOUNT_USER) {
		ifd_err(ctx, "/dev/vfio/vfio: the type1 driver always charges pinned pages to the process "
			"(its RLIMIT_MEMLOCK); per-user accounting needs iommufd (the cdev or group backend)");
		return -EOPNOTSUPP;
	}
	ctx->pin_mode = IOMMUFD_PIN_ACCOUNT_PROCESS;
	return 0;
}

static void type1_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len)
{
	ifd_err(ctx, "%s: out of locked memory: pinning %llu bytes would exceed this process's RLIMIT_MEMLOCK "
		"(the type1 driver charges each process): raise it by at least that much (ulimit -l, or "
		"LimitMEMLOCK= in the service unit)", what, (unsigned long long)len);
}

/* VFIO_IOMMU_GET_INFO never needs more; a larger argsz is a broken answer. */
#define MAX_INFO_SIZE (1u << 20)

/* What VFIO_IOMMU_GET_INFO's capability chain told. */
struct type1_caps {
	struct ifd_iova_range *ranges; /* replaced when the IOVA-range cap is there */
	size_t n;
	bool mig;                      /* VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION */
	uint64_t mig_pgsizes;          /* the page sizes a dirty bitmap may use */
	uint64_t mig_max_bitmap;       /* bytes of bitmap one GET_BITMAP may fill */
};

/*
 * The IOVA-range capability, read only where it lies wholly inside the
 * @size bytes of @buf.  Returns 0 (ranges replaced), or -EPROTO.
 */
static int read_iova_cap(const uint8_t *buf, size_t size, size_t off, struct ifd_iova_range **ranges, size_t *n)
{
	struct vfio_iommu_type1_info_cap_iova_range c;
	const size_t esz = sizeof(struct vfio_iova_range);
	struct ifd_iova_range *nr;

	if (size - off < sizeof(c))
		return -EPROTO;
	memcpy(&c, buf + off, sizeof(c));
	if (!c.nr_iovas || c.nr_iovas > (size - off - sizeof(c)) / esz)
		return -EPROTO;
	nr = calloc(c.nr_iovas, sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	for (uint32_t i = 0; i < c.nr_iovas; i++) {
		struct vfio_iova_range kr;

		memcpy(&kr, buf + off + sizeof(c) + i * esz, esz);
		if (kr.start > kr.end) {
			free(nr);
			return -EPROTO;
		}
		nr[i].start = kr.start;
		nr[i].last = kr.end; /* inclusive, despite the name */
	}
	free(*ranges);
	*ranges = nr;
	*n = c.nr_iovas;
	return 0;
}

/* The migration capability, under the same bound. */
static int read_mig_cap(const uint8_t *buf, size_t size, size_t off, struct type1_caps *c)
{
	struct vfio_iommu_type1_info_cap_migration m;

	if (size - off < sizeof(m))
		return -EPROTO;
	memcpy(&m, buf + off, sizeof(m));
	c->mig = true;
	c->mig_pgsizes = m.pgsize_bitmap;
	c->mig_max_bitmap = m.max_dirty_bitmap_size;
	return 0;
}

/*
 * Walk the capability chain of @info (@size bytes we own).  Each header is
 * copied out only once it fits; offsets must be 8-byte aligned (the
 * kernel's layout), past the fixed part, and strictly increasing, so a
 * malformed chain ends instead of looping or reading outside.
 */
static int walk_caps(const struct vfio_iommu_type1_info *info, size_t size, struct type1_caps *c)
{
	const uint8_t *buf = (const void *)info;
	struct vfio_info_cap_header hdr;
	size_t off = info->cap_offset;
	int r = 0;

	while (off) {
		if (off < sizeof(*info) || off % 8 || off > size || size - off < sizeof(hdr))
			return -EPROTO;
		memcpy(&hdr, buf + off, sizeof(hdr));
		if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
			r = read_iova_cap(buf, size, off, &c->ranges, &c->n);
		else if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION)
			r = read_mig_cap(buf, size, off, c);
		if (r < 0)
			return r;
		if (hdr.next && hdr.next <= off)
			return -EPROTO;
		off = hdr.next;
	}
	return 0;
}

/*
 * VFIO_IOMMU_GET_INFO of a container that has its IOMMU, the capability
 * chain walked into @c and the smallest IOMMU page into *@align (when the
 * kernel says).  The caller logs only when @log is false.
 */
static int get_info(struct iommufd_ioas *ioas, struct type1_caps *c, uint64_t *align, bool log)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t argsz = sizeof(*info);
	int r;

	/* The kernel raises argsz to what the capability chain needs. */
	for (int tries = 0;; tries++) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		r = ifd_ioctl(ctx, ioas->container_fd, VFIO_IOMMU_GET_INFO, info);
		if (r < 0 || info->argsz <= argsz)
			break;
		if (info->argsz > MAX_INFO_SIZE || tries == 3) {
			if (log)
				ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO asks for an implausible %u bytes",
					info->argsz);
			r = -EPROTO;
			goto out;
		}
		argsz = info->argsz;
		free(info);
	}
	if (r < 0) {
		if (log)
			ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO failed: %s", strerror(-r));
		goto out;
	}
	if (info->flags & VFIO_IOMMU_INFO_PGSIZES && info->iova_pgsizes)
		*align = info->iova_pgsizes & -info->iova_pgsizes;
	if (info->flags & VFIO_IOMMU_INFO_CAPS)
		r = walk_caps(info, argsz, c);
	if (r == -EPROTO && log)
		ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO: malformed capability chain (cap_offset %u in "
			"%u bytes)", info->cap_offset, argsz);
out:
	free(info);
	return r;
}

static int type1_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct type1_caps c = { 0 };
	int r;

	*ranges = NULL;
	c.ranges = calloc(1, sizeof(*c.ranges));
	if (!c.ranges)
		return -ENOMEM;
	c.ranges[0].start = 0;
	c.ranges[0].last = UINT64_MAX;
	c.n = 1;
	*align = (uint64_t)ioas->ctx->page_size;
	if (__atomic_load_n(&ioas->iommu_set, __ATOMIC_ACQUIRE)) {
		r = get_info(ioas, &c, align, true);
		if (r < 0) {
			free(c.ranges);
			*ranges = NULL;
			return r;
		}
	} /* else no IOMMU yet: nothing limits the space */
	*ranges = c.ranges;
	*n = c.n;
	return 0;
}

/* The raw calls: the caller holds kern_lock and knows the IOMMU is set. */
static inline __attribute__((always_inline)) int map_raw(struct iommufd_ioas *ioas,
							    const struct iommufd_map *m)
{
	struct vfio_iommu_type1_dma_map k = {
		.argsz = sizeof(k),
		.vaddr = m->vaddr,
		.iova = m->iova,
		.size = m->len,
	};

	if (m->flags & IOMMUFD_MAP_READ)
		k.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (m->flags & IOMMUFD_MAP_WRITE)
		k.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	return ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_MAP_DMA, &k);
}

static inline __attribute__((always_inline)) int unmap_raw(struct iommufd_ioas *ioas, uint64_t iova,
							      uint64_t len, uint32_t flags, uint64_t *unmapped)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .flags = flags, .iova = iova, .size = len };
	int r = ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_UNMAP_DMA, &u);

	*unmapped = r < 0 ? 0 : u.size;
	return r < 0 ? r : 0;
}

/*
 * DEFERRED in a record's backend byte (bstate) means "this record belongs
 * in the container whenever it has an IOMMU": set once type1_map accepted
 * it (mapped, or kept because no group had joined yet), never cleared by
 * this backend (a fresh record starts at 0).  The container loses every
 * mapping with its last group, so the next first attach replays exactly
 * these records; a record whose map call has not run yet lacks the mark
 * and is left to that call, which then finds the IOMMU set and maps it
 * itself.  kern_lock orders the two, and is the only lock bstate needs:
 * only this file touches it, always under kern_lock.
 */
#define DEFERRED 0x01

static inline void mark(struct iommufd_map *m)
{
	m->bstate |= DEFERRED;
}

IFD_HOT static int type1_map(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	int r = 0; /* no IOMMU yet: recorded, the first attach maps it */

	ifd_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = map_raw(ioas, m);
	if (r == 0)
		mark(m);
	ifd_rdunlock(&ioas->kern_lock);
	return r;
}

IFD_HOT static int type1_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	int r = 0;

	ifd_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = unmap_raw(ioas, iova, len, 0, unmapped);
	else
		*unmapped = len; /* records only: the caller passes whole mappings */
	ifd_rdunlock(&ioas->kern_lock);
	return r;
}

static int type1_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	int r = 0;

	*unmapped = 0;
	ifd_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = ioas->type1_unmap_all ? unmap_raw(ioas, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, unmapped) : -EOPNOTSUPP;
	ifd_rdunlock(&ioas->kern_lock);
	return r;
}

struct replay {
	struct iommufd_ioas *ioas;
	const struct ifd_iova_range *rg; /* the container's ranges */
	size_t nr;
	struct iommufd_map *failed;      /* the record that failed, and how */
	uint64_t fail_iova, fail_len, bytes;
	int r;
};

static bool to_replay(const struct iommufd_map *m)
{
	/* An UNMAPPING record's unmap may have run while there was no
	 * IOMMU: mapping it now could leave it behind for good. */
	return (m->bstate & DEFERRED) && m->state != IFD_REC_UNMAPPING;
}

static int any_to_replay(struct iommufd_map *m, void *arg)
{
	(void)arg;
	return to_replay(m);
}

static int check_one(struct iommufd_map *m, void *arg)
{
	struct replay *rp = arg;
	uint64_t last = m->iova + (m->len - 1);

	if (!to_replay(m))
		return 0;
	rp->bytes += m->len;
	for (size_t i = 0; i < rp->nr; i++)
		if (m->iova >= rp->rg[i].start && last <= rp->rg[i].last)
			return 0;
	rp->fail_iova = m->iova;
	rp->fail_len = m->len;
	return -ERANGE;
}

static int check_bytes(struct iommufd_map *m, void *arg)
{
	struct replay *rp = arg;

	if (to_replay(m))
		rp->bytes += m->len;
	return 0;
}

static int replay_one(struct iommufd_map *m, void *arg)
{
	struct replay *rp = arg;
	int r;

	if (!to_replay(m))
		return 0;
	r = map_raw(rp->ioas, m);
	if (r < 0) {
		rp->failed = m;
		rp->fail_iova = m->iova;
		rp->fail_len = m->len;
	}
	return r;
}

static int undo_one(struct iommufd_map *m, void *arg)
{
	struct replay *rp = arg;
	uint64_t got;

	if (m == rp->failed)
		return 1; /* everything before it was mapped */
	if (to_replay(m))
		unmap_raw(rp->ioas, m->iova, m->len, 0, &got);
	return 0;
}

/*
 * Map what was recorded, holding the records against the ranges the
 * container now has first: MAP_DMA would refuse one outside them with a
 * bare -EINVAL, while the caller is owed the -ERANGE the iommufd backends
 * give.  Runs with kern_lock and the IOAS writer lock held: it only fills
 * @rp, the caller logs.
 */
static int replay(struct replay *rp)
{
	struct ifd_iova_range *rg = NULL;
	uint64_t align;
	int r;

	if (ifd_ioas_for_each_record(rp->ioas, any_to_replay, NULL) == 0)
		return 0; /* nothing recorded: no need to ask for the ranges */
	r = type1_query(rp->ioas, &rg, &rp->nr, &align);
	if (r < 0)
		return r;
	rp->rg = rg;
	r = ifd_ioas_for_each_record(rp->ioas, check_one, rp);
	if (r == 0) {
		r = ifd_ioas_for_each_record(rp->ioas, replay_one, rp);
		if (r < 0)
			ifd_ioas_for_each_record(rp->ioas, undo_one, rp);
	}
	rp->rg = NULL;
	free(rg);
	return r;
}

/* Give the container its IOMMU and replay what was mapped before. */
static int set_iommu(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	unsigned long type = VFIO_TYPE1v2_IOMMU;
	struct replay rp = { .ioas = ioas };
	char what[160];
	int r;

	if (ifd_ioctl(ctx, ioas->container_fd, VFIO_CHECK_EXTENSION, (void *)type) <= 0)
		type = VFIO_TYPE1_IOMMU;
	ifd_wrlock(&ioas->kern_lock);
	r = ifd_ioctl(ctx, ioas->container_fd, VFIO_SET_IOMMU, (void *)type);
	if (r < 0) {
		ifd_wrunlock(&ioas->kern_lock);
		ifd_err(ctx, "/dev/vfio/vfio: VFIO_SET_IOMMU type1%s failed: %s",
			type == VFIO_TYPE1v2_IOMMU ? "v2" : "", strerror(-r));
		return r;
	}
	/* Asked of the driver now in charge: with no driver, every driver answers. */
	ioas->type1_unmap_all =
		ifd_ioctl(ctx, ioas->container_fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_UNMAP_ALL) > 0;
	__atomic_store_n(&ioas->iommu_set, true, __ATOMIC_RELEASE);
	ifd_ioas_wlock(ioas);
	r = replay(&rp);
	ifd_ioas_wunlock(ioas);
	if (r < 0)
		__atomic_store_n(&ioas->iommu_set, false, __ATOMIC_RELEASE);
	ifd_wrunlock(&ioas->kern_lock);

	if (r == -ERANGE) {
		ifd_err(ctx, "%s: the mapping at IOVA 0x%llx (%llu bytes) lies outside the IOVA ranges the device "
			"allows (e.g. its MSI window 0xfee00000-0xfeefffff): unmap it first", dev->name,
			(unsigned long long)rp.fail_iova, (unsigned long long)rp.fail_len);
	} else if (r == -ENOMEM && rp.failed) {
		snprintf(what, sizeof(what), "%s: the first device of IOAS %u pins the memory mapped before it",
			 dev->name, ioas->id);
		ctx->ops->explain_enomem(ctx, what, rp.bytes);
	} else if (r == -EFAULT && rp.failed) {
		ifd_err(ctx, "%s: the mapping at IOVA 0x%llx made before the first device: its memory is no longer "
			"mapped in this process (or is read-only and the mapping writable)", dev->name,
			(unsigned long long)rp.fail_iova);
	} else if (r < 0 && rp.failed) {
		ifd_err(ctx, "%s: replaying the mapping at IOVA 0x%llx (%llu bytes) failed: %s", dev->name,
			(unsigned long long)rp.fail_iova, (unsigned long long)rp.fail_len, strerror(-r));
	}
	return r;
}

/* Whether a group other than @except sits in @ioas's container. */
static bool other_groups(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct ifd_group *except)
{
	struct ifd_list *pos;

	ifd_list_for_each(pos, &ctx->group_list) {
		struct ifd_group *g = ifd_container_of(pos, struct ifd_group, link);

		if (g != except && g->in_container && g->ioas == ioas)
			return true;
	}
	return false;
}

/*
 * Take @g out of @ioas's container.  When it is the last group the kernel
 * drops the container's IOMMU and every mapping with it; that must not
 * happen between a concurrent map's check of iommu_set and its ioctl, so
 * it happens under kern_lock.  The records stay for the next attach.
 * iommufd's compat container keeps its IOAS and mappings instead, so they
 * are removed first: the next first attach replays the records into an
 * empty container either way, and nothing the caller unmapped meanwhile
 * stays pinned.
 */
static void leave_container(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas, bool put)
{
	bool last = !other_groups(ctx, ioas, g);
	uint64_t gone;

	if (last)
		ifd_wrlock(&ioas->kern_lock);
	/* A failure changes nothing: a legacy container drops them anyway. */
	if (last && ioas->iommu_set && ioas->type1_unmap_all)
		(void)unmap_raw(ioas, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &gone);
	if (put) {
		ifd_group_put(ctx, g); /* UNSET_CONTAINER, close */
	} else {
		ifd_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		g->in_container = false;
		g->ioas = NULL;
	}
	if (last) {
		__atomic_store_n(&ioas->iommu_set, false, __ATOMIC_RELEASE);
		ifd_wrunlock(&ioas->kern_lock);
	}
}

static void type1_group_put(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas)
{
	if (g->refs == 1 && g->in_container && g->ioas == ioas)
		leave_container(ctx, g, ioas, true);
	else
		ifd_group_put(ctx, g);
}

static int type1_dev_open(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_group *g = dev->group;
	bool joined = false;
	int r;

	if (g->in_container && g->ioas != ioas) {
		ifd_err(ctx, "%s: IOMMU group %d is already in another IOAS's container; all devices of a "
			"group share one IOAS", dev->name, g->num);
		return -EEXIST;
	}
	if (!g->in_container) {
		r = ifd_ioctl(ctx, g->fd, VFIO_GROUP_SET_CONTAINER, &ioas->container_fd);
		if (r < 0) {
			ifd_err(ctx, "/dev/vfio/%d: VFIO_GROUP_SET_CONTAINER failed: %s", g->num, strerror(-r));
			return r;
		}
		g->in_container = true;
		g->ioas = ioas;
		joined = true;
	}
	/* ctx->lock is held: no other attach or detach can change iommu_set. */
	if (!__atomic_load_n(&ioas->iommu_set, __ATOMIC_ACQUIRE)) {
		r = set_iommu(dev, ioas);
		if (r < 0)
			goto undo;
	}
	r = ifd_group_get_device_fd(ctx, g, dev);
	if (r == -EADDRINUSE) {
		/* iommufd's compat container attaches here, and refuses a
		 * device whose reserved windows hold a mapping: the same case
		 * as a replayed mapping outside the device's ranges. */
		ifd_err(ctx, "%s: a mapping of IOAS %u lies in a window the device reserves (e.g. its MSI window "
			"0xfee00000-0xfeefffff): unmap it first", dev->name, ioas->id);
		r = -ERANGE;
	} else if (r == -ENOMEM && joined) {
		/* The compat container pins at the attach, not at MAP_DMA. */
		struct replay rp = { .ioas = ioas };
		char what[160];

		ifd_ioas_wlock(ioas);
		ifd_ioas_for_each_record(ioas, check_bytes, &rp);
		ifd_ioas_wunlock(ioas);
		snprintf(what, sizeof(what), "%s: the first device of IOAS %u pins the memory mapped before it",
			 dev->name, ioas->id);
		ctx->ops->explain_enomem(ctx, what, rp.bytes);
	}
	if (r < 0)
		goto undo;
	dev->fd = r;
	return 0;
undo:
	if (joined)
		leave_container(ctx, g, ioas, false);
	return r;
}

static int type1_dev_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	(void)ioas;
	ifd_err(dev->ctx, "%s: the type1 backend cannot move an open device to another IOAS "
		"(a group changes container only with its devices closed)", dev->name);
	return -EOPNOTSUPP;
}

/* ------------------------------------------------------------------------ */
/* Dirty page tracking: VFIO_IOMMU_DIRTY_PAGES (drivers/vfio/vfio_iommu_type1.c) */

/*
 * A GET_BITMAP reads at most this many bits into our buffer at a time
 * (1 MiB of bitmap, 32 GiB at 4 KiB pages) unless one mapping needs more:
 * the kernel's own limit is far larger, the caller's memory is not.
 */
#define DIRTY_CHUNK_BITS (1ull << 23)

/* Why a dirty call could not run; logged by the caller after the locks. */
enum dirty_why {
	DW_NONE,
	DW_NO_IOMMU,   /* no group in the container yet */
	DW_NO_CAP,     /* no VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION */
	DW_V1,         /* the type1 v1 driver refuses dirty tracking */
	DW_INFO,       /* GET_INFO failed or was malformed */
	DW_PGSIZE,     /* the caller's page size is below the IOMMU's */
	DW_SPLIT,      /* the range splits a mapping */
	DW_TOO_BIG,    /* one mapping needs more bitmap than one call may fill */
	DW_IOCTL,      /* VFIO_IOMMU_DIRTY_PAGES failed */
};

struct dirty_op {
	struct type1_caps c;
	enum dirty_why why;
	uint64_t pgsize;   /* the smallest page the bitmap may use */
	uint64_t at;       /* DW_SPLIT: the mapping's IOVA and length */
	uint64_t at_len;
};

/* The migration capability of a container with its IOMMU: kern_lock held. */
static int probe_dirty(struct iommufd_ioas *ioas, struct dirty_op *op)
{
	uint64_t align = 0;
	int r;

	if (!ioas->iommu_set) {
		op->why = DW_NO_IOMMU;
		return -EOPNOTSUPP;
	}
	r = get_info(ioas, &op->c, &align, false);
	free(op->c.ranges);
	op->c.ranges = NULL;
	if (r < 0) {
		op->why = DW_INFO;
		return r;
	}
	if (!op->c.mig || !op->c.mig_pgsizes) {
		op->why = DW_NO_CAP;
		return -EOPNOTSUPP;
	}
	op->pgsize = op->c.mig_pgsizes & -op->c.mig_pgsizes;
	return 0;
}

static void dirty_explain(struct iommufd_ioas *ioas, const struct dirty_op *op, const char *what, int r)
{
	struct iommufd_ctx *ctx = ioas->ctx;

	switch (op->why) {
	case DW_NONE:
		break;
	case DW_NO_IOMMU:
		ifd_err(ctx, "IOAS %u: %s: its container has no IOMMU yet (no device attached), so nothing can track "
			"dirty pages: attach a device first", ioas->id, what);
		break;
	case DW_NO_CAP:
		ifd_err(ctx, "IOAS %u: %s: this kernel's type1 has no dirty page tracking (no "
			"VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION; iommufd's compat container has none either): use the "
			"cdev backend with HWPTs created with IOMMUFD_HWPT_DIRTY_TRACKING", ioas->id, what);
		break;
	case DW_V1:
		ifd_err(ctx, "IOAS %u: %s: the container runs the type1 v1 IOMMU driver, which has no dirty page "
			"tracking (the kernel answers EACCES): it needs VFIO_TYPE1v2_IOMMU", ioas->id, what);
		break;
	case DW_INFO:
		ifd_err(ctx, "IOAS %u: %s: VFIO_IOMMU_GET_INFO failed or gave a malformed capability chain: %s",
			ioas->id, what, strerror(-r));
		break;
	case DW_PGSIZE:
		ifd_err(ctx, "IOAS %u: %s: the bitmap's page size must be a multiple of the container's smallest "
			"IOMMU page, 0x%llx", ioas->id, what, (unsigned long long)op->pgsize);
		break;
	case DW_SPLIT:
		ifd_err(ctx, "IOAS %u: %s: the range splits the mapping at IOVA 0x%llx (0x%llx bytes): type1 reads "
			"whole mappings only", ioas->id, what, (unsigned long long)op->at,
			(unsigned long long)op->at_len);
		break;
	case DW_TOO_BIG:
		ifd_err(ctx, "IOAS %u: %s: the mapping at IOVA 0x%llx (0x%llx bytes) needs more bitmap than the "
			"kernel fills in one call (%llu bytes)", ioas->id, what, (unsigned long long)op->at,
			(unsigned long long)op->at_len, (unsigned long long)op->c.mig_max_bitmap);
		break;
	case DW_IOCTL:
		ifd_err(ctx, "IOAS %u: %s failed: %s%s", ioas->id, what, strerror(-r),
			r == -EINVAL ? " (is dirty tracking started? iommufd_ioas_set_dirty_tracking())" : "");
		break;
	}
}

static int type1_set_dirty(struct iommufd_ioas *ioas, bool enable)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d),
		.flags = enable ? VFIO_IOMMU_DIRTY_PAGES_FLAG_START : VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
	};
	struct dirty_op op = { .why = DW_NONE };
	int r;

	ifd_rdlock(&ioas->kern_lock);
	r = probe_dirty(ioas, &op);
	if (r == 0) {
		r = ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_DIRTY_PAGES, &d);
		if (r == -EACCES || r == -ENOTTY) {
			op.why = r == -EACCES ? DW_V1 : DW_NO_CAP;
			r = -EOPNOTSUPP;
		} else if (r < 0) {
			op.why = DW_IOCTL;
		}
	}
	ifd_rdunlock(&ioas->kern_lock);
	if (r < 0 && r != -ECHILD)
		dirty_explain(ioas, &op, enable ? "VFIO_IOMMU_DIRTY_PAGES START" : "VFIO_IOMMU_DIRTY_PAGES STOP", r);
	return r;
}

/* A mapping the range [iova, last] would cut, for the kernel's rule. */
static bool splits(struct iommufd_ioas *ioas, uint64_t iova, uint64_t last, struct dirty_op *op)
{
	struct iommufd_map *m;
	bool cut = false;

	ifd_ioas_wlock(ioas);
	m = ifd_midx_find(ioas->idx, iova);
	if (m && m->kind == IFD_MAP_USER && m->iova != iova)
		cut = true;
	if (!cut) {
		m = ifd_midx_find(ioas->idx, last);
		cut = m && m->kind == IFD_MAP_USER && m->iova + (m->len - 1) != last;
	}
	if (cut) {
		op->at = m->iova;
		op->at_len = m->len;
		op->why = DW_SPLIT;
	}
	ifd_ioas_wunlock(ioas);
	return cut;
}

struct chunk {
	uint64_t iova, len;
};

/*
 * Pieces of [iova, last] of at most @max_bits pages each, cut only between
 * mappings (the kernel refuses a range that splits one); gaps with no
 * mapping need no read.  *out is malloc'ed.
 */
static int plan_chunks(struct iommufd_ioas *ioas, uint64_t iova, uint64_t last, uint64_t pgsize, uint64_t max_bits,
		       struct chunk **out, size_t *n)
{
	struct chunk *c = NULL;
	struct iommufd_map *m;
	size_t nc = 0, cap = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if ((last - iova) / pgsize < max_bits) {
		c = malloc(sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->iova = iova;
		c->len = last - iova + 1;
		*out = c;
		*n = 1;
		return 0;
	}
	ifd_ioas_wlock(ioas);
	for (m = ifd_midx_first(ioas->idx, iova, last); m; m = ifd_midx_next(ioas->idx, m, last)) {
		uint64_t m_last = m->iova + (m->len - 1);

		if (m->kind != IFD_MAP_USER)
			continue;
		if (nc && (m_last - c[nc - 1].iova) / pgsize < max_bits) {
			c[nc - 1].len = m_last - c[nc - 1].iova + 1;
			continue;
		}
		if (nc == cap) {
			struct chunk *g = realloc(c, (cap ? cap * 2 : 16) * sizeof(*c));

			if (!g) {
				r = -ENOMEM;
				break;
			}
			c = g;
			cap = cap ? cap * 2 : 16;
		}
		c[nc].iova = m->iova;
		c[nc].len = m->len;
		nc++;
	}
	ifd_ioas_wunlock(ioas);
	if (r < 0) {
		free(c);
		return r;
	}
	*out = c;
	*n = nc;
	return 0;
}

static int get_bitmap_raw(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t pgsize, uint64_t *buf,
			  uint64_t words)
{
	/* The fixed header, then the range: one argument, argsz covering both. */
	union {
		uint64_t align;
		uint8_t b[sizeof(struct vfio_iommu_type1_dirty_bitmap) +
			  sizeof(struct vfio_iommu_type1_dirty_bitmap_get)];
	} a;
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(a.b),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
	};
	struct vfio_iommu_type1_dirty_bitmap_get g = {
		.iova = iova,
		.size = len,
		.bitmap = { .pgsize = pgsize, .size = words * sizeof(uint64_t), .data = (__u64 *)buf },
	};

	memcpy(a.b, &d, sizeof(d));
	memcpy(a.b + sizeof(d), &g, sizeof(g));
	return ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_DIRTY_PAGES, a.b);
}

/* Set the caller's bit of every dirty IOMMU page of a chunk read at @pgsize. */
static void fold(uint64_t *bitmap, uint64_t iova, uint64_t page_size, const uint64_t *src, uint64_t chunk_iova,
		 uint64_t nbits, uint64_t pgsize)
{
	for (uint64_t w = 0; w < (nbits + 63) / 64; w++) {
		uint64_t v = src[w];

		if (w == nbits / 64)
			v &= (1ull << (nbits % 64)) - 1; /* the kernel's answer, bounded by the chunk */
		while (v) {
			uint64_t bit = w * 64 + (uint64_t)__builtin_ctzll(v);
			uint64_t page = (chunk_iova + bit * pgsize - iova) / page_size;

			bitmap[page / 64] |= 1ull << (page % 64);
			v &= v - 1;
		}
	}
}

static int type1_get_dirty(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t page_size,
			   uint64_t *bitmap, uint32_t flags)
{
	struct dirty_op op = { .why = DW_NONE };
	uint64_t last = iova + (len - 1), *buf = NULL, max_bits, buf_words = 0;
	struct chunk *ch = NULL;
	size_t nch = 0;
	int r;

	if (flags & IOMMUFD_DIRTY_NO_CLEAR) {
		ifd_err(ioas->ctx, "IOAS %u: the type1 backend cannot read dirty pages without clearing them "
			"(VFIO_IOMMU_DIRTY_PAGES always clears): read them with clearing", ioas->id);
		return -EOPNOTSUPP;
	}
	ifd_rdlock(&ioas->kern_lock);
	r = probe_dirty(ioas, &op);
	if (r == 0 && page_size < op.pgsize) {
		op.why = DW_PGSIZE;
		r = -EINVAL;
	}
	if (r == 0 && splits(ioas, iova, last, &op))
		r = -EINVAL;
	if (r < 0)
		goto out;
	/* Bits the kernel has no room for are not worth a call. */
	max_bits = op.c.mig_max_bitmap / sizeof(uint64_t) * 64;
	if (!max_bits || max_bits > DIRTY_CHUNK_BITS)
		max_bits = DIRTY_CHUNK_BITS;
	r = plan_chunks(ioas, iova, last, op.pgsize, max_bits, &ch, &nch);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < nch; i++) {
		uint64_t nbits = ch[i].len / op.pgsize, words = (nbits + 63) / 64;

		if (words > op.c.mig_max_bitmap / sizeof(uint64_t) && op.c.mig_max_bitmap) {
			op.why = DW_TOO_BIG;
			op.at = ch[i].iova;
			op.at_len = ch[i].len;
			r = -E2BIG;
			break;
		}
		if (words > buf_words) {
			free(buf);
			buf = malloc(words * sizeof(uint64_t));
			buf_words = buf ? words : 0;
			if (!buf) {
				r = -ENOMEM;
				break;
			}
		}
		/* The kernel ORs into a first word it shares with nothing. */
		memset(buf, 0, words * sizeof(uint64_t));
		r = get_bitmap_raw(ioas, ch[i].iova, ch[i].len, op.pgsize, buf, words);
		if (r < 0) {
			op.why = r == -ENOTTY ? DW_NO_CAP : DW_IOCTL;
			if (r == -ENOTTY)
				r = -EOPNOTSUPP;
			break;
		}
		if (i == 0)
			ifd_dirty_zero(bitmap, len, page_size);
		fold(bitmap, iova, page_size, buf, ch[i].iova, nbits, op.pgsize);
	}
	if (r == 0 && !nch)
		ifd_dirty_zero(bitmap, len, page_size);
out:
	ifd_rdunlock(&ioas->kern_lock);
	free(buf);
	free(ch);
	if (r < 0 && r != -ECHILD)
		dirty_explain(ioas, &op, "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP", r);
	return r;
}

static void set_status(struct iommufd_feature_status *st, uint32_t reason, const char *why)
{
	if (!st)
		return;
	st->reason = reason;
	snprintf(st->why, sizeof(st->why), "%s", why);
}

static int type1_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			       struct iommufd_feature_status *st)
{
	struct dirty_op op = { .why = DW_NONE };
	struct iommufd_ioas *ioas;
	int r;

	(void)ctx;
	switch (f) {
	case IOMMUFD_FEATURE_DIRTY_TRACKING:
		break;
	case IOMMUFD_FEATURE_IOMMUFD:
		set_status(st, IOMMUFD_REASON_BACKEND, "the type1 backend drives the legacy VFIO container, not "
			   "/dev/iommu: use a kernel with iommufd and VFIO_DEVICE_CDEV");
		return 0;
	case IOMMUFD_FEATURE_HW_INFO:
	case IOMMUFD_FEATURE_HWPT:
	case IOMMUFD_FEATURE_HWPT_REPLACE:
	case IOMMUFD_FEATURE_NEST_PARENT:
	case IOMMUFD_FEATURE_PASID:
	case IOMMUFD_FEATURE_FAULT_QUEUE:
	case IOMMUFD_FEATURE_DEVICE_ADOPT_ID:
	case IOMMUFD_FEATURE_HWPT_INVALIDATE:
	case IOMMUFD_FEATURE_VIOMMU:
	case IOMMUFD_FEATURE_VEVENTQ:
	case IOMMUFD_FEATURE_HW_QUEUE:
		set_status(st, IOMMUFD_REASON_BACKEND,
			   "the type1 backend has no HWPTs: use a kernel with iommufd and VFIO_DEVICE_CDEV");
		return 0;
	case IOMMUFD_FEATURE_IOAS_COPY:
	case IOMMUFD_FEATURE_MAP_FILE:
	case IOMMUFD_FEATURE_CHANGE_PROCESS:
		set_status(st, IOMMUFD_REASON_BACKEND, "the type1 backend has no such call (it is iommufd's): use "
			   "a kernel with iommufd and VFIO_DEVICE_CDEV");
		return 0;
	default:
		return -ENOSYS;
	}
	/* Dirty tracking is the container's IOMMU's: only a device has one. */
	ioas = dev ? dev->ioas : NULL;
	if (!ioas) {
		set_status(st, IOMMUFD_REASON_NEED_DEVICE, "type1 dirty tracking depends on the container's IOMMU: "
			   "ask with a device");
		return 0;
	}
	ifd_rdlock(&ioas->kern_lock);
	r = probe_dirty(ioas, &op);
	if (r == 0 && ifd_ioctl(ctx, ioas->container_fd, VFIO_CHECK_EXTENSION,
				(void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0) {
		op.why = DW_V1;
		r = -EOPNOTSUPP;
	}
	ifd_rdunlock(&ioas->kern_lock);
	if (r == 0) {
		set_status(st, IOMMUFD_REASON_NONE, "");
		return 1;
	}
	if (op.why == DW_NO_CAP) {
		set_status(st, IOMMUFD_REASON_KERNEL, "this kernel's type1 has no dirty page tracking (no "
			   "VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION)");
		return 0;
	}
	if (op.why == DW_V1) {
		set_status(st, IOMMUFD_REASON_BACKEND, "the container runs the type1 v1 IOMMU driver, which has no "
			   "dirty page tracking");
		return 0;
	}
	if (op.why == DW_NO_IOMMU) {
		set_status(st, IOMMUFD_REASON_NEED_DEVICE, "the device's container has no IOMMU yet");
		return 0;
	}
	return r; /* GET_INFO failed: no answer */
}

const struct ifd_backend_ops ifd_backend_type1 = {
	.kind = IOMMUFD_BACKEND_TYPE1,
	.ctx_open = type1_ctx_open,
	.ctx_set_pin_accounting = type1_set_pin_accounting,
	.ioas_alloc = type1_ioas_alloc,
	.ioas_free = type1_ioas_free,
	.ioas_query = type1_query,
	.map = type1_map,
	.unmap = type1_unmap,
	.unmap_all = type1_unmap_all,
	.copy = NULL,         /* no such ioctl: the caller maps the memory again */
	.allow_iovas = NULL,  /* the library's own rule */
	.set_huge_pages = NULL,
	.dev_open = type1_dev_open,
	.dev_attach = type1_dev_attach,
	.group_put = type1_group_put,
	.explain_enomem = type1_explain_enomem,
	.ioas_set_dirty = type1_set_dirty,
	.ioas_get_dirty = type1_get_dirty,
	.feature_query = type1_feature_query,
	.kvm_file = ifd_group_kvm_file,
};

/*
 * Is @ioas's container iommufd's compat container (IOMMUFD_VFIO_CONTAINER)
 * rather than VFIO's own?  The compat one is an iommufd: it knows iommufd's
 * commands and refuses a zero-sized argument with EINVAL, where VFIO's
 * container answers ENOTTY.  It matters where the two differ: the compat
 * container pins with pin_user_pages(), so a BAR's mmap cannot be mapped.
 */
bool ifd_type1_is_compat(struct iommufd_ioas *ioas)
{
	uint64_t arg[4] = { 0 };

	if (ioas->container_fd < 0)
		return false;
	return ifd_ioctl(ioas->ctx, ioas->container_fd, IFD_K_IOMMU_IOAS_ALLOC, arg) == -EINVAL;
}
