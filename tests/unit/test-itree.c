/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Unit tests for lib/itree.c: fixed cases plus long randomized sequences
 * checked against a brute-force array after every operation.
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

#include "../../lib/itree.h"

struct item {
	int id;
	struct ifd_itree_node node;
	bool in;
	unsigned long seq;	/* insertion order, to check tie order */
};

#define ITEM(n) ifd_container_of(n, struct item, node)

struct rng {
	uint64_t s;
};

/* xorshift64*: deterministic across platforms, unlike rand(). */
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

/* A last >= s, biased towards short intervals, never wrapping. */
static uint64_t random_last(struct rng *r, uint64_t s)
{
	uint64_t room = UINT64_MAX - s;

	if (rng_below(r, 4))
		return s + (room < 100 ? room : rng_below(r, 100));
	return room == UINT64_MAX ? rng_next(r) : s + rng_below(r, room + 1);
}

static bool overlaps(const struct ifd_itree_node *n, uint64_t a, uint64_t b)
{
	return n->start <= b && n->last >= a;
}

static void check_valid(const struct ifd_itree *t)
{
	assert_int_equal(ifd_itree_validate(t), 0);
}

/*
 * The AVL bound, exactly: an AVL tree of height h has at least N(h) nodes,
 * N(0) = 0, N(1) = 1, N(h) = N(h - 1) + N(h - 2) + 1.
 */
static void check_height(const struct ifd_itree *t)
{
	int h = t->root ? t->root->balance_or_color : 0, i;
	uint64_t a = 0, b = 1, c;

	for (i = 1; i < h; i++) {
		c = a + b + 1;
		a = b;
		b = c;
	}
	assert_true(h == 0 || t->count >= b);
}

static void test_empty(void **state)
{
	struct ifd_itree t;

	(void)state;
	ifd_itree_init(&t);
	check_valid(&t);
	assert_true(ifd_itree_empty(&t));
	assert_null(ifd_itree_first(&t));
	assert_null(ifd_itree_last(&t));
	assert_null(ifd_itree_first_overlap(&t, 0, UINT64_MAX));
	assert_null(ifd_itree_find_le(&t, UINT64_MAX));
	assert_null(ifd_itree_postorder_first(&t));
}

static void test_single_full_range(void **state)
{
	struct ifd_itree t;
	struct item a = { .id = 1 };

	(void)state;
	ifd_itree_init(&t);
	a.node.start = 0;
	a.node.last = UINT64_MAX;
	ifd_itree_insert(&t, &a.node);
	check_valid(&t);
	assert_int_equal(t.count, 1);
	assert_ptr_equal(ifd_itree_first_overlap(&t, UINT64_MAX, UINT64_MAX),
			 &a.node);
	assert_ptr_equal(ifd_itree_first_overlap(&t, 0, 0), &a.node);
	assert_null(ifd_itree_next_overlap(&a.node, 0, UINT64_MAX));
	assert_ptr_equal(ifd_itree_find_le(&t, 0), &a.node);
	assert_int_equal(ITEM(ifd_itree_first(&t))->id, 1);
	ifd_itree_remove(&t, &a.node);
	check_valid(&t);
	assert_true(ifd_itree_empty(&t));
	assert_int_equal(t.count, 0);
}

