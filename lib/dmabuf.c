/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Peer-to-peer DMA through another device's BAR: VFIO dma-buf export,
 * mapping a BAR slice into an IOAS, and what the library knows about the
 * exporter revoking it.
 *
 * The side state (which mappings are BARs, revoked or not) lives here,
 * not in the 64-byte map record: few mappings are BARs.  The dma-buf fd
 * itself stays with the file map (filemap.c keeps a duplicate for the
 * mapping's life and closes it with the mapping).
 * Its lock is a leaf: nothing else is taken and no message logged while
 * it is held.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/vfio.h>

#include "internal.h"
#include "kabi.h"

/* Events queued for iommufd_ctx_read_events(); more are dropped. */
#define P2P_EVENTS_MAX 64
/* Revocations one exporter call reports by name in the log. */
#define P2P_LOG_MAX 4

struct p2p_ent {
	struct p2p_ent *next;
	struct iommufd_ioas *ioas;
	uint64_t iova, len;
	struct iommufd_device *dev; /* the exporter; NULL once destroyed */
	char name[64];
	bool dmabuf;                /* false: the TYPE1 path (the BAR's mmap) */
	bool revoked;
};

struct ifd_p2p {
	pthread_mutex_t lock;
	struct p2p_ent *ents;
	struct iommufd_event q[P2P_EVENTS_MAX];
	unsigned int qhead, qlen;
	uint64_t dropped;
	/* Readable while @q has events: in the hotplug epoll set once the
	 * caller asked for the event fd. */
	int efd;
	bool in_epoll;
};

static bool ioas_ok(const struct iommufd_ioas *ioas)
{
	return ioas && ioas->state == IFD_ALIVE;
}

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

static struct ifd_p2p *p2p_of(const struct iommufd_ctx *ctx)
{
	return __atomic_load_n(&ctx->p2p, __ATOMIC_ACQUIRE);
}

/* Caller holds ctx->lock (the only writer of ctx->p2p). */
static int p2p_get(struct iommufd_ctx *ctx, struct ifd_p2p **out)
{
	struct ifd_p2p *p = ctx->p2p;
	int efd;

	if (!p) {
		efd = ctx->sys->eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd < 0)
			return -errno;
		p = calloc(1, sizeof(*p));
		if (!p) {
			ctx->sys->close(efd);
			return -ENOMEM;
		}
		pthread_mutex_init(&p->lock, NULL);
		p->efd = efd;
		__atomic_store_n(&ctx->p2p, p, __ATOMIC_RELEASE);
		ifd_p2p_hp_attach(ctx);
	}
	*out = p;
	return 0;
}

/* Where BAR @region's bytes [@offset, @offset + @len) are, after the
 * checks every P2P call shares. */
static int bar_check(struct iommufd_device *dev, unsigned int region, uint64_t offset, uint64_t len,
		     const struct ifd_region **out)
{
	const struct ifd_region *rg;
	uint64_t psz;

	if (!dev_ok(dev) || region > IOMMUFD_REGION_BAR5 || region >= dev->num_regions || !len)
		return -EINVAL;
	psz = (uint64_t)dev->ctx->page_size;
	rg = &dev->regions[region];
	if ((offset | len) & (psz - 1))
		return -EINVAL;
	if (offset > rg->size || len > rg->size - offset) {
		ifd_err(dev->ctx, "%s: BAR %u slice 0x%llx+0x%llx lies outside the BAR (0x%llx bytes)", dev->name,
			region, (unsigned long long)offset, (unsigned long long)len, (unsigned long long)rg->size);
		return -EINVAL;
	}
	*out = rg;
	return 0;
}

/* The header of VFIO_DEVICE_FEATURE, the dma-buf request and one range,
 * back to back as the kernel reads them. */
union dmabuf_req {
	struct {
		uint32_t argsz;
		uint32_t flags;
		struct ifd_k_vfio_device_feature_dma_buf db;
		struct ifd_k_vfio_region_dma_range range;
	} s;
	uint64_t align;
};

_Static_assert(offsetof(struct vfio_device_feature, data) == 8, "VFIO_DEVICE_FEATURE header");

