/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The mapping engine's private half: its layout, its record helpers, and
 * the fast paths of ifd_midx_alloc_new(), ifd_midx_release() and
 * ifd_midx_first() as inline functions.  Only mapidx.c and map.c's data
 * path include this: map.c takes the fast paths in line, so a 4 KiB
 * map+unmap on the usual path makes no call into the engine (three calls
 * and returns fewer; under emulation each return is a lookup).  Each
 * fast path falls back to its out-of-line function in mapidx.c, which
 * handles every case; nothing here changes what those functions do.
 */
#ifndef IFD_MAPIDX_IMPL_H
#define IFD_MAPIDX_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mapidx.h"

#define CHUNK_SHIFT 21u
#define CHUNK_BYTES (1ul << CHUNK_SHIFT)
#define SLOT_SHIFT 6u
#define SLOTS_SHIFT (CHUNK_SHIFT - SLOT_SHIFT) /* 32768 slots a chunk */
#define SLOTS (1u << SLOTS_SHIFT)
/* The arena is one reservation, so an index becomes an address with a shift
 * and an add.  2 GiB of address space (committed 2 MiB at a time as records
 * are needed) caps an IOAS at 32 Mi records, far beyond what the kernel
 * will pin for one process; it also keeps dozens of IOAS within what
 * valgrind lets a process reserve. */
#define ARENA_BYTES (1ul << 31)
#define MAX_CHUNKS ((uint32_t)(ARENA_BYTES / CHUNK_BYTES))
#define PAGE 4096u

/* AVL height over 2^32 nodes is below 1.44 * 33; readers give up past it. */
#define MAX_DEPTH 56
#define VA_LEVELS 7         /* level 6 accepts overlaps */
#define VA_NONE 7           /* "not in the VA tree" */
#define KIND_BLOCKED 0xff   /* internal record: space outside the usable ranges */
#define KIND_GHOST 0xfe     /* internal record: a removed record's place, kept for the next map */

#define T_IOVA 0
#define T_VA 1

/*
 * Slot 0 of each chunk.  Slot 0 of chunk 0 is also what index 0 (nil)
 * points to: readers may step on it without a test, so it looks like a
 * leaf with the largest vaddr and no children.
 */
struct chunk_hdr {
	struct ifd_midx *x;
	void *owner;
	uint64_t nil_vaddr; /* where struct iommufd_map has vaddr: UINT64_MAX */
	char *base;
	uint32_t nil_links[4]; /* where it has mx_link: 0 */
};
_Static_assert(offsetof(struct chunk_hdr, nil_vaddr) == offsetof(struct iommufd_map, vaddr), "nil vaddr");
_Static_assert(offsetof(struct chunk_hdr, nil_links) == offsetof(struct iommufd_map, mx_link), "nil links");

struct path {
	uint32_t n[MAX_DEPTH + 2];
	uint8_t d[MAX_DEPTH + 2]; /* direction taken from n[k] */
	int len;
};

struct ifd_midx {
	/* Reader-visible, written only inside write sections. */
	unsigned int seq;
	uint32_t iroot;
	uint32_t vroot[VA_LEVELS];
	uint32_t vtop; /* levels 0..vtop-1 may be non-empty */
	uint32_t vh[VA_LEVELS]; /* heights of the VA trees */
	char *base; /* the arena reservation: record i is at base + 64 * i */

