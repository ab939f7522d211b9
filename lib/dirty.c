/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Placeholder: filled by the issue-8 work. */
#include "internal.h"
