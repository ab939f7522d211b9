/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Unit tests for lib/iova.c: fixed cases, 64-bit edges, a randomized run
 * against a byte-map reference allocator, an untimed scaling check that
 * counts visited tree nodes, and -ENOMEM injection.
 *
 * -ENOMEM injection needs the test linked with -Wl,--wrap=malloc; without it
 * that one test skips itself and everything else still runs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/iova.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define PG 0x1000ULL

/* ---- malloc fault injection (active only under -Wl,--wrap=malloc) ---- */

extern void *__real_malloc(size_t size) __attribute__((weak));
void *__wrap_malloc(size_t size);

static unsigned long wrap_calls;
static unsigned long fail_nth;	/* 0: never; n: the n-th call from now fails */

void *__wrap_malloc(size_t size)
{
	wrap_calls++;
	if (fail_nth && --fail_nth == 0)
		return NULL;
	return __real_malloc(size);
}

/* ---- helpers ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static struct ifd_iova_space *new_space(void)
{
	struct ifd_iova_space *s = NULL;

	assert_int_equal(ifd_iova_space_create(&s), 0);
	assert_non_null(s);
	assert_int_equal(ifd_iova_validate(s), 0);
	return s;
}

static void set1(struct ifd_iova_space *s, uint64_t start, uint64_t last)
{
	struct ifd_iova_range r = { start, last };

	assert_int_equal(ifd_iova_set_ranges(s, &r, 1), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
}

static uint64_t alloc_ok(struct ifd_iova_space *s, uint64_t len, uint64_t align,
			 uint64_t min, uint64_t max_last)
{
	uint64_t iova = 0xbad;

	assert_int_equal(ifd_iova_alloc(s, len, align, min, max_last, &iova), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
	return iova;
}

static void alloc_at(struct ifd_iova_space *s, uint64_t len, uint64_t align,
		     uint64_t expect)
{
	assert_int_equal(alloc_ok(s, len, align, 0, UINT64_MAX), expect);
}

static void alloc_fails(struct ifd_iova_space *s, uint64_t len, uint64_t align,
			uint64_t min, uint64_t max_last, int err)
{
	uint64_t iova = 0xbad;

	assert_int_equal(ifd_iova_alloc(s, len, align, min, max_last, &iova),
			 err);
	assert_int_equal(iova, 0xbad);
	assert_int_equal(ifd_iova_validate(s), 0);
}

static void release_ok(struct ifd_iova_space *s, uint64_t iova, uint64_t len)
{
	assert_int_equal(ifd_iova_release(s, iova, len), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
}

static void claim_ok(struct ifd_iova_space *s, uint64_t iova, uint64_t len)
{
	assert_int_equal(ifd_iova_claim(s, iova, len), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
}

/*
 * Unvalidated variants for the large-tree tests, where validating after every
 * step would cost O(f) each time; those tests validate at checkpoints.
 */
static uint64_t alloc_fast(struct ifd_iova_space *s, uint64_t len,
			   uint64_t align)
{
	uint64_t iova = 0xbad;

	assert_int_equal(ifd_iova_alloc(s, len, align, 0, UINT64_MAX, &iova), 0);
	return iova;
}

static void release_fast(struct ifd_iova_space *s, uint64_t iova, uint64_t len)
{
	assert_int_equal(ifd_iova_release(s, iova, len), 0);
}

/* Complete observable state, to prove that a failed call changed nothing. */
struct snap {
	size_t nfree, nranges;
	struct ifd_iova_range *free, *ranges;
	uint64_t free_bytes;
};

static void snap_take(const struct ifd_iova_space *s, struct snap *sn)
{
	sn->nfree = ifd_iova_get_free(s, NULL, 0);
	sn->nranges = ifd_iova_get_ranges(s, NULL, 0);
	sn->free = calloc(sn->nfree + 1, sizeof(*sn->free));
	sn->ranges = calloc(sn->nranges + 1, sizeof(*sn->ranges));
	assert_non_null(sn->free);
	assert_non_null(sn->ranges);
	assert_int_equal(ifd_iova_get_free(s, sn->free, sn->nfree), sn->nfree);
	assert_int_equal(ifd_iova_get_ranges(s, sn->ranges, sn->nranges),
			 sn->nranges);
	sn->free_bytes = ifd_iova_free_bytes(s);
}

static void snap_check_same(const struct ifd_iova_space *s,
			    const struct snap *sn)
{
	struct snap now;

	snap_take(s, &now);
	assert_int_equal(now.nfree, sn->nfree);
	assert_int_equal(now.nranges, sn->nranges);
	assert_memory_equal(now.free, sn->free, sn->nfree * sizeof(*sn->free));
	assert_memory_equal(now.ranges, sn->ranges,
			    sn->nranges * sizeof(*sn->ranges));
	assert_int_equal(now.free_bytes, sn->free_bytes);
	assert_int_equal(ifd_iova_validate(s), 0);
	free(now.free);
	free(now.ranges);
}

static void snap_free(struct snap *sn)
{
	free(sn->free);
	free(sn->ranges);
}

static void check_free(const struct ifd_iova_space *s,
		       const struct ifd_iova_range *expect, size_t n)
{
	struct ifd_iova_range got[64];
	size_t i;

	assert_true(n <= 64);
	assert_int_equal(ifd_iova_get_free(s, got, 64), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(got[i].start, expect[i].start);
		assert_int_equal(got[i].last, expect[i].last);
	}
}

/* ---- fixed cases ---- */

static void test_create_defaults(void **state)
{
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_range r[2];
	struct ifd_iova_stats st;

	(void)state;
	assert_int_equal(ifd_iova_get_ranges(s, r, 2), 1);
	assert_int_equal(r[0].start, 0);
	assert_int_equal(r[0].last, UINT64_MAX);
	/* 2^64 free bytes saturate. */
	assert_int_equal(ifd_iova_free_bytes(s), UINT64_MAX);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, 1);
	assert_int_equal(st.tree_height, 1);
	assert_int_equal(st.allocs, 0);
	ifd_iova_space_destroy(s);
	ifd_iova_space_destroy(NULL);
}

