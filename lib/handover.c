/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Live update: a context described for another process (export), rebuilt
 * there from the description and the fds that came with it (import).
 * The kernel objects never change hands: both processes hold the same
 * iommufd, so the importer only builds handles around existing IDs, and
 * the exporter's context stops reaching the kernel (the fork rule) so that
 * its exit or destroy leaves them alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "handover.h"
#include "kabi.h"

_Static_assert(sizeof(struct ifd_ho_hdr) == 56, "description header");
_Static_assert(sizeof(struct ifd_ho_ioas) == 8, "IOAS entry");
_Static_assert(sizeof(struct ifd_ho_dev) == 80, "device entry");
_Static_assert(sizeof(struct ifd_ho_map) == 40, "map entry");
#define FD_SLOTS (1 + 2 * IFD_HO_MAX_DEVS + IFD_HO_MAX_MAPS)

/* ------------------------------------------------------------------------ */
/* The parser: the blob is untrusted.                                       */

void ifd_ho_get_ioas(const struct ifd_ho *h, uint32_t i, struct ifd_ho_ioas *out)
{
	memcpy(out, h->ioas + (size_t)i * sizeof(*out), sizeof(*out));
}

void ifd_ho_get_dev(const struct ifd_ho *h, uint32_t i, struct ifd_ho_dev *out)
{
	memcpy(out, h->dev + (size_t)i * sizeof(*out), sizeof(*out));
}

void ifd_ho_get_map(const struct ifd_ho *h, uint32_t i, struct ifd_ho_map *out)
{
	memcpy(out, h->map + (size_t)i * sizeof(*out), sizeof(*out));
}

#define BAD(...)                                          \
	do {                                              \
		snprintf(why, whylen, __VA_ARGS__);       \
		return -EINVAL;                           \
	} while (0)

/* Each fd of the array is used by exactly one entry (fd 0: the iommufd). */
static bool take_fd(uint8_t *used, uint32_t idx, uint32_t nfds)
{
	if (idx == 0 || idx >= nfds || used[idx])
		return false;
	used[idx] = 1;
	return true;
}

