/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Unit tests for lib/mapidx.c: fixed cases and 64-bit edges, randomized
 * operation sequences against an array model with a full validation after
 * every step, allocation-failure injection (linked with --wrap=mmap and
 * --wrap=malloc), a lock-free reader racing a writer, and 1e6 records.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "../../lib/mapidx.h"

#define PG 0x1000ULL

/* ---- allocation fault injection ---- */

extern void *__real_mmap64(void *a, size_t l, int p, int f, int fd, off_t o) __attribute__((weak));
extern void *__real_malloc(size_t size) __attribute__((weak));
extern int __real_mprotect(void *a, size_t l, int p) __attribute__((weak));
void *__wrap_mmap64(void *a, size_t l, int p, int f, int fd, off_t o);
int __wrap_mprotect(void *a, size_t l, int p);
void *__wrap_malloc(size_t size);

static unsigned long mmap_fail_nth, malloc_fail_nth, mprotect_fail_nth; /* 0: never */

/* The arena commits a chunk with mprotect. */
int __wrap_mprotect(void *a, size_t l, int p)
{
	if (mprotect_fail_nth && --mprotect_fail_nth == 0) {
		errno = ENOMEM;
		return -1;
	}
	return __real_mprotect(a, l, p);
}

void *__wrap_mmap64(void *a, size_t l, int p, int f, int fd, off_t o)
{
	if (mmap_fail_nth && --mmap_fail_nth == 0)
		return MAP_FAILED;
	return __real_mmap64(a, l, p, f, fd, o);
}

void *__wrap_malloc(size_t size)
{
	if (malloc_fail_nth && --malloc_fail_nth == 0)
		return NULL;
	return __real_malloc(size);
}

static bool wrapped(void)
{
	return __real_mmap64 != NULL && __real_malloc != NULL && __real_mprotect != NULL;
}

/* ---- helpers ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static struct iommufd_map *new_rec(struct ifd_midx *x, uint8_t kind)
{
	struct iommufd_map *m = ifd_midx_rec_alloc(x);

	assert_non_null(m);
	m->kind = kind;
	return m;
}

static void test_basic(void **state)
{
	struct ifd_midx *x;
	struct iommufd_map *a, *b, *c, copy;
	int owner;
	uint64_t iova;

	assert_int_equal(ifd_midx_create(&owner, &x), 0);
	a = new_rec(x, IFD_MAP_USER);
	assert_ptr_equal(ifd_midx_owner(a), &owner);
	assert_int_equal(ifd_midx_alloc(x, a, PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(a->iova, 0);
	assert_int_equal(a->len, PG);
	b = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, b, 2 * PG, 4 * PG, 0, UINT64_MAX), 0);
	assert_int_equal(b->iova, 4 * PG);
	c = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, c, 3 * PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(c->iova, PG); /* the hole below b fits */
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_count(x), 3);

	/* claim errors */
	struct iommufd_map *d = new_rec(x, IFD_MAP_FOREIGN);

	assert_int_equal(ifd_midx_claim(x, d, 0, 0), -EINVAL);
	assert_int_equal(ifd_midx_claim(x, d, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(ifd_midx_claim(x, d, 5 * PG, PG), -EEXIST);
	assert_int_equal(ifd_midx_claim(x, d, 3 * PG, PG + 1), -EEXIST);
	assert_int_equal(ifd_midx_claim(x, d, UINT64_MAX - PG + 1, PG), 0); /* the last page */
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_ptr_equal(ifd_midx_find(x, UINT64_MAX), d);
	assert_ptr_equal(ifd_midx_find(x, 6 * PG), NULL);
	assert_ptr_equal(ifd_midx_find(x, 4 * PG), b);

	/* translate */
	a->vaddr = 0x7f0000000000ULL;
	ifd_midx_va_insert(x, a);
	assert_int_equal(ifd_midx_translate(x, a->vaddr + 16, 16, &iova), 0);
	assert_int_equal(iova, 16);
	assert_int_equal(ifd_midx_translate(x, a->vaddr + 16, PG, &iova), -ENOENT);
	assert_int_equal(ifd_midx_translate(x, a->vaddr - 1, 1, &iova), -ENOENT);
	/* the same buffer twice, then partly overlapping */
	c->vaddr = a->vaddr;
	ifd_midx_va_insert(x, c);
	b->vaddr = a->vaddr + PG;
	ifd_midx_va_insert(x, b);
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_translate(x, a->vaddr + PG + 8, 8, &iova), 0);
	assert_true(iova == PG + PG + 8 || iova == 4 * PG + 8);
	ifd_midx_remove(x, c);
	assert_int_equal(ifd_midx_translate(x, a->vaddr + 8, 8, &iova), 0);
	assert_int_equal(iova, 8);
	assert_int_equal(ifd_midx_translate(x, a->vaddr + PG + 8, 8, &iova), 0);
	assert_int_equal(iova, 4 * PG + 8);

	assert_int_equal(ifd_midx_lookup(x, 4 * PG + 5, &copy), 0);
	assert_int_equal(copy.iova, 4 * PG);
	assert_int_equal(copy.vaddr, b->vaddr);
	assert_int_equal(ifd_midx_lookup(x, 2 * PG, &copy), -ENOENT);

	/* first/next */
	assert_ptr_equal(ifd_midx_first(x, 0, UINT64_MAX), a);
	assert_ptr_equal(ifd_midx_next(x, a, UINT64_MAX), b);
	assert_ptr_equal(ifd_midx_next(x, b, UINT64_MAX), d);
	assert_ptr_equal(ifd_midx_next(x, b, UINT64_MAX - PG), NULL);
	assert_ptr_equal(ifd_midx_first(x, PG, 4 * PG), b);
	assert_ptr_equal(ifd_midx_first(x, 4 * PG + 1, 4 * PG + 2), b);

	/* alloc argument errors and exhaustion */
	assert_int_equal(ifd_midx_alloc(x, c, 0, PG, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(ifd_midx_alloc(x, c, PG, 3, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(ifd_midx_alloc(x, c, PG, 0, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(ifd_midx_alloc(x, c, PG, PG, 10, 9), -EINVAL);
	assert_int_equal(ifd_midx_alloc(x, c, 2 * PG, PG, 0, 3 * PG - 2), -ENOSPC);
	assert_int_equal(ifd_midx_alloc(x, c, UINT64_MAX, 1, 0, UINT64_MAX), -ENOSPC);
	assert_int_equal(ifd_midx_alloc(x, c, 2 * PG, PG, PG, UINT64_MAX), 0);
	assert_int_equal(c->iova, PG);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), PG, PG, 2 * PG, 4 * PG - 1), 0);
	assert_int_equal(ifd_midx_validate(x), 0);
	ifd_midx_destroy(x);
}

static void test_whole_space(void **state)
{
	struct ifd_midx *x;
	struct iommufd_map *a, *b;

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	a = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, a, UINT64_MAX, 1, 0, UINT64_MAX), 0);
	assert_int_equal(a->iova, 0);
	b = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, b, 1, 1, 0, UINT64_MAX), 0);
	assert_int_equal(b->iova, UINT64_MAX);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), 1, 1, 0, UINT64_MAX), -ENOSPC);
	assert_int_equal(ifd_midx_validate(x), 0);
	ifd_midx_remove(x, a);
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_alloc(x, a, UINT64_MAX, 1, 0, UINT64_MAX), 0);
	assert_int_equal(a->iova, 0);
	ifd_midx_remove(x, b);
	ifd_midx_remove(x, a);
	assert_int_equal(ifd_midx_alloc(x, a, 1ULL << 63, 1ULL << 63, 1, UINT64_MAX), 0);
	assert_int_equal(a->iova, 1ULL << 63);
	assert_int_equal(ifd_midx_validate(x), 0);
	ifd_midx_destroy(x);
}

