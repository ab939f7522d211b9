/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Device names as a user gives them: the pure parsers, then the whole
 * resolution (iommufd_device_open) on the standard fake machine. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-sys.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	enum iommufd_backend be;
	char name[512];
	size_t n;

	if (!data) /* record mode */
		return 0;
	if (!size)
		return 0;
	be = (enum iommufd_backend)(1 + data[0] % 3);
	n = size - 1 < sizeof(name) - 1 ? size - 1 : sizeof(name) - 1;
	memcpy(name, data + 1, n);
	name[n] = '\0';
	if (ifd_is_bdf(name) && ifd_is_uuid(name))
		abort();
	fk = fk_standard(be == IOMMUFD_BACKEND_TYPE1 ? FK_LINUX_6_12 : FK_LINUX_7_3);
	fz_begin(fk, NULL, 0);
	if (fz_ctx(fk, be, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0)
		abort();
	if (iommufd_device_open(ioas, name, NULL, &dev) == 0 && !ifd_is_bdf(iommufd_device_get_name(dev)) &&
	    !ifd_is_uuid(iommufd_device_get_name(dev)))
		abort(); /* whatever the name's form, a device has its canonical name */
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
