/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: filled by the issue-8 work. */
#include "internal.h"