static int do_export(struct iommufd_device *dev, unsigned int region, uint64_t offset, uint64_t len)
{
	union dmabuf_req req;
	int r;

	memset(&req, 0, sizeof(req));
	req.s.argsz = sizeof(req.s);
	req.s.flags = VFIO_DEVICE_FEATURE_GET | IFD_K_VFIO_DEVICE_FEATURE_DMA_BUF;
	req.s.db.region_index = region;
	req.s.db.open_flags = O_CLOEXEC | O_RDWR;
	req.s.db.nr_ranges = 1;
	req.s.range.offset = offset;
	req.s.range.length = len;
	r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_FEATURE, &req);
	if (r >= 0)
		return r;
	if (r == -ENOTTY)
		ifd_err(dev->ctx, "%s: the kernel cannot export BARs as dma-bufs (VFIO_DEVICE_FEATURE_DMA_BUF: "
			"Linux 7.0+ with CONFIG_VFIO_PCI_DMABUF, which needs PCI_P2PDMA)", dev->name);
	else if (r == -EOPNOTSUPP)
		ifd_err(dev->ctx, "%s: its VFIO driver does not export dma-bufs (vfio-pci does)", dev->name);
	else if (r == -ENODEV)
		ifd_err(dev->ctx, "%s: BAR %u is not claimed by the VFIO driver (or the device is going away)",
			dev->name, region);
	else
		ifd_err(dev->ctx, "%s: exporting BAR %u 0x%llx+0x%llx as a dma-buf: %s", dev->name, region,
			(unsigned long long)offset, (unsigned long long)len, strerror(-r));
	return r == -ENOTTY ? -EOPNOTSUPP : r;
}

IFD_EXPORT int iommufd_device_export_dmabuf(struct iommufd_device *dev, unsigned int region, uint64_t offset,
					    uint64_t len, int *fd)
{
	const struct ifd_region *rg;
	int r;

	if (!fd)
		return ifd_ret(-EINVAL);
	r = bar_check(dev, region, offset, len, &rg);
	if (r < 0)
		return ifd_ret(r);
	if (dev->fd < 0) {
		ifd_err(dev->ctx, "%s: adopted by ID without its VFIO fd: nothing to export from", dev->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	r = do_export(dev, region, offset, len);
	if (r < 0)
		return ifd_ret(r);
	*fd = r;
	return 0;
}

int ifd_dev_dmabuf_probe(struct iommufd_device *dev)
{
	struct vfio_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | IFD_K_VFIO_DEVICE_FEATURE_DMA_BUF,
	};
	int r;

	if (dev->fd < 0)
		return 0;
	r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_FEATURE, &f);
	if (r == 0)
		return 1;
	/* ENOTTY: no such feature in the kernel; EOPNOTSUPP: not this driver. */
	return r == -ENOTTY || r == -EOPNOTSUPP || r == -EINVAL ? 0 : r;
}

int ifd_p2p_track(struct iommufd_ioas *ioas, struct iommufd_device *dev, uint64_t iova, uint64_t len, bool dmabuf)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct p2p_ent *e = calloc(1, sizeof(*e));
	struct ifd_p2p *p = NULL;
	int r;

	if (!e)
		return -ENOMEM;
	ifd_ctx_lock(ctx);
	r = p2p_get(ctx, &p);
	ifd_ctx_unlock(ctx);
	if (r < 0) {
		free(e);
		return r;
	}
	e->ioas = ioas;
	e->iova = iova;
	e->len = len;
	e->dev = dev;
	snprintf(e->name, sizeof(e->name), "%s", dev->name);
	e->dmabuf = dmabuf;
	pthread_mutex_lock(&p->lock);
	e->next = p->ents;
	p->ents = e;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

