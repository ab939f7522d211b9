/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * A model of the vIOMMU ioctls (IOMMU_VIOMMU_ALLOC, VDEVICE_ALLOC,
 * VEVENTQ_ALLOC, HW_QUEUE_ALLOC, HWPT_INVALIDATE, nested HWPT_ALLOC) in
 * front of the fake kernel: a struct ifd_sys whose other calls go to the
 * fake kernel unchanged.  The vEVENTQ fd reads back chunks the test queues
 * (fvi_push), verbatim, so malformed answers are as easy as good ones; a
 * chunk larger than the reader's buffer fails with EINVAL, as the kernel
 * does when the first event does not fit.  Invalidation entries are the
 * mock IOMMU's 8-byte {flags, id}: an id above 3 stops the call with
 * EINVAL there.  One model at a time, like the fake kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake-viommu.h"
#include "kabi.h"

#define FVI_FD 3000
#define FVI_ID_BASE 0x1000u

static struct {
	const struct ifd_sys *base;
	struct ifd_sys sys;
	uint32_t next_id;
	uint32_t objs[64];
	size_t nobj;
	struct fvi_chunk {
		unsigned char *b;
		size_t n;
	} chunks[32];
	size_t head, tail;
	bool fd_open;
	unsigned int invalidated; /* entries handled over all calls */
	uint32_t last_pt;         /* pt_id of the last nested HWPT_ALLOC */
	unsigned int max_cmd;     /* iommufd commands above: -ENOTTY (0: all) */
} m;

static uint32_t obj_new(void)
{
	uint32_t id = m.next_id++;

	if (m.nobj < 64)
		m.objs[m.nobj++] = id;
	return id;
}

static int obj_del(uint32_t id)
{
	for (size_t i = 0; i < m.nobj; i++)
		if (m.objs[i] == id) {
			m.objs[i] = m.objs[--m.nobj];
			return 0;
		}
	return -ENOENT;
}

static int ret(int r)
{
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

static int fvi_ioctl(int fd, unsigned long req, void *arg)
{
	/* An older kernel has none of them. */
	if (m.max_cmd && (req & 0xff) > m.max_cmd && (req >> 8 & 0xff) == IFD_K_IOMMUFD_TYPE) {
		errno = ENOTTY;
		return -1;
	}
	/* An empty argument (the library's probe): the kernel's size check. */
	if ((req == IFD_K_IOMMU_VIOMMU_ALLOC || req == IFD_K_IOMMU_VDEVICE_ALLOC || req == IFD_K_IOMMU_HW_QUEUE_ALLOC ||
	     req == IFD_K_IOMMU_VEVENTQ_ALLOC || req == IFD_K_IOMMU_HWPT_INVALIDATE) && arg && !*(uint32_t *)arg)
		return ret(-EINVAL);
	switch (req) {
	case IFD_K_IOMMU_VIOMMU_ALLOC: {
		struct ifd_k_viommu_alloc *a = arg;

		if (!a->type)
			return ret(-EOPNOTSUPP);
		a->out_viommu_id = obj_new();
		return 0;
	}
	case IFD_K_IOMMU_VDEVICE_ALLOC: {
		struct ifd_k_vdevice_alloc *a = arg;

		a->out_vdevice_id = obj_new();
		return 0;
	}
	case IFD_K_IOMMU_HW_QUEUE_ALLOC: {
		struct ifd_k_hw_queue_alloc *a = arg;

		a->out_hw_queue_id = obj_new();
		return 0;
	}
	case IFD_K_IOMMU_VEVENTQ_ALLOC: {
		struct ifd_k_veventq_alloc *a = arg;

		if (m.fd_open)
			return ret(-EEXIST);
		a->out_veventq_id = obj_new();
		a->out_veventq_fd = FVI_FD;
		m.fd_open = true;
		return 0;
	}
	case IFD_K_IOMMU_HWPT_ALLOC: {
		struct ifd_k_hwpt_alloc *a = arg;

		if (!a->data_type)
			break;
		m.last_pt = a->pt_id;
		a->out_hwpt_id = obj_new();
		return 0;
	}
	case IFD_K_IOMMU_HWPT_INVALIDATE: {
		struct ifd_k_hwpt_invalidate *c = arg;
		const uint32_t *e = (const uint32_t *)(uintptr_t)c->data_uptr;
		uint32_t done = 0;
		int r = 0;

		for (; done < c->entry_num; done++) {
			if (e[done * (c->entry_len / 4) + 1] > 3) {
				r = -EINVAL;
				break;
			}
		}
		m.invalidated += done;
		c->entry_num = done;
		return ret(r);
	}
	case IFD_K_IOMMU_DESTROY: {
		struct ifd_k_destroy *d = arg;

		if (d->id >= FVI_ID_BASE)
			return ret(obj_del(d->id));
		break;
	}
	default:
		break;
	}
	return m.base->ioctl(fd, req, arg);
}

static ssize_t fvi_read(int fd, void *buf, size_t len)
{
	struct fvi_chunk *c;
	size_t n;

	if (fd != FVI_FD)
		return m.base->read(fd, buf, len);
	if (m.head == m.tail)
		return 0;
	c = &m.chunks[m.head % 32];
	if (c->n > len) {
		errno = EINVAL;
		return -1;
	}
	n = c->n;
	memcpy(buf, c->b, n);
	free(c->b);
	m.head++;
	return (ssize_t)n;
}

static int fvi_close(int fd)
{
	if (fd == FVI_FD) {
		m.fd_open = false;
		return 0;
	}
	return m.base->close(fd);
}

const struct ifd_sys *fvi_sys(struct fake_kernel *fk, unsigned int max_cmd)
{
	fvi_reset();
	m.max_cmd = max_cmd;
	m.base = fake_kernel_sys(fk);
	m.sys = *m.base;
	m.sys.ioctl = fvi_ioctl;
	m.sys.read = fvi_read;
	m.sys.close = fvi_close;
	m.next_id = FVI_ID_BASE;
	return &m.sys;
}

void fvi_reset(void)
{
	while (m.head != m.tail)
		free(m.chunks[m.head++ % 32].b);
	memset(&m, 0, sizeof(m));
}

void fvi_push(const void *bytes, size_t n)
{
	struct fvi_chunk *c = &m.chunks[m.tail++ % 32];

	c->b = malloc(n ? n : 1);
	memcpy(c->b, bytes, n);
	c->n = n;
}

size_t fvi_objects(void)
{
	return m.nobj;
}

bool fvi_fd_open(void)
{
	return m.fd_open;
}

unsigned int fvi_invalidated(void)
{
	return m.invalidated;
}

uint32_t fvi_last_pt(void)
{
	return m.last_pt;
}
