/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * IOVA allocator; see iova.h.
 *
 * The state is the sorted, merged array of usable ranges plus a balanced tree
 * of the FREE intervals (disjoint, never adjacent: release always coalesces).
 * Allocated space is implicit: usable minus free. Tracking free space instead
 * of allocations makes a first-fit search a tree descent, and makes "is this
 * range entirely allocated?" a single lookup.
 *
 * The free tree reuses the itree AVL code with a custom augmentation: a
 * node's subtree_last holds the largest (last - start) of any free interval
 * in its subtree. Storing size - 1 rather than size keeps the whole 64-bit
 * space (2^64 bytes) representable.
 */
#include "iova.h"
#include "itree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ifd_iova_space {
	struct ifd_itree free;
	struct ifd_iova_range *ranges;	/* sorted, merged, nranges >= 1 */
	size_t nranges;
	/*
	 * Alloc/release churn alternately splits and merges free intervals,
	 * needing a node and then freeing one; caching one saves a malloc/free
	 * pair per cycle.
	 */
	struct ifd_itree_node *spare;
	uint64_t last_visits, total_visits, allocs;
};

/* What subtree_last holds in the free tree: the largest (last - start). */
static inline uint64_t span_max(const struct ifd_itree_node *n)
{
	return n->subtree_last;
}

static void augment_span(struct ifd_itree_node *n)
{
	uint64_t m = n->last - n->start;

	if (n->left && span_max(n->left) > m)
		m = span_max(n->left);
	if (n->right && span_max(n->right) > m)
		m = span_max(n->right);
	n->subtree_last = m;
}

static struct ifd_itree_node *get_node(struct ifd_iova_space *s)
{
	struct ifd_itree_node *n = s->spare;

	if (n) {
		s->spare = NULL;
		return n;
	}
	return malloc(sizeof(*n));
}

static void put_node(struct ifd_iova_space *s, struct ifd_itree_node *n)
{
	if (!s->spare)
		s->spare = n;
	else
		free(n);
}

static void free_tree_nodes(struct ifd_itree *t)
{
	struct ifd_itree_node *n = ifd_itree_postorder_first(t), *next;

	for (; n; n = next) {
		next = ifd_itree_postorder_next(n);
		free(n);
	}
	t->root = NULL;
	t->count = 0;
}

int ifd_iova_space_create(struct ifd_iova_space **out)
{
	struct ifd_iova_space *s = calloc(1, sizeof(*s));
	struct ifd_itree_node *n;

	if (!s)
		return -ENOMEM;
	s->ranges = malloc(sizeof(*s->ranges));
	n = malloc(sizeof(*n));
	if (!s->ranges || !n) {
		free(n);
		free(s->ranges);
		free(s);
		return -ENOMEM;
	}
	s->ranges[0].start = 0;
	s->ranges[0].last = UINT64_MAX;
	s->nranges = 1;
	ifd_itree_init_augmented(&s->free, augment_span);
	n->start = 0;
	n->last = UINT64_MAX;
	ifd_itree_insert(&s->free, n);
	*out = s;
	return 0;
}

void ifd_iova_space_destroy(struct ifd_iova_space *s)
{
	if (!s)
		return;
	free_tree_nodes(&s->free);
	free(s->spare);
	free(s->ranges);
	free(s);
}

