/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The live-update description as iommufd_ctx_import() receives it: from
 * another process, so hostile.  The first input byte picks how many fds
 * arrived; the rest is the blob.  An accepted blob must read back within
 * its bounds and satisfy every rule the parser promises. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-sys.h"
#include "handover.h"

static int one(const uint8_t *data, size_t size)
{
	struct ifd_ho h;
	char why[200];
	size_t nfds;
	unsigned char *copy;

	if (!data || !size) /* record mode, or nothing */
		return 0;
	nfds = data[0];
	/* An exact-size heap copy: any read past the blob is caught. */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (ifd_ho_parse(copy, size - 1, nfds, 4096, &h, why, sizeof(why)) == 0) {
		if (h.hdr.nfds != nfds || h.hdr.total_len != size - 1)
			abort();
		for (uint32_t i = 0; i < h.hdr.nioas; i++) {
			struct ifd_ho_ioas a;

			ifd_ho_get_ioas(&h, i, &a);
			if (!a.id)
				abort();
		}
		for (uint32_t i = 0; i < h.hdr.ndev; i++) {
			struct ifd_ho_dev d;

			ifd_ho_get_dev(&h, i, &d);
			if (d.ioas_idx >= h.hdr.nioas || !d.fd_idx || d.fd_idx >= nfds || !memchr(d.name, 0, sizeof(d.name)))
				abort();
		}
		for (uint32_t i = 0; i < h.hdr.nmaps; i++) {
			struct ifd_ho_map m;

			ifd_ho_get_map(&h, i, &m);
			if (m.ioas_idx >= h.hdr.nioas || !m.fd_idx || m.fd_idx >= nfds || !m.len ||
			    m.iova + (m.len - 1) < m.iova)
				abort();
		}
	} else if (!why[0]) {
		abort(); /* every refusal says why */
	}
	free(copy);
	return 0;
}

FZ_TARGET(one)