	/* Writer-only. */
	void *owner;
	uint32_t nchunks;
	uint32_t fresh; /* next never-used index */
	uint32_t free_head;
	uint32_t last; /* IOVA tree maximum */
	/* The gap below the maximum is kept out of the augmentation (its
	 * mx_gap is 0, the value lives here): with a blocked record at the top
	 * of the space it is the largest gap, and every map or unmap at the
	 * tail would otherwise recompute mx_max up to the root.  0 when the
	 * maximum is also the minimum. */
	uint64_t tail_gap;
	uint32_t first; /* IOVA tree minimum; its gap (from 0) is kept out of the
			 * augmentation so that a min bound above it does not
			 * steer every search down the left spine */
	/* The path to the last record inserted in each tree, while no other
	 * change happened: map-then-unmap removes without a search. */
	uint32_t iver, vver, ic_idx, ic_ver, vc_idx, vc_ver;
	/*
	 * Unmap-then-map at the same place (the usual DMA pattern) costs no
	 * tree surgery: removing a record that sits right after its
	 * predecessor leaves a ghost with the same range in its tree position
	 * (so no gap changes), and an allocation whose lowest fit starts there
	 * takes the ghost's place.  At most one ghost; any other IOVA tree
	 * change, and any allocation that must search, removes it first (the
	 * search would see its bytes as taken).
	 */
	uint32_t ghost, gspare;
	/* The ghost is a released record left in place (ifd_midx_release),
	 * not the spare: freed when flushed, reused by ifd_midx_alloc_new. */
	bool ghost_own;
	uint64_t ghost_below; /* largest free gap below the ghost */
	uint32_t revived;     /* took the ghost's place, and nothing changed since */
	/* Here, with the ghost's fields, because every map and unmap reads or
	 * writes them: the fast paths then touch three cache lines of this
	 * struct, not five. */
	size_t count;  /* non-blocked records in the IOVA tree */
	size_t nlimit; /* allocation limit ranges in limit */
	/*
	 * The same for the VA tree: removing the record last inserted in VA
	 * level 0 leaves a zero-length ghost in its place, and a record whose
	 * range lies between the ghost's neighbours, [vg_lo, vg_hi], takes that
	 * place without rebalancing.  Translate finds the ghost as nothing: no
	 * record of its level can hold an address at or above its vaddr and
	 * below its successor.
	 */
	uint32_t vghost, vgspare;
	uint64_t vg_lo, vg_hi;
	uint32_t vc_pred, vc_succ; /* level-0 neighbours of the cached VA record */
	/*
	 * The cached VA record is a leaf whose insertion has not rebalanced
	 * yet: the usual unmap removes it again before anything else changes
	 * the VA tree, and then the balance changes (along most of the path
	 * in a tree built in order) are skipped both ways.  Any other VA
	 * change settles it first.  vh holds the real height, vh_base the
	 * height without the pending leaf.
	 */
	bool vpend;
	uint32_t vh_base;
	/* The last ghost went unused (maps land elsewhere than the last
	 * unmap): remove for real, but keep the removed record's neighbours
	 * to see whether a ghost would have served, and start again when an
	 * insertion lands between the same ones. */
	bool vg_off;
	uint32_t vg_pred, vg_succ;
	struct path ipath, vpath;
	size_t va_count;
	uint32_t va_lvl[VA_LEVELS]; /* the arena caps records at 32 Mi */
	size_t live_recs; /* records handed out and not freed, blocked ones included */
	struct ifd_iova_range *ranges;
	size_t nranges;
	struct ifd_iova_range *limit; /* nlimit entries */
	uint32_t *blocked;
	size_t nblocked;
};

/* ---- records ---- */

static inline struct iommufd_map *R(char *base, uintptr_t i)
{
	return (struct iommufd_map *)(base + i);
}

static inline struct chunk_hdr *HDR(const struct iommufd_map *m)
{
	return (struct chunk_hdr *)((uintptr_t)m & ~(CHUNK_BYTES - 1));
}

/* A record's arena offset (its link value). */
static inline uint32_t XIDX(const struct ifd_midx *x, const struct iommufd_map *m)
{
	return (uint32_t)((uintptr_t)m - (uintptr_t)x->base);
}

#define LNK(m, t, d) ((m)->mx_link[t][d])

/* mx_bits: 0-1 IOVA balance+1, 2 in IOVA tree, 3-4 VA balance+1, 5-7 VA level */
static inline int bal(const struct iommufd_map *m, int t)
{
	return (int)((m->mx_bits >> (t ? 3 : 0)) & 3) - 1;
}

static inline void set_bal(struct iommufd_map *m, int t, int b)
{
	unsigned sh = t ? 3 : 0;

	m->mx_bits = (uint8_t)((m->mx_bits & ~(3u << sh)) | ((unsigned)(b + 1) << sh));
}

static inline bool in_iova(const struct iommufd_map *m)
{
	return m->mx_bits & 4;
}

static inline unsigned va_level(const struct iommufd_map *m)
{
	return m->mx_bits >> 5;
}

static inline void set_va_level(struct iommufd_map *m, unsigned l)
{
	m->mx_bits = (uint8_t)((m->mx_bits & 0x1f) | (l << 5));
}

static inline bool internal(const struct iommufd_map *m)
{
	return m->kind >= KIND_GHOST;
}

static inline uint64_t last_of(const struct iommufd_map *m)
{
	return m->iova + m->len - 1;
}

/* ---- seqcount ---- */