static void test_top_of_space(void **state)
{
	struct ifd_itree t;
	struct item a, b, c;

	(void)state;
	ifd_itree_init(&t);
	a.node.start = UINT64_MAX;
	a.node.last = UINT64_MAX;
	b.node.start = UINT64_MAX - 1;
	b.node.last = UINT64_MAX - 1;
	c.node.start = 0;
	c.node.last = UINT64_MAX - 2;
	ifd_itree_insert(&t, &a.node);
	ifd_itree_insert(&t, &b.node);
	ifd_itree_insert(&t, &c.node);
	check_valid(&t);
	assert_int_equal(t.root->subtree_last, UINT64_MAX);
	assert_ptr_equal(ifd_itree_first_overlap(&t, UINT64_MAX, UINT64_MAX),
			 &a.node);
	assert_ptr_equal(ifd_itree_first_overlap(&t, UINT64_MAX - 1,
						 UINT64_MAX), &b.node);
	assert_ptr_equal(ifd_itree_next_overlap(&b.node, UINT64_MAX - 1,
						UINT64_MAX), &a.node);
	assert_ptr_equal(ifd_itree_first_overlap(&t, 5, UINT64_MAX), &c.node);
	assert_ptr_equal(ifd_itree_find_le(&t, UINT64_MAX - 1), &b.node);
	ifd_itree_remove(&t, &a.node);
	check_valid(&t);
	assert_int_equal(t.root->subtree_last, UINT64_MAX - 1);
	assert_null(ifd_itree_first_overlap(&t, UINT64_MAX, UINT64_MAX));
}

/* Equal starts must come back in insertion order, whatever rotations did. */
static void test_equal_starts(void **state)
{
	enum { N = 300 };
	struct item *it = calloc(N, sizeof(*it));
	struct ifd_itree t;
	struct ifd_itree_node *n;
	unsigned long prev_seq = 0;
	int i, k;

	(void)state;
	assert_non_null(it);
	ifd_itree_init(&t);
	for (i = 0; i < N; i++) {
		it[i].id = i;
		it[i].seq = (unsigned long)i + 1;
		it[i].node.start = (uint64_t)(i % 3) * 10;
		it[i].node.last = it[i].node.start + (uint64_t)(N - i);
		ifd_itree_insert(&t, &it[i].node);
		check_valid(&t);
	}
	for (k = 0; k < 3; k++) {
		uint64_t key = (uint64_t)k * 10;

		prev_seq = 0;
		for (n = ifd_itree_first(&t); n; n = ifd_itree_next(n)) {
			if (n->start != key)
				continue;
			assert_true(ITEM(n)->seq > prev_seq);
			prev_seq = ITEM(n)->seq;
		}
	}
	/* The first overlap of a point is the in-order first containing it. */
	n = ifd_itree_first_overlap(&t, 0, 0);
	assert_ptr_equal(n, &it[0].node);
	/* find_le returns the in-order last of the equal-start run. */
	for (k = N - 1; k % 3 != 1; k--)
		;
	n = ifd_itree_find_le(&t, 15);
	assert_ptr_equal(n, &it[k].node);
	for (i = 0; i < N; i += 2) {
		ifd_itree_remove(&t, &it[i].node);
		check_valid(&t);
	}
	for (k = 0; k < 3; k++) {
		prev_seq = 0;
		for (n = ifd_itree_first(&t); n; n = ifd_itree_next(n)) {
			if (n->start != (uint64_t)k * 10)
				continue;
			assert_true(ITEM(n)->seq > prev_seq);
			prev_seq = ITEM(n)->seq;
		}
	}
	free(it);
}

/* Monotonic insertion is the classic way to unbalance a naive BST. */
static void test_sequential_balance(void **state)
{
	enum { N = 20000 };
	struct item *it = calloc(N, sizeof(*it));
	struct ifd_itree t;
	struct ifd_itree_node *n;
	int i, dir;

	(void)state;
	assert_non_null(it);
	for (dir = 0; dir < 2; dir++) {
		ifd_itree_init(&t);
		for (i = 0; i < N; i++) {
			uint64_t k = dir ? (uint64_t)(N - i) : (uint64_t)i;

			it[i].node.start = k * 16;
			it[i].node.last = k * 16 + 7;
			ifd_itree_insert(&t, &it[i].node);
		}
		check_valid(&t);
		check_height(&t);
		for (i = 0; i < N; i++) {
			uint64_t p = (uint64_t)(dir ? N - i : i) * 16;

			assert_ptr_equal(ifd_itree_first_overlap(&t, p + 3, p + 3),
					 &it[i].node);
			assert_null(ifd_itree_first_overlap(&t, p + 8, p + 15));
		}
		/* Remove from one end: the other direction of imbalance. */
		for (i = 0; i < N; i++) {
			n = dir ? ifd_itree_last(&t) : ifd_itree_first(&t);
			ifd_itree_remove(&t, n);
			if (i % 1000 == 0) {
				check_valid(&t);
				check_height(&t);
			}
		}
		assert_true(ifd_itree_empty(&t));
	}
	free(it);
}

