/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* VFIO_IOMMU_GET_INFO answers and their capability chain (TYPE1): read
 * when the container gets its IOMMU and on every range query. */
#include <stdlib.h>
#include <linux/vfio.h>

#include "fuzz-sys.h"

static uint8_t buf[4 * 4096] __attribute__((aligned(4096)));

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_6_12);
	struct iommufd_iova_range r[8];
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	uint64_t iova;
	int n;

	fz_begin(fk, data, size);
	fz_fuzz_ioctl(VFIO_IOMMU_GET_INFO);
	if (fz_ctx(fk, IOMMUFD_BACKEND_TYPE1, &ctx) < 0)
		goto out;
	if (iommufd_ioas_create(ctx, &ioas) < 0)
		goto out;
	iommufd_device_open(ioas, FK_DEV_A, NULL, &dev);
	n = iommufd_ioas_get_ranges(ioas, r, 8);
	for (int i = 0; i < n && i < 8; i++)
		if (r[i].start > r[i].last)
			abort();
	iommufd_ioas_get_alignment(ioas);
	if (iommufd_ioas_map(ioas, buf, sizeof(buf), IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &iova) == 0)
		iommufd_ioas_unmap(ioas, iova, sizeof(buf), NULL);
out:
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
