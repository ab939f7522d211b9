/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plain implementation of the mapping index (mapidx.h) on the interval
 * tree and the free-space allocator: the reference the fast engine is
 * checked against.  Readers take an rwlock here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mapidx.h"

struct ifd_midx {
	void *owner;
	struct ifd_iova_space *space;
	struct ifd_itree by_iova, by_va;
	struct ifd_iova_range *limit;
	size_t nlimit;
	pthread_rwlock_t rw;
};

int ifd_midx_create(void *owner, struct ifd_midx **out)
{
	struct ifd_midx *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	if (ifd_iova_space_create(&x->space) < 0) {
		free(x);
		return -ENOMEM;
	}
	x->owner = owner;
	ifd_itree_init(&x->by_iova);
	ifd_itree_init(&x->by_va);
	pthread_rwlock_init(&x->rw, NULL);
	*out = x;
	return 0;
}

void ifd_midx_destroy(struct ifd_midx *x)
{
	struct ifd_itree_node *n, *next;

	if (!x)
		return;
	for (n = ifd_itree_postorder_first(&x->by_iova); n; n = next) {
		next = ifd_itree_postorder_next(n);
		free(ifd_container_of(n, struct iommufd_map, by_iova));
	}
	ifd_iova_space_destroy(x->space);
	pthread_rwlock_destroy(&x->rw);
	free(x->limit);
	free(x);
}

void *ifd_midx_owner(const struct iommufd_map *m)
{
	return m->x->owner;
}

struct iommufd_map *ifd_midx_rec_alloc(struct ifd_midx *x)
{
	struct iommufd_map *m = calloc(1, sizeof(*m));

	if (m)
		m->x = x;
	return m;
}

void ifd_midx_rec_free(struct ifd_midx *x, struct iommufd_map *m)
{
	(void)x;
	free(m);
}

int ifd_midx_set_ranges(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n)
{
	int ret;

	pthread_rwlock_wrlock(&x->rw);
	ret = ifd_iova_set_ranges(x->space, r, n);
	pthread_rwlock_unlock(&x->rw);
	return ret;
}

size_t ifd_midx_get_ranges(const struct ifd_midx *x, struct ifd_iova_range *r, size_t max)
{
	return ifd_iova_get_ranges(x->space, r, max);
}

int ifd_midx_set_alloc_limit(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n)
{
	struct ifd_iova_range *c = NULL;

	for (size_t i = 0; i < n; i++)
		if (r[i].start > r[i].last)
			return -EINVAL;
	if (n) {
		c = malloc(n * sizeof(*c));
		if (!c)
			return -ENOMEM;
		memcpy(c, r, n * sizeof(*c));
		/* insertion sort: few ranges */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j && c[j].start < c[j - 1].start; j--) {
				struct ifd_iova_range t = c[j];
				c[j] = c[j - 1];
				c[j - 1] = t;
			}
	}
	free(x->limit);
	x->limit = c;
	x->nlimit = n;
	return 0;
}

static void insert_iova(struct ifd_midx *x, struct iommufd_map *m, uint64_t iova, uint64_t len)
{
	m->iova = iova;
	m->len = len;
	m->by_iova.start = iova;
	m->by_iova.last = iova + len - 1;
	pthread_rwlock_wrlock(&x->rw);
	ifd_itree_insert(&x->by_iova, &m->by_iova);
	pthread_rwlock_unlock(&x->rw);
}

int ifd_midx_alloc(struct ifd_midx *x, struct iommufd_map *m, uint64_t len, uint64_t align, uint64_t min,
		   uint64_t max_last)
{
	uint64_t at;
	int r = -ENOSPC;

	if (!x->nlimit) {
		r = ifd_iova_alloc(x->space, len, align, min, max_last, &at);
	} else {
		for (size_t i = 0; i < x->nlimit && r == -ENOSPC; i++) {
			uint64_t lo = x->limit[i].start > min ? x->limit[i].start : min;
			uint64_t hi = x->limit[i].last < max_last ? x->limit[i].last : max_last;

			if (lo > hi)
				continue;
			r = ifd_iova_alloc(x->space, len, align, lo, hi, &at);
			if (r == -EINVAL)
				r = -ENOSPC;
		}
	}
	if (r < 0)
		return r;
	insert_iova(x, m, at, len);
	return 0;
}