static void test_ranges(void **state)
{
	struct ifd_midx *x;
	struct ifd_iova_range r[4], out[4];
	struct iommufd_map *a, *b;

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	assert_int_equal(ifd_midx_set_ranges(x, r, 0), -EINVAL);
	r[0] = (struct ifd_iova_range){ 10, 9 };
	assert_int_equal(ifd_midx_set_ranges(x, r, 1), -EINVAL);
	r[0] = (struct ifd_iova_range){ 0x100000, 0x1fffff };
	r[1] = (struct ifd_iova_range){ 0x10000, 0x1ffff };
	r[2] = (struct ifd_iova_range){ 0x20000, 0x2ffff }; /* adjacent: merged */
	r[3] = (struct ifd_iova_range){ 0x180000, 0x2fffff }; /* overlapping */
	assert_int_equal(ifd_midx_set_ranges(x, r, 4), 0);
	assert_int_equal(ifd_midx_get_ranges(x, out, 4), 2);
	assert_int_equal(out[0].start, 0x10000);
	assert_int_equal(out[0].last, 0x2ffff);
	assert_int_equal(out[1].start, 0x100000);
	assert_int_equal(out[1].last, 0x2fffff);
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_count(x), 0);

	a = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, a, PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(a->iova, 0x10000);
	b = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, b, 0x30000, PG, 0, UINT64_MAX), 0);
	assert_int_equal(b->iova, 0x100000);
	assert_int_equal(ifd_midx_claim(x, new_rec(x, 2), 0x30000 - PG, 2 * PG), -ERANGE);
	assert_int_equal(ifd_midx_claim(x, new_rec(x, 2), 0, PG), -ERANGE);
	assert_ptr_equal(ifd_midx_find(x, 0), NULL);
	assert_ptr_equal(ifd_midx_first(x, 0, UINT64_MAX), a);
	assert_ptr_equal(ifd_midx_next(x, a, UINT64_MAX), b);
	assert_ptr_equal(ifd_midx_next(x, b, UINT64_MAX), NULL);

	/* a record would fall outside: -EBUSY, nothing changes */
	r[0] = (struct ifd_iova_range){ 0x100000, 0x1fffff };
	assert_int_equal(ifd_midx_set_ranges(x, r, 1), -EBUSY);
	assert_int_equal(ifd_midx_get_ranges(x, out, 4), 2);
	assert_int_equal(ifd_midx_validate(x), 0);
	r[1] = (struct ifd_iova_range){ 0x10000, 0x10fff };
	assert_int_equal(ifd_midx_set_ranges(x, r, 2), 0);
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), PG, PG, 0, UINT64_MAX), 0);

	/* alloc limit */
	r[0] = (struct ifd_iova_range){ 0x150000, 0x150fff };
	r[1] = (struct ifd_iova_range){ 0x180000, 0x1fffff };
	assert_int_equal(ifd_midx_set_alloc_limit(x, r, 2), 0);
	a = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, a, 2 * PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(a->iova, 0x180000);
	assert_int_equal(ifd_midx_validate(x), 0);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), PG, PG, 0, 0x181fff), -ENOSPC);
	assert_int_equal(ifd_midx_claim(x, new_rec(x, 2), 0x140000, PG), 0); /* claim ignores the limit */
	r[0] = (struct ifd_iova_range){ 5, 4 };
	assert_int_equal(ifd_midx_set_alloc_limit(x, r, 1), -EINVAL);
	assert_int_equal(ifd_midx_alloc(x, new_rec(x, 1), PG, PG, 0, 0x181fff), -ENOSPC); /* unchanged */
	assert_int_equal(ifd_midx_set_alloc_limit(x, NULL, 0), 0);
	b = new_rec(x, 1);
	assert_int_equal(ifd_midx_alloc(x, b, PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(b->iova, 0x131000);
	assert_int_equal(ifd_midx_validate(x), 0);

	/* back to everything */
	r[0] = (struct ifd_iova_range){ 0, UINT64_MAX };
	assert_int_equal(ifd_midx_set_ranges(x, r, 1), 0);
	assert_int_equal(ifd_midx_validate(x), 0);
	ifd_midx_destroy(x);
}

/* ---- randomized against a model ---- */

#define NREC 96
#define SPACE (64 * PG)

struct model {
	struct iommufd_map *m[NREC]; /* NULL once released */
	uint8_t kind[NREC];
	bool in[NREC], va[NREC];
	uint64_t iova[NREC], len[NREC], vaddr[NREC];
	struct ifd_iova_range ranges[8], limit[8];
	size_t nranges, nlimit;
};

static bool usable(const struct model *md, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < md->nranges; i++)
		if (md->ranges[i].start <= a && b <= md->ranges[i].last)
			return true;
	return false;
}

