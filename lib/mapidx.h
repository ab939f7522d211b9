/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The mapping index of one IOAS: every mapping record by IOVA (with the free
 * IOVA space implicit as the gaps between records) and every USER record by
 * process VA, for translate.
 *
 * Internal to libiommufd.  Writers are serialised by the caller; readers
 * (ifd_midx_translate, ifd_midx_lookup) are lock-free and write no shared
 * memory: they retry while a writer is inside its seqcount write section.
 *
 * Records live in an arena of 2 MiB chunks that are never returned to the OS
 * before ifd_midx_destroy(), so a reader that races a writer may read stale
 * values but never faults.  Links are 32-bit arena indexes; a record is one
 * 64-byte cache line that carries both tree nodes.
 */
#ifndef IFD_MAPIDX_H
#define IFD_MAPIDX_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "iova.h" /* struct ifd_iova_range { uint64_t start, last; } (inclusive) */

enum ifd_map_kind { IFD_MAP_USER = 1, IFD_MAP_RESV = 2, IFD_MAP_FOREIGN = 3 };

/*
 * The mapping record and the public handle.  ioas.c owns the named fields;
 * the rest is the engine's.  The public fields share the first half of the
 * line, the tree links and gap bookkeeping the second half.
 */
struct iommufd_map {
	uint64_t iova;     /* first IOVA (set by alloc/claim) */
	uint64_t len;      /* bytes (set by alloc/claim) */
	uint64_t vaddr;    /* first byte of the memory; 0 for RESV/FOREIGN */
	uint16_t flags;    /* ioas.c's: IOMMUFD_MAP_READ/WRITE */
	/* The backend's own byte, read and written only by the backend with
	 * its own lock held (TYPE1: kern_lock), so without the IOAS's; 0 in
	 * a record the engine hands out. */
	uint8_t bstate;
	uint8_t kind;      /* enum ifd_map_kind */
	uint8_t state;     /* ioas.c's; the engine never reads it */
	uint8_t handle;    /* ioas.c's */
	/* engine-private below */
	uint8_t mx_bits;   /* AVL balances, tree membership, VA level */
	uint32_t mx_link[2][2]; /* [IOVA tree, VA tree][left, right] */
	uint64_t mx_gap;   /* free bytes between the previous record and this one */
	uint64_t mx_max;   /* largest mx_gap in this IOVA subtree */
};

_Static_assert(sizeof(struct iommufd_map) == 64, "a record is one cache line");

struct ifd_midx;

int ifd_midx_create(void *owner, struct ifd_midx **out);
void ifd_midx_destroy(struct ifd_midx *x);
void *ifd_midx_owner(const struct iommufd_map *m);

struct iommufd_map *ifd_midx_rec_alloc(struct ifd_midx *x);
void ifd_midx_rec_free(struct ifd_midx *x, struct iommufd_map *m);

int ifd_midx_set_ranges(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n);
size_t ifd_midx_get_ranges(const struct ifd_midx *x, struct ifd_iova_range *r, size_t max);
int ifd_midx_set_alloc_limit(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n);
int ifd_midx_alloc(struct ifd_midx *x, struct iommufd_map *m, uint64_t len, uint64_t align,
		   uint64_t min, uint64_t max_last);
int ifd_midx_claim(struct ifd_midx *x, struct iommufd_map *m, uint64_t iova, uint64_t len);
void ifd_midx_va_insert(struct ifd_midx *x, struct iommufd_map *m);
void ifd_midx_remove(struct ifd_midx *x, struct iommufd_map *m);
/* Additions: ifd_midx_rec_alloc + ifd_midx_alloc in one call (@init's
 * vaddr, flags, kind, state and handle are copied into the record before
 * it is visible), and ifd_midx_remove + ifd_midx_rec_free.  A record
 * released right after it was placed may stay in its place as the ghost
 * and be handed out again by the next ifd_midx_alloc_new of its length:
 * the map-then-unmap cycle then changes no link. */
int ifd_midx_alloc_new(struct ifd_midx *x, const struct iommufd_map *init, uint64_t len, uint64_t align,
		       uint64_t min, uint64_t max_last, struct iommufd_map **out);
void ifd_midx_release(struct ifd_midx *x, struct iommufd_map *m);
/* ifd_midx_rec_alloc + ifd_midx_claim, @init's fields as above. */
int ifd_midx_claim_new(struct ifd_midx *x, const struct iommufd_map *init, uint64_t iova, uint64_t len,
		       struct iommufd_map **out);
struct iommufd_map *ifd_midx_find(const struct ifd_midx *x, uint64_t iova);
struct iommufd_map *ifd_midx_first(const struct ifd_midx *x, uint64_t iova, uint64_t last);
struct iommufd_map *ifd_midx_next(const struct ifd_midx *x, const struct iommufd_map *m, uint64_t last);
/* Addition: the caller's record at exactly [iova, last], else NULL; constant
 * time for the record just mapped. */
struct iommufd_map *ifd_midx_find_exact(const struct ifd_midx *x, uint64_t iova, uint64_t last);
size_t ifd_midx_count(const struct ifd_midx *x);

int ifd_midx_translate(const struct ifd_midx *x, uint64_t va, uint64_t len, uint64_t *iova);
int ifd_midx_lookup(const struct ifd_midx *x, uint64_t iova, struct iommufd_map *copy);

struct ifd_midx_stats {
	size_t records;    /* in the IOVA index, internal blocked records excluded */
	size_t va_records; /* in the VA index */
	size_t bytes;      /* memory the index holds: committed arena pages + heap */
	size_t arena;      /* addition: the mmap'd part of bytes (not in mallinfo) */
};
void ifd_midx_get_stats(const struct ifd_midx *x, struct ifd_midx_stats *st);
int ifd_midx_validate(const struct ifd_midx *x);

/* Additions beyond the contract. */
/* True if m is in the IOVA index / the VA index (writer side). */
int ifd_midx_in_iova(const struct iommufd_map *m);
int ifd_midx_in_va(const struct iommufd_map *m);

#endif /* IFD_MAPIDX_H */