static void test_bad_args(void **state)
{
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_range bad = { 5, 4 }, good = { 0, 100 };
	struct snap sn;

	(void)state;
	snap_take(s, &sn);
	alloc_fails(s, 0, 1, 0, UINT64_MAX, -EINVAL);
	alloc_fails(s, 1, 0, 0, UINT64_MAX, -EINVAL);
	alloc_fails(s, 1, 3, 0, UINT64_MAX, -EINVAL);
	alloc_fails(s, 1, (1ULL << 63) + 1, 0, UINT64_MAX, -EINVAL);
	alloc_fails(s, 1, 1, 10, 9, -EINVAL);
	assert_int_equal(ifd_iova_claim(s, 0, 0), -EINVAL);
	assert_int_equal(ifd_iova_claim(s, 2, UINT64_MAX), -EINVAL);
	assert_int_equal(ifd_iova_release(s, 2, UINT64_MAX), -EINVAL);
	assert_int_equal(ifd_iova_claim(s, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(ifd_iova_release(s, 0, 0), -EINVAL);
	assert_int_equal(ifd_iova_release(s, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(ifd_iova_set_ranges(s, NULL, 1), -EINVAL);
	assert_int_equal(ifd_iova_set_ranges(s, &good, 0), -EINVAL);
	assert_int_equal(ifd_iova_set_ranges(s, &bad, 1), -EINVAL);
	snap_check_same(s, &sn);
	snap_free(&sn);
	/* Bounds that leave less room than len: no fit, not a bad argument. */
	alloc_fails(s, 11, 1, 10, 19, -ENOSPC);
	assert_int_equal(alloc_ok(s, 10, 1, 10, 19), 10);
	ifd_iova_space_destroy(s);
}

static void test_ranges_merge(void **state)
{
	struct ifd_iova_space *s = new_space();
	const struct ifd_iova_range in[] = {
		{ 0x9000, 0x9fff },
		{ 0x1000, 0x1fff },
		{ 0x2000, 0x2fff },	/* adjacent to the previous */
		{ 0x1800, 0x27ff },	/* overlapping both */
		{ 0x5000, 0x5fff },
		{ 0x5100, 0x51ff },	/* contained */
		{ 0xa000, 0xa000 },	/* adjacent single byte */
		{ UINT64_MAX - 5, UINT64_MAX },
		{ UINT64_MAX, UINT64_MAX },
		{ UINT64_MAX - 9, UINT64_MAX - 6 },	/* adjacent below */
	};
	const struct ifd_iova_range want[] = {
		{ 0x1000, 0x2fff },
		{ 0x5000, 0x5fff },
		{ 0x9000, 0xa000 },
		{ UINT64_MAX - 9, UINT64_MAX },
	};
	struct ifd_iova_range out[8];

	(void)state;
	assert_int_equal(ifd_iova_set_ranges(s, in, sizeof(in) / sizeof(in[0])),
			 0);
	assert_int_equal(ifd_iova_validate(s), 0);
	assert_int_equal(ifd_iova_get_ranges(s, out, 8), 4);
	assert_memory_equal(out, want, sizeof(want));
	/* Truncated copy still reports the full count. */
	memset(out, 0, sizeof(out));
	assert_int_equal(ifd_iova_get_ranges(s, out, 1), 4);
	assert_int_equal(out[0].start, 0x1000);
	assert_int_equal(out[1].start, 0);
	/* Nothing allocated yet: free space is exactly the usable space. */
	check_free(s, want, 4);
	assert_int_equal(ifd_iova_free_bytes(s), 0x2000 + 0x1000 + 0x1001 + 10);
	ifd_iova_space_destroy(s);
}

static void test_multiple_ranges(void **state)
{
	struct ifd_iova_space *s = new_space();
	const struct ifd_iova_range in[] = {
		{ 0x10000, 0x1ffff },
		{ 0x1000, 0x1fff },
		{ 0x4000, 0x7fff },
	};

	(void)state;
	assert_int_equal(ifd_iova_set_ranges(s, in, 3), 0);
	alloc_at(s, 0x2000, 1, 0x4000);	/* too big for the first range */
	alloc_at(s, 0x1000, 1, 0x1000);
	alloc_at(s, 0x3000, 1, 0x10000);	/* 0x6000.. has only 0x2000 */
	alloc_at(s, 0x2000, 1, 0x6000);
	alloc_at(s, 0xd000, 1, 0x13000);
	alloc_fails(s, 1, 1, 0, UINT64_MAX, -ENOSPC);
	assert_int_equal(ifd_iova_free_bytes(s), 0);
	/* The gap between ranges is never usable, even when free around it. */
	release_ok(s, 0x1000, 0x1000);
	release_ok(s, 0x4000, 0x2000);
	alloc_fails(s, 0x2001, 1, 0, UINT64_MAX, -ENOSPC);
	alloc_at(s, 0x1001, 1, 0x4000);
	ifd_iova_space_destroy(s);
}

/*
 * Holes shorter than len + align - 1 fit only if they start well; first fit
 * must still find the lowest such hole rather than a later "safe" one.
 */
static void test_alignment_luck(void **state)
{
	struct ifd_iova_space *s = new_space();

	(void)state;
	set1(s, 0, 0xfffff);
	/*
	 * Free holes after the claims below:
	 *   [0x0800, 0x17ff] 0x1000 bytes, misaligned: no 4K-aligned fit
	 *   [0x2800, 0x3fff] 0x1800 bytes: fits only at 0x3000 (lucky)
	 *   [0x5000, 0x5fff] exact, aligned
	 *   [0x7000, 0xfffff] tail: always fits
	 */
	claim_ok(s, 0, 0x800);
	claim_ok(s, 0x1800, 0x1000);
	claim_ok(s, 0x4000, 0x1000);
	claim_ok(s, 0x6000, 0x1000);
	alloc_at(s, 0x1000, 0x1000, 0x3000);
	alloc_at(s, 0x1000, 0x1000, 0x5000);
	alloc_at(s, 0x1000, 0x1000, 0x7000);
	/* Unaligned requests use the misaligned hole from its start. */
	alloc_at(s, 0x1000, 1, 0x800);
	/* 0x2800..0x2fff (0x800 bytes) fits a 0x800-aligned 0x800. */
	alloc_at(s, 0x800, 0x800, 0x2800);
	/* A 0x2000 align 0x2000: 0x8000 is the first. */
	alloc_at(s, 0x2000, 0x2000, 0x8000);
	/* Lucky hole of exactly len at an aligned start inside a bigger one. */
	alloc_at(s, 0x1000, 0x1000, 0xa000);
	ifd_iova_space_destroy(s);
}

static void test_min_max_limits(void **state)
{
	struct ifd_iova_space *s = new_space();
	const uint64_t lim28 = 0x0fffffff;

	(void)state;
	set1(s, 0, (1ULL << 40) - 1);
	/* Fill most of the 28-bit window, leave two pages at its top. */
	claim_ok(s, 0, 0x0fffe000);
	assert_int_equal(alloc_ok(s, PG, PG, 0, lim28), 0x0fffe000);
	assert_int_equal(alloc_ok(s, PG, PG, 0, lim28), 0x0ffff000);
	alloc_fails(s, PG, PG, 0, lim28, -ENOSPC);
	/* Exactly reaching the limit with len ending at max_last. */
	release_ok(s, 0x0ffff000, PG);
	alloc_fails(s, PG + 1, 1, 0, lim28, -ENOSPC);
	assert_int_equal(alloc_ok(s, PG, 1, 0, lim28), 0x0ffff000);
	/* Space above the limit is untouched and reachable via min. */
	assert_int_equal(alloc_ok(s, PG, PG, 0, UINT64_MAX), 0x10000000);
	/* Unaligned min rounds up. */
	assert_int_equal(alloc_ok(s, PG, PG, 0x10000001, UINT64_MAX),
			 0x10001000);
	assert_int_equal(alloc_ok(s, 0x10, 0x10, 0x10002003, UINT64_MAX),
			 0x10002010);
	/* Below min stays free. */
	assert_int_equal(alloc_ok(s, 0x10, 1, 0, UINT64_MAX), 0x10002000);
	/* Window [min, max_last] narrower than the free hole, both clipped. */
	assert_int_equal(alloc_ok(s, 0x100, 0x100, 0x20000050, 0x200001ff),
			 0x20000100);
	alloc_fails(s, 0x100, 0x100, 0x20000050, 0x200001ff, -ENOSPC);
	/* max_last below everything free. */
	alloc_fails(s, 1, 1, 0, 0x0fffdfff, -ENOSPC);
	/* min above everything usable. */
	alloc_fails(s, 1, 1, 1ULL << 40, UINT64_MAX, -ENOSPC);
	ifd_iova_space_destroy(s);
}

static void test_exact_fit(void **state)
{
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_stats st;

	(void)state;
	set1(s, 0, 0xffff);
	claim_ok(s, 0x0000, 0x1000);
	claim_ok(s, 0x3000, 0x1000);	/* hole [0x1000, 0x2fff] */
	claim_ok(s, 0x5000, 0x0800);	/* hole [0x4000, 0x4fff] */
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, 3);
	alloc_at(s, 0x2000, 1, 0x1000);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, 2);
	alloc_at(s, 0x1000, 0x1000, 0x4000);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, 1);
	/* The tail [0x5800, 0xffff] is exactly 0xa800 bytes. */
	alloc_fails(s, 0xa801, 1, 0, UINT64_MAX, -ENOSPC);
	alloc_at(s, 0xa800, 1, 0x5800);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, 0);
	assert_int_equal(ifd_iova_free_bytes(s), 0);
	ifd_iova_space_destroy(s);
}