static bool in_limit(const struct model *md, uint64_t a, uint64_t b)
{
	if (!md->nlimit)
		return true;
	for (size_t i = 0; i < md->nlimit; i++)
		if (md->limit[i].start <= a && b <= md->limit[i].last)
			return true;
	return false;
}

static int holder(const struct model *md, uint64_t a)
{
	for (int i = 0; i < NREC; i++)
		if (md->in[i] && md->iova[i] <= a && a - md->iova[i] < md->len[i])
			return i;
	return -1;
}

static bool free_range(const struct model *md, uint64_t a, uint64_t b)
{
	for (int i = 0; i < NREC; i++)
		if (md->in[i] && md->iova[i] <= b && a <= md->iova[i] + md->len[i] - 1)
			return false;
	return true;
}

/* Model ranges are few and the space is small: brute force over candidates
 * (every multiple of align in the small space, plus the top of the space). */
static int model_alloc(const struct model *md, uint64_t len, uint64_t align, uint64_t min, uint64_t max_last,
		       uint64_t *out)
{
	for (uint64_t a = (min + align - 1) & ~(align - 1); a < 2 * SPACE && a >= min; a += align) {
		uint64_t b = a + len - 1;

		if (b < a || b > max_last)
			break;
		if (usable(md, a, b) && in_limit(md, a, b) && free_range(md, a, b)) {
			*out = a;
			return 0;
		}
	}
	return -ENOSPC;
}

static void check_all(struct ifd_midx *x, struct model *md, struct rng *r)
{
	size_t n = 0;

	assert_int_equal(ifd_midx_validate(x), 0);
	for (int i = 0; i < NREC; i++)
		n += md->in[i];
	assert_int_equal(ifd_midx_count(x), n);
	/* walk == sorted model */
	struct iommufd_map *w = ifd_midx_first(x, 0, UINT64_MAX);
	uint64_t prev = 0;
	size_t seen = 0;

	for (; w; w = ifd_midx_next(x, w, UINT64_MAX)) {
		assert_true(seen == 0 || w->iova > prev);
		prev = w->iova;
		seen++;
		assert_int_equal(holder(md, w->iova), (int)(w - w) + holder(md, w->iova));
	}
	assert_int_equal(seen, n);
	/* exact lookups and successors bounded by a random last, from every
	 * record (the one just mapped takes the kept-path route) */
	for (int i = 0; i < NREC; i++) {
		if (!md->in[i])
			continue;
		struct iommufd_map *m = md->m[i];
		uint64_t l = md->iova[i] + md->len[i] - 1, b = l + below(r, 6 * PG);
		int nx = -1;

		assert_ptr_equal(ifd_midx_find_exact(x, md->iova[i], l), m);
		assert_null(ifd_midx_find_exact(x, md->iova[i], l + PG));
		assert_null(ifd_midx_find_exact(x, md->iova[i] + 1, l));
		for (int k = 0; k < NREC; k++)
			if (md->in[k] && md->iova[k] > md->iova[i] && md->iova[k] <= b &&
			    (nx < 0 || md->iova[k] < md->iova[nx]))
				nx = k;
		assert_ptr_equal(ifd_midx_next(x, m, b), nx < 0 ? NULL : md->m[nx]);
	}
	/* random point queries */
	for (int k = 0; k < 8; k++) {
		uint64_t a = below(r, 2 * SPACE);
		int h = holder(md, a);
		struct iommufd_map c;

		assert_ptr_equal(ifd_midx_find(x, a), h < 0 ? NULL : md->m[h]);
		assert_int_equal(ifd_midx_lookup(x, a, &c), h < 0 ? -ENOENT : 0);
		if (h >= 0)
			assert_int_equal(c.iova, md->iova[h]);
		uint64_t b = a + below(r, 4 * PG);
		struct iommufd_map *f = ifd_midx_first(x, a, b);
		int best = -1;

		for (int i = 0; i < NREC; i++)
			if (md->in[i] && md->iova[i] <= b && a <= md->iova[i] + md->len[i] - 1 &&
			    (best < 0 || md->iova[i] < md->iova[best]))
				best = i;
		assert_ptr_equal(f, best < 0 ? NULL : md->m[best]);
		/* translate */
		uint64_t va = 0x10000000 + below(r, 2 * SPACE), tl = 1 + below(r, PG), io;
		int tr = ifd_midx_translate(x, va, tl, &io);
		bool any = false;

		for (int i = 0; i < NREC; i++) {
			if (!md->va[i] || va < md->vaddr[i] || va - md->vaddr[i] >= md->len[i] ||
			    tl > md->len[i] - (va - md->vaddr[i]))
				continue;
			any = true;
			if (tr == 0 && io == md->iova[i] + (va - md->vaddr[i]))
				tr = 1;
		}
		assert_int_equal(tr, any ? 1 : -ENOENT);
	}
}

