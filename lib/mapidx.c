/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Mapping index; see mapidx.h.
 *
 * Two intrusive AVL trees share each 64-byte record:
 *  - the IOVA tree holds every record, including internal "blocked" records
 *    covering the space outside the usable ranges.  Each node keeps the free
 *    gap between its in-order predecessor and itself (mx_gap), and each
 *    subtree the largest such gap (mx_max), so the lowest fit is found in one
 *    pruned descent and a fragmented space costs no extra nodes.  The space
 *    after the last record (the tail) is the only gap not stored in a node.
 *  - the VA tree holds USER records without augmentation: within one "level"
 *    VA ranges are disjoint, so a predecessor search is exact.  A record
 *    whose VA range overlaps one already in level k goes to level k+1; the
 *    last level takes any overlap and is searched exhaustively.
 *
 * Links are 32-bit byte offsets into the arena, 0 is nil: a link becomes an
 * address with one add, usually folded into the load.  The arena is one
 * 2 GiB reservation committed 2 MiB chunk by chunk (mprotect) as records
 * are first needed, so only used pages cost memory.  Slot 0 of each chunk
 * is a header (the owner, found by masking a record's address); the one of
 * chunk 0 doubles as the nil record that readers may step on.
 *
 * Map-then-unmap at one place, the usual DMA pattern, avoids tree surgery:
 * removing the record last inserted leaves an internal "ghost" with its range
 * in its IOVA tree position (see struct ifd_midx), and the next allocation that
 * lands there takes the ghost's place; the paths of the last insertion in
 * each tree are kept so that removing it needs no search.  When the record
 * is being freed (ifd_midx_release), it becomes the ghost itself, and the
 * next ifd_midx_alloc_new of its length gets it back: the cycle then moves
 * no link at all (one spare ghost record serves the other cases).  The VA tree has
 * the same kind of ghost (for a map between the same VA neighbours), and
 * its last inserted leaf is rebalanced only when another VA change comes
 * first: a map at a random VA and its unmap do no balance work.  The gap
 * below the IOVA maximum is kept outside the augmentation, so map and unmap
 * at the top of the used space do not recompute mx_max up to the root.
 *
 * Writers bracket every visible change with an odd/even sequence count;
 * readers take no lock, bound their steps by a fixed depth, and retry.
 */
#include "mapidx.h"
#include "mapidx_impl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int ifd_midx_in_iova(const struct iommufd_map *m)
{
	return in_iova(m);
}

int ifd_midx_in_va(const struct iommufd_map *m)
{
	return va_level(m) != VA_NONE;
}

/* Records the caller does not know about: blocked space, the ghost. */
/* ---- arena ---- */

static void *reserve_aligned(size_t bytes, size_t align)
{
	size_t span = bytes + align;
	char *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + span > a + bytes)
		munmap((void *)(a + bytes), (uintptr_t)p + span - (a + bytes));
	return (void *)a;
}

int ifd_midx_create(void *owner, struct ifd_midx **out)
{
	struct ifd_midx *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->owner = owner;
	x->base = reserve_aligned(ARENA_BYTES, CHUNK_BYTES);
	x->ranges = malloc(sizeof(*x->ranges));
	if (!x->base || !x->ranges) {
		if (x->base)
			munmap(x->base, ARENA_BYTES);
		free(x->ranges);
		free(x);
		return -ENOMEM;
	}
	x->ranges[0].start = 0;
	x->ranges[0].last = UINT64_MAX;
	x->nranges = 1;
	*out = x;
	return 0;
}

void ifd_midx_destroy(struct ifd_midx *x)
{
	if (!x)
		return;
	munmap(x->base, ARENA_BYTES);
	free(x->ranges);
	free(x->limit);
	free(x->blocked);
	free(x);
}

void *ifd_midx_owner(const struct iommufd_map *m)
{
	return HDR(m)->owner;
}

struct iommufd_map *ifd_midx_rec_alloc(struct ifd_midx *x)
{
	struct iommufd_map *m;
	uint32_t i = x->free_head;

	if (i) {
		m = R(x->base, i);
		x->free_head = LNK(m, T_IOVA, 0);
	} else {
		if ((x->fresh & (SLOTS - 1)) == 0) {
			uint32_t c = x->fresh >> SLOTS_SHIFT;
			struct chunk_hdr *h;

			if (c >= MAX_CHUNKS)
				return NULL;
			h = (struct chunk_hdr *)(x->base + ((size_t)c << CHUNK_SHIFT));
			if (mprotect(h, CHUNK_BYTES, PROT_READ | PROT_WRITE))
				return NULL;
			h->x = x;
			h->owner = x->owner;
			h->base = x->base;
			h->nil_vaddr = UINT64_MAX;
			x->nchunks = c + 1;
			x->fresh = (c << SLOTS_SHIFT) | 1;
		}
		i = x->fresh++ << SLOT_SHIFT;
		m = R(x->base, i);
	}
	memset(m, 0, sizeof(*m));
	m->mx_bits = (uint8_t)(1u | (1u << 3) | (VA_NONE << 5));
	x->live_recs++;
	return m;
}

void ifd_midx_rec_free(struct ifd_midx *x, struct iommufd_map *m)
{
	if (!m)
		return;
	/* Readers may still hold it: keep the line, only chain it. */
	LNK(m, T_IOVA, 0) = x->free_head;
	x->free_head = XIDX(x, m);
	x->live_recs--;
}

/* ---- AVL core, shared by both trees ---- */



static inline uint64_t gmax(char *tbl, uint32_t i)
{
	return i ? R(tbl, i)->mx_max : 0;
}

static inline void recompute(char *tbl, struct iommufd_map *m)
{
	uint64_t v = m->mx_gap, l = gmax(tbl, LNK(m, T_IOVA, 0)), r = gmax(tbl, LNK(m, T_IOVA, 1));

	if (l > v)
		v = l;
	if (r > v)
		v = r;
	m->mx_max = v;
}

static inline uint32_t *slot_of(struct ifd_midx *x, int t, unsigned lvl, const struct path *p, int k)
{
	if (k == 0)
		return t == T_IOVA ? &x->iroot : &x->vroot[lvl];
	return &LNK(R(x->base, p->n[k - 1]), t, p->d[k - 1]);
}

/* Rotate at a (toward its heavy side h); returns the new subtree root.  For
 * insert, *grew says nothing; for delete it tells whether height shrank. */
static inline __attribute__((always_inline)) uint32_t rotate(struct ifd_midx *x, int t, uint32_t ai, int h, bool *shrank)
{
	char *tbl = x->base;
	struct iommufd_map *a = R(tbl, ai);
	uint32_t ci = LNK(a, t, h);
	struct iommufd_map *c = R(tbl, ci);
	int tau = h ? 1 : -1;
	int bc = bal(c, t);

	if (bc != -tau) {
		LNK(a, t, h) = LNK(c, t, !h);
		LNK(c, t, !h) = ai;
		if (bc == 0) {
			set_bal(a, t, tau);
			set_bal(c, t, -tau);
			*shrank = false;
		} else {
			set_bal(a, t, 0);
			set_bal(c, t, 0);
			*shrank = true;
		}
		if (t == T_IOVA) {
			recompute(tbl, a);
			recompute(tbl, c);
		}
		return ci;
	}
	uint32_t gi = LNK(c, t, !h);
	struct iommufd_map *g = R(tbl, gi);
	int bg = bal(g, t);

	LNK(c, t, !h) = LNK(g, t, h);
	LNK(a, t, h) = LNK(g, t, !h);
	LNK(g, t, h) = ci;
	LNK(g, t, !h) = ai;
	set_bal(a, t, bg == tau ? -tau : 0);
	set_bal(c, t, bg == -tau ? tau : 0);
	set_bal(g, t, 0);
	if (t == T_IOVA) {
		recompute(tbl, a);
		recompute(tbl, c);
		recompute(tbl, g);
	}
	*shrank = true;
	return gi;
}

/* p->n[0..len-1] are the ancestors of the new leaf, which hangs off
 * n[len-1] on side d[len-1]. */