int ifd_ho_parse(const void *blob, size_t len, size_t nfds, uint64_t page, struct ifd_ho *out, char *why,
		 size_t whylen)
{
	const unsigned char *b = blob;
	struct ifd_ho_hdr h;
	uint8_t used[FD_SLOTS] = { 0 };
	uint64_t need;
	uint32_t per_dev;

	if (!blob || len < sizeof(h))
		BAD("%zu bytes: shorter than the header (%zu)", len, sizeof(h));
	memcpy(&h, b, sizeof(h));
	if (memcmp(h.magic, IFD_HO_MAGIC, sizeof(h.magic)))
		BAD("not a libiommufd context description (magic)");
	if (h.version != IFD_HO_VERSION)
		BAD("description version %u; this library reads version %u", h.version, IFD_HO_VERSION);
	if (h.hdr_size != sizeof(h))
		BAD("header size %u, expected %zu", h.hdr_size, sizeof(h));
	for (size_t i = 0; i < sizeof(h.reserved) / sizeof(h.reserved[0]); i++)
		if (h.reserved[i])
			BAD("header reserved word %zu is not zero", i);
	if (h.total_len != len)
		BAD("header says %u bytes, %zu arrived", h.total_len, len);
	if (h.backend != IOMMUFD_BACKEND_CDEV && h.backend != IOMMUFD_BACKEND_GROUP)
		BAD("backend %u cannot be handed over", h.backend);
	if (h.nioas > IFD_HO_MAX_IOAS || h.ndev > IFD_HO_MAX_DEVS || h.nmaps > IFD_HO_MAX_MAPS)
		BAD("counts %u IOAS, %u devices, %u maps exceed the limits %u, %u, %u", h.nioas, h.ndev, h.nmaps,
		    IFD_HO_MAX_IOAS, IFD_HO_MAX_DEVS, IFD_HO_MAX_MAPS);
	per_dev = h.backend == IOMMUFD_BACKEND_GROUP ? 2 : 1;
	if (h.nfds != 1u + per_dev * h.ndev + h.nmaps)
		BAD("%u fds for %u devices and %u maps (needs %u)", h.nfds, h.ndev, h.nmaps,
		    1u + per_dev * h.ndev + h.nmaps);
	if (h.nfds != nfds)
		BAD("the description names %u fds, %zu arrived", h.nfds, nfds);
	need = sizeof(h) + (uint64_t)h.nioas * sizeof(struct ifd_ho_ioas) +
	       (uint64_t)h.ndev * sizeof(struct ifd_ho_dev) + (uint64_t)h.nmaps * sizeof(struct ifd_ho_map);
	if (need != len)
		BAD("%zu bytes for %u IOAS, %u devices, %u maps (needs %llu)", len, h.nioas, h.ndev, h.nmaps,
		    (unsigned long long)need);
	if (!page || (page & (page - 1)))
		BAD("page size %llu", (unsigned long long)page);
	out->hdr = h;
	out->ioas = b + sizeof(h);
	out->dev = out->ioas + (size_t)h.nioas * sizeof(struct ifd_ho_ioas);
	out->map = out->dev + (size_t)h.ndev * sizeof(struct ifd_ho_dev);

	for (uint32_t i = 0; i < h.nioas; i++) {
		struct ifd_ho_ioas a, c;

		ifd_ho_get_ioas(out, i, &a);
		if (!a.id || a.reserved)
			BAD("IOAS %u: ID %u, reserved %u", i, a.id, a.reserved);
		for (uint32_t j = 0; j < i; j++) {
			ifd_ho_get_ioas(out, j, &c);
			if (c.id == a.id)
				BAD("IOAS %u and %u share ID %u", j, i, a.id);
		}
	}
	for (uint32_t i = 0; i < h.ndev; i++) {
		struct ifd_ho_dev d, e;

		ifd_ho_get_dev(out, i, &d);
		if (!memchr(d.name, 0, sizeof(d.name)) || !(ifd_is_bdf(d.name) || ifd_is_uuid(d.name)))
			BAD("device %u: the name is not a PCI address or mdev UUID", i);
		/* CDEV devices are adopted by ID; GROUP ones through their group. */
		if (per_dev == 1 ? (!d.devid || d.group_fd_idx) : (d.devid || !take_fd(used, d.group_fd_idx, h.nfds)))
			BAD("device %u (%s): device ID %u, group fd index %u do not fit the %s backend", i, d.name,
			    d.devid, d.group_fd_idx, per_dev == 1 ? "cdev" : "group");
		if (d.ioas_idx >= h.nioas)
			BAD("device %u (%s): IOAS index %u of %u", i, d.name, d.ioas_idx, h.nioas);
		if (!take_fd(used, d.fd_idx, h.nfds))
			BAD("device %u (%s): fd index %u is out of range or used twice", i, d.name, d.fd_idx);
		for (uint32_t j = 0; j < i; j++) {
			ifd_ho_get_dev(out, j, &e);
			if (!strcmp(e.name, d.name) || (d.devid && e.devid == d.devid))
				BAD("devices %u and %u share a name or device ID", j, i);
		}
	}
	for (uint32_t i = 0; i < h.nmaps; i++) {
		struct ifd_ho_map m;

		ifd_ho_get_map(out, i, &m);
		if (m.ioas_idx >= h.nioas)
			BAD("map %u: IOAS index %u of %u", i, m.ioas_idx, h.nioas);
		if (!m.flags || (m.flags & ~(uint32_t)(IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)) || m.reserved)
			BAD("map %u: flags 0x%x, reserved %u", i, m.flags, m.reserved);
		if (!m.len || ((m.iova | m.len | m.offset) & (page - 1)) || m.iova + (m.len - 1) < m.iova ||
		    m.offset + (m.len - 1) < m.offset || m.len > SIZE_MAX)
			BAD("map %u: IOVA 0x%llx, length 0x%llx, offset 0x%llx: unaligned, empty or overflowing", i,
			    (unsigned long long)m.iova, (unsigned long long)m.len, (unsigned long long)m.offset);
		if (!take_fd(used, m.fd_idx, h.nfds))
			BAD("map %u: fd index %u is out of range or used twice", i, m.fd_idx);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Export                                                                   */

/* After a hand-over the context obeys the fork rule: it never reaches the
 * kernel objects again, which now belong to the importer. */
static void mark_handed_over(struct iommufd_ctx *ctx)
{
	if (ctx->fork_page)
		__atomic_store_n(ctx->fork_page, 0, __ATOMIC_RELAXED);
	ctx->pid = 0; /* no process has it */
}

struct walk {
	struct iommufd_ioas *ioas;
	uint32_t ioas_idx;
	uint32_t n;        /* maps seen */
	uint32_t next_fd;  /* fd index of the next map */
	struct ifd_ho_map *out; /* NULL: count only */
	int *fds;
	int r;
	uint64_t bad_iova;
};

static int walk_map(struct iommufd_map *m, void *arg)
{
	struct walk *w = arg;
	struct ifd_filemap_ent *e;

	w->bad_iova = m->iova;
	if (m->state != IFD_REC_LIVE)
		return w->r = -EBUSY;
	if (!(m->flags & IFD_MAPF_FILE))
		return w->r = m->vaddr ? -EINVAL : -EOPNOTSUPP; /* process memory; an IOAS copy */
	e = ifd_filemap_find(w->ioas, m);
	if (!e || e->mm)
		return w->r = -EOPNOTSUPP;
	if (w->out) {
		struct ifd_ho_map *o = &w->out[w->n];

		memset(o, 0, sizeof(*o));
		o->ioas_idx = w->ioas_idx;
		o->flags = m->flags & (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE);
		o->iova = m->iova;
		o->len = m->len;
		o->offset = e->offset;
		o->fd_idx = w->next_fd;
		w->fds[w->next_fd] = e->fd;
	}
	w->n++;
	w->next_fd++;
	return 0;
}

static const char *export_why(int r)
{
	switch (r) {
	case -EBUSY: return "a mapping is being made or removed";
	case -EINVAL: return "it maps process memory, which cannot move: map files (iommufd_ioas_map_file)";
	default: return "it was made by iommufd_ioas_copy() or through the library's own mmap, and cannot be "
			"described yet";
	}
}

/* Under ctx->lock: count (@out NULL) or write the maps; 0 or the refusal. */
static int walk_all(struct iommufd_ctx *ctx, struct walk *w, struct ifd_ho_map *out, int *fds, uint32_t first_fd,
		    uint32_t *nmaps, uint32_t *bad_ioas)
{
	struct ifd_list *pos;
	uint32_t idx = 0, total = 0;

	ifd_list_for_each(pos, &ctx->ioas_list) {
		struct iommufd_ioas *ioas = ifd_container_of(pos, struct iommufd_ioas, link);

		memset(w, 0, sizeof(*w));
		w->ioas = ioas;
		w->ioas_idx = idx++;
		w->out = out ? out + total : NULL;
		w->fds = fds;
		w->next_fd = first_fd + total;
		ifd_ioas_wlock(ioas);
		ifd_ioas_for_each_record(ioas, walk_map, w);
		ifd_ioas_wunlock(ioas);
		if (w->r) {
			*bad_ioas = ioas->id;
			return w->r;
		}
		total += w->n;
		if (total > IFD_HO_MAX_MAPS)
			return -E2BIG;
	}
	*nmaps = total;
	return 0;
}

static int export_locked(struct iommufd_ctx *ctx, void *blob, size_t *len, int *fds, size_t *nfds)
{
	struct ifd_ho_hdr h;
	struct ifd_list *pos;
	struct walk w;
	uint32_t nioas = 0, ndev = 0, nmaps = 0, nmaps2 = 0, bad_ioas = 0, next_fd = 1, per_dev;
	unsigned char *p;
	size_t need, needfds;
	int r;

	if (!ifd_list_empty(&ctx->hwpt_list) || !ifd_list_empty(&ctx->fault_list)) {
		ifd_err(ctx, "export: the context has explicit HWPTs or fault queues, which cannot be described "
			"yet: destroy them first");
		return -EOPNOTSUPP;
	}
	ifd_list_for_each(pos, &ctx->ioas_list)
		nioas++;
	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *d = ifd_container_of(pos, struct iommufd_device, link);

		if (!(d->has_devid || d->group) || d->fd < 0 || d->hwpt || d->npasids || !d->ioas) {
			ifd_err(ctx, "export: %s cannot be described: %s", d->name,
				!(d->has_devid || d->group) ? "it has neither an iommufd device ID nor a group" :
				d->fd < 0 ? "it was adopted without its VFIO fd" :
				!d->ioas ? "it is detached: attach it to an IOAS" :
				"it is attached to an HWPT or has PASID attachments");
			return -EOPNOTSUPP;
		}
		ndev++;
	}
	if (ndev > IFD_HO_MAX_DEVS)
		return -E2BIG;
	r = walk_all(ctx, &w, NULL, NULL, 0, &nmaps, &bad_ioas);
	if (r == -E2BIG)
		return r;
	if (r < 0) {
		ifd_err(ctx, "export: IOAS %u, the mapping at IOVA 0x%llx: %s", bad_ioas,
			(unsigned long long)w.bad_iova, export_why(r));
		return r;
	}
	per_dev = ctx->backend == IOMMUFD_BACKEND_GROUP ? 2 : 1;
	need = sizeof(h) + nioas * sizeof(struct ifd_ho_ioas) + ndev * sizeof(struct ifd_ho_dev) +
	       nmaps * sizeof(struct ifd_ho_map);
	needfds = 1 + (size_t)per_dev * ndev + nmaps;
	if (needfds > IOMMUFD_EXPORT_MAX_FDS) {
		ifd_err(ctx, "export: %zu fds to hand over; one SCM_RIGHTS message carries %u", needfds,
			IOMMUFD_EXPORT_MAX_FDS);
		return -E2BIG;
	}
	if (!blob || *len < need || !fds || *nfds < needfds) {
		*len = need;
		*nfds = needfds;
		return -ENOSPC;
	}

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, IFD_HO_MAGIC, sizeof(h.magic));
	h.version = IFD_HO_VERSION;
	h.hdr_size = sizeof(h);
	h.total_len = (uint32_t)need;
	h.backend = ctx->backend;
	h.nioas = nioas;
	h.ndev = ndev;
	h.nmaps = nmaps;
	h.nfds = (uint32_t)needfds;
	p = blob;
	memset(p, 0, need);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	fds[0] = ctx->fd;
	ifd_list_for_each(pos, &ctx->ioas_list) {
		struct ifd_ho_ioas a = { .id = ifd_container_of(pos, struct iommufd_ioas, link)->id };

		memcpy(p, &a, sizeof(a));
		p += sizeof(a);
	}
	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *d = ifd_container_of(pos, struct iommufd_device, link);
		struct ifd_ho_dev e = { .devid = per_dev == 1 ? d->devid : 0, .fd_idx = next_fd };
		struct ifd_list *q;
		uint32_t k = 0;

		snprintf(e.name, sizeof(e.name), "%s", d->name);
		ifd_list_for_each(q, &ctx->ioas_list) {
			if (ifd_container_of(q, struct iommufd_ioas, link) == d->ioas)
				break;
			k++;
		}
		e.ioas_idx = k;
		fds[next_fd++] = d->fd;
		if (per_dev == 2) {
			/* Each device carries its group's fd: the receiver keeps one per group. */
			e.group_fd_idx = next_fd;
			fds[next_fd++] = d->group->fd;
		}
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	{
		/* The maps straight into the blob's tail, through an aligned copy. */
		struct ifd_ho_map *tmp = calloc(nmaps ? nmaps : 1, sizeof(*tmp));

		if (!tmp)
			return -ENOMEM;
		r = walk_all(ctx, &w, tmp, fds, next_fd, &nmaps2, &bad_ioas);
		if (r == 0 && nmaps2 != nmaps)
			r = -EBUSY; /* another thread mapped meanwhile */
		if (r == 0)
			memcpy(p, tmp, nmaps * sizeof(*tmp));
		free(tmp);
		if (r < 0) {
			ifd_err(ctx, "export: the mappings changed while being described: try again");
			return r == -E2BIG ? r : -EBUSY;
		}
	}
	*len = need;
	*nfds = needfds;
	mark_handed_over(ctx);
	return 0;
}

