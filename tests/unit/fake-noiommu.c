/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The fake kernel's no-IOMMU mode: the module parameter, a model of
 * physical addresses (fake_kernel_phys()), IOMMU_IOAS_NOIOMMU_GET_PA with
 * the 7.3 kernel's rules (drivers/iommu/iommufd/ioas.c, io_pagetable.c),
 * /proc/self/pagemap, and mlock(2)/munlock(2) as a set of locked ranges
 * (locking twice and unlocking once leaves a page unlocked, as in Linux).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake-kernel.h"
#include "kabi.h"

struct fk_nio {
	struct fk_range *locked; /* disjoint, unsorted */
	size_t n, cap;
};

static struct fk_nio *nio_get(struct fake_kernel *fk)
{
	struct fk_nio **slot = fk_nio_slot(fk);

	if (!*slot) {
		*slot = calloc(1, sizeof(**slot));
		if (!*slot)
			abort();
	}
	return *slot;
}

void fk_nio_free(struct fake_kernel *fk)
{
	struct fk_nio **slot = fk_nio_slot(fk);

	if (*slot)
		free((*slot)->locked);
	free(*slot);
	*slot = NULL;
}

void fk_nio_fs(struct fake_kernel *fk)
{
	fk_node_file(fk, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
		     fk_cfg(fk)->noiommu_mode ? "Y\n" : "N\n");
	fk_node_file(fk, FK_PAGEMAP, "");
}

static uint64_t pfn_of(struct fake_kernel *fk, uint64_t va)
{
	uint64_t p = va / (uint64_t)fk_nio_page_size(fk);

	return FK_NIO_PFN_BASE + p + p / FK_NIO_RUN;
}

uint64_t fake_kernel_phys(struct fake_kernel *fk, uint64_t va)
{
	return pfn_of(fk, va) * (uint64_t)fk_nio_page_size(fk) + va % (uint64_t)fk_nio_page_size(fk);
}

int fk_nio_get_pa(struct fake_kernel *fk, struct file *f, void *arg)
{
	struct ifd_k_ioas_noiommu_get_pa *c = arg;
	uint64_t pg = (uint64_t)fk_nio_page_size(fk), len, iova, last;
	unsigned int ndev = 0;
	struct fk_map m;
	int r;

	if (c->size < sizeof(*c))
		return -EINVAL;
	if (!fk_cfg(fk)->noiommu_iommufd)
		return -EOPNOTSUPP;
	if (fk_cfg(fk)->no_cap_rawio)
		return -EPERM;
	if (c->flags || c->reserved)
		return -EOPNOTSUPP;
	if (!c->length)
		return -EINVAL;
	r = fk_ioas_area(fk, f, c->ioas_id, c->iova, &m, &ndev);
	if (r)
		return r;
	if (!ndev) /* no device: no software page table holds the pages */
		return -EOPNOTSUPP;
	iova = c->iova;
	last = m.iova + m.len - 1;
	c->out_phys = fake_kernel_phys(fk, m.va + (iova - m.iova));
	len = pg - iova % pg;
	if (len > last - iova + 1)
		len = last - iova + 1;
	while (len < c->length && iova / pg * pg + pg <= last) {
		uint64_t next = iova / pg * pg + pg;

		if (fake_kernel_phys(fk, m.va + (next - m.iova)) != c->out_phys + len)
			break;
		len += next + pg - 1 <= last ? pg : last - next + 1;
		iova = next;
	}
	c->length = len < c->length ? len : c->length;
	return 0;
}

/* Bit 63 present; bits 0-54 the frame, 0 without CAP_SYS_ADMIN. */
ssize_t fk_nio_pagemap(struct fake_kernel *fk, void *buf, size_t len, off_t off)
{
	uint64_t pg = (uint64_t)fk_nio_page_size(fk);
	size_t n = len / 8;

	if (off % 8)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t va = ((uint64_t)off / 8 + i) * pg;
		uint64_t e = (UINT64_C(1) << 63) | (fk_cfg(fk)->no_cap_sys_admin ? 0 : pfn_of(fk, va));

		memcpy((char *)buf + i * 8, &e, 8);
	}
	return (ssize_t)(n * 8);
}

/* Remove [s, e) from every locked range. */
static void cut(struct fk_nio *x, uint64_t s, uint64_t e)
{
	for (size_t i = 0; i < x->n;) {
		struct fk_range *r = &x->locked[i];
		uint64_t rs = r->start, re = r->last + 1;

		if (re <= s || rs >= e) {
			i++;
			continue;
		}
		if (rs < s && re > e) { /* split in two */
			if (x->n == x->cap) {
				x->cap = x->cap ? x->cap * 2 : 16;
				x->locked = realloc(x->locked, x->cap * sizeof(*x->locked));
				if (!x->locked)
					abort();
				r = &x->locked[i];
			}
			x->locked[x->n++] = (struct fk_range){ e, re - 1 };
			r->last = s - 1;
			i++;
		} else if (rs < s) {
			r->last = s - 1;
			i++;
		} else if (re > e) {
			r->start = e;
			i++;
		} else {
			*r = x->locked[--x->n];
		}
	}
}

int fk_nio_mlock(const void *addr, size_t len)
{
	struct fake_kernel *fk = fk_enter_current();
	struct fk_nio *x = nio_get(fk);
	uint64_t s = (uintptr_t)addr, e = s + len;

	cut(x, s, e);
	if (len) {
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 16;
			x->locked = realloc(x->locked, x->cap * sizeof(*x->locked));
			if (!x->locked)
				abort();
		}
		x->locked[x->n++] = (struct fk_range){ s, e - 1 };
	}
	fk_leave_current();
	return 0;
}

int fk_nio_munlock(const void *addr, size_t len)
{
	struct fake_kernel *fk = fk_enter_current();

	cut(nio_get(fk), (uintptr_t)addr, (uintptr_t)addr + len);
	fk_leave_current();
	return 0;
}

bool fake_kernel_mlocked(struct fake_kernel *fk, uint64_t va, uint64_t len)
{
	struct fk_nio *x;
	uint64_t covered = 0;

	fk_enter_current();
	x = nio_get(fk);
	for (size_t i = 0; i < x->n; i++) {
		uint64_t s = x->locked[i].start > va ? x->locked[i].start : va;
		uint64_t e = x->locked[i].last + 1 < va + len ? x->locked[i].last + 1 : va + len;

		if (e > s)
			covered += e - s;
	}
	fk_leave_current();
	return covered == len;
}