static void test_fragment_coalesce(void **state)
{
	enum { N = 200 };
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_range whole = { 0x100000, 0x100000 + 0x10000000 - 1 };
	struct ifd_iova_stats st;
	uint64_t total;
	int i;

	(void)state;
	set1(s, whole.start, whole.last);
	total = ifd_iova_free_bytes(s);
	for (i = 0; i < N; i++)
		alloc_at(s, PG, PG, whole.start + (uint64_t)i * PG);
	/* Release every other block: N/2 separate holes plus the tail. */
	for (i = 0; i < N; i += 2)
		release_ok(s, whole.start + (uint64_t)i * PG, PG);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, N / 2 + 1);
	assert_int_equal(ifd_iova_free_bytes(s), total - (N / 2) * PG);
	/* A two-page request cannot use any hole; it goes to the tail. */
	assert_int_equal(alloc_ok(s, 2 * PG, 1, 0, UINT64_MAX),
			 whole.start + N * PG);
	release_ok(s, whole.start + N * PG, 2 * PG);
	/* Releasing the rest merges left and right neighbours each time. */
	for (i = 1; i < N; i += 2) {
		release_ok(s, whole.start + (uint64_t)i * PG, PG);
		ifd_iova_get_stats(s, &st);
		assert_int_equal(st.free_intervals,
				 (size_t)(N / 2 - (i + 1) / 2 + 1));
	}
	check_free(s, &whole, 1);
	assert_int_equal(ifd_iova_free_bytes(s), total);
	ifd_iova_space_destroy(s);
}

static void test_exhaustion_unchanged(void **state)
{
	struct ifd_iova_space *s = new_space();
	struct snap sn;
	uint64_t a;
	int n = 0;

	(void)state;
	set1(s, 0x1000, 0x8fff);
	claim_ok(s, 0x3000, 0x10);	/* leaves odd-sized fragments */
	while (ifd_iova_alloc(s, 0x800, 0x800, 0, UINT64_MAX, &a) == 0)
		n++;
	/* [0x1000, 0x2fff]: 4; [0x3800, 0x8fff]: 11. */
	assert_int_equal(n, 15);
	snap_take(s, &sn);
	/* Free bytes remain (0x3010..0x37ff) but nothing of this shape. */
	assert_int_equal(sn.free_bytes, 0x7f0);
	alloc_fails(s, 0x800, 0x800, 0, UINT64_MAX, -ENOSPC);
	alloc_fails(s, 0x7f1, 1, 0, UINT64_MAX, -ENOSPC);
	alloc_fails(s, 0x10, 0x1000, 0, UINT64_MAX, -ENOSPC);
	alloc_fails(s, 1, 1, 0, 0x300f, -ENOSPC);
	alloc_fails(s, 1, 1, 0x3800, UINT64_MAX, -ENOSPC);
	snap_check_same(s, &sn);
	snap_free(&sn);
	assert_int_equal(alloc_ok(s, 0x7f0, 0x10, 0, UINT64_MAX), 0x3010);
	alloc_fails(s, 1, 1, 0, UINT64_MAX, -ENOSPC);
	ifd_iova_space_destroy(s);
}