static void test_postorder_teardown(void **state)
{
	enum { N = 5000 };
	struct ifd_itree t;
	struct ifd_itree_node *n, *next;
	struct rng r = { 0x1234567 };
	size_t seen = 0;
	int i;

	(void)state;
	ifd_itree_init(&t);
	for (i = 0; i < N; i++) {
		struct item *x = calloc(1, sizeof(*x));

		assert_non_null(x);
		x->node.start = rng_below(&r, 100000);
		x->node.last = x->node.start + rng_below(&r, 100);
		ifd_itree_insert(&t, &x->node);
	}
	check_valid(&t);
	/* Each node's children must already be gone when it is reached. */
	for (n = ifd_itree_postorder_first(&t); n; n = next) {
		next = ifd_itree_postorder_next(n);
		if (n->parent) {
			if (n->parent->left == n)
				n->parent->left = NULL;
			else
				n->parent->right = NULL;
		}
		assert_null(n->left);
		assert_null(n->right);
		free(ITEM(n));
		seen++;
	}
	assert_int_equal(seen, N);
}

/* Also exercises ifd_itree_update() on in-place start/last changes. */
static void test_update_in_place(void **state)
{
	enum { N = 1000 };
	struct item *it = calloc(N, sizeof(*it));
	struct ifd_itree t;
	int i;

	(void)state;
	assert_non_null(it);
	ifd_itree_init(&t);
	for (i = 0; i < N; i++) {
		it[i].node.start = (uint64_t)i * 100;
		it[i].node.last = (uint64_t)i * 100 + 10;
		ifd_itree_insert(&t, &it[i].node);
	}
	it[17].node.last = UINT64_MAX;
	ifd_itree_update(&t, &it[17].node);
	check_valid(&t);
	assert_int_equal(t.root->subtree_last, UINT64_MAX);
	assert_ptr_equal(ifd_itree_first_overlap(&t, 99999999, 99999999),
			 &it[17].node);
	it[17].node.last = 1710;
	it[17].node.start = 1750;	/* still between 1600 and 1800 */
	ifd_itree_update(&t, &it[17].node);
	assert_int_not_equal(ifd_itree_validate(&t), 0);	/* start > last */
	it[17].node.last = 1760;
	ifd_itree_update(&t, &it[17].node);
	check_valid(&t);
	assert_null(ifd_itree_first_overlap(&t, 1700, 1749));
	assert_ptr_equal(ifd_itree_first_overlap(&t, 1700, 1750), &it[17].node);
	free(it);
}

/* Validation must catch corruption, or the randomized tests prove little. */
static void test_validate_detects(void **state)
{
	enum { N = 64 };
	struct item it[N];
	struct ifd_itree t;
	struct ifd_itree_node *r;
	uint64_t saved;
	int i;

	(void)state;
	memset(it, 0, sizeof(it));
	ifd_itree_init(&t);
	for (i = 0; i < N; i++) {
		it[i].node.start = (uint64_t)i * 10;
		it[i].node.last = (uint64_t)i * 10 + 5;
		ifd_itree_insert(&t, &it[i].node);
	}
	check_valid(&t);
	r = t.root;

	saved = r->subtree_last;
	r->subtree_last++;
	assert_int_equal(ifd_itree_validate(&t), -EFAULT);
	r->subtree_last = saved;

	r->balance_or_color++;
	assert_int_equal(ifd_itree_validate(&t), -EFAULT);
	r->balance_or_color--;

	saved = r->left->start;
	r->left->start = r->start + 1;
	assert_int_equal(ifd_itree_validate(&t), -EFAULT);
	r->left->start = saved;

	t.count++;
	assert_int_equal(ifd_itree_validate(&t), -EFAULT);
	t.count--;

	r->left->parent = r->right;
	assert_int_equal(ifd_itree_validate(&t), -EFAULT);
	r->left->parent = r;
	check_valid(&t);
}