static inline void wbegin(struct ifd_midx *x)
{
	__atomic_store_n(&x->seq, x->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void wend(struct ifd_midx *x)
{
	__atomic_store_n(&x->seq, x->seq + 1, __ATOMIC_RELEASE);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline unsigned rbegin(const struct ifd_midx *x)
{
	unsigned s;

	while ((s = __atomic_load_n(&x->seq, __ATOMIC_ACQUIRE)) & 1)
		cpu_relax();
	return s;
}

static inline bool rretry(const struct ifd_midx *x, unsigned s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&x->seq, __ATOMIC_RELAXED) != s;
}

/* ---- the data path's fast paths (mapidx.c has the rest) ---- */

/* The record last inserted or revived while nothing else changed, whose
 * path x->ipath holds: usually the one a caller looks up right after
 * mapping it. */
static inline struct iommufd_map *cached(const struct ifd_midx *x)
{
	if (x->ic_ver != x->iver || !x->ic_idx)
		return NULL;
	struct iommufd_map *c = R(x->base, x->ic_idx);

	return internal(c) ? NULL : c;
}

/* ghost_fits() for a ghost @g of length @len and no allocation limit: the
 * fast path's whole test, loads and compares only. */
static inline bool ghost_fits_same(const struct ifd_midx *x, const struct iommufd_map *g, uint64_t len,
				   uint64_t align, uint64_t min, uint64_t max_last)
{
	uint64_t a = g->iova, h = R(x->base, x->first)->iova;

	if (x->ghost_below >= len || a < min || (a & (align - 1)) || a > max_last || max_last - a < len - 1)
		return false;
	if (h > min && h - min >= len)
		return false;
	return x->first != x->ghost || a == ((min + align - 1) & ~(align - 1));
}

/* The caller's fields of a record it asks for (placing it sets the
 * engine's); the backend's byte starts at 0. */
static inline void set_fields(struct iommufd_map *m, const struct iommufd_map *init)
{
	m->vaddr = init->vaddr;
	m->bstate = 0;
	m->flags = init->flags;
	m->kind = init->kind;
	m->state = init->state;
	m->handle = init->handle;
}

/*
 * Can @m, being freed, stay in its place as the ghost?  As iova_remove's
 * ghost, without the spare taking m's place; the first record too
 * (ghost_fits then asks for the lowest address).
 */
static inline bool ghost_here(const struct ifd_midx *x, const struct iommufd_map *m)
{
	uint32_t mi = XIDX(x, m);

	return in_iova(m) && !x->ghost && x->ic_idx == mi && x->ic_ver == x->iver && !internal(m) &&
	       !(x->last == mi ? x->tail_gap : m->mx_gap) && m->iova;
}

/*
 * The map-then-unmap cycle without tree work: a record released right
 * after it was placed stays where it is as the ghost (ifd_midx_release),
 * and the next allocation of the same length whose lowest fit is that
 * place takes the record back.  Neither moves a link or a gap.
 * ghost_takes() is the whole test: bad arguments never pass it (no
 * zero-length ghost; an aligned start inside [min, max_last] needs a
 * valid window), so ifd_midx_alloc checks them, in the slow path.
 */
static inline bool ghost_takes(const struct ifd_midx *x, uint64_t len, uint64_t align, uint64_t min,
			       uint64_t max_last)
{
	uint32_t gi = x->ghost;
	const struct iommufd_map *m = R(x->base, gi);

	return x->ghost_own && m->len == len && align && !(align & (align - 1)) && !x->nlimit &&
	       ghost_fits_same(x, m, len, align, min, max_last) && x->ic_idx == gi && x->ic_ver == x->iver;
}

static inline struct iommufd_map *ghost_take(struct ifd_midx *x, const struct iommufd_map *init)
{
	uint32_t gi = x->ghost;
	struct iommufd_map *m = R(x->base, gi);

	wbegin(x);
	set_fields(m, init);
	wend(x);
	x->ghost = 0;
	x->ghost_own = false;
	x->revived = gi;
	x->ic_ver = ++x->iver;
	x->count++;
	return m;
}

/* @m becomes the ghost in its place (ghost_here(x, m) holds); the caller
 * has set x->ghost_below unless m was revived from the ghost, in which
 * case nothing below it changed since. */
static inline void ghost_leave(struct ifd_midx *x, struct iommufd_map *m, uint32_t mi)
{
	wbegin(x);
	m->kind = KIND_GHOST;
	wend(x);
	x->revived = 0;
	x->ghost = mi;
	x->ghost_own = true;
	x->ic_ver = ++x->iver;
	x->count--;
}

/* ifd_midx_alloc_new() in line: only the ghost's reuse. */
static inline __attribute__((always_inline)) int ifd_midx_alloc_new_inl(struct ifd_midx *x,
								   const struct iommufd_map *init, uint64_t len,
								   uint64_t align, uint64_t min, uint64_t max_last,
								   struct iommufd_map **out)
{
	if (__builtin_expect(!ghost_takes(x, len, align, min, max_last), 0))
		return ifd_midx_alloc_new(x, init, len, align, min, max_last, out);
	*out = ghost_take(x, init);
	return 0;
}

/* ifd_midx_release() in line: only a record revived from the ghost and
 * released again (no VA index), the map-then-unmap cycle's other half. */
static inline __attribute__((always_inline)) void ifd_midx_release_inl(struct ifd_midx *x, struct iommufd_map *m)
{
	uint32_t mi = XIDX(x, m);

	if (__builtin_expect(va_level(m) != VA_NONE || x->revived != mi || !ghost_here(x, m), 0))
		return ifd_midx_release(x, m);
	ghost_leave(x, m, mi);
}

/* ifd_midx_first() in line: only the cached record holding @iova. */
static inline __attribute__((always_inline)) struct iommufd_map *ifd_midx_first_inl(const struct ifd_midx *x,
										   uint64_t iova, uint64_t last)
{
	struct iommufd_map *c = cached(x);

	if (__builtin_expect(c && iova <= last && c->iova <= iova && iova <= last_of(c), 1))
		return c;
	return ifd_midx_first(x, iova, last);
}

#endif
