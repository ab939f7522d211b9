/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The one check every options struct goes through (libbpf's rule). */
#include <string.h>

#include "internal.h"

/*
 * Options structs start with their size, so a program built against an
 * older header passes a smaller struct (the missing fields read as zero)
 * and one built against a newer header a larger one, accepted only if
 * every field this version does not know is zero.
 */
int ifd_opts_copy_slow(void *out, size_t known, const void *opts)
{
	const unsigned char *p = opts;
	size_t sz;

	memset(out, 0, known);
	if (!opts)
		return 0;
	memcpy(&sz, opts, sizeof(sz));
	if (sz < sizeof(size_t))
		return -EINVAL;
	for (size_t i = known; i < sz; i++)
		if (p[i])
			return -EINVAL;
	memcpy(out, opts, sz < known ? sz : known);
	((size_t *)out)[0] = known;
	return 0;
}