static inline __attribute__((always_inline)) int insert_fix(struct ifd_midx *x, int t, unsigned lvl, struct path *p)
{
	/* On the stored code (balance + 1): 1 balanced, 2 * side heavy on side. */
	const unsigned sh = t ? 3 : 0;
	char *tbl = x->base; /* the byte stores below may alias x */

	for (int k = p->len - 1; k >= 0; k--) {
		struct iommufd_map *a = R(tbl, p->n[k]);
		unsigned s = p->d[k], raw = (a->mx_bits >> sh) & 3;
		bool dummy;

		if (raw == 1) {
			a->mx_bits ^= (uint8_t)((1u ^ (s << 1)) << sh);
			continue;
		}
		if (raw != s << 1) {
			a->mx_bits ^= (uint8_t)((raw ^ 1u) << sh);
			return -1;
		}
		*slot_of(x, t, lvl, p, k) = rotate(x, t, p->n[k], s, &dummy);
		return k;
	}
	return -2; /* the whole tree grew */
}

/* Order within a level: vaddr, then index (only the last level has ties). */
static inline int va_dir(const struct iommufd_map *n, uint64_t va, uint32_t mi, uint32_t ni)
{
	if (va != n->vaddr)
		return va > n->vaddr;
	return mi > ni;
}

/*
 * After insert_fix() rotated at level k, rebuild the path to the new node
 * below k (keyed by the caller's order), so it can serve a later removal.
 */
static inline __attribute__((always_inline)) void repath(struct ifd_midx *x, int t, unsigned lvl, struct path *p, int k, uint32_t mi)
{
	char *tbl = x->base;
	const struct iommufd_map *m = R(tbl, mi);
	uint32_t i = *slot_of(x, t, lvl, p, k);

	p->len = k;
	while (i != mi) {
		const struct iommufd_map *n = R(tbl, i);
		int d = t == T_IOVA ? m->iova > n->iova : va_dir(n, m->vaddr, mi, i);

		p->n[p->len] = i;
		p->d[p->len++] = (uint8_t)d;
		i = LNK(n, t, d);
	}
}

/* The subtree on side d[k] of n[k] shrank, for k = start down to 0. */
static inline __attribute__((always_inline)) bool delete_fix(struct ifd_midx *x, int t, unsigned lvl, struct path *p, int start)
{
	const unsigned sh = t ? 3 : 0;
	char *tbl = x->base; /* the byte stores below may alias x */

	for (int k = start; k >= 0; k--) {
		struct iommufd_map *a = R(tbl, p->n[k]);
		unsigned s = p->d[k], raw = (a->mx_bits >> sh) & 3;
		bool shrank;

		if (raw == s << 1) {
			a->mx_bits ^= (uint8_t)((raw ^ 1u) << sh);
			continue;
		}
		if (raw == 1) {
			a->mx_bits ^= (uint8_t)((1u ^ ((s ^ 1u) << 1)) << sh);
			return false;
		}
		*slot_of(x, t, lvl, p, k) = rotate(x, t, p->n[k], !s, &shrank);
		if (!shrank)
			return false;
	}
	return true; /* the whole tree shrank */
}

/* Unlink node at p->n[len-1] (the path ends at it); returns the index of
 * the deepest path entry whose subtree changed, with p rewritten so that
 * p->n[0..ret] is the path to it.  *succ_k is set to the path position of
 * the in-order successor if it is on the path, else -1. */
static inline __attribute__((always_inline)) int avl_unlink(struct ifd_midx *x, int t, unsigned lvl, struct path *p, int *succ_k)
{
	char *tbl = x->base;
	int d = p->len - 1;
	uint32_t mi = p->n[d];
	struct iommufd_map *m = R(tbl, mi);
	uint32_t l = LNK(m, t, 0), r = LNK(m, t, 1);

	*succ_k = -1;
	if (!r) {
		*slot_of(x, t, lvl, p, d) = l;
		if (t == T_IOVA) {
			for (int k = d - 1; k >= 0; k--)
				if (p->d[k] == 0) {
					*succ_k = k;
					break;
				}
		}
		return d - 1;
	}
	/* Successor s = leftmost of r takes m's place. */
	int e = d + 1;
	uint32_t si = r;
	struct iommufd_map *s = R(tbl, si);

	p->d[d] = 1;
	while (LNK(s, t, 0)) {
		p->n[e] = si;
		p->d[e] = 0;
		e++;
		si = LNK(s, t, 0);
		s = R(tbl, si);
	}
	/* e is where s sits in the path; n[d..e-1] are m and s's ancestors below m */
	if (e == d + 1) {
		LNK(s, t, 0) = l;
	} else {
		LNK(R(tbl, p->n[e - 1]), t, 0) = LNK(s, t, 1);
		LNK(s, t, 0) = l;
		LNK(s, t, 1) = r;
	}
	set_bal(s, t, bal(m, t));
	if (t == T_IOVA)
		s->mx_max = m->mx_max; /* what the ancestors were computed from */
	*slot_of(x, t, lvl, p, d) = si;
	p->n[d] = si;
	*succ_k = d;
	return e - 1;
}

static inline __attribute__((always_inline)) void fix_max(char *tbl, const struct path *p, int from, int succ_k)
{
	for (int k = from; k >= 0; k--) {
		struct iommufd_map *a = R(tbl, p->n[k]);
		uint64_t old = a->mx_max;

		recompute(tbl, a);
		if (a->mx_max == old) {
			/* Nothing above changes unless the successor is there. */
			if (k <= succ_k || succ_k < 0)
				return;
			k = succ_k + 1;
		}
	}
}

/* ---- IOVA tree ---- */

static void flush_ghost(struct ifd_midx *x);

/*
 * Insert m at [m->iova, last].  Fails with -EEXIST (nothing changed) if it
 * overlaps a record.
 */
static int iova_insert(struct ifd_midx *x, struct iommufd_map *m)
{
	char *tbl = x->base;
	struct path *p = &x->ipath;
	uint64_t key = m->iova, last = last_of(m);
	uint32_t i = x->iroot, pred = 0, succ = 0;
	int succ_k = -1, len = 0;

	if (x->ghost) {
		flush_ghost(x);
		i = x->iroot;
	}
	while (i) {
		struct iommufd_map *n = R(tbl, i);
		int d = key > n->iova;

		p->n[len] = i;
		p->d[len] = (uint8_t)d;
		if (d) {
			pred = i;
		} else {
			succ = i;
			succ_k = len;
		}
		len++;
		i = LNK(n, T_IOVA, d);
	}
	p->len = len;
	x->ic_ver = x->iver - 1; /* the path no longer leads to the cached record */

	uint64_t gap = 0;

	if (pred) {
		uint64_t pl = last_of(R(tbl, pred));

		if (pl >= key)
			return -EEXIST;
		gap = key - (pl + 1);
	}
	if (succ && R(tbl, succ)->iova <= last)
		return -EEXIST;

	uint32_t mi = XIDX(x, m);

	wbegin(x);
	LNK(m, T_IOVA, 0) = LNK(m, T_IOVA, 1) = 0;
	set_bal(m, T_IOVA, 0);
	m->mx_bits |= 4;
	m->mx_gap = m->mx_max = gap;
	if (!pred)
		x->first = mi;
	if (succ == x->last && succ) {
		x->tail_gap = R(tbl, succ)->iova - (last + 1);
	} else if (succ) {
		R(tbl, succ)->mx_gap = R(tbl, succ)->iova - (last + 1);
	} else {
		/* m is the new maximum, hung right of the old one (pred,
		 * p->n[len-1], recomputed by fix_max below) */
		if (pred)
			R(tbl, pred)->mx_gap = x->tail_gap;
		x->tail_gap = pred ? gap : 0;
		m->mx_gap = m->mx_max = 0;
		x->last = mi;
	}
	*slot_of(x, T_IOVA, 0, p, len) = mi;
	fix_max(tbl, p, len - 1, succ_k);
	int k = insert_fix(x, T_IOVA, 0, p);

	wend(x);
	if (k >= 0)
		repath(x, T_IOVA, 0, p, k, mi);
	x->revived = 0;
	x->ic_idx = mi;
	x->ic_ver = ++x->iver;
	if (!internal(m))
		x->count++;
	return 0;
}

