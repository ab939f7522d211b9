/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Kernel uevent messages: the parser on its own, then the same bytes
 * through the context's event fd (hot-unplug notification). */
#include <stdlib.h>
#include <string.h>

#include "fuzz-sys.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_event ev[4];
	struct ifd_uevent u;
	uint8_t *copy;

	if (!data)
		return 0;
	/* An exact-size heap copy: ASan sees any read past @size. */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (ifd_uevent_parse((const char *)copy, size, &u) == 0) {
		if (memchr(u.action, 0, sizeof(u.action)) == NULL || memchr(u.subsystem, 0, sizeof(u.subsystem)) == NULL ||
		    memchr(u.devpath, 0, sizeof(u.devpath)) == NULL)
			abort();
		if (u.name && (u.name < u.devpath || u.name > u.devpath + strlen(u.devpath)))
			abort();
	}
	fk = fk_standard(FK_LINUX_7_3);
	fz_begin(fk, NULL, 0);
	if (fz_ctx(fk, IOMMUFD_BACKEND_CDEV, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0 ||
	    iommufd_device_open(ioas, FK_DEV_A, NULL, &dev) < 0 || iommufd_ctx_get_event_fd(ctx) < 0)
		abort();
	fake_kernel_uevent(fk, copy, size, 0);
	iommufd_ctx_read_events(ctx, ev, 4);
	free(copy);
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
