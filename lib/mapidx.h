/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * STUB for the h-backend branch only: the lead's lib/mapidx.h replaces this
 * file at merge (take theirs).  It declares just the fields of the mapping
 * record the backends read, with the lead's names and types.
 */
#ifndef IFD_MAPIDX_H
#define IFD_MAPIDX_H

#include <stdint.h>

/* The mapping record, also the public handle (opaque to users). */
struct iommufd_map {
	uint64_t iova;
	uint64_t len;
	uint64_t vaddr;
	uint32_t flags;
	uint8_t kind;
	uint8_t state;
	uint8_t handle;
	uint8_t in_va;
};

#endif
