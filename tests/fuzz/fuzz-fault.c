/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Fault records: what read(2) of the fault queue's fd returns, and what
 * write(2) of the answers reports, through a read/answer loop. */
#include <stdlib.h>

#include "fuzz-sys.h"

static int one(const uint8_t *data, size_t size)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_hwpt *hwpt = NULL;
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_fault_queue_stats st;
	struct iommufd_page_request reqs[8];
	struct iommufd_page_response resp[8];
	int n;

	fz_begin(fk, data, size);
	if (fz_ctx(fk, IOMMUFD_BACKEND_CDEV, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0 ||
	    iommufd_device_open(ioas, FK_DEV_A, NULL, &dev) < 0 || iommufd_fault_queue_create(ctx, NULL, &q) < 0 ||
	    iommufd_hwpt_create(dev, ioas, &(struct iommufd_hwpt_opts){ .sz = sizeof(struct iommufd_hwpt_opts),
									 .fault = q }, &hwpt) < 0 ||
	    iommufd_device_attach_hwpt(dev, hwpt) < 0)
		abort(); /* the fake kernel's own answers are sane */
	for (uint32_t g = 1; g <= 3; g++)
		fake_kernel_trigger_iopf(fk, FK_DEV_A, false, 0, g, IOMMUFD_PRQ_READ, 0x1000 * g, true);
	fz_fuzz_fd(iommufd_fault_queue_get_fd(q));
	for (int round = 0; round < 6; round++) {
		size_t max = 1 + fz_byte() % 8;
		int k = 0;

		n = iommufd_fault_queue_read(q, reqs, max);
		if (n > (int)max)
			abort(); /* more than the caller's array */
		for (int i = 0; i < n; i++) {
			if (reqs[i].dev && reqs[i].dev != dev)
				abort(); /* a device handle the context does not have */
			if (reqs[i].flags & IOMMUFD_PRQ_LAST_PAGE)
				resp[k++] = (struct iommufd_page_response){ reqs[i].cookie, fz_byte() & 1 };
		}
		if (k)
			iommufd_fault_queue_respond(q, resp, (size_t)k);
	}
	st.sz = sizeof(st);
	iommufd_fault_queue_get_stats(q, &st);
	iommufd_device_detach(dev);
	iommufd_hwpt_destroy(hwpt);
	iommufd_fault_queue_destroy(q);
	iommufd_device_destroy(dev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	fz_end();
	fake_kernel_destroy(fk);
	return 0;
}

FZ_TARGET(one)
