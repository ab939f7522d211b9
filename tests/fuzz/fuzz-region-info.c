/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* A device's own answers (CDEV): VFIO_DEVICE_GET_INFO, GET_REGION_INFO
 * with its capability chain (type, sparse mmap areas), GET_IRQ_INFO; then
 * every region call on what the library kept. */
#include <stdlib.h>
#include <linux/vfio.h>

#include "fuzz-sys.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct fk_dev_desc d = { .name = "0000:00:0a.0", .group = 20, .bar0_size = 0x4000,
				 .bar0_hole_off = 0x1000, .bar0_hole_len = 0x1000, .extra_regions = 2 };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_region_info ri;
	struct iommufd_region_area a[4];
	uint32_t type, sub;
	uint8_t b[8];
	void *addr;
	size_t len;
	int n;

	fake_kernel_add_device(fk, &d);
	fz_begin(fk, data, size);
	fz_fuzz_ioctl(VFIO_DEVICE_GET_INFO);
	fz_fuzz_ioctl(VFIO_DEVICE_GET_REGION_INFO);
	fz_fuzz_ioctl(VFIO_DEVICE_GET_IRQ_INFO);
	if (fz_ctx(fk, IOMMUFD_BACKEND_CDEV, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0)
		goto out;
	if (iommufd_device_open(ioas, d.name, NULL, &dev) < 0)
		goto out;
	n = iommufd_device_get_num_regions(dev);
	for (int i = 0; i < n && i < 16; i++) {
		if (iommufd_device_get_region_info(dev, (unsigned int)i, &ri) < 0)
			continue;
		iommufd_device_get_region_areas(dev, (unsigned int)i, a, 4);
		iommufd_device_get_region_type(dev, (unsigned int)i, &type, &sub);
		if (iommufd_device_map_region(dev, (unsigned int)i, &addr, &len) == 0)
			iommufd_device_unmap_region(dev, (unsigned int)i);
		iommufd_device_region_read(dev, (unsigned int)i, 0, b, sizeof(b));
	}
	for (unsigned int t = 0; t < 6; t++)
		iommufd_device_get_irq_count(dev, t);
out:
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