IFD_EXPORT int iommufd_ioas_map_bar(struct iommufd_ioas *ioas, struct iommufd_device *bar_dev, unsigned int region,
				    uint64_t offset, uint64_t len, uint32_t flags, const struct iommufd_map_opts *opts,
				    uint64_t *iova)
{
	const struct ifd_region *rg;
	struct iommufd_ctx *ctx;
	uint64_t at = 0;
	int r, fd;

	if (!ioas_ok(ioas) || !iova || !dev_ok(bar_dev) || bar_dev->ctx != ioas->ctx)
		return ifd_ret(-EINVAL);
	ctx = ioas->ctx;
	r = bar_check(bar_dev, region, offset, len, &rg);
	if (r < 0)
		return ifd_ret(r);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (bar_dev->fd < 0) {
		ifd_err(ctx, "%s: adopted by ID without its VFIO fd: its BARs cannot be mapped", bar_dev->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	if (ctx->ops->bar_dmabuf) {
		/* An iommufd backend: iommufd pins with pin_user_pages(),
		 * which refuses a BAR's PFNMAP mmap, so a dma-buf is the only
		 * way in. */
		fd = do_export(bar_dev, region, offset, len);
		if (fd == -EOPNOTSUPP)
			ifd_err(ctx, "%s: iommufd maps device memory only through a dma-buf, which this kernel or "
				"driver cannot export; use the type1 backend for P2P here", bar_dev->name);
		if (fd < 0)
			return ifd_ret(fd);
		r = ifd_ioas_map_fd(ioas, fd, 0, len, flags, opts, &at, false);
		if (r < 0) {
			ifd_close(ctx, fd);
			if (r == -ENODEV)
				ifd_err(ctx, "%s: BAR %u's dma-buf is revoked (memory decode off, or a reset or "
					"power transition in progress): enable it and map again", bar_dev->name,
					region);
			return ifd_ret(r);
		}
	} else {
		/* VFIO's type1 maps what a VM_PFNMAP mmap of the BAR points
		 * at: the library's shared mapping of the device fd. */
		if (!(rg->flags & VFIO_REGION_INFO_FLAG_MMAP) || rg->sparse) {
			ifd_err(ctx, "%s: BAR %u cannot be mmapped as a whole, which the type1 path needs",
				bar_dev->name, region);
			return ifd_ret(-EOPNOTSUPP);
		}
		fd = -1;
		r = ifd_ioas_map_fd(ioas, bar_dev->fd, rg->offset + offset, len, flags, opts, &at, true);
		if (r == -EFAULT && ifd_type1_is_compat(ioas)) {
			ifd_err(ctx, "%s: /dev/vfio/vfio is iommufd's compat container, which cannot map device "
				"memory (it pins with pin_user_pages); use the cdev or group backend, which "
				"maps the BAR as a dma-buf", bar_dev->name);
			r = -EOPNOTSUPP;
		}
		if (r < 0)
			return ifd_ret(r);
	}
	/* The file map keeps its own duplicate of the dma-buf fd for the
	 * mapping's life and closes it with the mapping. */
	if (fd >= 0)
		ifd_close(ctx, fd);
	r = ifd_p2p_track(ioas, bar_dev, at, len, fd >= 0);
	if (r < 0) {
		/* Without its entry the mapping could not be told apart:
		 * undo it rather than hand out a half-tracked one. */
		iommufd_ioas_unmap(ioas, at, len, NULL);
		return ifd_ret(r);
	}
	ifd_dbg(ctx, "IOAS %u: %s BAR %u 0x%llx+0x%llx mapped at IOVA 0x%llx (%s)", ioas->id, bar_dev->name, region,
		(unsigned long long)offset, (unsigned long long)len, (unsigned long long)at,
		fd >= 0 ? "dma-buf" : "mmap");
	*iova = at;
	return 0;
}

IFD_EXPORT int iommufd_ioas_bar_revoked(struct iommufd_ioas *ioas, uint64_t iova)
{
	struct ifd_p2p *p;
	struct p2p_ent *e;
	int r = -ENOENT;

	if (!ioas_ok(ioas))
		return ifd_ret(-EINVAL);
	p = p2p_of(ioas->ctx);
	if (!p)
		return ifd_ret(-ENOENT);
	pthread_mutex_lock(&p->lock);
	for (e = p->ents; e; e = e->next)
		if (e->ioas == ioas && iova >= e->iova && iova - e->iova < e->len)
			r = e->revoked;
	pthread_mutex_unlock(&p->lock);
	return ifd_ret(r);
}

/* Unlink the entries @match selects into a list the caller frees (closing
 * their fds) after dropping the lock. */
static struct p2p_ent *take(struct ifd_p2p *p, bool (*match)(const struct p2p_ent *e, const void *arg),
			    const void *arg)
{
	struct p2p_ent **pp = &p->ents, *gone = NULL, *e;

	while ((e = *pp)) {
		if (match(e, arg)) {
			*pp = e->next;
			e->next = gone;
			gone = e;
		} else {
			pp = &e->next;
		}
	}
	return gone;
}

static void free_ents(struct p2p_ent *e)
{
	while (e) {
		struct p2p_ent *next = e->next;

		free(e);
		e = next;
	}
}

struct span {
	const struct iommufd_ioas *ioas;
	uint64_t iova, len;
};

static bool match_span(const struct p2p_ent *e, const void *arg)
{
	const struct span *s = arg;

	return e->ioas == s->ioas && e->iova == s->iova && e->len == s->len;
}

void ifd_p2p_retire_slow(struct iommufd_ioas *ioas, const struct iommufd_map *m)
{
	struct ifd_p2p *p = p2p_of(ioas->ctx);
	struct span s = { ioas, m->iova, m->len };
	struct p2p_ent *gone;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	gone = take(p, match_span, &s);
	pthread_mutex_unlock(&p->lock);
	free_ents(gone);
}

static bool match_ioas(const struct p2p_ent *e, const void *arg)
{
	return e->ioas == arg;
}

void ifd_p2p_ioas_gone(struct iommufd_ioas *ioas)
{
	struct ifd_p2p *p = p2p_of(ioas->ctx);
	struct p2p_ent *gone;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	gone = take(p, match_ioas, ioas);
	pthread_mutex_unlock(&p->lock);
	free_ents(gone);
}

static void queue_event(struct ifd_p2p *p, const struct p2p_ent *e)
{
	struct iommufd_event *ev;

	if (p->qlen == P2P_EVENTS_MAX) {
		p->dropped++;
		return;
	}
	ev = &p->q[(p->qhead + p->qlen) % P2P_EVENTS_MAX];
	memset(ev, 0, sizeof(*ev));
	ev->kind = IOMMUFD_EVENT_P2P_REVOKED;
	ev->count = 1;
	ev->dev = e->dev;
	snprintf(ev->name, sizeof(ev->name), "%s", e->name);
	ev->ioas = e->ioas;
	ev->iova = e->iova;
	ev->len = e->len;
	p->qlen++;
}

void ifd_p2p_exporter_event(struct iommufd_device *dev, const char *why, bool gone)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_p2p *p = p2p_of(ctx);
	struct { uint32_t ioas; uint64_t iova, len; } said[P2P_LOG_MAX];
	unsigned int n = 0, nsaid = 0;
	uint64_t one = 1;
	struct p2p_ent *e;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (e = p->ents; e; e = e->next) {
		if (e->dev != dev)
			continue;
		if (gone)
			e->dev = NULL;
		/* The TYPE1 path's IOMMU entries stay: nothing is revoked. */
		if (e->revoked || !e->dmabuf)
			continue;
		e->revoked = true;
		queue_event(p, e);
		if (nsaid < P2P_LOG_MAX) {
			said[nsaid].ioas = e->ioas->id;
			said[nsaid].iova = e->iova;
			said[nsaid].len = e->len;
			nsaid++;
		}
		n++;
	}
	/* Events already queued keep their handle only while it lives. */
	if (gone)
		for (unsigned int i = 0; i < p->qlen; i++)
			if (p->q[(p->qhead + i) % P2P_EVENTS_MAX].dev == dev)
				p->q[(p->qhead + i) % P2P_EVENTS_MAX].dev = NULL;
	pthread_mutex_unlock(&p->lock);
	if (!n)
		return;
	if (ctx->sys->write(p->efd, &one, sizeof(one)) < 0)
		ifd_dbg(ctx, "P2P event eventfd: %s", strerror(errno));
	for (unsigned int i = 0; i < nsaid; i++)
		ifd_warn(ctx, "%s: %s revoked its BAR mapping at IOVA 0x%llx+0x%llx of IOAS %u: DMA there faults "
			 "now; unmap it (and map again once the device is usable)", dev->name, why,
			 (unsigned long long)said[i].iova, (unsigned long long)said[i].len, said[i].ioas);
	if (n > nsaid)
		ifd_warn(ctx, "%s: %s revoked %u more BAR mapping(s)", dev->name, why, n - nsaid);
}

/* Caller holds ctx->lock (hp_setup or p2p_get). */
void ifd_p2p_hp_attach(struct iommufd_ctx *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = IFD_P2P_EVENT_TAG };
	struct ifd_p2p *p = ctx->p2p;

	if (!p || !ctx->hp || p->in_epoll)
		return;
	if (ctx->sys->epoll_ctl(ifd_hotplug_epfd(ctx), EPOLL_CTL_ADD, p->efd, &ev) < 0) {
		ifd_warn(ctx, "adding the P2P revocation eventfd to the event fd: %s; P2P_REVOKED is still "
			 "readable but does not wake the event fd", strerror(errno));
		return;
	}
	p->in_epoll = true;
}

