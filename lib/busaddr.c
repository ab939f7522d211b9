/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufd_ioas_get_bus_addrs(): what a device must be programmed with.
 * Behind an IOMMU that is the IOVA; without one (NOIOMMU) the backend's
 * bus_addr op says, a contiguous run at a time.  Runs that continue across
 * a mapping boundary are merged, so a caller sees as few segments as the
 * memory allows.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * Past @max the segments are only counted; merging must then still know
 * the last one, so a scratch copy of it stands in for the array.
 */
struct walk {
	struct iommufd_dma_segment *segs;
	size_t max;
	size_t count;
	struct iommufd_dma_segment last;
};

static void add(struct walk *w, uint64_t iova, uint64_t bus, uint64_t len)
{
	if (w->count && w->last.iova + w->last.len == iova && w->last.bus_addr + w->last.len == bus) {
		w->last.len += len;
		if (w->count <= w->max)
			w->segs[w->count - 1].len += len;
		return;
	}
	w->last = (struct iommufd_dma_segment){ .iova = iova, .bus_addr = bus, .len = len };
	if (w->count < w->max)
		w->segs[w->count] = w->last;
	w->count++;
}

IFD_EXPORT int iommufd_ioas_get_bus_addrs(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len,
					  struct iommufd_dma_segment *segs, size_t max)
{
	struct walk w = { .segs = segs, .max = max };
	uint64_t last, at = iova;
	struct iommufd_map *m;
	int r = 0;

	if (!ioas || ioas->state != IFD_ALIVE || !len || iova + (len - 1) < iova || (max && !segs))
		return ifd_ret(-EINVAL);
	if (ifd_forked(ioas->ctx))
		return ifd_ret(-ECHILD);
	last = iova + (len - 1);
	ifd_ioas_wlock(ioas);
	for (m = ifd_midx_first(ioas->idx, iova, last); m && r == 0; m = ifd_midx_next(ioas->idx, m, last)) {
		uint64_t end;

		if (m->kind == IFD_MAP_RESV)
			continue;
		/* A hole, someone else's mapping, or one in flight. */
		if (m->iova > at || m->kind != IFD_MAP_USER ||
		    m->state != IFD_REC_LIVE) {
			r = -ENOENT;
			break;
		}
		end = m->iova + (m->len - 1) < last ? m->iova + (m->len - 1) : last;
		while (r == 0) {
			uint64_t bus = at, contig = end - at + 1;

			if (ioas->ctx->ops->bus_addr)
				r = ioas->ctx->ops->bus_addr(ioas, m, at, end - at + 1, &bus, &contig);
			if (r < 0)
				break;
			add(&w, at, bus, contig);
			if (at + (contig - 1) >= end)
				break;
			at += contig;
		}
		if (r == 0 && end == last) {
			at = 0; /* covered */
			break;
		}
		at = end + 1;
	}
	if (r == 0 && at != 0)
		r = -ENOENT;
	ifd_ioas_wunlock(ioas);
	if (r == -ENOENT)
		ifd_dbg(ioas->ctx, "IOAS %u: bus addresses of IOVA 0x%llx+0x%llx: not wholly mapped", ioas->id,
			(unsigned long long)iova, (unsigned long long)len);
	else if (r == -EPERM)
		ifd_err(ioas->ctx, "IOAS %u: the physical addresses of the memory are hidden from this process: "
			"the noiommu backend needs CAP_SYS_RAWIO (iommufd path) or CAP_SYS_ADMIN (legacy path, to read "
			"/proc/self/pagemap)", ioas->id);
	else if (r == -ENODEV)
		ifd_err(ioas->ctx, "IOAS %u: no device is attached yet, so the kernel has not pinned the memory: "
			"open the device first, then ask for bus addresses", ioas->id);
	else if (r < 0)
		ifd_err(ioas->ctx, "IOAS %u: bus addresses of IOVA 0x%llx+0x%llx: %s", ioas->id,
			(unsigned long long)iova, (unsigned long long)len, strerror(-r));
	if (r < 0)
		return ifd_ret(r);
	return (int)(w.count > INT32_MAX ? INT32_MAX : w.count);
}