IFD_EXPORT int iommufd_ctx_export(struct iommufd_ctx *ctx, void *blob, size_t *len, int *fds, size_t *nfds)
{
	int r;

	if (!ctx || !len || !nfds)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!ctx->ops->change_process) {
		ifd_err(ctx, "export: the %s backend cannot hand its mappings to another process (that needs "
			"iommufd's IOMMU_IOAS_CHANGE_PROCESS): use the cdev backend", iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	ifd_ctx_lock(ctx);
	r = ifd_iommufd_has_ioctl(ctx, IFD_K_IOMMU_IOAS_CHANGE_PROCESS);
	if (r == 0) {
		ifd_err(ctx, "export: the kernel lacks IOMMU_IOAS_CHANGE_PROCESS (needs Linux 6.14+): the new process "
			"could not take the pinned pages over");
		r = -EOPNOTSUPP;
	} else if (r > 0) {
		r = export_locked(ctx, blob, len, fds, nfds);
	}
	ifd_ctx_unlock(ctx);
	if (r == 0)
		ifd_dbg(ctx, "exported: %zu bytes, %zu fds; this context no longer reaches the kernel", *len, *nfds);
	return ifd_ret(r);
}

/* ------------------------------------------------------------------------ */
/* Import                                                                   */

static int import_maps(struct iommufd_ctx *ctx, const struct ifd_ho *h, struct iommufd_ioas **ioas, const int *dups)
{
	for (uint32_t i = 0; i < h->hdr.nmaps; i++) {
		struct ifd_ho_map mm;
		struct iommufd_ioas *io;
		struct ifd_filemap_ent *e;
		struct iommufd_map *m;
		int r;

		ifd_ho_get_map(h, i, &mm);
		io = ioas[mm.ioas_idx];
		if ((mm.iova | mm.len) & (io->alignment - 1)) {
			ifd_err(ctx, "import: map %u: IOVA 0x%llx+0x%llx is not aligned to IOAS %u's 0x%llx", i,
				(unsigned long long)mm.iova, (unsigned long long)mm.len, io->id,
				(unsigned long long)io->alignment);
			return -EINVAL;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->fd = ifd_dup(ctx, dups[mm.fd_idx]);
		e->offset = mm.offset;
		if (e->fd < 0) {
			r = e->fd;
			free(e);
			return r;
		}
		ifd_ioas_wlock(io);
		m = ifd_midx_rec_alloc(io->idx);
		r = m ? 0 : -ENOMEM;
		if (m) {
			m->kind = IFD_MAP_USER;
			m->state = IFD_REC_LIVE;
			m->vaddr = 0;
			m->flags = mm.flags | IFD_MAPF_FILE;
			m->handle = 0;
			r = ifd_midx_claim(io->idx, m, mm.iova, mm.len);
			if (r < 0)
				ifd_midx_rec_free(io->idx, m);
			else
				ifd_filemap_link(io, m, e);
		}
		ifd_ioas_wunlock(io);
		if (r < 0) {
			ctx->sys->close(e->fd);
			free(e);
			ifd_err(ctx, "import: map %u: IOVA 0x%llx+0x%llx does not fit IOAS %u (%s)", i,
				(unsigned long long)mm.iova, (unsigned long long)mm.len, io->id, strerror(-r));
			return r == -ENOMEM ? r : -EINVAL;
		}
	}
	return 0;
}

static int import_devs(struct iommufd_ctx *ctx, const struct ifd_ho *h, struct iommufd_ioas **ioas, const int *dups)
{
	for (uint32_t i = 0; i < h->hdr.ndev; i++) {
		struct iommufd_device *dev;
		struct ifd_ho_dev d;
		int fd, r;

		ifd_ho_get_dev(h, i, &d);
		fd = ifd_dup(ctx, dups[d.fd_idx]);
		if (fd < 0)
			return fd;
		if (h->hdr.backend == IOMMUFD_BACKEND_GROUP) {
			int gfd = ifd_dup(ctx, dups[d.group_fd_idx]);

			if (gfd < 0) {
				ctx->sys->close(fd);
				return gfd;
			}
			r = ifd_dev_adopt_group_dev(ioas[d.ioas_idx], d.name, gfd, fd, &dev);
			if (r < 0)
				return r; /* both fds closed */
			continue;
		}
		r = iommufd_device_adopt_id(ctx, d.devid, fd, NULL, &dev);
		if (r < 0) {
			r = -errno;
			ctx->sys->close(fd);
			return r;
		}
		if (strcmp(dev->name, d.name)) {
			ifd_err(ctx, "import: iommufd device ID %u is %s, the description says %s", d.devid, dev->name,
				d.name);
			return -EINVAL;
		}
		ifd_ctx_lock(ctx);
		ifd_dev_set_attached(dev, NULL, ioas[d.ioas_idx]);
		ifd_ctx_unlock(ctx);
	}
	return 0;
}

int ifd_ctx_import_sys(const void *blob, size_t len, const int *fds, size_t nfds, const struct iommufd_ctx_opts *opts,
		       const struct ifd_sys *sys, struct iommufd_ctx **out)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas **ioas = NULL;
	struct iommufd_ctx_opts o;
	struct ifd_ho h;
	char why[200];
	int r, d0, pr;

	if (!blob || !out || !fds || !nfds || nfds > IOMMUFD_EXPORT_MAX_FDS)
		return -EINVAL;
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return -EBADF;
	/* Everything below works on the context's duplicates: on failure the
	 * caller's fds are untouched. */
	if (ifd_opts_copy(&o, sizeof(o), opts) < 0)
		return -EINVAL;
	o.sz = sizeof(o);
	/* Checked before anything is built; reported once the context can log. */
	pr = ifd_ho_parse(blob, len, nfds, (uint64_t)sys->page_size(), &h, why, sizeof(why));
	if (pr == 0 && o.backend == IOMMUFD_BACKEND_AUTO)
		o.backend = (enum iommufd_backend)h.hdr.backend; /* an iommufd serves both */
	d0 = sys->dup(fds[0]);
	if (d0 < 0)
		return -errno;
	r = ifd_ctx_create_sys(&o, sys, d0, &ctx);
	if (r < 0) {
		sys->close(d0);
		return r;
	}
	if (pr < 0) {
		r = pr;
		ifd_err(ctx, "import: malformed context description: %s", why);
		goto fail;
	}
	if (h.hdr.backend != (uint32_t)ctx->backend) {
		ifd_err(ctx, "import: the description is of a %s context, the iommufd opened as %s",
			iommufd_backend_name((enum iommufd_backend)h.hdr.backend), iommufd_backend_name(ctx->backend));
		r = -EINVAL;
		goto fail;
	}
	ioas = calloc(h.hdr.nioas ? h.hdr.nioas : 1, sizeof(*ioas));
	if (!ioas) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < h.hdr.nioas; i++) {
		struct ifd_ho_ioas a;

		ifd_ho_get_ioas(&h, i, &a);
		r = ifd_ioas_adopt(ctx, a.id, &ioas[i]);
		if (r < 0) {
			ifd_err(ctx, "import: IOAS ID %u: %s", a.id, strerror(-r));
			goto fail;
		}
	}
	r = import_devs(ctx, &h, ioas, fds);
	if (r == 0)
		r = import_maps(ctx, &h, ioas, fds);
	if (r < 0)
		goto fail;
	free(ioas);
	/* The context holds duplicates of everything: the caller's go. */
	for (size_t i = 0; i < nfds; i++)
		sys->close(fds[i]);
	ifd_dbg(ctx, "imported %u IOAS, %u devices, %u file maps", h.hdr.nioas, h.hdr.ndev, h.hdr.nmaps);
	*out = ctx;
	return 0;
fail:
	free(ioas);
	/* The kernel objects are the exporter's until this succeeds: free
	 * only the handles and the duplicates. */
	mark_handed_over(ctx);
	iommufd_ctx_destroy(ctx);
	return r;
}

