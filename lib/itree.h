/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Intrusive, augmented, balanced (AVL) interval tree.
 *
 * Internal to libiommufd. Not thread-safe: the caller serialises access.
 *
 * Nodes are embedded in the caller's structures and recovered with
 * ifd_container_of(); the tree never allocates. Intervals are closed,
 * [start, last], so an interval ending at UINT64_MAX is representable.
 * Intervals may overlap and several nodes may share a start; nodes with
 * equal starts are kept in insertion order.
 */
#ifndef IFD_ITREE_H
#define IFD_ITREE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Type-checked: passing a pointer to anything but the member's type fails to
 * compile instead of silently computing a bogus address.
 */
#define ifd_container_of(ptr, type, member)                                   \
	__extension__({                                                       \
		const __typeof__(((type *)0)->member) *ifd_mptr__ = (ptr);    \
		(type *)(void *)((char *)ifd_mptr__ - offsetof(type, member)); \
	})

struct ifd_itree_node {
	struct ifd_itree_node *left, *right, *parent;
	uint64_t start, last;	/* set by the caller before insertion */
	/*
	 * Maintained by the tree. For a default tree: the largest `last` in
	 * this subtree. For a tree with a custom augment callback: whatever
	 * that callback computes.
	 */
	uint64_t subtree_last;
	int balance_or_color;	/* AVL: height of this subtree, leaf = 1 */
};

/*
 * Recomputes n->subtree_last from n itself and from n->left->subtree_last /
 * n->right->subtree_last (either child may be NULL). Must depend on nothing
 * else, because the tree calls it bottom-up only along changed paths.
 */
typedef void (*ifd_itree_augment_fn)(struct ifd_itree_node *n);

struct ifd_itree {
	struct ifd_itree_node *root;
	size_t count;
	ifd_itree_augment_fn augment;	/* NULL: subtree_last = max last */
};

void ifd_itree_init(struct ifd_itree *t);

/*
 * A tree whose subtree_last holds some other per-subtree summary (the IOVA
 * allocator keeps the largest free-hole size there). The overlap queries
 * rely on the default meaning and must not be used on such a tree; the
 * ordered walks and ifd_itree_find_le() remain valid.
 */
void ifd_itree_init_augmented(struct ifd_itree *t, ifd_itree_augment_fn fn);

static inline int ifd_itree_empty(const struct ifd_itree *t)
{
	return t->root == NULL;
}

/* n->start and n->last (start <= last) are set by the caller. O(log n). */
void ifd_itree_insert(struct ifd_itree *t, struct ifd_itree_node *n);

/* n must be in t. O(log n). n's link fields are stale afterwards. */
void ifd_itree_remove(struct ifd_itree *t, struct ifd_itree_node *n);

/*
 * After the caller changed n->start and/or n->last in place without moving n
 * past any neighbour in start order (e.g. trimming or extending a range that
 * does not cross another node's start), refresh the augmented values on the
 * path to the root. O(log n); avoids a remove + insert.
 */
void ifd_itree_update(struct ifd_itree *t, struct ifd_itree_node *n);

/* Default trees only. The in-order-first node overlapping [start, last]. */
struct ifd_itree_node *ifd_itree_first_overlap(const struct ifd_itree *t,
					       uint64_t start, uint64_t last);
/*
 * Default trees only. The in-order next node after n overlapping
 * [start, last]. O(log n) per call, so visiting all k overlaps is
 * O((k + 1) log n).
 */
struct ifd_itree_node *ifd_itree_next_overlap(const struct ifd_itree_node *n,
					      uint64_t start, uint64_t last);

/* In-order (by start, ties in insertion order) walks. */
struct ifd_itree_node *ifd_itree_first(const struct ifd_itree *t);
struct ifd_itree_node *ifd_itree_last(const struct ifd_itree *t);
struct ifd_itree_node *ifd_itree_next(const struct ifd_itree_node *n);
struct ifd_itree_node *ifd_itree_prev(const struct ifd_itree_node *n);

/* The in-order last node whose start is <= key, or NULL. O(log n). */
struct ifd_itree_node *ifd_itree_find_le(const struct ifd_itree *t,
					 uint64_t key);

/*
 * Post-order walk: every node is returned after both its children, and the
 * walk never touches a node again once it has moved past it, so the caller
 * may free each node right after fetching its successor. This is the way to
 * tear down a whole tree in O(n) without rebalancing; reinitialise the tree
 * afterwards.
 */
struct ifd_itree_node *ifd_itree_postorder_first(const struct ifd_itree *t);
struct ifd_itree_node *ifd_itree_postorder_next(const struct ifd_itree_node *n);

/*
 * Debug aid: checks links, ordering, AVL balance, heights, augmented values,
 * start <= last and count. O(n). Returns 0 or -EFAULT.
 */
int ifd_itree_validate(const struct ifd_itree *t);

#endif /* IFD_ITREE_H */