static void random_ranges(struct rng *r, struct ifd_iova_range *v, size_t *n)
{
	*n = 1 + below(r, 3);
	for (size_t i = 0; i < *n; i++) {
		uint64_t a = below(r, 2 * SPACE / PG) * PG;

		v[i].start = a;
		v[i].last = a + (1 + below(r, 40)) * PG - 1;
		if (v[i].last >= 2 * SPACE)
			v[i].last = 2 * SPACE - 1;
	}
}

static void model_norm(struct ifd_iova_range *v, size_t *n)
{
	/* keep the model's list as given: membership tests handle overlap,
	 * but a block spanning two adjacent ranges must count as usable */
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 0; i < *n && !changed; i++)
			for (size_t j = 0; j < *n && !changed; j++) {
				if (i == j)
					continue;
				if (v[j].start <= v[i].last + 1 && v[i].start <= v[j].last + 1) {
					if (v[j].start < v[i].start)
						v[i].start = v[j].start;
					if (v[j].last > v[i].last)
						v[i].last = v[j].last;
					v[j] = v[--*n];
					changed = true;
				}
			}
	}
}

static void run_random(uint64_t seed, int steps)
{
	struct ifd_midx *x;
	struct model md;
	struct rng r = { seed };

	memset(&md, 0, sizeof(md));
	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	md.ranges[0] = (struct ifd_iova_range){ 0, 2 * SPACE - 1 };
	md.nranges = 1;
	assert_int_equal(ifd_midx_set_ranges(x, md.ranges, 1), 0);
	for (int i = 0; i < NREC; i++) {
		md.kind[i] = (uint8_t)(1 + below(&r, 3));
		md.m[i] = new_rec(x, md.kind[i]);
	}
	for (int s = 0; s < steps; s++) {
		int i = (int)below(&r, NREC), op = (int)below(&r, 100);
		struct iommufd_map *m = md.m[i];

		if (op < 35 && !md.in[i]) {
			uint64_t len = (1 + below(&r, 4)) * PG, align = PG << below(&r, 3);
			uint64_t min = below(&r, 4) ? 0 : below(&r, SPACE);
			uint64_t ml = below(&r, 4) ? UINT64_MAX : min + below(&r, SPACE);
			uint64_t want = 0;
			int e = model_alloc(&md, len, align, min, ml, &want);
			int got;

			if (!m) {
				/* released: a new record (maybe the ghost itself) */
				struct iommufd_map init = { .kind = md.kind[i], .vaddr = 0x77, .flags = 3, .handle = 1 };

				got = ifd_midx_alloc_new(x, &init, len, align, min, ml, &m);
				if (!got) {
					assert_int_equal(m->kind, md.kind[i]);
					assert_int_equal(m->vaddr, 0x77);
					assert_int_equal(m->flags, 3);
					assert_int_equal(m->handle, 1);
					assert_false(ifd_midx_in_va(m));
					md.m[i] = m;
				}
			} else {
				got = ifd_midx_alloc(x, m, len, align, min, ml);
			}
			assert_int_equal(got, e);
			if (!got) {
				assert_int_equal(m->iova, want);
				md.in[i] = true;
				md.iova[i] = want;
				md.len[i] = len;
				if (below(&r, 3) == 0) {
					/* map, then unmap at once: the cached-path removals */
					if (m->kind == IFD_MAP_USER) {
						m->vaddr = 0x10000000 + below(&r, 2 * SPACE / 512) * 512;
						ifd_midx_va_insert(x, m);
						md.va[i] = true;
						md.vaddr[i] = m->vaddr;
					}
					check_all(x, &md, &r);
					if (below(&r, 2)) {
						ifd_midx_release(x, m);
						md.m[i] = NULL;
					} else {
						ifd_midx_remove(x, m);
					}
					md.in[i] = md.va[i] = false;
				}
			}
		} else if (op < 50 && !md.in[i] && m) {
			uint64_t a = below(&r, 2 * SPACE / PG) * PG, len = (1 + below(&r, 3)) * PG;
			int e = !usable(&md, a, a + len - 1) ? -ERANGE : !free_range(&md, a, a + len - 1) ? -EEXIST : 0;

			assert_int_equal(ifd_midx_claim(x, m, a, len), e);
			if (!e) {
				md.in[i] = true;
				md.iova[i] = a;
				md.len[i] = len;
			}
		} else if (op < 65 && md.in[i] && !md.va[i] && m->kind == IFD_MAP_USER) {
			m->vaddr = 0x10000000 + below(&r, 2 * SPACE / 512) * 512;
			md.vaddr[i] = m->vaddr;
			ifd_midx_va_insert(x, m);
			md.va[i] = true;
		} else if (op < 90 && md.in[i]) {
			if (below(&r, 2)) {
				ifd_midx_release(x, m);
				md.m[i] = NULL;
			} else {
				ifd_midx_remove(x, m);
			}
			md.in[i] = md.va[i] = false;
		} else if (op < 94) {
			struct ifd_iova_range v[4];
			size_t n;
			bool busy = false;

			random_ranges(&r, v, &n);
			int got = ifd_midx_set_ranges(x, v, n);

			model_norm(v, &n);
			struct model tmp = md;

			memcpy(tmp.ranges, v, n * sizeof(v[0]));
			tmp.nranges = n;
			for (int k = 0; k < NREC; k++)
				if (md.in[k] && !usable(&tmp, md.iova[k], md.iova[k] + md.len[k] - 1))
					busy = true;
			assert_int_equal(got, busy ? -EBUSY : 0);
			if (!busy) {
				memcpy(md.ranges, v, n * sizeof(v[0]));
				md.nranges = n;
			}
		} else if (op < 97) {
			struct ifd_iova_range v[4];
			size_t n = below(&r, 3);

			if (n)
				random_ranges(&r, v, &n);
			assert_int_equal(ifd_midx_set_alloc_limit(x, v, n), 0);
			model_norm(v, &n);
			memcpy(md.limit, v, n * sizeof(v[0]));
			md.nlimit = n;
		} else {
			struct ifd_iova_range v[1] = { { 0, 2 * SPACE - 1 } };

			assert_int_equal(ifd_midx_set_ranges(x, v, 1), 0);
			md.ranges[0] = v[0];
			md.nranges = 1;
		}
		check_all(x, &md, &r);
	}
	ifd_midx_destroy(x);
}