struct ref_case {
	uint64_t seed;
	unsigned long ops;
	size_t pool;
	int shape;	/* 0: dense small coordinates, 1: mixed incl. 64-bit edges */
};

static void random_interval(struct rng *r, int shape, uint64_t *s, uint64_t *l)
{
	uint64_t a, len;

	if (shape == 0 || rng_below(r, 4)) {
		a = rng_below(r, 2048);
		len = rng_below(r, 8) ? rng_below(r, 64) : rng_below(r, 1024);
		*s = a;
		*l = a + len;
		return;
	}
	switch (rng_below(r, 4)) {
	case 0:	/* anywhere */
		a = rng_next(r);
		len = rng_next(r) >> rng_below(r, 64);
		*s = a;
		*l = len > UINT64_MAX - a ? UINT64_MAX : a + len;
		break;
	case 1:	/* touching the top */
		*s = UINT64_MAX - rng_below(r, 2048);
		*l = UINT64_MAX;
		break;
	case 2:	/* near the top */
		*s = UINT64_MAX - rng_below(r, 2048);
		*l = random_last(r, *s);
		break;
	default:	/* huge */
		*s = rng_below(r, 4096);
		*l = UINT64_MAX - rng_below(r, 4096);
		break;
	}
}

static void random_query(struct rng *r, int shape, uint64_t *a, uint64_t *b)
{
	switch (rng_below(r, 4)) {
	case 0:	/* point */
		random_interval(r, shape, a, b);
		*b = *a;
		break;
	case 1:
		*a = 0;
		*b = UINT64_MAX;
		break;
	default:
		random_interval(r, shape, a, b);
		break;
	}
}

static void check_query(const struct ifd_itree *t, struct item *it,
			size_t pool, uint64_t a, uint64_t b, bool *seen)
{
	const struct ifd_itree_node *n;
	size_t expect = 0, got = 0, i;
	uint64_t min_start = UINT64_MAX, prev = 0;

	for (i = 0; i < pool; i++) {
		seen[i] = false;
		if (it[i].in && overlaps(&it[i].node, a, b)) {
			expect++;
			if (it[i].node.start < min_start)
				min_start = it[i].node.start;
		}
	}
	n = ifd_itree_first_overlap(t, a, b);
	if (!expect) {
		assert_null(n);
		return;
	}
	assert_non_null(n);
	assert_int_equal(n->start, min_start);
	for (; n; n = ifd_itree_next_overlap(n, a, b)) {
		const struct item *x = ITEM(n);

		assert_true(overlaps(n, a, b));
		assert_true(x->in);
		assert_false(seen[x->id]);
		seen[x->id] = true;
		assert_true(n->start >= prev);
		prev = n->start;
		got++;
	}
	assert_int_equal(got, expect);
}

static void check_find_le(const struct ifd_itree *t, struct item *it,
			  size_t pool, uint64_t key)
{
	const struct ifd_itree_node *n = ifd_itree_find_le(t, key), *nx;
	bool any = false;
	uint64_t best = 0;
	size_t i;

	for (i = 0; i < pool; i++) {
		if (it[i].in && it[i].node.start <= key &&
		    (!any || it[i].node.start > best)) {
			best = it[i].node.start;
			any = true;
		}
	}
	if (!any) {
		assert_null(n);
		return;
	}
	assert_non_null(n);
	assert_int_equal(n->start, best);
	nx = ifd_itree_next(n);
	assert_true(!nx || nx->start > key);
}

