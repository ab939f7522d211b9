/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * IOVA allocator for one I/O address space.
 *
 * Internal to libiommufd. Not thread-safe: the caller serialises access.
 *
 * Free space = usable ranges minus everything claimed or allocated. Claims
 * double as reservations (e.g. an MSI window the caller must never hand
 * out): both are simply "not free", and the allocator does not remember
 * individual allocations, so the caller keeps the bounds it was given and
 * releases with exactly those.
 *
 * All ranges are closed, [start, last], so the whole 64-bit space is
 * representable; lengths are uint64_t, so the largest single allocation is
 * UINT64_MAX bytes (2^64 - 1).
 */
#ifndef IFD_IOVA_H
#define IFD_IOVA_H

#include <stddef.h>
#include <stdint.h>

struct ifd_iova_range {
	uint64_t start, last;	/* inclusive */
};

struct ifd_iova_space;

/* Initially the whole 64-bit space is usable and nothing is allocated. */
int ifd_iova_space_create(struct ifd_iova_space **out);
void ifd_iova_space_destroy(struct ifd_iova_space *s);	/* NULL ok */

/*
 * Replace the usable ranges; order does not matter and overlapping or
 * adjacent ranges are merged. -EINVAL: n == 0, r == NULL or start > last.
 * -EBUSY: some claimed/allocated byte would fall outside the new ranges.
 * -ENOMEM. On any error nothing changes. O(n log n + f log f) for f free
 * intervals.
 */
int ifd_iova_set_ranges(struct ifd_iova_space *s, const struct ifd_iova_range *r,
			size_t n);

/*
 * The current usable ranges (before subtracting allocations), sorted and
 * merged. Returns how many there are; copies at most max of them.
 */
size_t ifd_iova_get_ranges(const struct ifd_iova_space *s,
			   struct ifd_iova_range *r, size_t max);

/*
 * Claim exactly [iova, iova + len - 1]. -EINVAL: len == 0 or the end
 * overflows. -ERANGE: not entirely inside one usable range. -EEXIST: overlaps
 * something already claimed/allocated. -ENOMEM. O(log f).
 */
int ifd_iova_claim(struct ifd_iova_space *s, uint64_t iova, uint64_t len);

/*
 * Allocate len bytes at the lowest address that is a multiple of align (a
 * power of two), >= min, and whose last byte is <= max_last (UINT64_MAX for
 * no limit). -EINVAL: len == 0, bad align, min > max_last. -ENOSPC: no fit.
 * -ENOMEM. On error nothing changes. See iova.c for the complexity.
 */
int ifd_iova_alloc(struct ifd_iova_space *s, uint64_t len, uint64_t align,
		   uint64_t min, uint64_t max_last, uint64_t *iova);

/*
 * Return [iova, iova + len - 1] to the free space, coalescing with free
 * neighbours. -EINVAL: len == 0 or the end overflows. -ENOENT: not entirely
 * claimed/allocated. -ENOMEM. O(log f).
 */
int ifd_iova_release(struct ifd_iova_space *s, uint64_t iova, uint64_t len);

/*
 * The free intervals (usable minus claimed/allocated), sorted. Returns how
 * many there are; copies at most max of them. O(f); for tests, debugging
 * and state dumps.
 */
size_t ifd_iova_get_free(const struct ifd_iova_space *s,
			 struct ifd_iova_range *r, size_t max);

/* Total free bytes, saturating at UINT64_MAX. O(f); meant for tests/stats. */
uint64_t ifd_iova_free_bytes(const struct ifd_iova_space *s);

struct ifd_iova_stats {
	size_t free_intervals;	/* nodes in the free tree */
	int tree_height;	/* of the free tree, 0 when empty */
	/* Free-tree nodes examined by the most recent ifd_iova_alloc(). */
	uint64_t last_alloc_visits;
	uint64_t total_alloc_visits;
	uint64_t allocs;	/* ifd_iova_alloc() calls past argument checks */
};

void ifd_iova_get_stats(const struct ifd_iova_space *s,
			struct ifd_iova_stats *st);

/*
 * Debug aid: checks the free tree (see ifd_itree_validate()) and that the
 * free intervals are sorted, disjoint, never adjacent (fully coalesced) and
 * each inside one usable range, and that the usable ranges are sorted,
 * merged and non-empty in number. O(f + r). Returns 0 or -EFAULT.
 */
int ifd_iova_validate(const struct ifd_iova_space *s);

#endif /* IFD_IOVA_H */
