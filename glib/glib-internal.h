/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* What the sources of libiommufd-glib share across its files (hidden). */
#ifndef IFD_GLIB_INTERNAL_H
#define IFD_GLIB_INTERNAL_H

#include <errno.h>
#include <stdbool.h>

#include <libiommufd/libiommufd-glib.h>

#define IFD_GLIB_EXPORT __attribute__((visibility("default")))

static inline int ifd_glib_ret(int r)
{
	if (r < 0)
		errno = -r;
	return r;
}

/* The stop reason of a vEVENTQ source; false when @source is not one. */
bool ifd_glib_veventq_source_error(GSource *source, int *error);

#endif
