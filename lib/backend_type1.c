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

/*
 * Walk the capability chain of @info (@size bytes we own).  Each header is
 * copied out only once it fits; offsets must be 8-byte aligned (the
 * kernel's layout), past the fixed part, and strictly increasing, so a
 * malformed chain ends instead of looping or reading outside.
 */
static int walk_caps(const struct vfio_iommu_type1_info *info, size_t size, struct ifd_iova_range **ranges,
		     size_t *n)
{
	const uint8_t *buf = (const void *)info;
	struct vfio_info_cap_header hdr;
	size_t off = info->cap_offset;
	int r;

	while (off) {
		if (off < sizeof(*info) || off % 8 || off > size || size - off < sizeof(hdr))
			return -EPROTO;
		memcpy(&hdr, buf + off, sizeof(hdr));
		if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			r = read_iova_cap(buf, size, off, ranges, n);
			if (r < 0)
				return r;
		}
		if (hdr.next && hdr.next <= off)
			return -EPROTO;
		off = hdr.next;
	}
	return 0;
}

static int type1_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t argsz = sizeof(*info);
	int r;

	*ranges = calloc(1, sizeof(**ranges));
	if (!*ranges)
		return -ENOMEM;
	(*ranges)[0].start = 0;
	(*ranges)[0].last = UINT64_MAX;
	*n = 1;
	*align = (uint64_t)ctx->page_size;
	if (!__atomic_load_n(&ioas->iommu_set, __ATOMIC_ACQUIRE))
		return 0; /* no IOMMU yet: nothing limits the space */

	/* The kernel raises argsz to what the capability chain needs. */
	for (int tries = 0;; tries++) {
		info = calloc(1, argsz);
		if (!info) {
			r = -ENOMEM;
			goto out;
		}
		info->argsz = argsz;
		r = ifd_ioctl(ctx, ioas->container_fd, VFIO_IOMMU_GET_INFO, info);
		if (r < 0 || info->argsz <= argsz)
			break;
		if (info->argsz > MAX_INFO_SIZE || tries == 3) {
			ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO asks for an implausible %u bytes",
				info->argsz);
			r = -EPROTO;
			goto out;
		}
		argsz = info->argsz;
		free(info);
	}
	if (r < 0) {
		ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO failed: %s", strerror(-r));
		goto out;
	}
	if (info->flags & VFIO_IOMMU_INFO_PGSIZES && info->iova_pgsizes)
		*align = info->iova_pgsizes & -info->iova_pgsizes;
	if (info->flags & VFIO_IOMMU_INFO_CAPS)
		r = walk_caps(info, argsz, ranges, n);
	if (r == -EPROTO)
		ifd_err(ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO: malformed capability chain (cap_offset %u in "
			"%u bytes)", info->cap_offset, argsz);
out:
	free(info);
	if (r < 0) {
		free(*ranges);
		*ranges = NULL;
	}
	return r;
}

/* The raw calls: the caller holds kern_lock and knows the IOMMU is set. */
static int map_raw(struct iommufd_ioas *ioas, const struct iommufd_map *m)
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

static int unmap_raw(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint32_t flags, uint64_t *unmapped)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .flags = flags, .iova = iova, .size = len };
	int r = ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_UNMAP_DMA, &u);

	*unmapped = r < 0 ? 0 : u.size;
	return r < 0 ? r : 0;
}

/*
 * IFD_REC_DEFERRED on a record means "this record belongs in the container
 * whenever it has an IOMMU": set once type1_map accepted it (mapped, or
 * kept because no group had joined yet), never cleared by this backend.
 * The container loses every mapping with its last group, so the next first
 * attach replays exactly these records; a record whose map call has not
 * run yet lacks the mark and is left to that call, which then finds the
 * IOMMU set and maps it itself.  kern_lock orders the two.
 */
static void mark(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	ifd_ioas_wlock(ioas);
	m->state |= IFD_REC_DEFERRED;
	ifd_ioas_wunlock(ioas);
}

static int type1_map(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	int r = 0; /* no IOMMU yet: recorded, the first attach maps it */

	pthread_rwlock_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = map_raw(ioas, m);
	if (r == 0)
		mark(ioas, m);
	pthread_rwlock_unlock(&ioas->kern_lock);
	return r;
}

static int type1_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	int r = 0;

	pthread_rwlock_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = unmap_raw(ioas, iova, len, 0, unmapped);
	else
		*unmapped = len; /* records only: the caller passes whole mappings */
	pthread_rwlock_unlock(&ioas->kern_lock);
	return r;
}

static int type1_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	int r = 0;

	*unmapped = 0;
	pthread_rwlock_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = ioas->type1_unmap_all ? unmap_raw(ioas, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, unmapped) : -EOPNOTSUPP;
	pthread_rwlock_unlock(&ioas->kern_lock);
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
	return (m->state & IFD_REC_DEFERRED) && (m->state & ~IFD_REC_DEFERRED) != IFD_REC_UNMAPPING;
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
	pthread_rwlock_wrlock(&ioas->kern_lock);
	r = ifd_ioctl(ctx, ioas->container_fd, VFIO_SET_IOMMU, (void *)type);
	if (r < 0) {
		pthread_rwlock_unlock(&ioas->kern_lock);
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
	pthread_rwlock_unlock(&ioas->kern_lock);

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
 */
static void leave_container(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas, bool put)
{
	bool last = !other_groups(ctx, ioas, g);

	if (last)
		pthread_rwlock_wrlock(&ioas->kern_lock);
	if (put) {
		ifd_group_put(ctx, g); /* UNSET_CONTAINER, close */
	} else {
		ifd_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		g->in_container = false;
		g->ioas = NULL;
	}
	if (last) {
		__atomic_store_n(&ioas->iommu_set, false, __ATOMIC_RELEASE);
		pthread_rwlock_unlock(&ioas->kern_lock);
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
	r = ifd_group_get_device_fd(ctx, g, dev->name);
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
};
