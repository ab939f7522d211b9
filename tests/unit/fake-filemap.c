/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The fake kernel's IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS
 * (semantics: drivers/iommu/iommufd/ioas.c of Linux 7.3).  The files are
 * real (a test's memfd); the mapping follows IOMMU_IOAS_MAP's rules with
 * the file offset where the user address would be.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

/* The uAPI's size rule: at least the first version, the rest zero. */
static int ucmd_in(void *dst, size_t dsz, const void *arg, size_t minsz)
{
	uint32_t usize;

	memcpy(&usize, arg, sizeof(usize));
	if (usize < minsz)
		return -EINVAL;
	for (size_t i = dsz; i < usize; i++)
		if (((const uint8_t *)arg)[i])
			return -E2BIG;
	memset(dst, 0, dsz);
	memcpy(dst, arg, usize < dsz ? usize : dsz);
	return 0;
}

static int map_file(struct fake_kernel *fk, void *file, void *arg)
{
	const uint32_t known = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_WRITEABLE |
			       IFD_K_IOMMU_IOAS_MAP_READABLE;
	struct ifd_k_ioas_map_file c;
	struct ifd_k_ioas_map m;
	struct stat st;
	int r = ucmd_in(&c, sizeof(c), arg, 40), fl;

	if (r)
		return r;
	if (c.flags & ~known)
		return -EOPNOTSUPP;
	if (c.iova >= UINT64_MAX || c.length >= UINT64_MAX)
		return -EOVERFLOW;
	if (!(c.flags & (IFD_K_IOMMU_IOAS_MAP_WRITEABLE | IFD_K_IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	if (!c.length)
		return -EINVAL;
	if (c.start + (c.length - 1) < c.start)
		return -EOVERFLOW;
	if (c.fd < 0 || c.fd >= FK_FD_BASE || (fl = fcntl(c.fd, F_GETFL)) < 0 || fstat(c.fd, &st) < 0)
		return -EBADF;
	/* Only shmem-like regular files, whole pages inside the file. */
	if (!S_ISREG(st.st_mode) || c.start + c.length > (uint64_t)st.st_size)
		return -EINVAL;
	if ((c.flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE) && (fl & O_ACCMODE) == O_RDONLY)
		return -EPERM;
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.flags = c.flags;
	m.ioas_id = c.ioas_id;
	m.user_va = c.start;
	m.length = c.length;
	m.iova = c.iova;
	r = fk_iommufd_map_file_pages(fk, file, &m);
	if (r == 0) {
		c.iova = m.iova;
		memcpy(arg, &c, sizeof(c));
	}
	return r;
}

static int change_process(struct fake_kernel *fk, void *file, void *arg)
{
	struct ifd_k_ioas_change_process c;
	int r = ucmd_in(&c, sizeof(c), arg, 8);

	if (r)
		return r;
	if (c.reserved)
		return -EOPNOTSUPP;
	if (!fk_iommufd_all_maps_file(fk, file))
		return -EINVAL;
	fk_note_change_process(fk);
	return 0;
}

int fk_filemap_ioctl(struct fake_kernel *fk, void *file, unsigned long req, void *arg)
{
	if (req == IFD_K_IOMMU_IOAS_MAP_FILE)
		return map_file(fk, file, arg);
	return change_process(fk, file, arg);
}