static void iova_unlink_rec(struct ifd_midx *x, struct iommufd_map *m)
{
	char *tbl = x->base;
	struct path *p = &x->ipath;
	uint64_t key = m->iova;
	uint32_t mi = XIDX(x, m), pred = 0;

	if (x->ic_idx == mi && x->ic_ver == x->iver) {
		/* the last ancestor we went right from is m's predecessor */
		for (int k = p->len - 1; k >= 0; k--)
			if (p->d[k]) {
				pred = p->n[k];
				break;
			}
	} else {
		uint32_t i = x->iroot;

		p->len = 0;
		while (i != mi) {
			struct iommufd_map *n = R(tbl, i);
			int d = key > n->iova;

			p->n[p->len] = i;
			p->d[p->len++] = (uint8_t)d;
			if (d)
				pred = i;
			i = LNK(n, T_IOVA, d);
		}
	}
	p->n[p->len++] = mi;
	x->iver++;
	x->revived = 0;

	wbegin(x);
	if (x->last == mi) {
		/* The new maximum: the rightmost of m's left subtree, else the
		 * last ancestor we went right from. */
		uint32_t l = LNK(m, T_IOVA, 0);

		if (l) {
			while (LNK(R(tbl, l), T_IOVA, 1))
				l = LNK(R(tbl, l), T_IOVA, 1);
			pred = l;
			/* a leaf: m has no right subtree */
			R(tbl, l)->mx_max = 0;
		}
		x->last = pred;
		/* pred's gap leaves the tree; pred is m's left leaf or its
		 * parent, where fix_max starts */
		if (pred) {
			x->tail_gap = pred == x->first ? 0 : R(tbl, pred)->mx_gap;
			R(tbl, pred)->mx_gap = 0;
		} else {
			x->tail_gap = 0;
		}
	}
	bool was_first = x->first == mi;
	int succ_k;
	int from = avl_unlink(x, T_IOVA, 0, p, &succ_k);

	if (succ_k >= 0) {
		struct iommufd_map *s = R(tbl, p->n[succ_k]);

		if (was_first) {
			s->mx_gap = 0;
			x->first = p->n[succ_k];
			if (x->last == p->n[succ_k])
				x->tail_gap = 0;
		} else if (x->last == p->n[succ_k]) {
			x->tail_gap += m->mx_gap + m->len;
		} else {
			s->mx_gap += m->mx_gap + m->len;
		}
	} else if (was_first) {
		x->first = 0;
	}
	fix_max(tbl, p, from, succ_k);
	delete_fix(x, T_IOVA, 0, p, from);
	m->mx_bits &= (uint8_t)~4u;
	wend(x);
	if (!internal(m))
		x->count--;
}

static void flush_ghost(struct ifd_midx *x)
{
	struct iommufd_map *g = R(x->base, x->ghost);
	bool own = x->ghost_own;

	x->ghost = 0;
	x->ghost_own = false;
	iova_unlink_rec(x, g);
	if (own)
		ifd_midx_rec_free(x, g);
}

/*
 * The in-order successor of the record at p->n[p->len] (not counted in
 * p->len): extends the path down to it if it is in the right subtree.
 * Returns its path position and sets *deep to the deepest path position, or
 * -1 if the record is the last.
 */
static int succ_pos(const struct ifd_midx *x, struct path *p, int *deep)
{
	char *tbl = x->base;
	int at = p->len;
	uint32_t i = LNK(R(tbl, p->n[at]), T_IOVA, 1);

	if (i) {
		p->d[at++] = 1;
		for (;;) {
			p->n[at] = i;
			uint32_t l = LNK(R(tbl, i), T_IOVA, 0);

			if (!l)
				break;
			p->d[at++] = 0;
			i = l;
		}
		*deep = at;
		return at;
	}
	*deep = at;
	if (x->last == p->n[at])
		return -1;
	for (int k = at - 1; k >= 0; k--)
		if (p->d[k] == 0)
			return k;
	return -1;
}

/*
 * The largest free gap below the record at p->n[p->len] (the head gap
 * excluded: it lives outside the tree), from its path: what lies before it is the left subtrees and
 * gaps of the ancestors it is right of, and its own left subtree.
 */
static uint64_t max_gap_below(const struct ifd_midx *x, const struct path *p)
{
	char *tbl = x->base;
	uint64_t v = gmax(tbl, LNK(R(tbl, p->n[p->len]), T_IOVA, 0));

	for (int k = 0; k < p->len; k++) {
		if (!p->d[k])
			continue;
		const struct iommufd_map *a = R(tbl, p->n[k]);
		uint64_t l = gmax(tbl, LNK(a, T_IOVA, 0));

		if (a->mx_gap > v)
			v = a->mx_gap;
		if (l > v)
			v = l;
	}
	return v;
}

/* Put n into o's tree position (p->n[0..p->len-1] are o's ancestors). */
static inline void take_place(struct ifd_midx *x, struct path *p, struct iommufd_map *n, uint32_t ni,
			      const struct iommufd_map *o, uint32_t oi)
{
	LNK(n, T_IOVA, 0) = LNK(o, T_IOVA, 0);
	LNK(n, T_IOVA, 1) = LNK(o, T_IOVA, 1);
	/* o's IOVA balance, and in the IOVA tree */
	n->mx_bits = (uint8_t)((n->mx_bits & ~7u) | (o->mx_bits & 3u) | 4u);
	n->mx_gap = 0;
	n->mx_max = o->mx_max;
	*slot_of(x, T_IOVA, 0, p, p->len) = ni;
	p->n[p->len] = ni;
	if (x->last == oi)
		x->last = ni;
	if (x->first == oi)
		x->first = ni;
}

static void iova_remove(struct ifd_midx *x, struct iommufd_map *m)
{
	uint32_t mi = XIDX(x, m);

	if (x->ghost)
		flush_ghost(x);
	if (!x->gspare) {
		struct iommufd_map *g = ifd_midx_rec_alloc(x);

		if (g) {
			g->kind = KIND_GHOST;
			x->gspare = XIDX(x, g);
		}
	}
	if (!x->gspare || x->ic_idx != mi || x->ic_ver != x->iver || internal(m) || x->first == mi ||
	    (x->last == mi ? x->tail_gap : m->mx_gap) || !m->iova) {
		iova_unlink_rec(x, m);
		return;
	}
	struct path *p = &x->ipath;
	char *tbl = x->base;
	uint32_t gi = x->gspare;
	struct iommufd_map *g = R(tbl, gi);
	int ancestors = p->len;

	wbegin(x);
	g->iova = m->iova;
	g->len = m->len; /* gaps stay as they are: no mx_max to recompute */
	take_place(x, p, g, gi, m, mi);
	m->mx_bits &= (uint8_t)~4u;
	wend(x);
	p->len = ancestors;
	/* Nothing below changed since this place was last a ghost; with no gap
	 * in the tree (packed) nothing is below at all. */
	if (x->revived != mi)
		x->ghost_below = R(tbl, x->iroot)->mx_max ? max_gap_below(x, p) : 0;
	x->revived = 0;
	x->ghost = gi;
	x->ic_idx = gi;
	x->ic_ver = ++x->iver;
	x->count--;
}

/* Rebuild the kept IOVA path as the ancestors of record i. */
static void path_to(struct ifd_midx *x, uint32_t i0)
{
	struct path *p = &x->ipath;
	char *tbl = x->base;
	uint64_t key = R(tbl, i0)->iova;
	uint32_t i = x->iroot;

	p->len = 0;
	while (i != i0) {
		struct iommufd_map *n = R(tbl, i);
		int d = key > n->iova;

		p->n[p->len] = i;
		p->d[p->len++] = (uint8_t)d;
		i = LNK(n, T_IOVA, d);
	}
	p->n[p->len] = i0;
}

/* Map m at the ghost's place (its start is where the new fit begins). */
static void revive(struct ifd_midx *x, struct iommufd_map *m, uint64_t len)
{
	struct path *p = &x->ipath;
	char *tbl = x->base;
	uint32_t gi = x->ghost, mi = XIDX(x, m);
	struct iommufd_map *g = R(tbl, gi);
	int ancestors, deep;

	if (x->ic_idx != gi || x->ic_ver != x->iver)
		path_to(x, gi);
	ancestors = p->len;
	wbegin(x);
	m->iova = g->iova;
	m->len = len;
	take_place(x, p, m, mi, g, gi);
	if (len != g->len) {
		/* the gap after it changes by the difference (ghost_fits
		 * checked that it holds the excess) */
		int k = succ_pos(x, p, &deep);

		if (k >= 0 && x->last == p->n[k]) {
			x->tail_gap += g->len - len;
		} else if (k >= 0) {
			R(tbl, p->n[k])->mx_gap += g->len - len;
			fix_max(tbl, p, deep, k);
		}
	}
	g->mx_bits &= (uint8_t)~4u;
	wend(x);
	p->len = ancestors;
	x->ghost = 0;
	if (x->ghost_own) {
		x->ghost_own = false;
		ifd_midx_rec_free(x, g);
	}
	x->revived = mi;
	x->ic_idx = mi;
	x->ic_ver = ++x->iver;
	x->count++;
}