static void test_random(void **state)
{
	for (uint64_t seed = 1; seed <= 40; seed++)
		run_random(seed * 0x9e3779b97f4a7c15ULL, 1500);
}

/* Many records, random order, checked against validate only (deep trees). */
static void test_deep_random(void **state)
{
	struct ifd_midx *x;
	struct rng r = { 77 };
	enum { N = 20000 };
	struct iommufd_map **v = calloc(N, sizeof(*v));

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	for (int i = 0; i < N; i++) {
		v[i] = new_rec(x, IFD_MAP_USER);
		assert_int_equal(ifd_midx_alloc(x, v[i], PG * (1 + below(&r, 3)), PG, 0, UINT64_MAX), 0);
		v[i]->vaddr = rnd(&r) & 0x7ffffffff000ULL;
		ifd_midx_va_insert(x, v[i]);
	}
	assert_int_equal(ifd_midx_validate(x), 0);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			if (below(&r, 2)) {
				ifd_midx_remove(x, v[i]);
				assert_int_equal(ifd_midx_alloc(x, v[i], PG * (1 + below(&r, 3)), PG, 0, UINT64_MAX), 0);
				v[i]->vaddr = rnd(&r) & 0x7ffffffff000ULL;
				ifd_midx_va_insert(x, v[i]);
			}
		}
		assert_int_equal(ifd_midx_validate(x), 0);
		for (int i = 0; i < N; i += 97) {
			uint64_t io;

			assert_int_equal(ifd_midx_translate(x, v[i]->vaddr + 5, 1, &io), 0);
		}
	}
	for (int i = 0; i < N; i++) {
		ifd_midx_remove(x, v[i]);
		ifd_midx_rec_free(x, v[i]);
		if (i % 1000 == 0)
			assert_int_equal(ifd_midx_validate(x), 0);
	}
	assert_int_equal(ifd_midx_count(x), 0);
	assert_int_equal(ifd_midx_validate(x), 0);
	free(v);
	ifd_midx_destroy(x);
}

static void test_enomem(void **state)
{
	struct ifd_midx *x;
	struct ifd_iova_range r[2] = { { 0x10000, 0x1ffff }, { 0x40000, 0x4ffff } }, out[2];
	struct iommufd_map *m;

	if (!wrapped())
		skip();
	mmap_fail_nth = 1;
	assert_int_equal(ifd_midx_create(NULL, &x), -ENOMEM);
	malloc_fail_nth = 1;
	assert_int_equal(ifd_midx_create(NULL, &x), -ENOMEM);
	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	mprotect_fail_nth = 1;
	assert_null(ifd_midx_rec_alloc(x));
	ifd_midx_destroy(x);

	/* Fill chunk 0 exactly, so the blocked records of set_ranges need a
	 * new chunk. */
	size_t n;

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	for (n = 0; n < 32767; n++) { /* exactly one full chunk */
		m = new_rec(x, IFD_MAP_USER);
		if (n < 16)
			assert_int_equal(ifd_midx_claim(x, m, 0x10000 + n * PG, PG), 0);
	}
	mprotect_fail_nth = 1;
	assert_int_equal(ifd_midx_set_ranges(x, r, 2), -ENOMEM);
	mprotect_fail_nth = 0;
	assert_int_equal(ifd_midx_get_ranges(x, out, 2), 1);
	assert_int_equal(out[0].start, 0);
	assert_int_equal(out[0].last, UINT64_MAX);
	assert_int_equal(ifd_midx_validate(x), 0);
	for (int k = 1; k <= 3; k++) {
		malloc_fail_nth = (unsigned long)k;
		assert_int_equal(ifd_midx_set_ranges(x, r, 2), -ENOMEM);
		assert_int_equal(ifd_midx_get_ranges(x, out, 2), 1);
		assert_int_equal(ifd_midx_validate(x), 0);
	}
	malloc_fail_nth = 0;
	assert_int_equal(ifd_midx_set_ranges(x, r, 2), 0);
	assert_int_equal(ifd_midx_validate(x), 0);
	malloc_fail_nth = 1;
	assert_int_equal(ifd_midx_set_alloc_limit(x, r, 1), -ENOMEM);
	/* the failed limit (r[0] is full) did not take effect */
	m = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, m, PG, PG, 0, UINT64_MAX), 0);
	assert_int_equal(m->iova, 0x40000);
	ifd_midx_destroy(x);
}

