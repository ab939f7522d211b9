/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend 3: the legacy VFIO container with the type1 IOMMU driver, one
 * container per IOAS.  A container cannot map until a group has joined it
 * and VFIO_SET_IOMMU has run, so mappings made before the first device are
 * recorded (ioas.c) and replayed here.  The same ioctls work on iommufd's
 * compat /dev/vfio/vfio.
 */
#include <fcntl.h>
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

static int type1_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct vfio_iommu_type1_info *info;
	struct vfio_info_cap_header *hdr;
	uint32_t argsz = sizeof(*info);
	int r;

	*ranges = calloc(1, sizeof(**ranges));
	if (!*ranges)
		return -ENOMEM;
	(*ranges)[0].start = 0;
	(*ranges)[0].last = UINT64_MAX;
	*n = 1;
	*align = (uint64_t)ioas->ctx->page_size;
	if (!__atomic_load_n(&ioas->iommu_set, __ATOMIC_ACQUIRE))
		return 0; /* no IOMMU yet: nothing limits the space */

	/* The kernel raises argsz to what the capability chain needs. */
	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		r = ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_GET_INFO, info);
		if (r < 0 || info->argsz <= argsz)
			break;
		argsz = info->argsz;
		free(info);
	}
	if (r < 0) {
		ifd_err(ioas->ctx, "/dev/vfio/vfio: VFIO_IOMMU_GET_INFO failed: %s", strerror(-r));
		goto out;
	}
	if (info->flags & VFIO_IOMMU_INFO_PGSIZES && info->iova_pgsizes)
		*align = info->iova_pgsizes & -info->iova_pgsizes;
	if (!(info->flags & VFIO_IOMMU_INFO_CAPS))
		goto out;
	for (uint32_t off = info->cap_offset; off && off + sizeof(*hdr) <= argsz; off = hdr->next) {
		hdr = (struct vfio_info_cap_header *)((char *)info + off);
		if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *c = (void *)hdr;
			struct ifd_iova_range *nr;

			if (off + sizeof(*c) + c->nr_iovas * sizeof(c->iova_ranges[0]) > argsz || !c->nr_iovas)
				break;
			nr = calloc(c->nr_iovas, sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				break;
			}
			for (uint32_t i = 0; i < c->nr_iovas; i++) {
				nr[i].start = c->iova_ranges[i].start;
				nr[i].last = c->iova_ranges[i].end; /* inclusive, despite the name */
			}
			free(*ranges);
			*ranges = nr;
			*n = c->nr_iovas;
		}
		if (hdr->next <= off)
			break; /* a malformed chain must not loop */
	}
out:
	free(info);
	if (r < 0) {
		free(*ranges);
		*ranges = NULL;
	}
	return r;
}

/* The raw calls: the caller holds kern_lock and knows the IOMMU is set. */
static int map_raw(struct iommufd_ioas *ioas, struct iommufd_map *rec)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.vaddr = rec->vaddr,
		.iova = rec->iova,
		.size = rec->len,
	};

	if (rec->flags & IOMMUFD_MAP_READ)
		m.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (rec->flags & IOMMUFD_MAP_WRITE)
		m.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	return ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_MAP_DMA, &m);
}

static int unmap_raw(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };
	int r = ifd_ioctl(ioas->ctx, ioas->container_fd, VFIO_IOMMU_UNMAP_DMA, &u);

	if (r == 0)
		*unmapped = u.size;
	return r < 0 ? r : 0;
}

static int type1_map(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	int r = 0;

	pthread_rwlock_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = map_raw(ioas, m);
	else
		m->state |= IFD_REC_DEFERRED; /* the first attach maps it */
	pthread_rwlock_unlock(&ioas->kern_lock);
	return r;
}

static int type1_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	int r = 0;

	pthread_rwlock_rdlock(&ioas->kern_lock);
	if (ioas->iommu_set)
		r = unmap_raw(ioas, iova, len, unmapped);
	else
		*unmapped = len; /* never reached the kernel, or left with the IOMMU */
	pthread_rwlock_unlock(&ioas->kern_lock);
	return r;
}

static int type1_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	(void)ioas;
	(void)unmapped;
	return -EOPNOTSUPP;
}

struct replay {
	struct iommufd_ioas *ioas;
	const struct ifd_iova_range *rg;
	size_t nr;
	struct iommufd_map *failed;
	int r;
};

/* Hold a record against the container's ranges first: MAP_DMA would
 * refuse one outside them with a bare -EINVAL, while the caller is owed
 * the same -ERANGE the iommufd backends give. */
static int replay_one(struct iommufd_map *m, void *arg)
{
	struct replay *rp = arg;
	bool inside = false;

	if (!(m->state & IFD_REC_DEFERRED) && m->state != IFD_REC_LIVE)
		return 0; /* its own map call is still to come and will see the IOMMU */
	for (size_t i = 0; i < rp->nr && !inside; i++)
		inside = m->iova >= rp->rg[i].start && m->iova + (m->len - 1) <= rp->rg[i].last;
	if (!inside) {
		rp->r = -ERANGE;
	} else {
		rp->r = map_raw(rp->ioas, m);
		if (rp->r == 0)
			m->state &= (uint8_t)~IFD_REC_DEFERRED;
	}
	if (rp->r < 0)
		rp->failed = m;
	return rp->r;
}