/* ---- allocation ---- */

struct fitq {
	uint64_t len, align, lo, hi;
	uint64_t at;
};

/* Does [gs, ge] hold an aligned len-byte block inside [lo, hi]? */
static inline bool fit(struct fitq *q, uint64_t gs, uint64_t ge)
{
	uint64_t s = gs > q->lo ? gs : q->lo, e = ge < q->hi ? ge : q->hi, a;

	if (s > e)
		return false;
	a = (s + q->align - 1) & ~(q->align - 1);
	if (a < s || a > e || e - a < q->len - 1)
		return false;
	q->at = a;
	return true;
}

/* Lowest fit in the gaps of the IOVA tree (the tail excluded), in-order with
 * pruning by subtree maximum and by the window. */
static bool search_tree(const struct ifd_midx *x, struct fitq *q)
{
	char *tbl = x->base;
	uint32_t stack[MAX_DEPTH + 2];
	int sp = 0;
	uint32_t i = x->iroot;

	for (;;) {
		/* Descend the left spine of i's subtree, skipping what lies
		 * entirely below the window. */
		while (i) {
			struct iommufd_map *n = R(tbl, i);

			if (n->mx_max < q->len)
				break;
			if (n->iova <= q->lo) {
				/* n's gap and its left subtree end below lo */
				i = LNK(n, T_IOVA, 1);
				continue;
			}
			stack[sp++] = i;
			i = LNK(n, T_IOVA, 0);
		}
		if (!sp)
			return false;
		i = stack[--sp];
		struct iommufd_map *n = R(tbl, i);

		if (n->mx_gap >= q->len && fit(q, n->iova - n->mx_gap, n->iova - 1))
			return true;
		if (last_of(n) >= q->hi)
			return false;
		i = LNK(n, T_IOVA, 1);
	}
}

static bool search_window(const struct ifd_midx *x, struct fitq *q)
{
	if (x->first) {
		uint64_t h = R(x->base, x->first)->iova;

		if (h >= q->len && fit(q, 0, h - 1))
			return true;
	}
	if (search_tree(x, q))
		return true;
	if (x->tail_gap) {
		uint64_t s = R(x->base, x->last)->iova;

		if (x->tail_gap >= q->len && fit(q, s - x->tail_gap, s - 1))
			return true;
	}
	/* The tail: after the last record to the end of the space. */
	if (!x->last)
		return fit(q, 0, UINT64_MAX);
	uint64_t l = last_of(R(x->base, x->last));

	return l != UINT64_MAX && fit(q, l + 1, UINT64_MAX);
}

/* Is the ghost's start the lowest fit?  Only a cheap yes; no means search. */
static inline __attribute__((always_inline)) bool ghost_fits(struct ifd_midx *x, uint64_t len, uint64_t align, uint64_t min, uint64_t max_last)
{
	const struct iommufd_map *g = R(x->base, x->ghost);
	uint64_t a = g->iova;

	if (x->ghost_below >= len || a < min || (a & (align - 1)) || a > max_last || max_last - a < len - 1)
		return false;
	if (len > g->len) {
		/* the ghost's bytes and the gap after it must hold len */
		struct path *p = &x->ipath;
		int ancestors = p->len, deep, k;
		uint64_t after;

		if (x->ic_idx != x->ghost || x->ic_ver != x->iver)
			return false;
		k = succ_pos(x, p, &deep);
		p->len = ancestors;
		if (k < 0)
			after = UINT64_MAX - last_of(g); /* to the end of the space */
		else
			after = x->last == p->n[k] ? x->tail_gap : R(x->base, p->n[k])->mx_gap;
		if (after < len - g->len)
			return false;
	}
	/* the head gap [0, first) is kept apart: it may hold a fit above min */
	uint64_t h = R(x->base, x->first)->iova;

	if (h > min && h - min >= len)
		return false;
	/* the ghost is first: a fit could begin in the head gap and run on
	 * into the ghost's bytes, unless the ghost is the lowest address */
	if (x->first == x->ghost && a != ((min + align - 1) & ~(align - 1)))
		return false;
	if (!x->nlimit)
		return true;
	for (size_t k = 0; k < x->nlimit; k++)
		if (x->limit[k].start <= a && a + (len - 1) <= x->limit[k].last)
			return true;
	return false;
}

int ifd_midx_alloc(struct ifd_midx *x, struct iommufd_map *m, uint64_t len, uint64_t align,
		   uint64_t min, uint64_t max_last)
{
	struct fitq q = { .len = len, .align = align };
	bool found = false;

	if (!len || !align || (align & (align - 1)) || min > max_last)
		return -EINVAL;
	/* No free gap below the ghost can hold len: its place is the lowest. */
	if (x->ghost && ghost_fits(x, len, align, min, max_last)) {
		revive(x, m, len);
		return 0;
	}
	/* the search sees the ghost's bytes as taken */
	if (x->ghost)
		flush_ghost(x);
	if (!x->nlimit) {
		q.lo = min;
		q.hi = max_last;
		found = search_window(x, &q);
	} else {
		for (size_t k = 0; k < x->nlimit && !found; k++) {
			q.lo = x->limit[k].start > min ? x->limit[k].start : min;
			q.hi = x->limit[k].last < max_last ? x->limit[k].last : max_last;
			if (q.lo <= q.hi)
				found = search_window(x, &q);
		}
	}
	if (!found)
		return -ENOSPC;
	m->iova = q.at;
	m->len = len;
	return iova_insert(x, m);
}

/* A new record with @init's fields, claimed at @iova when @fixed, else
 * allocated; freed again if that fails. */
static __attribute__((noinline)) int place_new(struct ifd_midx *x, const struct iommufd_map *init, bool fixed,
					       uint64_t iova, uint64_t len, uint64_t align, uint64_t min,
					       uint64_t max_last, struct iommufd_map **out)
{
	struct iommufd_map *m = ifd_midx_rec_alloc(x);
	int r;

	if (!m)
		return -ENOMEM;
	set_fields(m, init);
	r = fixed ? ifd_midx_claim(x, m, iova, len) : ifd_midx_alloc(x, m, len, align, min, max_last);
	if (r < 0) {
		ifd_midx_rec_free(x, m);
		return r;
	}
	*out = m;
	return 0;
}

/* The ghost's reuse (mapidx_impl.h) else a search. */
IFD_HOT int ifd_midx_alloc_new(struct ifd_midx *x, const struct iommufd_map *init, uint64_t len, uint64_t align,
			       uint64_t min, uint64_t max_last, struct iommufd_map **out)
{
	if (!ghost_takes(x, len, align, min, max_last))
		return place_new(x, init, false, 0, len, align, min, max_last, out);
	*out = ghost_take(x, init);
	return 0;
}

IFD_HOT int ifd_midx_claim_new(struct ifd_midx *x, const struct iommufd_map *init, uint64_t iova, uint64_t len,
			       struct iommufd_map **out)
{
	return place_new(x, init, true, iova, len, 0, 0, 0, out);
}