IFD_EXPORT int iommufd_ctx_import(const void *blob, size_t len, const int *fds, size_t nfds,
				  const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out)
{
	return ifd_ret(ifd_ctx_import_sys(blob, len, fds, nfds, opts, &ifd_sys_libc, out));
}

IFD_EXPORT struct iommufd_ioas *iommufd_ctx_find_ioas(struct iommufd_ctx *ctx, uint32_t id)
{
	struct iommufd_ioas *found = NULL;
	struct ifd_list *pos;

	if (!ctx) {
		errno = EINVAL;
		return NULL;
	}
	ifd_ctx_lock(ctx);
	ifd_list_for_each(pos, &ctx->ioas_list) {
		struct iommufd_ioas *ioas = ifd_container_of(pos, struct iommufd_ioas, link);

		if (ioas->container_fd < 0 && ioas->id == id) {
			found = ioas;
			break;
		}
	}
	ifd_ctx_unlock(ctx);
	if (!found)
		errno = ENOENT;
	return found;
}

IFD_EXPORT struct iommufd_device *iommufd_ctx_find_device(struct iommufd_ctx *ctx, const char *name)
{
	struct iommufd_device *found = NULL;
	struct ifd_list *pos;

	if (!ctx || !name) {
		errno = EINVAL;
		return NULL;
	}
	ifd_ctx_lock(ctx);
	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *dev = ifd_container_of(pos, struct iommufd_device, link);

		if (!strcmp(dev->name, name)) {
			found = dev;
			break;
		}
	}
	ifd_ctx_unlock(ctx);
	if (!found)
		errno = ENOENT;
	return found;
}
