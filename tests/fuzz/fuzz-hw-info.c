/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* IOMMU_GET_HW_INFO answers: the device's IOMMU type, capabilities, PASID
 * width and vendor data, and every feature answer built on them. */
#include <stdlib.h>

#include "fuzz-sys.h"
#include "kabi.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_hwpt *hwpt = NULL;
	struct iommufd_feature_status st;
	struct iommufd_hw_info hi;
	uint8_t vendor[64];
	int r;

	fz_begin(fk, data, size);
	fz_fuzz_ioctl(IFD_K_IOMMU_GET_HW_INFO);
	if (fz_ctx(fk, IOMMUFD_BACKEND_CDEV, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0)
		goto out;
	if (iommufd_device_open(ioas, FK_DEV_A, NULL, &dev) < 0)
		goto out;
	/* A small vendor buffer first: the library must cut, not overrun. */
	hi.sz = sizeof(hi);
	r = iommufd_device_get_hw_info(dev, &hi, vendor, fz_byte() % (sizeof(vendor) + 1));
	(void)r;
	for (int f = IOMMUFD_FEATURE_IOMMUFD; f <= IOMMUFD_FEATURE_CHANGE_PROCESS; f++)
		st.sz = sizeof(st), iommufd_feature_query(ctx, dev, (enum iommufd_feature)f, &st);
	if (iommufd_hwpt_create(dev, ioas, NULL, &hwpt) == 0) {
		iommufd_device_attach_pasid(dev, 1, hwpt);
		iommufd_hwpt_destroy(hwpt);
	}
out:
	iommufd_device_destroy(dev);
	iommufd_hwpt_destroy(NULL);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
