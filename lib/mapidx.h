/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mapping index of one IOAS: its records by IOVA (with the free IOVA
 * space between them, for allocation) and its USER records by virtual
 * address (for translate).  Internal; writers are serialised by the caller,
 * readers (translate, lookup) take no lock.
 */
#ifndef IFD_MAPIDX_H
#define IFD_MAPIDX_H

#include <stddef.h>
#include <stdint.h>

#include "iova.h"
#include "itree.h"

enum ifd_map_kind { IFD_MAP_USER = 1, IFD_MAP_RESV = 2, IFD_MAP_FOREIGN = 3 };

struct ifd_midx;

/* The mapping record, also the public handle (opaque to users). */
struct iommufd_map {
	uint64_t iova;
	uint64_t len;
	uint64_t vaddr;
	uint32_t flags;
	uint8_t kind;
	uint8_t state;
	uint8_t handle;
	/* engine-private */
	uint8_t in_va;
	struct ifd_midx *x;
	struct ifd_itree_node by_iova, by_va;
};

int ifd_midx_create(void *owner, struct ifd_midx **out);
void ifd_midx_destroy(struct ifd_midx *x);
void *ifd_midx_owner(const struct iommufd_map *m);

struct iommufd_map *ifd_midx_rec_alloc(struct ifd_midx *x);
void ifd_midx_rec_free(struct ifd_midx *x, struct iommufd_map *m);

int ifd_midx_set_ranges(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n);
size_t ifd_midx_get_ranges(const struct ifd_midx *x, struct ifd_iova_range *r, size_t max);
int ifd_midx_set_alloc_limit(struct ifd_midx *x, const struct ifd_iova_range *r, size_t n);
int ifd_midx_alloc(struct ifd_midx *x, struct iommufd_map *m, uint64_t len, uint64_t align, uint64_t min,
		   uint64_t max_last);
int ifd_midx_claim(struct ifd_midx *x, struct iommufd_map *m, uint64_t iova, uint64_t len);
void ifd_midx_va_insert(struct ifd_midx *x, struct iommufd_map *m);
void ifd_midx_remove(struct ifd_midx *x, struct iommufd_map *m);
struct iommufd_map *ifd_midx_find(const struct ifd_midx *x, uint64_t iova);
struct iommufd_map *ifd_midx_first(const struct ifd_midx *x, uint64_t iova, uint64_t last);
struct iommufd_map *ifd_midx_next(const struct ifd_midx *x, const struct iommufd_map *m, uint64_t last);
size_t ifd_midx_count(const struct ifd_midx *x);

int ifd_midx_translate(const struct ifd_midx *x, uint64_t va, uint64_t len, uint64_t *iova);
int ifd_midx_lookup(const struct ifd_midx *x, uint64_t iova, struct iommufd_map *copy);

struct ifd_midx_stats {
	size_t records;
	size_t va_records;
	size_t bytes;
};
void ifd_midx_get_stats(const struct ifd_midx *x, struct ifd_midx_stats *st);
int ifd_midx_validate(const struct ifd_midx *x);

#endif
