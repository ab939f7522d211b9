/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* sysfs and /proc text and links: /proc/devices at context creation, a
 * device's sysfs (iommu_group and driver links, the cdev's dev numbers,
 * the group's members) when opened by name and by path, and the
 * enumeration of every device. */
#include <stdlib.h>

#include "fuzz-sys.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_device_entry e[16];
	int n;

	fz_begin(fk, data, size);
	fz_fuzz_files("/");
	if (fz_ctx(fk, IOMMUFD_BACKEND_AUTO, &ctx) < 0)
		goto out;
	n = iommufd_device_list(ctx, e, 16);
	(void)n;
	if (iommufd_ioas_create(ctx, &ioas) < 0)
		goto out;
	if (iommufd_device_open(ioas, FK_DEV_A, NULL, &dev) == 0)
		iommufd_device_destroy(dev);
	dev = NULL;
	if (iommufd_device_open(ioas, "/sys/bus/pci/devices/" FK_DEV_B, NULL, &dev) == 0)
		iommufd_device_destroy(dev);
	dev = NULL;
	iommufd_device_open(ioas, FK_MDEV, NULL, &dev);
out:
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
