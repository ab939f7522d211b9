/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Placeholder: filled by the issue-8 work (fault queues). */
#include "internal.h"

IFD_EXPORT int iommufd_fault_queue_destroy(struct iommufd_fault_queue *q) { (void)q; return 0; }