int ifd_midx_claim(struct ifd_midx *x, struct iommufd_map *m, uint64_t iova, uint64_t len)
{
	int r = ifd_iova_claim(x->space, iova, len);

	if (r < 0)
		return r;
	insert_iova(x, m, iova, len);
	return 0;
}

void ifd_midx_va_insert(struct ifd_midx *x, struct iommufd_map *m)
{
	m->by_va.start = m->vaddr;
	m->by_va.last = m->vaddr + m->len - 1;
	pthread_rwlock_wrlock(&x->rw);
	ifd_itree_insert(&x->by_va, &m->by_va);
	m->in_va = 1;
	pthread_rwlock_unlock(&x->rw);
}

void ifd_midx_remove(struct ifd_midx *x, struct iommufd_map *m)
{
	pthread_rwlock_wrlock(&x->rw);
	ifd_itree_remove(&x->by_iova, &m->by_iova);
	if (m->in_va)
		ifd_itree_remove(&x->by_va, &m->by_va);
	m->in_va = 0;
	pthread_rwlock_unlock(&x->rw);
	ifd_iova_release(x->space, m->iova, m->len);
}

struct iommufd_map *ifd_midx_find(const struct ifd_midx *x, uint64_t iova)
{
	struct ifd_itree_node *n = ifd_itree_first_overlap(&x->by_iova, iova, iova);

	return n ? ifd_container_of(n, struct iommufd_map, by_iova) : NULL;
}

struct iommufd_map *ifd_midx_first(const struct ifd_midx *x, uint64_t iova, uint64_t last)
{
	struct ifd_itree_node *n = ifd_itree_first_overlap(&x->by_iova, iova, last);

	return n ? ifd_container_of(n, struct iommufd_map, by_iova) : NULL;
}

struct iommufd_map *ifd_midx_next(const struct ifd_midx *x, const struct iommufd_map *m, uint64_t last)
{
	struct ifd_itree_node *n = ifd_itree_next(&m->by_iova);

	(void)x;
	if (!n || n->start > last)
		return NULL;
	return ifd_container_of(n, struct iommufd_map, by_iova);
}

size_t ifd_midx_count(const struct ifd_midx *x)
{
	return x->by_iova.count;
}

int ifd_midx_translate(const struct ifd_midx *cx, uint64_t va, uint64_t len, uint64_t *iova)
{
	struct ifd_midx *x = (struct ifd_midx *)cx;
	uint64_t last = va + len - 1;
	struct ifd_itree_node *n;

	pthread_rwlock_rdlock(&x->rw);
	for (n = ifd_itree_first_overlap(&x->by_va, va, last); n; n = ifd_itree_next_overlap(n, va, last)) {
		if (n->start <= va && n->last >= last) {
			*iova = ifd_container_of(n, struct iommufd_map, by_va)->iova + (va - n->start);
			break;
		}
	}
	pthread_rwlock_unlock(&x->rw);
	return n ? 0 : -ENOENT;
}

int ifd_midx_lookup(const struct ifd_midx *cx, uint64_t iova, struct iommufd_map *copy)
{
	struct ifd_midx *x = (struct ifd_midx *)cx;
	struct iommufd_map *m;

	pthread_rwlock_rdlock(&x->rw);
	m = ifd_midx_find(x, iova);
	if (m)
		*copy = *m;
	pthread_rwlock_unlock(&x->rw);
	return m ? 0 : -ENOENT;
}

void ifd_midx_get_stats(const struct ifd_midx *x, struct ifd_midx_stats *st)
{
	st->records = x->by_iova.count;
	st->va_records = x->by_va.count;
	st->bytes = st->records * sizeof(struct iommufd_map);
}

int ifd_midx_validate(const struct ifd_midx *x)
{
	if (ifd_itree_validate(&x->by_iova) || ifd_itree_validate(&x->by_va) || ifd_iova_validate(x->space))
		return -EFAULT;
	return 0;
}