static void test_claim_errors(void **state)
{
	struct ifd_iova_space *s = new_space();
	const struct ifd_iova_range in[] = { { 0x1000, 0x1fff },
					     { 0x3000, 0x3fff } };
	struct snap sn;

	(void)state;
	assert_int_equal(ifd_iova_set_ranges(s, in, 2), 0);
	claim_ok(s, 0x1400, 0x100);
	snap_take(s, &sn);
	assert_int_equal(ifd_iova_claim(s, 0x1400, 0x100), -EEXIST);
	assert_int_equal(ifd_iova_claim(s, 0x1300, 0x101), -EEXIST);
	assert_int_equal(ifd_iova_claim(s, 0x14ff, 0x10), -EEXIST);
	assert_int_equal(ifd_iova_claim(s, 0x1000, 0x1000), -EEXIST);
	assert_int_equal(ifd_iova_claim(s, 0x0, 0x10), -ERANGE);
	assert_int_equal(ifd_iova_claim(s, 0xfff, 0x10), -ERANGE);
	assert_int_equal(ifd_iova_claim(s, 0x1f00, 0x200), -ERANGE);
	/* Spanning the gap between two usable ranges. */
	assert_int_equal(ifd_iova_claim(s, 0x1800, 0x2000), -ERANGE);
	assert_int_equal(ifd_iova_claim(s, 0x4000, 1), -ERANGE);
	assert_int_equal(ifd_iova_claim(s, UINT64_MAX, 1), -ERANGE);
	snap_check_same(s, &sn);
	snap_free(&sn);
	/* Claims at the very edges of a range split nothing. */
	claim_ok(s, 0x1000, 1);
	claim_ok(s, 0x1fff, 1);
	claim_ok(s, 0x3000, 0x1000);
	assert_int_equal(ifd_iova_free_bytes(s), 0x1000 - 0x100 - 2);
	ifd_iova_space_destroy(s);
}

static void test_release_errors(void **state)
{
	struct ifd_iova_space *s = new_space();
	struct snap sn;

	(void)state;
	set1(s, 0x10000, 0x1ffff);
	claim_ok(s, 0x10000, 0x1000);
	claim_ok(s, 0x12000, 0x1000);
	snap_take(s, &sn);
	assert_int_equal(ifd_iova_release(s, 0x11000, 0x1000), -ENOENT);
	assert_int_equal(ifd_iova_release(s, 0x10000, 0x1001), -ENOENT);
	assert_int_equal(ifd_iova_release(s, 0x11fff, 0x2), -ENOENT);
	/* Covering two allocations and the free gap between them. */
	assert_int_equal(ifd_iova_release(s, 0x10000, 0x3000), -ENOENT);
	assert_int_equal(ifd_iova_release(s, 0xf000, 0x2000), -ENOENT);
	assert_int_equal(ifd_iova_release(s, 0x20000, 1), -ENOENT);
	assert_int_equal(ifd_iova_release(s, 0, 1), -ENOENT);
	snap_check_same(s, &sn);
	snap_free(&sn);
	/* Adjacent allocations are one allocated run; either half may go. */
	claim_ok(s, 0x11000, 0x1000);
	release_ok(s, 0x11800, 0x800);
	release_ok(s, 0x10000, 0x1800);
	assert_int_equal(ifd_iova_release(s, 0x10000, 1), -ENOENT);
	release_ok(s, 0x12000, 0x1000);
	assert_int_equal(ifd_iova_free_bytes(s), 0x10000);
	ifd_iova_space_destroy(s);
}