/* Whether [a, b] lies inside one usable range. O(log r). */
static bool in_usable(const struct ifd_iova_space *s, uint64_t a, uint64_t b)
{
	size_t lo = 0, hi = s->nranges;

	/* Find the last range starting at or before a. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ranges[mid].start <= a)
			lo = mid;
		else
			hi = mid;
	}
	return s->ranges[lo].start <= a && b <= s->ranges[lo].last;
}

/*
 * Take [a, b] out of free interval n, which contains it. Any failure happens
 * before the tree is touched. Shrinking n in place never moves it past a
 * neighbour, so only the augmented path needs refreshing.
 */
static int carve(struct ifd_iova_space *s, struct ifd_itree_node *n,
		 uint64_t a, uint64_t b)
{
	if (n->start == a && n->last == b) {
		ifd_itree_remove(&s->free, n);
		put_node(s, n);
	} else if (n->start == a) {
		n->start = b + 1;
		ifd_itree_update(&s->free, n);
	} else if (n->last == b) {
		n->last = a - 1;
		ifd_itree_update(&s->free, n);
	} else {
		struct ifd_itree_node *tail = get_node(s);

		if (!tail)
			return -ENOMEM;
		tail->start = b + 1;
		tail->last = n->last;
		n->last = a - 1;
		ifd_itree_update(&s->free, n);
		ifd_itree_insert(&s->free, tail);
	}
	return 0;
}

/* len == 0 or an end past UINT64_MAX cannot describe a range. */
static bool bad_extent(uint64_t iova, uint64_t len)
{
	return len == 0 || len - 1 > UINT64_MAX - iova;
}

int ifd_iova_claim(struct ifd_iova_space *s, uint64_t iova, uint64_t len)
{
	struct ifd_itree_node *n;
	uint64_t last;

	if (bad_extent(iova, len))
		return -EINVAL;
	last = iova + (len - 1);
	if (!in_usable(s, iova, last))
		return -ERANGE;
	/* Inside a usable range, whatever is not free is allocated. */
	n = ifd_itree_find_le(&s->free, iova);
	if (!n || n->last < last)
		return -EEXIST;
	return carve(s, n, iova, last);
}

struct fit_query {
	uint64_t len_m1, mask, min, max_last;
	uint64_t visits;
	uint64_t addr;	/* result */
};

/* Lowest acceptable address inside free interval n, if any. */
static bool fits(struct fit_query *q, const struct ifd_itree_node *n)
{
	uint64_t lo = n->start > q->min ? n->start : q->min;
	uint64_t hi = n->last < q->max_last ? n->last : q->max_last;
	uint64_t rem;

	if (lo > hi)
		return false;
	rem = lo & q->mask;
	if (rem) {
		uint64_t step = q->mask - rem + 1;

		/* Rounding past UINT64_MAX would also pass hi: no fit. */
		if (step > hi - lo)
			return false;
		lo += step;
	}
	if (hi - lo < q->len_m1)
		return false;
	q->addr = lo;
	return true;
}

/*
 * First fit: the in-order first free interval that can hold the request.
 * Free intervals are disjoint and sorted, so the first that fits also holds
 * the lowest fitting address.
 *
 * Pruning: a subtree whose largest hole is smaller than len is skipped
 * whole; a node starting above max_last rules out itself and its right
 * subtree; a node ending below min rules out itself and its left subtree.
 *
 * Complexity, for f free intervals (the tree height is < 1.45 log2 f):
 * - align == 1: every subtree entered holds a hole of >= len bytes, and such
 *   a hole can only fail if min or max_last clips it; at most two free
 *   intervals straddle those bounds. So the search costs a small constant
 *   number of root-to-leaf paths: O(log f).
 * - align > 1: a hole of >= len + align - 1 bytes always fits, but a hole
 *   of len .. len + align - 2 bytes fits only if its start happens to sit
 *   well for the alignment. The size augmentation cannot tell those apart,
 *   so each such unlucky hole below the answer costs up to a path of visits:
 *   worst case O(f), e.g. thousands of len-sized holes all misaligned.
 *   When sizes and hole boundaries are all multiples of align (the usual
 *   page-granular case) no hole is unlucky and the search is O(log f).
 * Skipping unlucky holes would make the first fit inexact, which the API
 * promises not to do.
 */
static struct ifd_itree_node *search(struct fit_query *q,
				     struct ifd_itree_node *n)
{
	while (n) {
		struct ifd_itree_node *r;

		q->visits++;
		if (span_max(n) < q->len_m1)
			return NULL;
		if (n->start > q->max_last) {
			n = n->left;
			continue;
		}
		if (n->last < q->min) {
			n = n->right;
			continue;
		}
		r = search(q, n->left);
		if (r)
			return r;
		if (fits(q, n))
			return n;
		n = n->right;
	}
	return NULL;
}

int ifd_iova_alloc(struct ifd_iova_space *s, uint64_t len, uint64_t align,
		   uint64_t min, uint64_t max_last, uint64_t *iova)
{
	struct fit_query q;
	struct ifd_itree_node *n;
	int ret;

	if (len == 0 || align == 0 || (align & (align - 1)) || min > max_last)
		return -EINVAL;
	q.len_m1 = len - 1;
	q.mask = align - 1;
	q.min = min;
	q.max_last = max_last;
	q.visits = 0;
	n = q.len_m1 <= max_last - min ? search(&q, s->free.root) : NULL;
	s->last_visits = q.visits;
	s->total_visits += q.visits;
	s->allocs++;
	if (!n)
		return -ENOSPC;
	ret = carve(s, n, q.addr, q.addr + q.len_m1);
	if (ret)
		return ret;
	*iova = q.addr;
	return 0;
}

int ifd_iova_release(struct ifd_iova_space *s, uint64_t iova, uint64_t len)
{
	struct ifd_itree_node *prev, *next;
	uint64_t last;
	bool join_prev, join_next;

	if (bad_extent(iova, len))
		return -EINVAL;
	last = iova + (len - 1);
	if (!in_usable(s, iova, last))
		return -ENOENT;
	/*
	 * Free intervals are disjoint, so the only one that could overlap
	 * [iova, last] is the last one starting at or before `last`.
	 */
	prev = ifd_itree_find_le(&s->free, last);
	if (prev && prev->last >= iova)
		return -ENOENT;
	next = prev ? ifd_itree_next(prev) : ifd_itree_first(&s->free);
	/* prev->last < iova and next->start > last, so no +1 overflows. */
	join_prev = prev && prev->last + 1 == iova;
	join_next = next && next->start == last + 1;

	if (join_prev && join_next) {
		uint64_t end = next->last;

		ifd_itree_remove(&s->free, next);
		put_node(s, next);
		prev->last = end;
		ifd_itree_update(&s->free, prev);
	} else if (join_prev) {
		prev->last = last;
		ifd_itree_update(&s->free, prev);
	} else if (join_next) {
		next->start = iova;
		ifd_itree_update(&s->free, next);
	} else {
		struct ifd_itree_node *n = get_node(s);

		if (!n)
			return -ENOMEM;
		n->start = iova;
		n->last = last;
		ifd_itree_insert(&s->free, n);
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct ifd_iova_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/*
 * Calls fn on each maximal allocated piece of the current state (usable
 * minus free), in address order; stops at the first non-zero return.
 */
static int for_each_allocated(const struct ifd_iova_space *s,
			      int (*fn)(void *ctx, uint64_t a, uint64_t b),
			      void *ctx)
{
	const struct ifd_itree_node *f = ifd_itree_first(&s->free);
	size_t i;
	int ret;

	for (i = 0; i < s->nranges; i++) {
		uint64_t cur = s->ranges[i].start, rl = s->ranges[i].last;
		bool open = true;	/* [cur, rl] not yet accounted for */

		for (; f && f->start <= rl; f = ifd_itree_next(f)) {
			if (f->start > cur) {
				ret = fn(ctx, cur, f->start - 1);
				if (ret)
					return ret;
			}
			if (f->last == rl)
				open = false;
			else
				cur = f->last + 1;
		}
		if (open) {
			ret = fn(ctx, cur, rl);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Walks new ranges in step with the (sorted) allocated pieces. */
struct rebuild {
	const struct ifd_iova_range *r;
	size_t n, j;
	uint64_t cur;
	bool open;	/* [cur, r[j].last] still free as far as seen */
	struct ifd_itree tree;
};

static int check_covered(void *ctx, uint64_t a, uint64_t b)
{
	struct rebuild *rb = ctx;

	while (rb->j < rb->n && rb->r[rb->j].last < a)
		rb->j++;
	if (rb->j == rb->n || rb->r[rb->j].start > a || rb->r[rb->j].last < b)
		return -EBUSY;
	return 0;
}

static int emit_free(struct rebuild *rb, uint64_t a, uint64_t b)
{
	struct ifd_itree_node *n = malloc(sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->start = a;
	n->last = b;
	ifd_itree_insert(&rb->tree, n);
	return 0;
}

/* Only called after check_covered() accepted every piece. */
static int subtract_piece(void *ctx, uint64_t a, uint64_t b)
{
	struct rebuild *rb = ctx;
	int ret;

	while (rb->r[rb->j].last < a) {
		if (rb->open) {
			ret = emit_free(rb, rb->cur, rb->r[rb->j].last);
			if (ret)
				return ret;
		}
		rb->j++;
		rb->cur = rb->r[rb->j].start;
		rb->open = true;
	}
	if (rb->open && rb->cur < a) {
		ret = emit_free(rb, rb->cur, a - 1);
		if (ret)
			return ret;
	}
	if (b == rb->r[rb->j].last) {
		rb->open = false;
	} else {
		rb->cur = b + 1;
		rb->open = true;
	}
	return 0;
}

static int finish_rebuild(struct rebuild *rb)
{
	int ret;

	for (; rb->j < rb->n; rb->j++) {
		if (rb->open) {
			ret = emit_free(rb, rb->cur, rb->r[rb->j].last);
			if (ret)
				return ret;
		}
		if (rb->j + 1 < rb->n) {
			rb->cur = rb->r[rb->j + 1].start;
			rb->open = true;
		}
	}
	return 0;
}

int ifd_iova_set_ranges(struct ifd_iova_space *s, const struct ifd_iova_range *r,
			size_t n)
{
	struct ifd_iova_range *nr;
	struct rebuild rb;
	size_t i, m;
	int ret;

	if (!r || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (r[i].start > r[i].last)
			return -EINVAL;
	if (n > SIZE_MAX / sizeof(*nr))
		return -ENOMEM;
	nr = malloc(n * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	memcpy(nr, r, n * sizeof(*nr));
	qsort(nr, n, sizeof(*nr), cmp_range);
	for (m = 0, i = 1; i < n; i++) {
		/*
		 * Compare start - 1 rather than last + 1, which wraps once a
		 * range reaches UINT64_MAX; start == 0 never gets that far.
		 */
		if (nr[i].start <= nr[m].last ||
		    nr[i].start - 1 == nr[m].last) {
			if (nr[i].last > nr[m].last)
				nr[m].last = nr[i].last;
		} else {
			nr[++m] = nr[i];
		}
	}
	m++;

	memset(&rb, 0, sizeof(rb));
	rb.r = nr;
	rb.n = m;
	ret = for_each_allocated(s, check_covered, &rb);
	if (ret)
		goto fail;

	rb.j = 0;
	rb.cur = nr[0].start;
	rb.open = true;
	ifd_itree_init_augmented(&rb.tree, augment_span);
	ret = for_each_allocated(s, subtract_piece, &rb);
	if (!ret)
		ret = finish_rebuild(&rb);
	if (ret) {
		free_tree_nodes(&rb.tree);
		goto fail;
	}

	free_tree_nodes(&s->free);
	s->free = rb.tree;
	free(s->ranges);
	s->ranges = nr;
	s->nranges = m;
	return 0;
fail:
	free(nr);
	return ret;
}

size_t ifd_iova_get_ranges(const struct ifd_iova_space *s,
			   struct ifd_iova_range *r, size_t max)
{
	size_t k = s->nranges < max ? s->nranges : max;

	if (k)
		memcpy(r, s->ranges, k * sizeof(*r));
	return s->nranges;
}

size_t ifd_iova_get_free(const struct ifd_iova_space *s,
			 struct ifd_iova_range *r, size_t max)
{
	const struct ifd_itree_node *n;
	size_t k = 0;

	for (n = ifd_itree_first(&s->free); n && k < max; n = ifd_itree_next(n)) {
		r[k].start = n->start;
		r[k].last = n->last;
		k++;
	}
	return s->free.count;
}

uint64_t ifd_iova_free_bytes(const struct ifd_iova_space *s)
{
	const struct ifd_itree_node *n;
	uint64_t sum = 0;

	for (n = ifd_itree_first(&s->free); n; n = ifd_itree_next(n)) {
		uint64_t span = n->last - n->start;

		/* span + 1 bytes; stop before either step can wrap. */
		if (span == UINT64_MAX || sum > UINT64_MAX - span - 1)
			return UINT64_MAX;
		sum += span + 1;
	}
	return sum;
}

void ifd_iova_get_stats(const struct ifd_iova_space *s,
			struct ifd_iova_stats *st)
{
	st->free_intervals = s->free.count;
	st->tree_height = s->free.root ? s->free.root->balance_or_color : 0;
	st->last_alloc_visits = s->last_visits;
	st->total_alloc_visits = s->total_visits;
	st->allocs = s->allocs;
}

int ifd_iova_validate(const struct ifd_iova_space *s)
{
	const struct ifd_itree_node *f, *prev = NULL;
	size_t i, j = 0;

	if (!s->nranges || !s->ranges)
		return -EFAULT;
	for (i = 0; i < s->nranges; i++) {
		if (s->ranges[i].start > s->ranges[i].last)
			return -EFAULT;
		/* Merged: a gap of at least one byte to the previous range. */
		if (i && (s->ranges[i - 1].last == UINT64_MAX ||
			  s->ranges[i].start <= s->ranges[i - 1].last + 1))
			return -EFAULT;
	}
	if (s->free.augment != augment_span || ifd_itree_validate(&s->free))
		return -EFAULT;
	for (f = ifd_itree_first(&s->free); f; prev = f, f = ifd_itree_next(f)) {
		/* Coalesced: a gap of at least one allocated byte between. */
		if (prev && (prev->last == UINT64_MAX ||
			     f->start <= prev->last + 1))
			return -EFAULT;
		while (j < s->nranges && s->ranges[j].last < f->start)
			j++;
		if (j == s->nranges || s->ranges[j].start > f->start ||
		    s->ranges[j].last < f->last)
			return -EFAULT;
	}
	return 0;
}
