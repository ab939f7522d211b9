/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Augmented AVL tree; see itree.h.
 *
 * AVL rather than red-black: lookups dominate in libiommufd (every map,
 * unmap and translation query searches), and AVL's tighter height bound
 * (< 1.44 log2 n) pays off there, while the extra rotations on update are
 * cheap. Each node stores its subtree height instead of a -1/0/+1 balance
 * factor, which keeps rebalancing and validation straightforward at the cost
 * of an int that is there anyway.
 */
#include "itree.h"

#include <errno.h>
#include <stdbool.h>

static inline int height(const struct ifd_itree_node *n)
{
	return n ? n->balance_or_color : 0;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void augment_max_last(struct ifd_itree_node *n)
{
	uint64_t m = n->last;

	if (n->left)
		m = max_u64(m, n->left->subtree_last);
	if (n->right)
		m = max_u64(m, n->right->subtree_last);
	n->subtree_last = m;
}

static inline void augment(const struct ifd_itree *t, struct ifd_itree_node *n)
{
	if (t->augment)
		t->augment(n);
	else
		augment_max_last(n);
}

static inline void refresh(const struct ifd_itree *t, struct ifd_itree_node *n)
{
	int hl = height(n->left), hr = height(n->right);

	n->balance_or_color = 1 + (hl > hr ? hl : hr);
	augment(t, n);
}

void ifd_itree_init(struct ifd_itree *t)
{
	t->root = NULL;
	t->count = 0;
	t->augment = NULL;
}

void ifd_itree_init_augmented(struct ifd_itree *t, ifd_itree_augment_fn fn)
{
	ifd_itree_init(t);
	t->augment = fn;
}

/* Point whatever referred to `old` (parent's child slot or the root) at `new`. */
static void replace_child(struct ifd_itree *t, struct ifd_itree_node *parent,
			  struct ifd_itree_node *old, struct ifd_itree_node *new)
{
	if (!parent)
		t->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/* Returns the new subtree root, already refreshed (as is x). */
static struct ifd_itree_node *rotate_left(struct ifd_itree *t,
					  struct ifd_itree_node *x)
{
	struct ifd_itree_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	replace_child(t, x->parent, x, y);
	y->left = x;
	x->parent = y;
	refresh(t, x);
	refresh(t, y);
	return y;
}

static struct ifd_itree_node *rotate_right(struct ifd_itree *t,
					   struct ifd_itree_node *x)
{
	struct ifd_itree_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	replace_child(t, x->parent, x, y);
	y->right = x;
	x->parent = y;
	refresh(t, x);
	refresh(t, y);
	return y;
}

/*
 * Restore heights, balance and augmented values from p up to the root.
 *
 * This always walks the whole path instead of stopping once heights settle:
 * after a two-child removal the successor node sits in the removed node's
 * slot with its own `last`, so the augmented value can change above the
 * point where heights stop changing. The walk is O(log n) either way.
 */
static void rebalance_up(struct ifd_itree *t, struct ifd_itree_node *p)
{
	while (p) {
		int bf;

		refresh(t, p);
		bf = height(p->left) - height(p->right);
		if (bf > 1) {
			if (height(p->left->left) < height(p->left->right))
				rotate_left(t, p->left);
			p = rotate_right(t, p);
		} else if (bf < -1) {
			if (height(p->right->right) < height(p->right->left))
				rotate_right(t, p->right);
			p = rotate_left(t, p);
		}
		p = p->parent;
	}
}

void ifd_itree_insert(struct ifd_itree *t, struct ifd_itree_node *n)
{
	struct ifd_itree_node *parent = NULL, **link = &t->root;

	/* Equal starts go right, so they stay in insertion order. */
	while (*link) {
		parent = *link;
		link = n->start < parent->start ? &parent->left : &parent->right;
	}
	n->left = n->right = NULL;
	n->parent = parent;
	n->balance_or_color = 1;
	*link = n;
	t->count++;
	augment(t, n);
	rebalance_up(t, parent);
}

static struct ifd_itree_node *leftmost(struct ifd_itree_node *n)
{
	while (n->left)
		n = n->left;
	return n;
}

static struct ifd_itree_node *rightmost(struct ifd_itree_node *n)
{
	while (n->right)
		n = n->right;
	return n;
}

void ifd_itree_remove(struct ifd_itree *t, struct ifd_itree_node *n)
{
	struct ifd_itree_node *fix;

	if (!n->left || !n->right) {
		struct ifd_itree_node *c = n->left ? n->left : n->right;

		if (c)
			c->parent = n->parent;
		replace_child(t, n->parent, n, c);
		fix = n->parent;
	} else {
		/*
		 * Nodes belong to the caller, so the in-order successor is
		 * relinked into n's position rather than having its contents
		 * copied into n.
		 */
		struct ifd_itree_node *s = leftmost(n->right);

		if (s == n->right) {
			fix = s;
		} else {
			fix = s->parent;
			fix->left = s->right;
			if (s->right)
				s->right->parent = fix;
			s->right = n->right;
			n->right->parent = s;
		}
		s->left = n->left;
		n->left->parent = s;
		s->parent = n->parent;
		replace_child(t, n->parent, n, s);
	}
	t->count--;
	rebalance_up(t, fix);
}

void ifd_itree_update(struct ifd_itree *t, struct ifd_itree_node *n)
{
	/* Heights are unchanged, so augmenting alone is enough. */
	for (; n; n = n->parent)
		augment(t, n);
}

/*
 * Lowest in-order node of the subtree rooted at n overlapping [start, last].
 *
 * A single root-to-leaf descent: whenever the left subtree holds some node
 * ending at or after `start`, that node also begins at or before n->start,
 * so if n->start <= last the answer is certainly on the left; and if
 * n->start > last, neither n nor anything to its right can overlap, so the
 * left subtree is the only place left to look either way.
 */
static struct ifd_itree_node *subtree_first_overlap(struct ifd_itree_node *n,
						    uint64_t start,
						    uint64_t last)
{
	while (n) {
		if (n->subtree_last < start)
			return NULL;
		if (n->left && n->left->subtree_last >= start) {
			n = n->left;
			continue;
		}
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		n = n->right;
	}
	return NULL;
}

struct ifd_itree_node *ifd_itree_first_overlap(const struct ifd_itree *t,
					       uint64_t start, uint64_t last)
{
	return subtree_first_overlap(t->root, start, last);
}

struct ifd_itree_node *ifd_itree_next_overlap(const struct ifd_itree_node *n,
					      uint64_t start, uint64_t last)
{
	struct ifd_itree_node *r;

	/* Everything after n in order is in n's right subtree or above it. */
	r = subtree_first_overlap(n->right, start, last);
	if (r)
		return r;
	/*
	 * If that search failed after descending, every node there ending at
	 * or after `start` begins after `last`; all ancestors to come begin
	 * later still, so the first ancestor check below ends the walk.
	 */
	for (;;) {
		struct ifd_itree_node *p = n->parent;

		while (p && p->right == n) {
			n = p;
			p = p->parent;
		}
		if (!p || p->start > last)
			return NULL;
		if (p->last >= start)
			return p;
		r = subtree_first_overlap(p->right, start, last);
		if (r)
			return r;
		n = p;
	}
}

struct ifd_itree_node *ifd_itree_first(const struct ifd_itree *t)
{
	return t->root ? leftmost(t->root) : NULL;
}

struct ifd_itree_node *ifd_itree_last(const struct ifd_itree *t)
{
	return t->root ? rightmost(t->root) : NULL;
}

struct ifd_itree_node *ifd_itree_next(const struct ifd_itree_node *n)
{
	struct ifd_itree_node *p;

	if (n->right)
		return leftmost(n->right);
	for (p = n->parent; p && p->right == n; p = p->parent)
		n = p;
	return p;
}

struct ifd_itree_node *ifd_itree_prev(const struct ifd_itree_node *n)
{
	struct ifd_itree_node *p;

	if (n->left)
		return rightmost(n->left);
	for (p = n->parent; p && p->left == n; p = p->parent)
		n = p;
	return p;
}

struct ifd_itree_node *ifd_itree_find_le(const struct ifd_itree *t,
					 uint64_t key)
{
	struct ifd_itree_node *n = t->root, *best = NULL;

	while (n) {
		if (n->start <= key) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

static struct ifd_itree_node *deepest_first(struct ifd_itree_node *n)
{
	for (;;) {
		if (n->left)
			n = n->left;
		else if (n->right)
			n = n->right;
		else
			return n;
	}
}

struct ifd_itree_node *ifd_itree_postorder_first(const struct ifd_itree *t)
{
	return t->root ? deepest_first(t->root) : NULL;
}

struct ifd_itree_node *ifd_itree_postorder_next(const struct ifd_itree_node *n)
{
	struct ifd_itree_node *p = n->parent;

	if (p && p->left == n && p->right)
		return deepest_first(p->right);
	return p;
}

struct validate_ctx {
	const struct ifd_itree *t;
	size_t count;
	bool have_prev;
	uint64_t prev_start;
};

/* Returns the subtree height, or -1 on the first violation found. */
static int validate_subtree(struct validate_ctx *c, struct ifd_itree_node *n,
			    struct ifd_itree_node *parent, int depth)
{
	int hl, hr;
	uint64_t saved;

	if (!n)
		return 0;
	/* A cycle would otherwise recurse forever; AVL height < 1.45 log2 n. */
	if (n->parent != parent || depth > 128)
		return -1;
	hl = validate_subtree(c, n->left, n, depth + 1);
	if (hl < 0)
		return -1;
	if (n->start > n->last)
		return -1;
	if (c->have_prev && n->start < c->prev_start)
		return -1;
	c->have_prev = true;
	c->prev_start = n->start;
	c->count++;
	hr = validate_subtree(c, n->right, n, depth + 1);
	if (hr < 0)
		return -1;
	if (hl - hr > 1 || hr - hl > 1)
		return -1;
	if (n->balance_or_color != 1 + (hl > hr ? hl : hr))
		return -1;
	/* Children are already verified, so recomputing n in place is exact. */
	saved = n->subtree_last;
	augment(c->t, n);
	if (n->subtree_last != saved) {
		n->subtree_last = saved;
		return -1;
	}
	return n->balance_or_color;
}

int ifd_itree_validate(const struct ifd_itree *t)
{
	struct validate_ctx c = { .t = t };

	if (validate_subtree(&c, t->root, NULL, 0) < 0)
		return -EFAULT;
	return c.count == t->count ? 0 : -EFAULT;
}