static void test_set_ranges_busy(void **state)
{
	struct ifd_iova_space *s = new_space();
	const struct ifd_iova_range tight[] = { { 0x2401, 0x8fff } };
	const struct ifd_iova_range split[] = { { 0x1000, 0x27ff },
						{ 0x2900, 0x8fff } };
	const struct ifd_iova_range ok2[] = { { 0x5000, 0x5fff },
					      { 0x2000, 0x3fff },
					      { 0x7000, 0x7fff } };
	const struct ifd_iova_range want_free[] = { { 0x2000, 0x23ff },
						    { 0x2c00, 0x3fff },
						    { 0x5000, 0x5fff },
						    { 0x7000, 0x7fff } };
	const struct ifd_iova_range want_free2[] = { { 0x1000, 0x23ff },
						     { 0x2c00, UINT64_MAX } };
	struct ifd_iova_range all = { 0x1000, UINT64_MAX };
	struct snap sn;

	(void)state;
	set1(s, 0x1000, 0x8fff);
	claim_ok(s, 0x2400, 0x800);	/* [0x2400, 0x2bff] */
	snap_take(s, &sn);
	assert_int_equal(ifd_iova_set_ranges(s, tight, 1), -EBUSY);
	assert_int_equal(ifd_iova_set_ranges(s, split, 2), -EBUSY);
	/* Not allowed to drop the byte at 0x2bff either. */
	all.last = 0x2bfe;
	assert_int_equal(ifd_iova_set_ranges(s, &all, 1), -EBUSY);
	snap_check_same(s, &sn);
	snap_free(&sn);
	/* Shrinking elsewhere and adding new space keeps the allocation. */
	assert_int_equal(ifd_iova_set_ranges(s, ok2, 3), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
	check_free(s, want_free, 4);
	assert_int_equal(ifd_iova_claim(s, 0x2400, 1), -EEXIST);
	/* Growing back up to the top of the space. */
	all.last = UINT64_MAX;
	assert_int_equal(ifd_iova_set_ranges(s, &all, 1), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
	check_free(s, want_free2, 2);
	release_ok(s, 0x2400, 0x800);
	check_free(s, &all, 1);
	ifd_iova_space_destroy(s);
}

static void test_top_of_space(void **state)
{
	struct ifd_iova_space *s = new_space();
	const uint64_t top = UINT64_MAX;

	(void)state;
	/* The whole space minus one byte, then that byte. */
	alloc_at(s, UINT64_MAX, 1, 0);
	assert_int_equal(ifd_iova_free_bytes(s), 1);
	alloc_fails(s, 2, 1, 0, UINT64_MAX, -ENOSPC);
	alloc_at(s, 1, 1, top);
	assert_int_equal(ifd_iova_free_bytes(s), 0);
	alloc_fails(s, 1, 1, 0, UINT64_MAX, -ENOSPC);
	release_ok(s, top, 1);
	release_ok(s, 0, UINT64_MAX);
	assert_int_equal(ifd_iova_free_bytes(s), UINT64_MAX);
	assert_int_equal(ifd_iova_get_free(s, NULL, 0), 1);

	/* Halves at the largest alignment. */
	alloc_at(s, 1ULL << 63, 1ULL << 63, 0);
	alloc_at(s, 1ULL << 63, 1ULL << 63, 1ULL << 63);
	alloc_fails(s, 1, 1, 0, UINT64_MAX, -ENOSPC);
	release_ok(s, 0, 1ULL << 63);
	release_ok(s, 1ULL << 63, 1ULL << 63);

	/* A range ending at UINT64_MAX; allocations up to the last byte. */
	set1(s, top - 0xffff, top);
	alloc_at(s, 0x8000, 0x8000, top - 0xffff);
	alloc_at(s, 0x7fff, 1, top - 0x7fff);
	alloc_at(s, 1, 1, top);
	alloc_fails(s, 1, 1, 0, UINT64_MAX, -ENOSPC);
	release_ok(s, top, 1);
	claim_ok(s, top, 1);
	assert_int_equal(ifd_iova_claim(s, top, 1), -EEXIST);
	release_ok(s, top - 0x7fff, 0x8000);
	/* Aligned start would round past 2^64: must fail, not wrap to 0. */
	alloc_fails(s, 1, 1ULL << 20, 0, UINT64_MAX, -ENOSPC);
	alloc_fails(s, 1, 0x10000, top - 0x7fff, UINT64_MAX, -ENOSPC);
	assert_int_equal(alloc_ok(s, 0x10, 0x10, top - 0x7ffe, UINT64_MAX),
			 top - 0x7fef);
	assert_int_equal(alloc_ok(s, 1, 1, top, top), top);
	/* [top - 0x7fff, top - 0x7ff0] is still free in between. */
	assert_int_equal(ifd_iova_release(s, top - 0x7fff, 0x8000), -ENOENT);
	release_ok(s, top - 0x7fef, 0x10);
	release_ok(s, top, 1);
	release_ok(s, top - 0xffff, 0x8000);
	assert_int_equal(ifd_iova_free_bytes(s), 0x10000);
	ifd_iova_space_destroy(s);
}

/* ---- -ENOMEM: every failing call must leave the state untouched ---- */

static bool wrap_active(void)
{
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_range r = { 0, 100 };
	unsigned long before = wrap_calls;

	/* set_ranges always copies the input array with malloc(). */
	assert_int_equal(ifd_iova_set_ranges(s, &r, 1), 0);
	ifd_iova_space_destroy(s);
	return wrap_calls != before;
}

/* Fail the k-th malloc for k = 1, 2, ... until the operation succeeds. */
#define SWEEP(s, call)                                                   \
	do {                                                             \
		unsigned long k_;                                        \
		int ret_;                                                \
		for (k_ = 1;; k_++) {                                    \
			struct snap sn_;                                 \
			snap_take(s, &sn_);                              \
			fail_nth = k_;                                   \
			ret_ = (call);                                   \
			fail_nth = 0;                                    \
			if (ret_ == 0) {                                 \
				snap_free(&sn_);                         \
				break;                                   \
			}                                                \
			assert_int_equal(ret_, -ENOMEM);                 \
			snap_check_same(s, &sn_);                        \
			snap_free(&sn_);                                 \
			failures++;                                      \
		}                                                        \
		assert_int_equal(ifd_iova_validate(s), 0);               \
	} while (0)

static void test_enomem(void **state)
{
	struct ifd_iova_space *s;
	struct ifd_iova_range three[] = { { 0, 0xffff },
					  { 0x20000, 0x2ffff },
					  { 0x40000, 0x4ffff } };
	unsigned long failures = 0;
	uint64_t a = 0;
	int i;

	(void)state;
	if (!wrap_active()) {
		print_message("not linked with -Wl,--wrap=malloc: skipping\n");
		skip();
	}
	s = new_space();
	SWEEP(s, ifd_iova_set_ranges(s, three, 3));
	/* Split the middle of a free interval: needs a node. */
	SWEEP(s, ifd_iova_claim(s, 0x100, 0x100));
	SWEEP(s, ifd_iova_claim(s, 0x300, 0x100));
	SWEEP(s, ifd_iova_alloc(s, 0x10, 0x100, 0x480, UINT64_MAX, &a));
	assert_int_equal(a, 0x500);
	/* Free between two allocations, not adjacent to free space. */
	SWEEP(s, ifd_iova_claim(s, 0x800, 0x400));
	SWEEP(s, ifd_iova_release(s, 0x900, 0x100));
	/* Rebuild with many free intervals: failure deep into the rebuild. */
	for (i = 0; i < 40; i++)
		claim_ok(s, 0x20000 + (uint64_t)i * 0x200, 0x100);
	three[2].last = 0x5ffff;
	SWEEP(s, ifd_iova_set_ranges(s, three, 3));
	print_message("%lu injected allocation failures, all clean\n",
		      failures);
	assert_true(failures >= 45);
	ifd_iova_space_destroy(s);
}

/* ---- randomized comparison against a byte map ---- */

enum { REF_N = 1024, MAX_TRACK = 4096 };
enum { UNUSABLE = 0, FREE = 1, USED = 2 };

struct ref {
	uint64_t base;
	uint8_t st[REF_N];
};

struct track {
	uint64_t iova, len;
};

/* Whether absolute [a, b] lies in the modelled window; fills offsets. */
static bool ref_window(const struct ref *m, uint64_t a, uint64_t b,
		       size_t *oa, size_t *ob)
{
	if (a < m->base || b - m->base >= REF_N || a > b)
		return false;
	*oa = (size_t)(a - m->base);
	*ob = (size_t)(b - m->base);
	return true;
}

static bool ref_all(const struct ref *m, size_t oa, size_t ob, uint8_t v)
{
	size_t i;

	for (i = oa; i <= ob; i++)
		if (m->st[i] != v)
			return false;
	return true;
}

static bool ref_any(const struct ref *m, size_t oa, size_t ob, uint8_t v)
{
	size_t i;

	for (i = oa; i <= ob; i++)
		if (m->st[i] == v)
			return true;
	return false;
}

static void ref_fill(struct ref *m, size_t oa, size_t ob, uint8_t v)
{
	memset(m->st + oa, v, ob - oa + 1);
}

static int ref_alloc(const struct ref *m, uint64_t len, uint64_t align,
		     uint64_t min, uint64_t max_last, uint64_t *out)
{
	size_t run[REF_N + 1], o;

	if (!len || !align || (align & (align - 1)) || min > max_last)
		return -EINVAL;
	run[REF_N] = 0;
	for (o = REF_N; o-- > 0;)
		run[o] = m->st[o] == FREE ? run[o + 1] + 1 : 0;
	for (o = 0; o < REF_N; o++) {
		uint64_t a = m->base + o;

		if (a < min || (a & (align - 1)) || run[o] < len)
			continue;
		if (a + (len - 1) > max_last)
			break;	/* later starts end even higher */
		*out = a;
		return 0;
	}
	return -ENOSPC;
}

static int ref_claim(struct ref *m, uint64_t iova, uint64_t len)
{
	size_t oa = 0, ob = 0;

	if (!len || len - 1 > UINT64_MAX - iova)
		return -EINVAL;
	if (!ref_window(m, iova, iova + (len - 1), &oa, &ob) ||
	    ref_any(m, oa, ob, UNUSABLE))
		return -ERANGE;
	if (ref_any(m, oa, ob, USED))
		return -EEXIST;
	ref_fill(m, oa, ob, USED);
	return 0;
}

static int ref_release(struct ref *m, uint64_t iova, uint64_t len)
{
	size_t oa = 0, ob = 0;

	if (!len || len - 1 > UINT64_MAX - iova)
		return -EINVAL;
	if (!ref_window(m, iova, iova + (len - 1), &oa, &ob) ||
	    !ref_all(m, oa, ob, USED))
		return -ENOENT;
	ref_fill(m, oa, ob, FREE);
	return 0;
}

static int ref_set_ranges(struct ref *m, const struct ifd_iova_range *r,
			  size_t n)
{
	uint8_t in[REF_N];
	size_t i, oa = 0, ob = 0;

	memset(in, 0, sizeof(in));
	for (i = 0; i < n; i++) {
		if (r[i].start > r[i].last)
			return -EINVAL;
		assert_true(ref_window(m, r[i].start, r[i].last, &oa, &ob));
		memset(in + oa, 1, ob - oa + 1);
	}
	for (i = 0; i < REF_N; i++)
		if (m->st[i] == USED && !in[i])
			return -EBUSY;
	for (i = 0; i < REF_N; i++)
		if (m->st[i] != USED)
			m->st[i] = in[i] ? FREE : UNUSABLE;
	return 0;
}

/* Maximal runs of bytes for which keep(state) holds, as absolute ranges. */
static size_t ref_runs(const struct ref *m, bool (*keep)(uint8_t),
		       struct ifd_iova_range *out)
{
	size_t i, n = 0;

	for (i = 0; i < REF_N; i++) {
		if (!keep(m->st[i]))
			continue;
		if (n && out[n - 1].last + 1 == m->base + i) {
			out[n - 1].last++;
		} else {
			out[n].start = out[n].last = m->base + i;
			n++;
		}
	}
	return n;
}

static bool is_free(uint8_t v)
{
	return v == FREE;
}

static bool is_usable(uint8_t v)
{
	return v != UNUSABLE;
}

static void ref_compare(const struct ifd_iova_space *s, const struct ref *m)
{
	static struct ifd_iova_range want[REF_N], got[REF_N];
	size_t n;

	n = ref_runs(m, is_free, want);
	assert_int_equal(ifd_iova_get_free(s, got, REF_N), n);
	assert_memory_equal(got, want, n * sizeof(*got));
	n = ref_runs(m, is_usable, want);
	assert_int_equal(ifd_iova_get_ranges(s, got, REF_N), n);
	assert_memory_equal(got, want, n * sizeof(*got));
}

/* An address in or just around the window, sometimes far away. */
static uint64_t pick_addr(struct rng *r, uint64_t base)
{
	switch (rng_below(r, 16)) {
	case 0:
		return rng_next(r);
	case 1:
		return base - 1 - rng_below(r, 8);	/* may wrap: fine */
	case 2:
		return base + REF_N + rng_below(r, 8);	/* may wrap: fine */
	default:
		return base + rng_below(r, REF_N);
	}
}

static uint64_t pick_len(struct rng *r)
{
	switch (rng_below(r, 16)) {
	case 0:
		return 1 + rng_below(r, REF_N);
	case 1:
		return rng_below(r, 2) ? UINT64_MAX : rng_next(r);
	case 2:
		return 0;
	default:
		return 1 + rng_below(r, rng_below(r, 2) ? 8 : 64);
	}
}

static uint64_t pick_align(struct rng *r)
{
	switch (rng_below(r, 20)) {
	case 0:
		return 1ULL << rng_below(r, 64);
	case 1:
		return rng_below(r, 2) ? 3 : 0;
	default:
		return 1ULL << rng_below(r, 8);
	}
}

/* Outcome counts per operation, so a run can prove it reached each path. */
enum { K_ALLOC, K_CLAIM, K_RELEASE, K_SET, K_N };
static const int outcomes[] = { 0, -EINVAL, -ENOSPC, -ERANGE, -EEXIST,
				-ENOENT, -EBUSY };
enum { O_N = sizeof(outcomes) / sizeof(outcomes[0]) };

struct rand_stats {
	unsigned long n[K_N][O_N];
	uint64_t free_sum;
};

static unsigned long *outcome(struct rand_stats *rs, int kind, int ret)
{
	size_t i;

	for (i = 0; i < O_N; i++)
		if (outcomes[i] == ret)
			return &rs->n[kind][i];
	fail_msg("unexpected return %d", ret);
	return NULL;
}

static void run_random(uint64_t seed, uint64_t base, unsigned long ops)
{
	static struct ref m;
	static struct track tr[MAX_TRACK];
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_range rr[6];
	struct rng r = { seed };
	struct rand_stats rs;
	size_t ntr = 0;
	unsigned long op;
	int kind;

	memset(&rs, 0, sizeof(rs));
	memset(&m, 0, sizeof(m));
	m.base = base;
	rr[0].start = base;
	rr[0].last = base + REF_N - 1;
	assert_int_equal(ifd_iova_set_ranges(s, rr, 1), 0);
	assert_int_equal(ref_set_ranges(&m, rr, 1), 0);

	for (op = 0; op < ops; op++) {
		/*
		 * Cycle through mixed, draining and filling phases (percent
		 * thresholds for alloc, claim, release; the rest set_ranges),
		 * so the map is seen nearly empty, fragmented and full.
		 */
		static const unsigned int mix[3][3] = {
			{ 50, 62, 90 }, { 20, 25, 90 }, { 70, 85, 95 },
		};
		const unsigned int *th = mix[(op / 3000) % 3];
		unsigned int what = (unsigned int)rng_below(&r, 100);
		int want, got;
		uint64_t a = 0, b = 0, len = 0;
		struct track rest = { 0, 0 };

		if (what < th[0]) {
			uint64_t align = pick_align(&r);
			uint64_t min = 0, max_last = UINT64_MAX;

			kind = 0;
			len = pick_len(&r);
			if (rng_below(&r, 4) == 0)
				min = pick_addr(&r, base);
			if (rng_below(&r, 4) == 0)
				max_last = pick_addr(&r, base);
			want = ref_alloc(&m, len, align, min, max_last, &a);
			got = ifd_iova_alloc(s, len, align, min, max_last, &b);
			assert_int_equal(got, want);
			if (!got) {
				assert_int_equal(b, a);
				assert_int_equal(ref_claim(&m, a, len), 0);
			}
		} else if (what < th[1]) {
			kind = 1;
			a = pick_addr(&r, base);
			len = pick_len(&r);
			want = ref_claim(&m, a, len);
			got = ifd_iova_claim(s, a, len);
			assert_int_equal(got, want);
		} else if (what < th[2]) {
			kind = 2;
			if (ntr && rng_below(&r, 4)) {
				size_t k = (size_t)rng_below(&r, ntr);

				a = tr[k].iova;
				len = tr[k].len;
				tr[k] = tr[--ntr];
				/* Sometimes only part of it; track the rest. */
				if (len > 2 && rng_below(&r, 4) == 0) {
					uint64_t cut = 1 + rng_below(&r, len - 1);

					rest.len = cut;
					if (rng_below(&r, 2)) {
						rest.iova = a;
						a += cut;
					} else {
						rest.iova = a + len - cut;
					}
					len -= cut;
				}
			} else {
				a = pick_addr(&r, base);
				len = pick_len(&r);
			}
			want = ref_release(&m, a, len);
			got = ifd_iova_release(s, a, len);
			assert_int_equal(got, want);
			if (!got && rest.len && ntr < MAX_TRACK)
				tr[ntr++] = rest;
		} else {
			size_t n = 1 + (size_t)rng_below(&r, 5), i;

			kind = 3;
			for (i = 0; i < n; i++) {
				/* Whole window: accepted whatever is live. */
				if (i == 0 && rng_below(&r, 4) == 0) {
					rr[0].start = base;
					rr[0].last = base + REF_N - 1;
					continue;
				}
				uint64_t x = rng_below(&r, REF_N);
				uint64_t y = rng_below(&r, REF_N);

				/* Wide ranges often, so changes are accepted. */
				if (rng_below(&r, 3) == 0) {
					x = rng_below(&r, 64);
					y = REF_N - 1 - rng_below(&r, 64);
				}
				rr[i].start = base + (x < y ? x : y);
				rr[i].last = base + (x < y ? y : x);
			}
			if (rr[0].start < rr[0].last &&
			    rng_below(&r, 50) == 0) {
				uint64_t t = rr[0].start;

				rr[0].start = rr[0].last;
				rr[0].last = t;
				kind = 4;	/* -EINVAL */
			}
			want = ref_set_ranges(&m, rr, n);
			got = ifd_iova_set_ranges(s, rr, n);
			assert_int_equal(got, want);
		}
		++*outcome(&rs, kind == 4 ? K_SET : kind, got);
		rs.free_sum += ifd_iova_free_bytes(s);
		/* Remember successful allocations/claims for later release. */
		if (!got && (kind == 0 || kind == 1) && ntr < MAX_TRACK) {
			tr[ntr].iova = kind == 0 ? b : a;
			tr[ntr].len = len;
			ntr++;
		}
		assert_int_equal(ifd_iova_validate(s), 0);
		if (op % 64 == 0)
			ref_compare(s, &m);
	}
	ref_compare(s, &m);
	print_message("base %#llx, mean free %.0f of %d bytes\n"
		      "          ok EINVAL ENOSPC ERANGE EEXIST ENOENT EBUSY\n",
		      (unsigned long long)base, (double)rs.free_sum / (double)ops,
		      REF_N);
	for (kind = 0; kind < K_N; kind++) {
		static const char *const names[] = { "alloc", "claim",
						     "release", "set" };
		print_message("  %-7s %5lu %6lu %6lu %6lu %6lu %6lu %5lu\n",
			      names[kind], rs.n[kind][0], rs.n[kind][1],
			      rs.n[kind][2], rs.n[kind][3], rs.n[kind][4],
			      rs.n[kind][5], rs.n[kind][6]);
	}
	/* Every outcome each call can produce must actually have occurred. */
	for (kind = 0; kind < K_N; kind++)
		assert_true(rs.n[kind][0] > 100 && rs.n[kind][1] > 100);
	assert_true(rs.n[K_ALLOC][2] > 100);
	assert_true(rs.n[K_CLAIM][3] > 100 && rs.n[K_CLAIM][4] > 100);
	assert_true(rs.n[K_RELEASE][5] > 100);
	assert_true(rs.n[K_SET][6] > 100);
	ifd_iova_space_destroy(s);
}

static void test_random_low(void **state)
{
	(void)state;
	run_random(0x243f6a8885a308d3ULL, 0, 100000);
}

static void test_random_top(void **state)
{
	(void)state;
	run_random(0x13198a2e03707344ULL, UINT64_MAX - (REF_N - 1), 100000);
}

static void test_random_odd_base(void **state)
{
	/* A window that is not aligned to anything large. */
	(void)state;
	run_random(0xa4093822299f31d0ULL, 0x123456789abcd3ULL, 100000);
}

/* ---- scaling: nodes visited, not time ---- */

static unsigned int ceil_log2(uint64_t x)
{
	unsigned int k = 0;

	while (k < 64 && (1ULL << k) < x)
		k++;
	return k;
}

/* A small multiple of log2 f: about two root-to-leaf paths of an AVL tree. */
static uint64_t visit_bound(size_t f)
{
	return 3 * (uint64_t)ceil_log2(f) + 4;
}

static uint64_t visits_of(struct ifd_iova_space *s, uint64_t len,
			  uint64_t align, uint64_t min, uint64_t max_last,
			  uint64_t expect)
{
	struct ifd_iova_stats st;
	uint64_t a = alloc_ok(s, len, align, min, max_last);

	if (expect != UINT64_MAX)
		assert_int_equal(a, expect);
	ifd_iova_get_stats(s, &st);
	release_ok(s, a, len);
	return st.last_alloc_visits;
}

static void test_scaling(void **state)
{
	enum { LIVE = 10000 };
	struct ifd_iova_space *s = new_space();
	static uint64_t addr[2 * LIVE], size[2 * LIVE];
	struct ifd_iova_stats st;
	struct rng r = { 0xb7e151628aed2a6bULL };
	const uint64_t base = 1ULL << 30;
	uint64_t v, vmax = 0, vsum = 0, bound;
	int i, n;

	(void)state;
	set1(s, 0, (1ULL << 48) - 1);
	claim_ok(s, 0, base);	/* keep the interesting part off zero */
	/* 2 * LIVE pages, then free every other: LIVE live allocations. */
	for (i = 0; i < 2 * LIVE; i++)
		assert_int_equal(alloc_fast(s, PG, PG), base + (uint64_t)i * PG);
	for (i = 0; i < 2 * LIVE; i += 2)
		release_fast(s, base + (uint64_t)i * PG, PG);
	assert_int_equal(ifd_iova_validate(s), 0);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, LIVE + 1);
	bound = visit_bound(st.free_intervals);

	v = visits_of(s, PG, PG, 0, UINT64_MAX, base);
	print_message("f=%zu height=%d ceil(log2 f)=%u; bound %llu\n",
		      st.free_intervals, st.tree_height,
		      ceil_log2(st.free_intervals), (unsigned long long)bound);
	print_message("  first hole (4K):            %llu visits\n",
		      (unsigned long long)v);
	assert_true(v <= bound);
	v = visits_of(s, 2 * PG, PG, 0, UINT64_MAX, base + 2 * LIVE * PG);
	print_message("  skip all holes (8K):        %llu visits\n",
		      (unsigned long long)v);
	assert_true(v <= bound);
	v = visits_of(s, PG, PG, base + LIVE * PG + 1, UINT64_MAX,
		      base + (LIVE + 2) * PG);
	print_message("  min in the middle (4K):     %llu visits\n",
		      (unsigned long long)v);
	assert_true(v <= bound);
	v = visits_of(s, PG, PG, base + LIVE * PG + 1,
		      base + (LIVE + 3) * PG - 1, base + (LIVE + 2) * PG);
	print_message("  narrow [min, max_last]:     %llu visits\n",
		      (unsigned long long)v);
	assert_true(v <= bound);
	alloc_fails(s, 2 * PG, PG, 0, base + 2 * LIVE * PG, -ENOSPC);
	ifd_iova_get_stats(s, &st);
	print_message("  no fit under max_last (8K): %llu visits\n",
		      (unsigned long long)st.last_alloc_visits);
	assert_true(st.last_alloc_visits <= bound);

	/*
	 * Random page-multiple sizes, always page aligned: no hole can be
	 * "unlucky", so every search must stay logarithmic. Keep LIVE
	 * allocations alive while churning.
	 */
	for (i = 0; i < 2 * LIVE; i += 2)
		release_fast(s, base + (uint64_t)(i + 1) * PG, PG);
	assert_int_equal(ifd_iova_get_free(s, NULL, 0), 1);
	for (i = 0; i < LIVE; i++) {
		size[i] = PG * (1 + rng_below(&r, 16));
		addr[i] = alloc_fast(s, size[i], PG);
	}
	/* Fragment: free a random half, then refill to LIVE live. */
	for (i = 0; i < LIVE; i++) {
		if (rng_below(&r, 2)) {
			release_fast(s, addr[i], size[i]);
			size[i] = PG * (1 + rng_below(&r, 16));
			addr[i] = alloc_fast(s, size[i], PG);
		}
	}
	assert_int_equal(ifd_iova_validate(s), 0);
	for (n = 0; n < 20000; n++) {
		int k = (int)rng_below(&r, LIVE);

		release_fast(s, addr[k], size[k]);
		size[k] = PG * (1 + rng_below(&r, 16));
		addr[k] = alloc_fast(s, size[k], PG);
		if (n % 1000 == 0)
			assert_int_equal(ifd_iova_validate(s), 0);
		ifd_iova_get_stats(s, &st);
		v = st.last_alloc_visits;
		vsum += v;
		if (v > vmax)
			vmax = v;
		bound = visit_bound(st.free_intervals);
		assert_true(v <= bound);
	}
	print_message("  random 1-16 pages, %d live, %zu free intervals, "
		      "height %d: mean %.1f, max %llu visits\n",
		      LIVE, st.free_intervals, st.tree_height,
		      (double)vsum / 20000, (unsigned long long)vmax);
	ifd_iova_space_destroy(s);
}

/*
 * The documented worst case, measured rather than bounded: many holes of
 * exactly len that all start misaligned. First fit must still be exact.
 */
static void test_unlucky_alignment(void **state)
{
	enum { HOLES = 10000 };
	struct ifd_iova_space *s = new_space();
	struct ifd_iova_stats st;
	int i;

	(void)state;
	set1(s, 0, (1ULL << 40) - 1);
	/* Holes [0x800 + 2i*PG, 0x800 + (2i+1)*PG - 1]: 4K, all misaligned. */
	claim_ok(s, 0, 0x800);
	for (i = 0; i < HOLES; i++)
		assert_int_equal(ifd_iova_claim(s, 0x800 + (2 * (uint64_t)i + 1) *
						PG, PG), 0);
	assert_int_equal(ifd_iova_validate(s), 0);
	ifd_iova_get_stats(s, &st);
	assert_int_equal(st.free_intervals, HOLES + 1);
	assert_int_equal(alloc_ok(s, PG, PG, 0, UINT64_MAX),
			 0x800 + 2 * (uint64_t)HOLES * PG + 0x800);
	ifd_iova_get_stats(s, &st);
	print_message("%d misaligned exact-size holes: %llu visits "
		      "(O(f) by design, see iova.c)\n",
		      HOLES, (unsigned long long)st.last_alloc_visits);
	assert_true(st.last_alloc_visits >= HOLES);
	/* Without alignment the first hole fits at once. */
	assert_int_equal(alloc_ok(s, PG, 1, 0, UINT64_MAX), 0x800);
	ifd_iova_get_stats(s, &st);
	assert_true(st.last_alloc_visits <= visit_bound(HOLES + 1));
	ifd_iova_space_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_ranges_merge),
		cmocka_unit_test(test_multiple_ranges),
		cmocka_unit_test(test_alignment_luck),
		cmocka_unit_test(test_min_max_limits),
		cmocka_unit_test(test_exact_fit),
		cmocka_unit_test(test_fragment_coalesce),
		cmocka_unit_test(test_exhaustion_unchanged),
		cmocka_unit_test(test_claim_errors),
		cmocka_unit_test(test_release_errors),
		cmocka_unit_test(test_set_ranges_busy),
		cmocka_unit_test(test_top_of_space),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_random_low),
		cmocka_unit_test(test_random_top),
		cmocka_unit_test(test_random_odd_base),
		cmocka_unit_test(test_scaling),
		cmocka_unit_test(test_unlucky_alignment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