/* ---- a reader racing a writer ---- */

#define TVA 0x200000000ULL
#define TIOVA 0x900000000ULL
#define TSLOTS 512

struct race {
	struct ifd_midx *x;
	int done;
	unsigned long reads, hits, bad;
};

static uint64_t slot_iova(unsigned k)
{
	return TIOVA + (uint64_t)((k * 197u) % TSLOTS) * 2 * PG;
}

static void *reader(void *arg)
{
	struct race *rc = arg;
	struct rng r = { 99 };

	while (!__atomic_load_n(&rc->done, __ATOMIC_ACQUIRE)) {
		unsigned k = (unsigned)below(&r, TSLOTS);
		uint64_t off = below(&r, PG), io;
		int e = ifd_midx_translate(rc->x, TVA + k * PG + off, 1, &io);

		__atomic_store_n(&rc->reads, rc->reads + 1, __ATOMIC_RELAXED);
		if (e == 0) {
			rc->hits++;
			if (io != slot_iova(k) + off)
				rc->bad++;
		} else if (e != -ENOENT || k % 8 == 0) {
			rc->bad++; /* slots k%8==0 are never unmapped */
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct race rc = { 0 };
	struct iommufd_map *m[TSLOTS];
	struct rng r = { 5 };
	pthread_t t;

	assert_int_equal(ifd_midx_create(NULL, &rc.x), 0);
	for (unsigned k = 0; k < TSLOTS; k++) {
		m[k] = new_rec(rc.x, IFD_MAP_USER);
		assert_int_equal(ifd_midx_claim(rc.x, m[k], slot_iova(k), PG), 0);
		m[k]->vaddr = TVA + k * PG;
		ifd_midx_va_insert(rc.x, m[k]);
	}
	assert_int_equal(pthread_create(&t, NULL, reader, &rc), 0);
	/* until the reader has really raced us (valgrind runs one thread at a time) */
	for (int it = 0; it < 300000 || __atomic_load_n(&rc.reads, __ATOMIC_RELAXED) < 2000; it++) {
		unsigned k = (unsigned)below(&r, TSLOTS);

		if (k % 8 == 0)
			continue;
		ifd_midx_remove(rc.x, m[k]);
		ifd_midx_rec_free(rc.x, m[k]);
		m[k] = new_rec(rc.x, IFD_MAP_USER);
		/* a decoy elsewhere in the VA space reshapes the trees */
		struct iommufd_map *d = new_rec(rc.x, IFD_MAP_USER);

		assert_int_equal(ifd_midx_alloc(rc.x, d, PG, PG, 0, UINT64_MAX), 0);
		d->vaddr = TVA + 0x100000000ULL + below(&r, 1 << 20) * PG;
		ifd_midx_va_insert(rc.x, d);
		assert_int_equal(ifd_midx_claim(rc.x, m[k], slot_iova(k), PG), 0);
		m[k]->vaddr = TVA + k * PG;
		ifd_midx_va_insert(rc.x, m[k]);
		ifd_midx_remove(rc.x, d);
		ifd_midx_rec_free(rc.x, d);
	}
	__atomic_store_n(&rc.done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(rc.bad, 0);
	assert_true(rc.hits > 0);
	assert_int_equal(ifd_midx_validate(rc.x), 0);
	ifd_midx_destroy(rc.x);
}

/* Map-then-unmap at the same place: the removal leaves a ghost in the tree
 * and the next map at that place takes it over.  Checked after each step. */
/* translate of every 2 KiB step of [VG_BASE, VG_BASE + VG_SPAN) against a list */
#define VG_BASE 0x70000000ull
#define VG_SPAN (48 * PG)
static void vg_check(struct ifd_midx *x, struct iommufd_map **live, int n)
{
	assert_int_equal(ifd_midx_validate(x), 0);
	for (uint64_t va = VG_BASE - PG; va < VG_BASE + VG_SPAN + PG; va += PG / 2) {
		uint64_t io;
		int r = ifd_midx_translate(x, va, 1, &io);
		bool any = false, ok = false;

		for (int i = 0; i < n; i++) {
			if (va < live[i]->vaddr || va - live[i]->vaddr >= live[i]->len)
				continue;
			any = true;
			ok |= r == 0 && io == live[i]->iova + (va - live[i]->vaddr);
		}
		assert_int_equal(r, any ? 0 : -ENOENT);
		if (any)
			assert_true(ok);
	}
}

/* Unmap-then-map near the same VA: the VA ghost takes the new record only
 * when it lies strictly between the removed record's neighbours. */
static void test_va_ghost(void **state)
{
	struct ifd_midx *x;
	struct iommufd_map *live[64], *m;
	struct rng r = { 11 };
	int n = 0;
	uint64_t io;

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	/* A and C with a one-page hole between, B in it */
	for (int i = 0; i < 3; i++) {
		m = new_rec(x, IFD_MAP_USER);
		assert_int_equal(ifd_midx_alloc(x, m, PG, PG, PG, UINT64_MAX), 0);
		m->vaddr = VG_BASE + (uint64_t)(2 * i) * PG;
		ifd_midx_va_insert(x, m);
		live[n++] = m;
	}
	m = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, m, PG, PG, PG, UINT64_MAX), 0);
	m->vaddr = VG_BASE + 3 * PG;
	ifd_midx_va_insert(x, m);
	ifd_midx_remove(x, m); /* a ghost at VG_BASE + 3 pages */
	ifd_midx_rec_free(x, m);
	assert_int_equal(ifd_midx_translate(x, VG_BASE + 3 * PG, 1, &io), -ENOENT);
	vg_check(x, live, n);
	/* overlaps the next record: not the ghost's place */
	m = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, m, 2 * PG, PG, PG, UINT64_MAX), 0);
	m->vaddr = VG_BASE + 3 * PG;
	ifd_midx_va_insert(x, m);
	live[n++] = m;
	vg_check(x, live, n);
	assert_int_equal(ifd_midx_translate(x, VG_BASE + 3 * PG + 8, 1, &io), 0);
	assert_int_equal(io, m->iova + 8);
	/* fits the place exactly */
	ifd_midx_remove(x, m);
	ifd_midx_rec_free(x, m);
	n--;
	m = new_rec(x, IFD_MAP_USER);
	assert_int_equal(ifd_midx_alloc(x, m, PG, PG, PG, UINT64_MAX), 0);
	m->vaddr = VG_BASE + 3 * PG;
	ifd_midx_va_insert(x, m);
	live[n++] = m;
	vg_check(x, live, n);

	/* random: mostly a new record near the one just removed */
	uint64_t near = VG_BASE;

	for (int k = 0; k < 3000; k++) {
		int op = (int)below(&r, 10);

		if (n && (op < 5 || n == 64)) {
			int i = below(&r, 3) ? n - 1 : (int)below(&r, n);

			m = live[i];
			near = m->vaddr;
			ifd_midx_remove(x, m);
			ifd_midx_rec_free(x, m);
			live[i] = live[--n];
		} else {
			uint64_t len = (1 + below(&r, 3)) * PG;
			uint64_t va = below(&r, 4) ? near + (below(&r, 5) - 2) * PG : VG_BASE + below(&r, 48) * PG;

			if (va < VG_BASE || va + len > VG_BASE + VG_SPAN)
				va = VG_BASE;
			m = new_rec(x, IFD_MAP_USER);
			assert_int_equal(ifd_midx_alloc(x, m, len, PG, PG, UINT64_MAX), 0);
			m->vaddr = va;
			ifd_midx_va_insert(x, m);
			live[n++] = m;
		}
		vg_check(x, live, n);
	}
	ifd_midx_destroy(x);
}

