/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mdma_unmap_pinned: unmapping memory a device holds pinned.
 *
 * An mdev pins user pages through the IOAS (vfio_pin_pages()).  Unmapping
 * such an IOVA range must still succeed: the kernel calls the driver's
 * dma_unmap callback, which releases the pins, and the unmap completes.
 * Checked here through iommufd_ioas_unmap() on every backend: the unmap
 * returns 0, the driver saw the callback for that range and released exactly
 * the overlapping pins (registers, sysfs, the sticky UNMAPPED status bit),
 * pins elsewhere survive, the other instance in the IOAS is told too but
 * loses nothing, and a later copy to or from the unmapped IOVA faults and
 * writes nothing.  Remapping the IOVA makes it work again, with the new
 * memory.  On CDEV, moving the device to another IOAS releases its pins the
 * same way.
 */
#include "mdma.h"

int main(void)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev, *dev_b;
	char a[40], b[40];
	uint8_t *buf, *other, *src, *fresh;
	uint64_t buf_iova, other_iova, src_iova, st, calls0, pages0, calls_b0, pages_b0, faults0, fresh_iova;
	long long sys0, vm0;
	const uint64_t len = 4 * SZ_4K;

	itest_start("mdma_unmap_pinned");
	mdma_uuids(a, b);
	vm0 = mdma_vm_pinned_kb();
	ctx = itest_ctx();
	if (mdma_refused_without_iommu(ctx, a)) {
		iommufd_ctx_destroy(ctx);
		return itest_finish();
	}
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	dev = mdma_open(ioas, a);
	dev_b = mdma_open(ioas, b);
	sys0 = mdma_sysfs(NULL, "pinned_pages");
	CHECK(sys0 == 0, "nothing pinned anywhere at the start (%lld)", sys0);

	buf = itest_alloc(len, SZ_4K);
	other = itest_alloc(len, SZ_4K);
	src = itest_alloc(len, SZ_4K);
	buf_iova = itest_map(ioas, buf, len, 0, "16 KiB that gets pinned and unmapped");
	other_iova = itest_map(ioas, other, len, 0, "16 KiB pinned and kept");
	src_iova = itest_map(ioas, src, len, 0, "16 KiB copy source");
	itest_fill(src, len, 1);

	calls0 = mdma_rd(dev, MDMA_REG_UNMAP_CALLS);
	pages0 = mdma_rd(dev, MDMA_REG_UNMAP_PAGES);
	calls_b0 = mdma_rd(dev_b, MDMA_REG_UNMAP_CALLS);
	pages_b0 = mdma_rd(dev_b, MDMA_REG_UNMAP_PAGES);
	faults0 = mdma_rd(dev, MDMA_REG_FAULTS);

	/* 1. Pin 2 pages of buf and 1 page of other; the device uses them. */
	st = mdma_pin(dev, buf_iova + SZ_4K, 2 * SZ_4K);
	CHECK_MDMA_OK(st, "PIN pages 1-2 of the buffer (status %s)", mdma_status_str(st));
	st = mdma_pin(dev, other_iova, SZ_4K);
	CHECK_MDMA_OK(st, "PIN page 0 of the other buffer (status %s)", mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 3 && mdma_sysfs(a, "pinned_pages") == 3 &&
		      mdma_sysfs(NULL, "pinned_pages") == sys0 + 3,
	      "3 pages pinned (register %" PRIu64 ", sysfs %lld)", mdma_rd(dev, MDMA_REG_PINNED_PAGES),
	      mdma_sysfs(a, "pinned_pages"));
	st = mdma_fill(dev, buf_iova + SZ_4K, 2 * SZ_4K, 0xa5);
	CHECK(mdma_ok(st) && itest_byte_diff(buf + SZ_4K, 2 * SZ_4K, 0xa5) < 0, "FILL through the pin (status %s)",
	      mdma_status_str(st));
	st = mdma_copy(dev, src_iova, buf_iova, len);
	CHECK(mdma_ok(st) && itest_pat_diff(buf, len, 1) < 0, "COPY into the pinned buffer works (status %s)",
	      mdma_status_str(st));

	/* 2. Unmap the pinned buffer: succeeds, the callback released the pin. */
	CHECK_RET(iommufd_ioas_unmap(ioas, buf_iova, len, NULL), 0, "iommufd_ioas_unmap of the buffer while 2 pages are pinned");
	CHECK(mdma_rd(dev, MDMA_REG_UNMAP_CALLS) == calls0 + 1, "the driver got one dma_unmap callback (%" PRIu64 ")",
	      mdma_rd(dev, MDMA_REG_UNMAP_CALLS) - calls0);
	CHECK(mdma_rd(dev, MDMA_REG_UNMAP_IOVA) == buf_iova && mdma_rd(dev, MDMA_REG_UNMAP_LEN) == len,
	      "for the unmapped range (IOVA 0x%" PRIx64 ", %" PRIu64 " bytes; want 0x%" PRIx64 ", %" PRIu64 ")",
	      mdma_rd(dev, MDMA_REG_UNMAP_IOVA), mdma_rd(dev, MDMA_REG_UNMAP_LEN), buf_iova, len);
	CHECK(mdma_rd(dev, MDMA_REG_UNMAP_PAGES) == pages0 + 2, "the callback released 2 pinned pages (%" PRIu64 ")",
	      mdma_rd(dev, MDMA_REG_UNMAP_PAGES) - pages0);
	st = mdma_rd(dev, MDMA_REG_STATUS);
	CHECK(st & MDMA_STATUS_UNMAPPED, "STATUS has the sticky UNMAPPED bit (status %s)", mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 1 && mdma_rd(dev, MDMA_REG_PIN_RANGES) == 1 &&
		      mdma_sysfs(a, "pinned_pages") == 1 && mdma_sysfs(NULL, "pinned_pages") == sys0 + 1,
	      "the pin in the other mapping is still held (1 page)");
	CHECK(mdma_sysfs(a, "unmap_calls") == (long long)mdma_rd(dev, MDMA_REG_UNMAP_CALLS) &&
		      mdma_sysfs(a, "unmap_pages") == (long long)mdma_rd(dev, MDMA_REG_UNMAP_PAGES),
	      "sysfs unmap_calls/unmap_pages match the registers");
	CHECK_RET(iommufd_ioas_find_iova(ioas, buf_iova, NULL), -ENOENT, "the library forgot the mapping");

	/* The other instance in the IOAS was told about the unmap as well,
	 * and had nothing pinned there. */
	CHECK(mdma_rd(dev_b, MDMA_REG_UNMAP_CALLS) == calls_b0 + 1 && mdma_rd(dev_b, MDMA_REG_UNMAP_PAGES) == pages_b0 &&
		      !(mdma_rd(dev_b, MDMA_REG_STATUS) & MDMA_STATUS_UNMAPPED),
	      "%s got the callback too (%" PRIu64 ") and released nothing", b,
	      mdma_rd(dev_b, MDMA_REG_UNMAP_CALLS) - calls_b0);

	/* 3. The IOVA is gone for the device: copies fault, write nothing. */
	memset(buf, 0x77, len);
	st = mdma_copy(dev, src_iova, buf_iova, SZ_4K);
	CHECK_MDMA_FAULT(st, "COPY to the unmapped IOVA faults (status %s)", mdma_status_str(st));
	CHECK(st & MDMA_STATUS_UNMAPPED, "UNMAPPED stays set across commands");
	CHECK(itest_byte_diff(buf, len, 0x77) < 0, "and the old memory is untouched");
	memset(src, 0x66, len);
	st = mdma_copy(dev, buf_iova, src_iova, SZ_4K);
	CHECK(mdma_faulted(st) && itest_byte_diff(src, len, 0x66) < 0,
	      "COPY from the unmapped IOVA faults and writes nothing (status %s)", mdma_status_str(st));
	st = mdma_fill(dev, buf_iova + SZ_4K, 16, 0x11);
	CHECK(mdma_faulted(st) && itest_byte_diff(buf, len, 0x77) < 0, "FILL into the released pin faults (status %s)",
	      mdma_status_str(st));
	st = mdma_pin(dev, buf_iova, SZ_4K);
	CHECK_MDMA_FAULT(st, "PIN of the unmapped IOVA faults (status %s)", mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_FAULTS) == faults0 + 4, "FAULTS +4 (%" PRIu64 ")",
	      mdma_rd(dev, MDMA_REG_FAULTS) - faults0);
	CHECK(mdma_rd(dev, MDMA_REG_ERROR) != 0, "ERROR holds the errno (%" PRIu64 ")", mdma_rd(dev, MDMA_REG_ERROR));
	st = mdma_cmd(dev, MDMA_CMD_CLEAR, 0, 0, 0);
	CHECK(st == MDMA_STATUS_DONE, "CLEAR clears UNMAPPED (status %s)", mdma_status_str(st));

	/* 4. Unmapping memory nobody pinned calls nobody. */
	{
		uint8_t *plain = itest_alloc(SZ_4K, SZ_4K);
		uint64_t plain_iova = itest_map(ioas, plain, SZ_4K, 0, "a page nobody pins");
		uint64_t c = mdma_rd(dev, MDMA_REG_UNMAP_CALLS);

		itest_unmap(ioas, plain_iova, SZ_4K, "the page nobody pinned");
		CHECK(mdma_rd(dev, MDMA_REG_UNMAP_CALLS) == c, "no dma_unmap callback for an unpinned mapping");
		itest_free(plain, SZ_4K);
	}

	/* 5. Remap the IOVA with new memory: the device reaches the new
	 * memory, never the old. */
	fresh = itest_alloc(len, SZ_4K);
	fresh_iova = itest_map_fixed(ioas, fresh, len, buf_iova, "new memory at the old IOVA");
	itest_fill(src, len, 2);
	st = mdma_copy(dev, src_iova, fresh_iova, len);
	CHECK(mdma_ok(st) && itest_pat_diff(fresh, len, 2) < 0 && itest_byte_diff(buf, len, 0x77) < 0,
	      "COPY to the remapped IOVA lands in the new memory only (status %s)", mdma_status_str(st));
	st = mdma_pin(dev, fresh_iova, len);
	CHECK(mdma_ok(st) && mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 5, "PIN the new memory (4 pages, 5 in all)");

	/* 6. Several pins in one mapping go together. */
	st = mdma_pin(dev, other_iova + 2 * SZ_4K, 2 * SZ_4K);
	CHECK(mdma_ok(st) && mdma_rd(dev, MDMA_REG_PIN_RANGES) == 3, "a second range in the other mapping (3 ranges)");
	pages0 = mdma_rd(dev, MDMA_REG_UNMAP_PAGES);
	CHECK_RET(iommufd_ioas_unmap(ioas, other_iova, len, NULL), 0, "unmap the other mapping with 2 ranges pinned in it");
	CHECK(mdma_rd(dev, MDMA_REG_UNMAP_PAGES) == pages0 + 3 && mdma_rd(dev, MDMA_REG_PIN_RANGES) == 1 &&
		      mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 4,
	      "both ranges (3 pages) released, the new memory's pin kept");

	/* 7. CDEV can move a device to another IOAS while it runs: its pins in
	 * the old IOAS are released through the same callback.  GROUP and
	 * TYPE1 cannot move it. */
	{
		struct iommufd_ioas *ioas2 = NULL;
		uint64_t c = mdma_rd(dev, MDMA_REG_UNMAP_CALLS);
		int r;

		REQUIRE_RET(iommufd_ioas_create(ctx, &ioas2), 0, "a second IOAS");
		r = iommufd_device_attach(dev, ioas2);
		if (itest_is_cdev(ctx)) {
			CHECK_RET(r, 0, "cdev: move %s to the second IOAS with 4 pages pinned", a);
			CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0 && mdma_rd(dev, MDMA_REG_UNMAP_CALLS) > c &&
				      (mdma_rd(dev, MDMA_REG_STATUS) & MDMA_STATUS_UNMAPPED),
			      "the move released the pins through dma_unmap (unmap of IOVA 0x%" PRIx64 ", length 0x%"
			      PRIx64 ")", mdma_rd(dev, MDMA_REG_UNMAP_IOVA), mdma_rd(dev, MDMA_REG_UNMAP_LEN));
			st = mdma_copy(dev, src_iova, fresh_iova, SZ_4K);
			CHECK_MDMA_FAULT(st, "in the empty second IOAS the old IOVAs fault (status %s)",
					 mdma_status_str(st));
			CHECK_RET(iommufd_device_attach(dev, ioas), 0, "move it back");
			st = mdma_copy(dev, src_iova, fresh_iova, SZ_4K);
			CHECK_MDMA_OK(st, "and it copies in the first IOAS again (status %s)", mdma_status_str(st));
		} else {
			CHECK_RET(r, -EOPNOTSUPP, "%s: a device cannot move to another IOAS",
				  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
			CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 4, "and its pins stay");
		}
		CHECK_RET(iommufd_ioas_destroy(ioas2), 0, "destroy the second IOAS");
	}

	/* 8. Everything released at the end; the process's pin accounting
	 * (VmPin + VmLck) is back where it started. */
	CHECK_RET(iommufd_device_destroy(dev), 0, "destroy %s", a);
	CHECK_RET(iommufd_device_destroy(dev_b), 0, "destroy %s", b);
	CHECK(mdma_sysfs(a, "pinned_pages") == 0 && mdma_sysfs(NULL, "pinned_pages") == sys0,
	      "no pages pinned after close (instance %lld, parent %lld)", mdma_sysfs(a, "pinned_pages"),
	      mdma_sysfs(NULL, "pinned_pages"));
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	CHECK(mdma_vm_pinned_kb() == vm0, "VmPin + VmLck back to %lld kB (now %lld)", vm0, mdma_vm_pinned_kb());
	itest_free(buf, len);
	itest_free(other, len);
	itest_free(src, len);
	itest_free(fresh, len);
	return itest_finish();
}
