/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The live-update description (iommufd_ctx_export/import): a header, then
 * nioas IOAS entries, ndev device entries and nmaps file-map entries, all
 * fixed size, native byte order (it never leaves the machine).  Version 1.
 * Internal; the parser is a fuzz target.
 */
#ifndef IFD_HANDOVER_H
#define IFD_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#define IFD_HO_MAGIC "IFDLIVE" /* with its NUL: 8 bytes */
#define IFD_HO_VERSION 1u
#define IFD_HO_MAX_IOAS 1024u
#define IFD_HO_MAX_DEVS 252u  /* each needs an fd (GROUP: two) */
#define IFD_HO_MAX_MAPS 252u

struct ifd_ho_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;  /* sizeof(struct ifd_ho_hdr) */
	uint32_t total_len; /* the whole blob */
	uint32_t backend;   /* enum iommufd_backend of the exporter */
	uint32_t nioas, ndev, nmaps;
	uint32_t nfds;      /* 1 (the iommufd, always fds[0]) + ndev (twice on
			     * GROUP: device and group) + nmaps */
	uint32_t reserved[4];
};

struct ifd_ho_ioas {
	uint32_t id; /* iommufd object ID */
	uint32_t reserved;
};

struct ifd_ho_dev {
	char name[64];     /* NUL-terminated PCI address or mdev UUID */
	uint32_t devid;    /* iommufd device ID (CDEV); 0 on GROUP */
	uint32_t ioas_idx; /* the IOAS entry it is attached to */
	uint32_t fd_idx;   /* its VFIO device fd in the fd array */
	uint32_t group_fd_idx; /* GROUP: its group's fd (one per device, the
				* same file for devices of one group); CDEV: 0 */
};

struct ifd_ho_map {
	uint32_t ioas_idx;
	uint32_t flags; /* IOMMUFD_MAP_READ/WRITE */
	uint64_t iova, len, offset;
	uint32_t fd_idx; /* the file in the fd array */
	uint32_t reserved;
};

/* A parsed description: the entries stay in the caller's buffer (read them
 * with memcpy: the buffer may be unaligned). */
struct ifd_ho {
	struct ifd_ho_hdr hdr;
	const unsigned char *ioas, *dev, *map;
};

/*
 * Check @blob (@len bytes, @nfds fds came with it) completely: every size,
 * count, index, name, flag and reserved field, each fd used exactly once,
 * no two IOAS IDs, device names or device IDs alike, every mapping
 * @page-aligned without overflow.  0, or -EINVAL with @why set.
 */
int ifd_ho_parse(const void *blob, size_t len, size_t nfds, uint64_t page, struct ifd_ho *out, char *why,
		 size_t whylen);
void ifd_ho_get_ioas(const struct ifd_ho *h, uint32_t i, struct ifd_ho_ioas *out);
void ifd_ho_get_dev(const struct ifd_ho *h, uint32_t i, struct ifd_ho_dev *out);
void ifd_ho_get_map(const struct ifd_ho *h, uint32_t i, struct ifd_ho_map *out);

#endif
