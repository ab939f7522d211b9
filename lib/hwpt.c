/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Placeholder: filled by the issue-8 work (HWPTs). */
#include "internal.h"

void ifd_hwpt_dev_gone(struct iommufd_device *dev) { (void)dev; }
IFD_EXPORT int iommufd_hwpt_destroy(struct iommufd_hwpt *hwpt) { (void)hwpt; return 0; }