/* Caller holds ctx->lock. */
int ifd_p2p_read_events(struct iommufd_ctx *ctx, struct iommufd_event *ev, size_t max)
{
	struct ifd_p2p *p = ctx->p2p;
	uint64_t cnt, dropped;
	size_t n = 0;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	while (n < max && p->qlen) {
		ev[n++] = p->q[p->qhead];
		p->qhead = (p->qhead + 1) % P2P_EVENTS_MAX;
		p->qlen--;
	}
	dropped = p->dropped;
	p->dropped = 0;
	/* Level-triggered: drained only once the queue is empty. */
	if (!p->qlen)
		ctx->sys->read(p->efd, &cnt, sizeof(cnt));
	pthread_mutex_unlock(&p->lock);
	if (dropped)
		ifd_warn(ctx, "%llu P2P_REVOKED event(s) dropped (more than %u waited): "
			 "iommufd_ioas_bar_revoked() still tells", (unsigned long long)dropped, P2P_EVENTS_MAX);
	return (int)n;
}

void ifd_p2p_free(struct iommufd_ctx *ctx)
{
	struct ifd_p2p *p = ctx->p2p;

	if (!p)
		return;
	free_ents(p->ents);
	ifd_close(ctx, p->efd);
	pthread_mutex_destroy(&p->lock);
	free(p);
	ctx->p2p = NULL;
}

