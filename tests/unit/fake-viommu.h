/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The vIOMMU ioctls' model in front of the fake kernel (fake-viommu.c). */
#ifndef FAKE_VIOMMU_H
#define FAKE_VIOMMU_H

#include "fake-kernel.h"

/* The fake kernel's table with the vIOMMU ioctls, the vEVENTQ fd (3000)
 * and nested HWPT_ALLOC (data_type != 0) answered by the model; iommufd
 * commands above @max_cmd (0: none) answer -ENOTTY, as fk_config's. */
const struct ifd_sys *fvi_sys(struct fake_kernel *fk, unsigned int max_cmd);
void fvi_reset(void);
/* The next read of the vEVENTQ fd returns these bytes verbatim. */
void fvi_push(const void *bytes, size_t n);
size_t fvi_objects(void);           /* model objects alive */
bool fvi_fd_open(void);             /* the vEVENTQ fd is open */
unsigned int fvi_invalidated(void); /* invalidation entries handled so far */
uint32_t fvi_last_pt(void);         /* pt_id of the last nested HWPT_ALLOC */

#endif