struct undo {
	struct iommufd_ioas *ioas;
	struct iommufd_map *stop;
};

static int undo_one(struct iommufd_map *m, void *arg)
{
	struct undo *u = arg;
	uint64_t got;

	if (m == u->stop)
		return 1;
	if (!(m->state & IFD_REC_DEFERRED) && m->state == IFD_REC_LIVE) {
		unmap_raw(u->ioas, m->iova, m->len, &got);
		m->state |= IFD_REC_DEFERRED;
	}
	return 0;
}

static int replay_checked(struct iommufd_ioas *ioas)
{
	struct ifd_iova_range *rg = NULL;
	struct replay rp = { .ioas = ioas };
	uint64_t align;
	int r;

	if (!ifd_midx_count(ioas->idx))
		return 0; /* nothing recorded: no need to ask */
	r = type1_query(ioas, &rg, &rp.nr, &align);
	if (r < 0)
		return r;
	rp.rg = rg;
	ifd_ioas_for_each_record(ioas, replay_one, &rp);
	free(rg);
	if (rp.r < 0) {
		struct undo u = { ioas, rp.failed };
		uint64_t at = rp.failed->iova, len = rp.failed->len;

		/* The attach fails: leave the container as empty as we found it. */
		ifd_ioas_for_each_record(ioas, undo_one, &u);
		if (rp.r == -ERANGE)
			ifd_err(ioas->ctx, "/dev/vfio/vfio: the mapping at IOVA 0x%llx lies outside the IOVA ranges "
				"the device allows (e.g. its MSI window 0xfee00000-0xfeefffff): unmap it first",
				(unsigned long long)at);
		else if (rp.r == -ENOMEM)
			ioas->ctx->ops->explain_enomem(ioas->ctx, "replaying the mappings made before the first device", len);
		else
			ifd_err(ioas->ctx, "/dev/vfio/vfio: replaying the mapping at IOVA 0x%llx failed: %s",
				(unsigned long long)at, strerror(-rp.r));
	}
	return rp.r;
}

/* Give the container its IOMMU and replay what was mapped before. */
static int set_iommu(struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	unsigned long type = VFIO_TYPE1v2_IOMMU;
	int r;

	if (ifd_ioctl(ctx, ioas->container_fd, VFIO_CHECK_EXTENSION, (void *)type) <= 0)
		type = VFIO_TYPE1_IOMMU;
	pthread_rwlock_wrlock(&ioas->kern_lock);
	pthread_mutex_lock(&ioas->wlock);
	r = ifd_ioctl(ctx, ioas->container_fd, VFIO_SET_IOMMU, (void *)type);
	if (r < 0) {
		ifd_err(ctx, "/dev/vfio/vfio: VFIO_SET_IOMMU type1%s failed: %s",
			type == VFIO_TYPE1v2_IOMMU ? "v2" : "", strerror(-r));
	} else {
		__atomic_store_n(&ioas->iommu_set, true, __ATOMIC_RELEASE);
		r = replay_checked(ioas);
		if (r < 0)
			__atomic_store_n(&ioas->iommu_set, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ioas->wlock);
	pthread_rwlock_unlock(&ioas->kern_lock);
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
		r = set_iommu(ioas);
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

/* type1 always charges the process that maps (its mm). */
static int type1_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	if (want == IOMMUFD_PIN_ACCOUNT_USER) {
		ifd_err(ctx, "/dev/vfio/vfio: the type1 container always charges pinned pages to the process; "
			"per-user accounting needs iommufd");
		return -EOPNOTSUPP;
	}
	ctx->pin_mode = IOMMUFD_PIN_ACCOUNT_PROCESS;
	return 0;
}

static void type1_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len)
{
	ifd_err(ctx, "%s: pinning %llu more bytes exceeds this process's RLIMIT_MEMLOCK (type1 charges the "
		"process): raise it (ulimit -l, or LimitMEMLOCK= in the service unit)", what, (unsigned long long)len);
}

const struct ifd_backend_ops ifd_backend_type1 = {
	.kind = IOMMUFD_BACKEND_TYPE1,
	.ctx_open = type1_ctx_open,
	.ioas_alloc = type1_ioas_alloc,
	.ioas_free = type1_ioas_free,
	.ioas_query = type1_query,
	.ctx_set_pin_accounting = type1_set_pin_accounting,
	.map = type1_map,
	.unmap = type1_unmap,
	.unmap_all = type1_unmap_all,
	.explain_enomem = type1_explain_enomem,
	.dev_open = type1_dev_open,
	.dev_attach = type1_dev_attach,
	.group_put = type1_group_put,
};