static bool in_one_range(const struct ifd_midx *x, uint64_t a, uint64_t b)
{
	size_t lo = 0, hi = x->nranges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (x->ranges[mid].last < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nranges && x->ranges[lo].start <= a && b <= x->ranges[lo].last;
}

int ifd_midx_claim(struct ifd_midx *x, struct iommufd_map *m, uint64_t iova, uint64_t len)
{
	if (!len || iova + (len - 1) < iova)
		return -EINVAL;
	if (!in_one_range(x, iova, iova + len - 1))
		return -ERANGE;
	uint64_t oi = m->iova, ol = m->len;

	m->iova = iova;
	m->len = len;
	int r = iova_insert(x, m);

	if (r) {
		m->iova = oi;
		m->len = ol;
	}
	return r;
}

/* ---- VA tree ---- */

static void va_remove(struct ifd_midx *x, struct iommufd_map *m);

/* Put n into o's VA tree position (p->n[0..p->len-1] are o's ancestors). */
static inline void va_take_place(struct ifd_midx *x, struct path *p, struct iommufd_map *n,
				 const struct iommufd_map *o)
{
	LNK(n, T_VA, 0) = LNK(o, T_VA, 0);
	LNK(n, T_VA, 1) = LNK(o, T_VA, 1);
	/* o's VA balance and level */
	n->mx_bits = (uint8_t)((n->mx_bits & 7u) | (o->mx_bits & ~7u));
	*slot_of(x, T_VA, va_level(o), p, p->len) = XIDX(x, n);
}

/*
 * Where va goes in VA level lvl: its neighbours, and in x->vpath its depth
 * and parent only.  ties: the level may hold equal vaddrs (the last); in
 * the others an equal one overlaps, and either side tells the caller so.
 */
static inline __attribute__((always_inline)) void va_descend(struct ifd_midx *x, uint64_t va, uint32_t mi,
							     unsigned lvl, bool ties, uint32_t *pred_out,
							     uint32_t *succ_out)
{
	char *tbl = x->base;
	uintptr_t i = x->vroot[lvl], par = 0;
	uint32_t pred = 0, succ = 0;
	int len = 0;
	unsigned pd = 0;

	while (i) {
		const struct iommufd_map *n = R(tbl, i);
		uint64_t nv = n->vaddr;
		unsigned d = ties && va == nv ? mi > i : va > nv;

		pred = d ? (uint32_t)i : pred;
		succ = d ? succ : (uint32_t)i;
		par = i;
		pd = d;
		len++;
		i = n->mx_link[T_VA][d];
	}
	x->vpath.len = len;
	if (len) {
		x->vpath.n[len - 1] = (uint32_t)par;
		x->vpath.d[len - 1] = (uint8_t)pd;
	}
	*pred_out = pred;
	*succ_out = succ;
}

/* Rebalance for the pending leaf (the cached VA record). */
static void settle(struct ifd_midx *x)
{
	uint32_t mi = x->vc_idx;
	const struct iommufd_map *m = R(x->base, mi);
	unsigned lvl = va_level(m);
	struct path *p = &x->vpath;

	/* the full path: the insertion kept only the parent */
	uint32_t i = x->vroot[lvl];

	p->len = 0;
	while (i != mi) {
		const struct iommufd_map *n = R(x->base, i);
		int d = va_dir(n, m->vaddr, mi, i);

		p->n[p->len] = i;
		p->d[p->len++] = (uint8_t)d;
		i = LNK(n, T_VA, d);
	}
	x->vpend = false;
	wbegin(x);
	int k = insert_fix(x, T_VA, lvl, p);

	x->vh[lvl] = x->vh_base + (k == -2);
	wend(x);
	if (k >= 0)
		repath(x, T_VA, lvl, p, k, mi);
}

static void flush_vghost(struct ifd_midx *x)
{
	struct iommufd_map *g = R(x->base, x->vghost);

	x->vghost = 0;
	va_remove(x, g);
	x->va_count++; /* va_remove counted it as a record */
}

void ifd_midx_va_insert(struct ifd_midx *x, struct iommufd_map *m)
{
	char *tbl = x->base;
	uint64_t va = m->vaddr, vl = m->vaddr + m->len - 1;
	uint32_t mi = XIDX(x, m);
	struct path *p = &x->vpath;
	unsigned lvl;

	if (x->vghost) {
		if (va >= x->vg_lo && vl <= x->vg_hi && x->vc_idx == x->vghost && x->vc_ver == x->vver) {
			/* between the ghost's neighbours: level 0, its place */
			struct iommufd_map *g = R(tbl, x->vghost);

			wbegin(x);
			va_take_place(x, p, m, g);
			set_va_level(g, VA_NONE);
			wend(x);
			x->vghost = 0;
			x->vc_idx = mi;
			x->vc_ver = ++x->vver;
			x->va_count++;
			return;
		}
		flush_vghost(x);
		x->vg_off = true;
	}
	if (x->vpend)
		settle(x);
	for (lvl = 0;; lvl++) {
		uint32_t pred = 0, succ = 0;

		/* Only the parent goes into the path: a pending leaf needs no
		 * more, settle() walks again for the rest. */
		if (lvl < VA_LEVELS - 1)
			va_descend(x, va, mi, lvl, false, &pred, &succ);
		else
			va_descend(x, va, mi, lvl, true, &pred, &succ);
		/* Within a level ranges are disjoint: only the neighbours can clash. */
		if (lvl == VA_LEVELS - 1)
			break;
		if (pred && R(tbl, pred)->vaddr + (R(tbl, pred)->len - 1) >= va)
			continue;
		if (succ && R(tbl, succ)->vaddr <= vl)
			continue;
		x->vc_pred = pred;
		x->vc_succ = succ;
		if (x->vg_off && lvl == 0 && pred == x->vg_pred && succ == x->vg_succ)
			x->vg_off = false;
		break;
	}
	wbegin(x);
	LNK(m, T_VA, 0) = LNK(m, T_VA, 1) = 0;
	set_bal(m, T_VA, 0);
	set_va_level(m, lvl);
	*slot_of(x, T_VA, lvl, p, p->len) = mi;
	x->vh_base = x->vh[lvl];
	if ((uint32_t)p->len + 1 > x->vh[lvl])
		x->vh[lvl] = (uint32_t)p->len + 1;
	if (lvl + 1 > x->vtop)
		x->vtop = lvl + 1;
	wend(x);
	x->vpend = true;
	x->vc_idx = mi;
	x->vc_ver = ++x->vver;
	x->va_lvl[lvl]++;
	x->va_count++;
}

static void va_remove(struct ifd_midx *x, struct iommufd_map *m)
{
	char *tbl = x->base;
	unsigned lvl = va_level(m);
	uint64_t va = m->vaddr;
	uint32_t mi = XIDX(x, m);
	struct path *p = &x->vpath;
	int succ_k;

	if (x->vghost)
		flush_vghost(x);
	if (x->vpend && (x->vc_idx != mi || x->vc_ver != x->vver))
		settle(x);
	if (!x->vgspare && !internal(m)) {
		struct iommufd_map *g = ifd_midx_rec_alloc(x);

		if (g) {
			g->kind = KIND_GHOST;
			x->vgspare = XIDX(x, g);
		}
	}
	/* the ghost record is always the spare; a ghost is never one itself */
	bool cand = lvl == 0 && x->vgspare && !internal(m) && x->vc_idx == mi && x->vc_ver == x->vver;

	if (cand && x->vg_off) {
		x->vg_pred = x->vc_pred;
		x->vg_succ = x->vc_succ;
	} else if (!internal(m)) {
		x->vg_pred = x->vg_succ = UINT32_MAX; /* no slot */
	}
	if (cand && !x->vg_off) {
		/* A ghost may stay for long (a chain of unmap-then-map at one
		 * place): rebalance now if the pending leaf made readers walk
		 * one step more. */
		if (x->vpend && x->vh[lvl] != x->vh_base)
			settle(x);
		/* the neighbours, as the insertion found them */
		uint32_t pr = x->vc_pred, su = x->vc_succ;

		x->vg_lo = pr ? R(tbl, pr)->vaddr + R(tbl, pr)->len : 0;
		x->vg_hi = su ? R(tbl, su)->vaddr - 1 : UINT64_MAX;

		uint32_t gi = x->vgspare;
		struct iommufd_map *g = R(tbl, gi);

		wbegin(x);
		g->vaddr = va;
		g->len = 0;
		va_take_place(x, p, g, m);
		set_va_level(m, VA_NONE);
		wend(x);
		x->vghost = gi;
		x->vc_idx = gi;
		x->vc_ver = ++x->vver;
		x->va_count--;
		return;
	}
	if (x->vc_idx == mi && x->vc_ver == x->vver && x->vpend) {
		/* the pending leaf: unlink it, nothing was rebalanced for it */
		x->vpend = false;
		x->vver++;
		wbegin(x);
		*slot_of(x, T_VA, lvl, p, p->len) = 0;
		x->vh[lvl] = x->vh_base;
		goto unlinked;
	}
	if (x->vc_idx != mi || x->vc_ver != x->vver) {
		uint32_t i = x->vroot[lvl];

		p->len = 0;
		while (i != mi) {
			struct iommufd_map *n = R(tbl, i);
			int d = va_dir(n, va, mi, i);

			p->n[p->len] = i;
			p->d[p->len++] = (uint8_t)d;
			i = LNK(n, T_VA, d);
		}
	}
	p->n[p->len++] = mi;
	x->vver++;
	wbegin(x);
	int from = avl_unlink(x, T_VA, lvl, p, &succ_k);

	if (delete_fix(x, T_VA, lvl, p, from))
		x->vh[lvl]--;
unlinked:
	set_va_level(m, VA_NONE);
	if (--x->va_lvl[lvl] == 0 && lvl + 1 == x->vtop) {
		while (x->vtop && !x->va_lvl[x->vtop - 1])
			x->vtop--;
	}
	wend(x);
	x->va_count--;
}

void ifd_midx_remove(struct ifd_midx *x, struct iommufd_map *m)
{
	if (va_level(m) != VA_NONE)
		va_remove(x, m);
	if (in_iova(m))
		iova_remove(x, m);
}

static inline __attribute__((always_inline)) void release_in_place(struct ifd_midx *x, struct iommufd_map *m)
{
	uint32_t mi = XIDX(x, m);

	if (x->revived != mi) {
		x->ipath.n[x->ipath.len] = mi;
		x->ghost_below = R(x->base, x->iroot)->mx_max ? max_gap_below(x, &x->ipath) : 0;
	}
	ghost_leave(x, m, mi);
}

static __attribute__((noinline)) void release_slow(struct ifd_midx *x, struct iommufd_map *m)
{
	if (va_level(m) != VA_NONE) {
		va_remove(x, m);
		if (ghost_here(x, m)) {
			release_in_place(x, m);
			return;
		}
	}
	if (in_iova(m))
		iova_remove(x, m);
	ifd_midx_rec_free(x, m);
}

/* As release_slow, whose tail call is the only call here (no registers
 * to save on the usual path). */
IFD_HOT void ifd_midx_release(struct ifd_midx *x, struct iommufd_map *m)
{
	if (va_level(m) != VA_NONE || !ghost_here(x, m))
		return release_slow(x, m);
	release_in_place(x, m);
}

/* ---- writer-side queries ---- */

/* The record with the greatest iova <= key, blocked ones included. */
static uint32_t floor_iova(const struct ifd_midx *x, uint64_t key)
{
	char *tbl = x->base;
	uint32_t i = x->iroot, best = 0;

	while (i) {
		struct iommufd_map *n = R(tbl, i);

		if (n->iova <= key) {
			best = i;
			i = LNK(n, T_IOVA, 1);
		} else {
			i = LNK(n, T_IOVA, 0);
		}
	}
	return best;
}

/* The record with the least iova > key. */
static uint32_t above_iova(const struct ifd_midx *x, uint64_t key)
{
	char *tbl = x->base;
	uint32_t i = x->iroot, best = 0;

	while (i) {
		struct iommufd_map *n = R(tbl, i);

		if (n->iova > key) {
			best = i;
			i = LNK(n, T_IOVA, 0);
		} else {
			i = LNK(n, T_IOVA, 1);
		}
	}
	return best;
}

struct iommufd_map *ifd_midx_find_exact(const struct ifd_midx *x, uint64_t iova, uint64_t last)
{
	struct iommufd_map *m = cached(x);

	if (iova > last)
		return NULL;
	if (!m || m->iova != iova) {
		char *tbl = x->base;
		uint32_t i = x->iroot;

		m = NULL;
		while (i) {
			struct iommufd_map *n = R(tbl, i);

			if (n->iova == iova) {
				m = n;
				break;
			}
			i = LNK(n, T_IOVA, iova > n->iova);
		}
	}
	if (!m || internal(m) || last_of(m) != last)
		return NULL;
	return m;
}

struct iommufd_map *ifd_midx_find(const struct ifd_midx *x, uint64_t iova)
{
	uint32_t i = floor_iova(x, iova);
	struct iommufd_map *m;

	if (!i)
		return NULL;
	m = R(x->base, i);
	if (internal(m) || !m->len || last_of(m) < iova)
		return NULL;
	return m;
}

static struct iommufd_map *skip_blocked(const struct ifd_midx *x, uint32_t i, uint64_t last)
{
	while (i) {
		struct iommufd_map *m = R(x->base, i);

		if (m->iova > last)
			return NULL;
		if (!internal(m))
			return m;
		if (m->len && last_of(m) == UINT64_MAX)
			return NULL;
		i = above_iova(x, m->iova);
	}
	return NULL;
}

IFD_HOT struct iommufd_map *ifd_midx_first(const struct ifd_midx *x, uint64_t iova, uint64_t last)
{
	struct iommufd_map *c = cached(x);

	if (iova > last)
		return NULL;
	/* the record holding iova is the answer, and there is one at most */
	if (c && c->iova <= iova && iova <= last_of(c))
		return c;

	uint32_t i = floor_iova(x, iova);

	if (i && R(x->base, i)->len && last_of(R(x->base, i)) >= iova) {
		struct iommufd_map *m = R(x->base, i);

		if (!internal(m))
			return m;
	}
	return skip_blocked(x, above_iova(x, iova), last);
}

struct iommufd_map *ifd_midx_next(const struct ifd_midx *x, const struct iommufd_map *m, uint64_t last)
{
	/* whatever follows m starts after it */
	if (last_of(m) >= last)
		return NULL;
	if (m == cached(x)) {
		/* the successor from the kept path: the leftmost of the right
		 * subtree, else the last ancestor left of which m lies */
		char *tbl = x->base;
		const struct path *p = &x->ipath;
		uint32_t i = LNK(m, T_IOVA, 1);

		if (i) {
			while (LNK(R(tbl, i), T_IOVA, 0))
				i = LNK(R(tbl, i), T_IOVA, 0);
			return skip_blocked(x, i, last);
		}
		for (int k = p->len - 1; k >= 0; k--)
			if (!p->d[k])
				return skip_blocked(x, p->n[k], last);
		return NULL;
	}
	return skip_blocked(x, above_iova(x, m->iova), last);
}

size_t ifd_midx_count(const struct ifd_midx *x)
{
	return x->count;
}

/* ---- readers ---- */

/*
 * Predecessor search in one VA level: exactly h steps, straight-line.  Past
 * a leaf the walk sits on the nil record (index 0), whose vaddr is the
 * largest, so it changes nothing.  h comes from the writer; a stale value
 * only matters to a read that the sequence check throws away.
 */
static inline __attribute__((always_inline)) uint32_t va_floor(char *tbl, uint32_t root, uint64_t va, unsigned h)
{
	/* 64-bit, so that base + offset folds into each load's address */
	uintptr_t i = root, best = 0;

#define VA_STEP                                                                          \
	do {                                                                             \
		const struct iommufd_map *n = R(tbl, i);                                 \
		bool ge = va >= __atomic_load_n(&n->vaddr, __ATOMIC_RELAXED);            \
		uintptr_t l_ = __atomic_load_n(&n->mx_link[T_VA][0], __ATOMIC_RELAXED);  \
		uintptr_t r_ = __atomic_load_n(&n->mx_link[T_VA][1], __ATOMIC_RELAXED);  \
		best = ge ? i : best;                                                    \
		i = ge ? r_ : l_;                                                        \
	} while (0)
#define VA_STEP4 VA_STEP; VA_STEP; VA_STEP; VA_STEP
	if (h > 48)
		h = 48;
	/* the remainder first, then groups of four */
	switch (h & 3) {
	case 3:
		VA_STEP;
		/* fallthrough */
	case 2:
		VA_STEP;
		/* fallthrough */
	case 1:
		VA_STEP;
		/* fallthrough */
	default:
		break;
	}
	for (h >>= 2; h; h--) {
		VA_STEP4;
	}
#undef VA_STEP4
#undef VA_STEP
	return (uint32_t)best;
}

static bool va_holds(const struct iommufd_map *n, uint64_t va, uint64_t len, uint64_t *iova)
{
	uint64_t nv = __atomic_load_n(&n->vaddr, __ATOMIC_RELAXED);
	uint64_t nl = __atomic_load_n(&n->len, __ATOMIC_RELAXED);
	uint64_t off = va - nv;

	if (va < nv || off >= nl || len > nl - off)
		return false;
	*iova = __atomic_load_n(&n->iova, __ATOMIC_RELAXED) + off;
	return true;
}

/* The overflow level may hold overlapping ranges: walk it all. */
static __attribute__((noinline)) bool va_scan(char *tbl, uint32_t root, uint64_t va, uint64_t len, uint64_t *iova)
{
	uint32_t stack[MAX_DEPTH + 2];
	int sp = 0, steps = 0;
	uint32_t i = root;

	while ((i || sp) && steps++ < (1 << 30)) {
		while (i && sp < MAX_DEPTH) {
			stack[sp++] = i;
			i = __atomic_load_n(&R(tbl, i)->mx_link[T_VA][0], __ATOMIC_RELAXED);
		}
		if (!sp)
			break;
		i = stack[--sp];
		const struct iommufd_map *n = R(tbl, i);

		if (__atomic_load_n(&n->vaddr, __ATOMIC_RELAXED) > va)
			return false;
		if (va_holds(n, va, len, iova))
			return true;
		i = __atomic_load_n(&n->mx_link[T_VA][1], __ATOMIC_RELAXED);
	}
	return false;
}

static __attribute__((noinline)) int translate_levels(const struct ifd_midx *x, uint64_t va, uint64_t len,
							uint64_t *iova)
{
	char *tbl = x->base;

	for (;;) {
		unsigned s = rbegin(x);
		unsigned top = __atomic_load_n(&x->vtop, __ATOMIC_RELAXED);
		uint64_t out = 0;
		bool ok = false;

		if (top > VA_LEVELS)
			top = VA_LEVELS;
		for (unsigned l = 0; l < top && !ok; l++) {
			uint32_t root = __atomic_load_n(&x->vroot[l], __ATOMIC_RELAXED);

			if (l == VA_LEVELS - 1) {
				ok = va_scan(tbl, root, va, len, &out);
			} else {
				uint32_t i = va_floor(tbl, root, va, __atomic_load_n(&x->vh[l], __ATOMIC_RELAXED));

				ok = i && va_holds(R(tbl, i), va, len, &out);
			}
		}
		if (rretry(x, s))
			continue;
		if (!ok)
			return -ENOENT;
		*iova = out;
		return 0;
	}
}

IFD_HOT int ifd_midx_translate(const struct ifd_midx *x, uint64_t va, uint64_t len, uint64_t *iova)
{
	char *tbl = x->base;

	if (!len)
		len = 1;
	for (;;) {
		unsigned s = rbegin(x);

		/* The usual case: one level, no VA range overlaps another. */
		if (__atomic_load_n(&x->vtop, __ATOMIC_RELAXED) > 1)
			return translate_levels(x, va, len, iova);
		uint32_t i = va_floor(tbl, __atomic_load_n(&x->vroot[0], __ATOMIC_RELAXED), va,
				      __atomic_load_n(&x->vh[0], __ATOMIC_RELAXED));
		const struct iommufd_map *n = R(tbl, i);
		uint64_t nv = __atomic_load_n(&n->vaddr, __ATOMIC_RELAXED);
		uint64_t nl = __atomic_load_n(&n->len, __ATOMIC_RELAXED);
		uint64_t ni = __atomic_load_n(&n->iova, __ATOMIC_RELAXED);

		if (rretry(x, s))
			continue;
		/* i == 0 is the nil record: vaddr UINT64_MAX, so off >= nl below
		 * unless va is UINT64_MAX, which is no process's address. */
		uint64_t off = va - nv;

		if (!i || va < nv || off >= nl || len > nl - off)
			return -ENOENT;
		*iova = ni + off;
		return 0;
	}
}

int ifd_midx_lookup(const struct ifd_midx *x, uint64_t iova, struct iommufd_map *copy)
{
	char *tbl = x->base;

	for (;;) {
		unsigned s = rbegin(x);
		uint32_t i = __atomic_load_n(&x->iroot, __ATOMIC_RELAXED), best = 0;
		struct iommufd_map c;

		for (int steps = 0; i && steps < MAX_DEPTH; steps++) {
			const struct iommufd_map *n = R(tbl, i);
			int d = iova >= __atomic_load_n(&n->iova, __ATOMIC_RELAXED);

			if (d)
				best = i;
			i = __atomic_load_n(&n->mx_link[T_IOVA][d], __ATOMIC_RELAXED);
		}
		memset(&c, 0, sizeof(c));
		if (best) {
			const struct iommufd_map *n = R(tbl, best);

			c.iova = __atomic_load_n(&n->iova, __ATOMIC_RELAXED);
			c.len = __atomic_load_n(&n->len, __ATOMIC_RELAXED);
			c.vaddr = __atomic_load_n(&n->vaddr, __ATOMIC_RELAXED);
			c.flags = __atomic_load_n(&n->flags, __ATOMIC_RELAXED);
			c.kind = __atomic_load_n(&n->kind, __ATOMIC_RELAXED);
			c.state = __atomic_load_n(&n->state, __ATOMIC_RELAXED);
			c.handle = __atomic_load_n(&n->handle, __ATOMIC_RELAXED);
		}
		if (rretry(x, s))
			continue;
		if (!best || c.kind >= KIND_GHOST || iova - c.iova >= c.len)
			return -ENOENT;
		*copy = c;
		return 0;
	}
}

/* ---- usable ranges and the allocation limit ---- */

static int cmp_range(const void *a, const void *b)
{
	const struct ifd_iova_range *p = a, *q = b;

	return p->start < q->start ? -1 : p->start > q->start;
}

/* Sorted, merged copy of r; -EINVAL / -ENOMEM. */
static int normalise(const struct ifd_iova_range *r, size_t n, struct ifd_iova_range **out, size_t *nout)
{
	struct ifd_iova_range *c;
	size_t k = 0;

	if (!n || !r)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (r[i].start > r[i].last)
			return -EINVAL;
	c = malloc(n * sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c, r, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_range);
	for (size_t i = 1; i < n; i++) {
		if (c[k].last == UINT64_MAX || c[i].start <= c[k].last + 1) {
			if (c[i].last > c[k].last)
				c[k].last = c[i].last;
		} else {
			c[++k] = c[i];
		}
	}
	*out = c;
	*nout = k + 1;
	return 0;
}

int ifd_midx_set_ranges(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n)
{
	struct ifd_iova_range *c, hole[1];
	size_t nc, nb = 0;
	uint32_t *blk;
	int ret = normalise(r, n, &c, &nc);

	if (ret)
		return ret;
	(void)hole;
	/* The complement: before the first, between each pair, after the last. */
	struct ifd_iova_range *comp = malloc((nc + 1) * sizeof(*comp));

	blk = malloc((nc + 1) * sizeof(*blk));
	if (!comp || !blk) {
		ret = -ENOMEM;
		goto out;
	}
	if (c[0].start > 0)
		comp[nb++] = (struct ifd_iova_range){ 0, c[0].start - 1 };
	for (size_t i = 1; i < nc; i++)
		comp[nb++] = (struct ifd_iova_range){ c[i - 1].last + 1, c[i].start - 1 };
	if (c[nc - 1].last < UINT64_MAX)
		comp[nb++] = (struct ifd_iova_range){ c[nc - 1].last + 1, UINT64_MAX };
	for (size_t i = 0; i < nb; i++) {
		if (ifd_midx_first(x, comp[i].start, comp[i].last)) {
			ret = -EBUSY;
			goto out;
		}
	}
	for (size_t i = 0; i < nb; i++) {
		struct iommufd_map *m = ifd_midx_rec_alloc(x);

		if (!m) {
			while (i--)
				ifd_midx_rec_free(x, R(x->base, blk[i]));
			ret = -ENOMEM;
			goto out;
		}
		m->kind = KIND_BLOCKED;
		m->iova = comp[i].start;
		m->len = comp[i].last - comp[i].start + 1;
		blk[i] = XIDX(x, m);
	}
	for (size_t i = 0; i < x->nblocked; i++) {
		struct iommufd_map *m = R(x->base, x->blocked[i]);

		iova_remove(x, m);
		ifd_midx_rec_free(x, m);
	}
	for (size_t i = 0; i < nb; i++) {
		ret = iova_insert(x, R(x->base, blk[i]));
		if (ret)
			abort(); /* the checks above make this impossible */
	}
	free(x->blocked);
	x->blocked = blk;
	x->nblocked = nb;
	blk = NULL;
	free(x->ranges);
	x->ranges = c;
	x->nranges = nc;
	c = NULL;
out:
	free(comp);
	free(blk);
	free(c);
	return ret;
}

size_t ifd_midx_get_ranges(const struct ifd_midx *x, struct ifd_iova_range *r, size_t max)
{
	for (size_t i = 0; i < x->nranges && i < max; i++)
		r[i] = x->ranges[i];
	return x->nranges;
}

int ifd_midx_set_alloc_limit(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n)
{
	struct ifd_iova_range *c = NULL;
	size_t nc = 0;

	if (n) {
		int ret = normalise(r, n, &c, &nc);

		if (ret)
			return ret;
	}
	free(x->limit);
	x->limit = c;
	x->nlimit = nc;
	return 0;
}

/* ---- stats and validation ---- */

void ifd_midx_get_stats(const struct ifd_midx *x, struct ifd_midx_stats *st)
{
	size_t b = sizeof(*x) + (x->nranges + x->nlimit) * sizeof(struct ifd_iova_range) +
		   x->nblocked * sizeof(uint32_t);

	size_t arena = 0;

	if (x->nchunks) {
		/* pages are committed as records are first handed out */
		size_t last = (size_t)(x->fresh - ((x->nchunks - 1) << SLOTS_SHIFT)) << SLOT_SHIFT;

		arena += (size_t)(x->nchunks - 1) * CHUNK_BYTES + (last + PAGE - 1) / PAGE * PAGE;
	}
	b += arena;
	st->arena = arena;
	st->records = x->count;
	st->va_records = x->va_count;
	st->bytes = b;
}

struct vstate {
	const struct ifd_midx *x;
	bool have_prev;
	uint64_t prev_last;
	size_t count, blocked, nodes;
	uint32_t maxi;
	int bad;
};

static int v_iova(struct vstate *v, uint32_t i, int depth)
{
	char *tbl = v->x->base;

	if (!i)
		return 0;
	if (depth > MAX_DEPTH)
		return v->bad = 1, 0;
	struct iommufd_map *n = R(tbl, i);
	int hl = v_iova(v, LNK(n, T_IOVA, 0), depth + 1);
	uint64_t gap;

	if (!in_iova(n) || (n->len && n->iova + (n->len - 1) < n->iova))
		v->bad = 1;
	if (!n->len || (n->kind == KIND_GHOST && (i != v->x->ghost || n->mx_gap)))
		v->bad = 1;
	if (v->have_prev) {
		if (n->iova <= v->prev_last)
			v->bad = 1;
		gap = n->iova - v->prev_last - 1;
		if (i == v->x->last) {
			/* kept out of the tree */
			if (gap != v->x->tail_gap)
				v->bad = 1;
			gap = 0;
		}
	} else {
		gap = 0; /* the head gap lives outside the tree */
		if (i != v->x->first || (i == v->x->last && v->x->tail_gap))
			v->bad = 1;
	}
	if (gap != n->mx_gap)
		v->bad = 1;
	v->have_prev = true;
	v->prev_last = last_of(n);
	v->nodes++;
	v->maxi = i;
	if (n->kind == KIND_BLOCKED)
		v->blocked++;
	else if (n->kind != KIND_GHOST)
		v->count++;
	int hr = v_iova(v, LNK(n, T_IOVA, 1), depth + 1);
	uint64_t mx = n->mx_gap;

	if (gmax(tbl, LNK(n, T_IOVA, 0)) > mx)
		mx = gmax(tbl, LNK(n, T_IOVA, 0));
	if (gmax(tbl, LNK(n, T_IOVA, 1)) > mx)
		mx = gmax(tbl, LNK(n, T_IOVA, 1));
	if (mx != n->mx_max || hr - hl != bal(n, T_IOVA) || hr - hl > 1 || hl - hr > 1)
		v->bad = 1;
	return (hl > hr ? hl : hr) + 1;
}

struct vva {
	const struct ifd_midx *x;
	unsigned lvl;
	bool have_prev;
	uint64_t pv, plast;
	uint32_t pi;
	size_t count;
	int bad;
	bool pend;
	int pend_h; /* the tree's height down to the pending leaf */
};

static int v_va(struct vva *v, uint32_t i, int depth)
{
	char *tbl = v->x->base;

	if (!i)
		return 0;
	if (depth > MAX_DEPTH)
		return v->bad = 1, 0;
	struct iommufd_map *n = R(tbl, i);
	int hl = v_va(v, LNK(n, T_VA, 0), depth + 1);

	if (va_level(n) != v->lvl || (i == v->x->vghost ? v->lvl || n->len || n->kind != KIND_GHOST || in_iova(n)
							 : !in_iova(n) || internal(n)))
		v->bad = 1;
	if (v->have_prev) {
		if (n->vaddr < v->pv || (n->vaddr == v->pv && i <= v->pi))
			v->bad = 1;
		if (v->lvl < VA_LEVELS - 1 && n->vaddr <= v->plast)
			v->bad = 1;
	}
	v->have_prev = true;
	v->pv = n->vaddr;
	v->pi = i;
	v->plast = n->vaddr + n->len - 1;
	v->count++;
	if (v->x->vpend && i == v->x->vc_idx && v->x->vc_ver == v->x->vver) {
		/* not rebalanced for: a leaf outside the balances */
		if (hl || LNK(n, T_VA, 1) || bal(n, T_VA))
			v->bad = 1;
		v->pend = true;
		v->pend_h = depth + 1;
		return 0;
	}
	int hr = v_va(v, LNK(n, T_VA, 1), depth + 1);

	if (hr - hl != bal(n, T_VA))
		v->bad = 1;
	return (hl > hr ? hl : hr) + 1;
}

int ifd_midx_validate(const struct ifd_midx *x)
{
	struct vstate v = { .x = x };
	size_t total = 0;
	unsigned top = 0;

	v_iova(&v, x->iroot, 0);
	if (v.bad || v.count != x->count || v.blocked != x->nblocked || v.maxi != x->last ||
	    (!v.nodes && (x->first || x->tail_gap)))
		return -EFAULT;
	for (unsigned l = 0; l < VA_LEVELS; l++) {
		struct vva w = { .x = x, .lvl = l };

		int vh = v_va(&w, x->vroot[l], 0);

		if (w.pend && x->vh_base != (unsigned)vh)
			return -EFAULT;
		if (w.pend && w.pend_h > vh)
			vh = w.pend_h;
		if (w.bad || w.count != x->va_lvl[l] || (unsigned)vh != x->vh[l])
			return -EFAULT;
		total += w.count;
		if (w.count)
			top = l + 1;
	}
	if (total != x->va_count + (x->vghost != 0) || top != x->vtop)
		return -EFAULT;
	/* Blocked records are exactly the complement of the usable ranges. */
	for (size_t i = 0; i < x->nranges; i++) {
		if (x->ranges[i].start > x->ranges[i].last)
			return -EFAULT;
		if (i && x->ranges[i].start <= x->ranges[i - 1].last + 1)
			return -EFAULT;
		uint32_t b = floor_iova(x, x->ranges[i].start);

		if (b && R(x->base, b)->kind == KIND_BLOCKED && last_of(R(x->base, b)) >= x->ranges[i].start)
			return -EFAULT;
		if (x->ranges[i].last < UINT64_MAX) {
			b = floor_iova(x, x->ranges[i].last + 1);
			if (!b || R(x->base, b)->kind != KIND_BLOCKED || R(x->base, b)->iova != x->ranges[i].last + 1)
				return -EFAULT;
		}
	}
	for (size_t i = 0; i < x->nblocked; i++) {
		struct iommufd_map *m = R(x->base, x->blocked[i]);

		if (m->kind != KIND_BLOCKED || !in_iova(m) || in_one_range(x, m->iova, m->iova) ||
		    in_one_range(x, last_of(m), last_of(m)))
			return -EFAULT;
	}
	return 0;
}