static void test_lifo(void **state)
{
	struct ifd_midx *x;
	struct iommufd_map *v[200], *m, c;
	struct rng r = { 3 };
	uint64_t io;

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	for (int i = 0; i < 200; i++) {
		v[i] = new_rec(x, IFD_MAP_USER);
		assert_int_equal(ifd_midx_alloc(x, v[i], PG, PG, PG, UINT64_MAX), 0);
		assert_int_equal(v[i]->iova, PG * (i + 1));
	}
	for (int i = 1; i < 200; i += 2) {
		ifd_midx_remove(x, v[i]);
		ifd_midx_rec_free(x, v[i]);
		v[i] = NULL;
	}
	for (int k = 0; k < 2000; k++) {
		int hole = -1, pages = below(&r, 4) ? 1 : 2;
		uint64_t len = pages * PG;

		/* the lowest run of free slots (slot i is at PG * (i + 1)) */
		for (int i = 0; hole < 0; i++) {
			bool free_run = true;

			for (int j = i; j < i + pages; j++)
				if (j < 200 && v[j])
					free_run = false;
			if (free_run)
				hole = i;
		}
		m = new_rec(x, IFD_MAP_USER);
		assert_int_equal(ifd_midx_alloc(x, m, len, PG, PG, UINT64_MAX), 0);
		assert_int_equal(m->iova, PG * (hole + 1));
		assert_int_equal(ifd_midx_validate(x), 0);
		m->vaddr = 0x50000000 + (uint64_t)(k * 7919 % 2000) * 4 * PG; /* distinct */
		ifd_midx_va_insert(x, m);
		assert_int_equal(ifd_midx_translate(x, m->vaddr + 1, 1, &io), 0);
		assert_int_equal(io, m->iova + 1);
		assert_int_equal(ifd_midx_lookup(x, m->iova, &c), 0);
		assert_ptr_equal(ifd_midx_find(x, m->iova), m);
		switch (below(&r, 4)) {
		case 0: /* something else changes the tree in between */
			if (hole + pages > 200) {
				ifd_midx_remove(x, m);
				ifd_midx_rec_free(x, m);
				break;
			}
			v[hole] = m;
			if (pages == 2)
				v[hole + 1] = m;
			m = v[2 * below(&r, 100)];
			if (!m || m == v[hole])
				break;
			ifd_midx_remove(x, m);
			assert_int_equal(ifd_midx_validate(x), 0);
			ifd_midx_rec_free(x, m);
			for (int i = 0; i < 200; i++)
				if (v[i] == m)
					v[i] = NULL;
			break;
		case 1: /* a claim right after the unmap */
			ifd_midx_remove(x, m);
			assert_int_equal(ifd_midx_validate(x), 0);
			assert_ptr_equal(ifd_midx_find(x, m->iova), NULL);
			assert_int_equal(ifd_midx_lookup(x, m->iova, &c), -ENOENT);
			assert_int_equal(ifd_midx_claim(x, m, m->iova, len), 0);
			assert_int_equal(ifd_midx_validate(x), 0);
			ifd_midx_remove(x, m);
			ifd_midx_rec_free(x, m);
			break;
		default:
			ifd_midx_remove(x, m);
			assert_int_equal(ifd_midx_validate(x), 0);
			assert_int_equal(ifd_midx_translate(x, m->vaddr + 1, 1, &io), -ENOENT);
			assert_ptr_equal(ifd_midx_first(x, m->iova, m->iova + len - 1), NULL);
			ifd_midx_rec_free(x, m);
		}
		assert_int_equal(ifd_midx_validate(x), 0);
	}
	ifd_midx_destroy(x);
}