static void check_walks(const struct ifd_itree *t)
{
	const struct ifd_itree_node *n, *p = NULL;
	size_t k = 0;

	for (n = ifd_itree_first(t); n; p = n, n = ifd_itree_next(n)) {
		assert_ptr_equal(p ? ifd_itree_next(p) : ifd_itree_first(t), n);
		assert_ptr_equal(ifd_itree_prev(n), p);
		if (p)
			assert_true(ITEM(p)->node.start < n->start ||
				    (p->start == n->start &&
				     ITEM(p)->seq < ITEM(n)->seq));
		k++;
	}
	assert_ptr_equal(ifd_itree_last(t), p);
	assert_int_equal(k, t->count);
	k = 0;
	for (n = ifd_itree_postorder_first(t); n;
	     n = ifd_itree_postorder_next(n))
		k++;
	assert_int_equal(k, t->count);
}

static void run_reference(const struct ref_case *c)
{
	struct item *it = calloc(c->pool, sizeof(*it));
	bool *seen = calloc(c->pool, sizeof(*seen));
	struct ifd_itree t;
	struct rng r = { c->seed };
	size_t live = 0, i;
	unsigned long op, seq = 0, inserts = 0, removes = 0, queries = 0;

	assert_non_null(it);
	assert_non_null(seen);
	for (i = 0; i < c->pool; i++)
		it[i].id = (int)i;
	ifd_itree_init(&t);

	for (op = 0; op < c->ops; op++) {
		size_t k = (size_t)rng_below(&r, c->pool);
		unsigned int what = (unsigned int)rng_below(&r, 100);
		uint64_t a, b;

		/* Drift between filling and draining to vary the size. */
		bool grow = (op / 20000) % 2 == 0;

		if (what < (grow ? 35u : 20u)) {
			if (it[k].in)
				continue;
			random_interval(&r, c->shape, &it[k].node.start,
					&it[k].node.last);
			it[k].seq = ++seq;
			ifd_itree_insert(&t, &it[k].node);
			it[k].in = true;
			live++;
			inserts++;
		} else if (what < 55) {
			if (!it[k].in)
				continue;
			ifd_itree_remove(&t, &it[k].node);
			it[k].in = false;
			live--;
			removes++;
		} else if (what < 60) {
			/* In-place change of last: the tree only re-augments. */
			if (!it[k].in)
				continue;
			it[k].node.last = random_last(&r, it[k].node.start);
			ifd_itree_update(&t, &it[k].node);
		} else if (what < 95) {
			random_query(&r, c->shape, &a, &b);
			check_query(&t, it, c->pool, a, b, seen);
			queries++;
		} else {
			random_query(&r, c->shape, &a, &b);
			check_find_le(&t, it, c->pool, a);
		}
		check_valid(&t);
		assert_int_equal(t.count, live);
		if (op % 997 == 0) {
			check_walks(&t);
			check_height(&t);
		}
	}
	check_walks(&t);
	print_message("seed %#llx: %lu ops, %lu inserts, %lu removes, "
		      "%lu overlap queries, final size %zu\n",
		      (unsigned long long)c->seed, c->ops, inserts, removes,
		      queries, live);
	free(seen);
	free(it);
}

static void test_random_dense(void **state)
{
	static const struct ref_case c = { 0x9e3779b97f4a7c15ULL, 100000, 600, 0 };

	(void)state;
	run_reference(&c);
}

static void test_random_mixed(void **state)
{
	static const struct ref_case c = { 0xdeadbeefcafef00dULL, 100000, 600, 1 };

	(void)state;
	run_reference(&c);
}

static void test_random_small(void **state)
{
	/* Tiny pools make the tree empty and near-empty often. */
	static const struct ref_case c = { 42, 100000, 12, 1 };

	(void)state;
	run_reference(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_full_range),
		cmocka_unit_test(test_top_of_space),
		cmocka_unit_test(test_equal_starts),
		cmocka_unit_test(test_sequential_balance),
		cmocka_unit_test(test_postorder_teardown),
		cmocka_unit_test(test_update_in_place),
		cmocka_unit_test(test_validate_detects),
		cmocka_unit_test(test_random_dense),
		cmocka_unit_test(test_random_mixed),
		cmocka_unit_test(test_random_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
