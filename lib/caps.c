/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Placeholder: filled by the issue-8 work (capabilities). */
#include "internal.h"

void ifd_caps_free(struct iommufd_ctx *ctx) { (void)ctx; }
void ifd_dev_caps_free(struct iommufd_device *dev) { (void)dev; }