static void test_million(void **state)
{
	struct ifd_midx *x;
	struct ifd_midx_stats st;
	enum { N = 1000000 };

	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	for (uint64_t i = 0; i < N; i++) {
		struct iommufd_map *m = new_rec(x, IFD_MAP_USER);

		assert_int_equal(ifd_midx_alloc(x, m, PG, PG, 0, UINT64_MAX), 0);
		assert_int_equal(m->iova, i * PG);
		m->vaddr = 0x100000000ULL + i * PG;
		ifd_midx_va_insert(x, m);
	}
	assert_int_equal(ifd_midx_count(x), N);
	assert_int_equal(ifd_midx_validate(x), 0);
	ifd_midx_get_stats(x, &st);
	assert_int_equal(st.records, N);
	assert_int_equal(st.va_records, N);
	assert_true(st.bytes <= 65ULL * N);
	uint64_t io;

	assert_int_equal(ifd_midx_translate(x, 0x100000000ULL + 123456 * PG + 7, 8, &io), 0);
	assert_int_equal(io, 123456 * PG + 7);
	ifd_midx_destroy(x);
}

/*
 * Map-then-unmap through ifd_midx_alloc_new/ifd_midx_release: the released
 * record stays as the ghost and the next map of its length gets it back,
 * with the index valid at every step; a map of another length, a map
 * elsewhere and a removal in between free the ghost instead (no record
 * leaks: the arena never grows over many cycles).
 */
static void test_release_in_place(void **state)
{
	struct iommufd_map init = { .kind = IFD_MAP_USER, .vaddr = 0x10000, .flags = 3 }, *keep[4], *m, *prev = NULL;
	struct ifd_midx_stats st0, st;
	struct ifd_midx *x;
	int reused = 0;

	(void)state;
	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ifd_midx_alloc_new(x, &init, PG, PG, PG, UINT64_MAX, &keep[i]), 0);
	for (int i = 0; i < 4000; i++) {
		uint64_t len = i % 500 == 499 ? 2 * PG : PG; /* another length now and then */

		init.vaddr = 0x100000 + (uint64_t)(i % 7) * PG;
		assert_int_equal(ifd_midx_alloc_new(x, &init, len, PG, PG, UINT64_MAX, &m), 0);
		assert_int_equal(m->iova, 5 * PG);
		assert_int_equal(m->kind, IFD_MAP_USER);
		assert_int_equal(m->vaddr, init.vaddr);
		assert_int_equal(ifd_midx_count(x), 5);
		assert_ptr_equal(ifd_midx_find_exact(x, 5 * PG, 5 * PG + len - 1), m);
		reused += m == prev;
		if (i % 3 == 0) /* with the VA index too */
			ifd_midx_va_insert(x, m);
		assert_int_equal(ifd_midx_validate(x), 0);
		if (i % 250 == 0) {
			/* a removal elsewhere: the ghost must go first */
			ifd_midx_release(x, m);
			ifd_midx_release(x, keep[0]);
			assert_int_equal(ifd_midx_alloc_new(x, &init, PG, PG, PG, UINT64_MAX, &keep[0]), 0);
			assert_int_equal(keep[0]->iova, PG);
			prev = NULL;
		} else {
			ifd_midx_release(x, m);
			prev = m;
		}
		assert_int_equal(ifd_midx_validate(x), 0);
		assert_int_equal(ifd_midx_count(x), 4);
		assert_null(ifd_midx_find(x, 5 * PG));
		if (i == 0)
			ifd_midx_get_stats(x, &st0);
	}
	assert_true(reused > 3900);
	ifd_midx_get_stats(x, &st);
	assert_int_equal(st.arena, st0.arena);
	ifd_midx_destroy(x);

	/* The record alone in its index (the first one): reused only while it
	 * is also the lowest address the allocation may take. */
	assert_int_equal(ifd_midx_create(NULL, &x), 0);
	prev = NULL;
	reused = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t min = i % 100 == 99 ? 0 : PG; /* now and then 0 is allowed: the fit moves */

		assert_int_equal(ifd_midx_alloc_new(x, &init, PG, PG, min, UINT64_MAX, &m), 0);
		assert_int_equal(m->iova, min);
		if (m == prev)
			reused++;
		assert_int_equal(ifd_midx_validate(x), 0);
		if (m->iova) {
			ifd_midx_release(x, m);
			prev = m;
		} else {
			/* at IOVA 0 a record never stays as the ghost */
			ifd_midx_release(x, m);
			prev = NULL;
		}
		assert_int_equal(ifd_midx_validate(x), 0);
		assert_int_equal(ifd_midx_count(x), 0);
	}
	assert_true(reused > 950);
	ifd_midx_destroy(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_whole_space),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_deep_random),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_lifo),
		cmocka_unit_test(test_va_ghost),
		cmocka_unit_test(test_million),
		cmocka_unit_test(test_release_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
