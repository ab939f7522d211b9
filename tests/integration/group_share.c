/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * group_share: devices that share an IOMMU group, and a group that cannot
 * be used.
 *
 * IFD_EDU_PAIR: two edu devices behind a PCIe-to-PCI bridge, one IOMMU
 * group, both bound to vfio-pci.
 *   - The second of the pair cannot go to a different IOAS than the first:
 *     -EEXIST on group/type1 (the library knows the group's IOAS); on cdev
 *     the kernel refuses the attach (any negative errno).
 *   - Both open into one IOAS, report the same group (the one sysfs shows),
 *     and DMA works through each.
 *   - group/type1 share one /dev/vfio/<group> fd, which stays open until
 *     the last device of the group is destroyed; cdev opens none.
 * IFD_EDU_NONVIABLE: its group also holds IFD_NVME_HOST, bound to the host
 * nvme driver: opening it fails with -EBUSY on every backend and the log
 * names the device that holds the group.
 * NOIOMMU: each device has a no-IOMMU group of its own (noiommu_groups()).
 */
#include "itest.h"

/*
 * Without an IOMMU VFIO gives each device a no-IOMMU group of its own:
 * nothing ties the pair together and no host driver makes a group
 * unviable, so each opens where it is asked and works there.
 */
static void noiommu_groups(struct iommufd_ctx *ctx, const char *pa, const char *pb, const char *nonviable,
			   const char *holder)
{
	const char *name[3] = { pa, pb, nonviable };
	struct iommufd_ioas *ioas[3] = { NULL };
	struct itest_edu d[3];
	uint8_t *buf = itest_alloc(SZ_4K, SZ_4K);
	int g[3];

	memset(d, 0, sizeof(d));
	for (int i = 0; i < 3; i++)
		g[i] = itest_sysfs_group(name[i]);
	CHECK(g[0] >= 0 && g[1] >= 0 && g[2] >= 0 && g[0] != g[1] && g[0] != g[2] && g[1] != g[2],
	      "no IOMMU: %s, %s and %s each have a group of their own (%d, %d, %d)", pa, pb, nonviable, g[0], g[1],
	      g[2]);
	CHECK(itest_sysfs_group(holder) != g[2], "%s (host driver) is not in %s's group", holder, nonviable);
	for (int i = 0; i < 3; i++) {
		uint64_t iova;

		REQUIRE_RET(iommufd_ioas_create(ctx, &ioas[i]), 0, "an IOAS for %s", name[i]);
		itest_edu_open(&d[i], ioas[i], name[i]);
		CHECK_RET(iommufd_device_get_group(d[i].dev), g[i], "%s reports group %d", name[i], g[i]);
		iova = itest_map(ioas[i], buf, SZ_4K, EDU_IOVA_MAX, "buffer");
		itest_edu_roundtrip(&d[i], buf, iova, EDU_BUF_SIZE, 20 + i, "in an IOAS of its own");
	}
	for (int i = 0; i < 3; i++) {
		itest_edu_close(&d[i]);
		CHECK_RET(iommufd_ioas_destroy(ioas[i]), 0, "destroy the IOAS of %s", name[i]);
	}
	itest_free(buf, SZ_4K);
}

int main(void)
{
	struct itest_edu d0 = { 0 }, d1 = { 0 };
	struct iommufd_device *dev = NULL;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *a = NULL, *b = NULL;
	char pa[32], pb[32], gpath[64];
	uint8_t *buf;
	uint64_t iova;
	int grp, rc, want_fds;
	bool cdev;

	itest_start("group_share");
	itest_pair(pa, pb);
	const char *nonviable = itest_env_req("IFD_EDU_NONVIABLE");
	const char *holder = itest_env_req("IFD_NVME_HOST");

	ctx = itest_ctx();
	if (itest_is_noiommu(ctx)) {
		noiommu_groups(ctx, pa, pb, nonviable, holder);
		iommufd_ctx_destroy(ctx);
		return itest_finish();
	}
	cdev = itest_is_cdev(ctx);
	REQUIRE_RET(iommufd_ioas_create(ctx, &a), 0, "create IOAS A");
	REQUIRE_RET(iommufd_ioas_create(ctx, &b), 0, "create IOAS B");

	grp = itest_sysfs_group(pa);
	REQUIRE(grp >= 0 && grp == itest_sysfs_group(pb), "sysfs: %s and %s share IOMMU group %d", pa, pb, grp);
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", grp);
	want_fds = cdev ? 0 : 1;

	/* First of the pair into A. */
	itest_edu_open(&d0, a, pa);
	CHECK_RET(iommufd_device_get_group(d0.dev), grp, "%s reports group %d", pa, grp);
	CHECK_RET(itest_count_fds(gpath), want_fds, "%s fds open with one device of the group (%s)", gpath,
		  cdev ? "cdev needs none" : "one shared group fd");

	/* Second of the pair into B: refused. */
	itest_log_clear();
	rc = iommufd_device_open(b, pb, NULL, &dev);
	if (cdev) /* the kernel refuses the attach; documented as -EINVAL */
		CHECK_RET(rc, -EINVAL, "cdev: opening %s into another IOAS than its group's", pb);
	else
		CHECK_RET(rc, -EEXIST, "%s: opening %s into another IOAS than its group's",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)), pb);
	if (rc == 0) {
		iommufd_device_destroy(dev);
		dev = NULL;
	}
	CHECK_RET(itest_count_fds(gpath), want_fds, "%s fds after the refused open", gpath);
	/* The first device is unaffected by the refused open. */
	buf = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(a, buf, SZ_4K, EDU_IOVA_MAX, "buffer in A");
	itest_edu_roundtrip(&d0, buf, iova, EDU_BUF_SIZE, 1, "first of the pair after the refused open");

	/* Second of the pair into A: fine. */
	itest_edu_open(&d1, a, pb);
	CHECK(iommufd_device_get_group(d0.dev) == iommufd_device_get_group(d1.dev),
	      "both report the same group (%d, %d)", iommufd_device_get_group(d0.dev),
	      iommufd_device_get_group(d1.dev));
	CHECK_RET(itest_count_fds(gpath), want_fds, "%s fds with both devices of the group open", gpath);
	itest_edu_roundtrip(&d0, buf, iova, EDU_BUF_SIZE, 2, "first of the pair");
	itest_edu_roundtrip(&d1, buf, iova, EDU_BUF_SIZE, 3, "second of the pair");
	/* One device's transfer lands where the other's reads. */
	itest_fill(buf, EDU_BUF_SIZE, 4);
	if (itest_dma(&d0, iova, 0, EDU_BUF_SIZE, 0)) {
		memset(buf, 0, EDU_BUF_SIZE);
		if (itest_dma(&d0, iova, 0, EDU_BUF_SIZE, 1) && itest_dma(&d1, iova, 0, EDU_BUF_SIZE, 0)) {
			uint8_t *out = itest_alloc(SZ_4K, SZ_4K);
			uint64_t out_iova = itest_map(a, out, SZ_4K, EDU_IOVA_MAX, "output buffer");

			if (itest_dma(&d1, out_iova, 0, EDU_BUF_SIZE, 1))
				CHECK(itest_pat_diff(out, EDU_BUF_SIZE, 4) < 0,
				      "data written by one device of the group is read by the other");
			itest_unmap(a, out_iova, SZ_4K, "output buffer");
			itest_free(out, SZ_4K);
		}
	}

	/* The group fd lives as long as its last device. */
	itest_edu_close(&d0);
	CHECK_RET(itest_count_fds(gpath), want_fds, "%s fds after destroying the first device", gpath);
	itest_edu_roundtrip(&d1, buf, iova, EDU_BUF_SIZE, 5, "second of the pair after the first was destroyed");
	itest_edu_close(&d1);
	CHECK_RET(itest_count_fds(gpath), 0, "%s fds after destroying both", gpath);

	/* Now the group is free: the pair may go to B. */
	itest_edu_open(&d1, b, pb);
	{
		uint64_t biova = itest_map(b, buf, SZ_4K, EDU_IOVA_MAX, "buffer in B");

		itest_edu_roundtrip(&d1, buf, biova, EDU_BUF_SIZE, 6, "second of the pair, now in IOAS B");
		itest_unmap(b, biova, SZ_4K, "buffer in B");
	}
	itest_edu_close(&d1);

	/* A group that is not viable. */
	{
		int ngrp = itest_sysfs_group(nonviable);
		char npath[64];

		CHECK(ngrp >= 0 && ngrp == itest_sysfs_group(holder), "sysfs: %s shares group %d with %s", nonviable,
		      ngrp, holder);
		snprintf(npath, sizeof(npath), "/dev/vfio/%d", ngrp);
		itest_log_clear();
		dev = NULL;
		rc = iommufd_device_open(a, nonviable, NULL, &dev);
		CHECK_RET(rc, -EBUSY, "opening %s, whose group is not viable", nonviable);
		CHECK(rc != 0 || dev == NULL, "no device handle is returned on failure");
		CHECK(itest_log_has(holder, NULL), "the log names %s, the device holding the group", holder);
		CHECK(itest_log_has(holder, "nvme"), "the log names its driver (nvme)");
		CHECK_RET(itest_count_fds(npath), 0, "no %s fd is left open after the failure", npath);
		itest_sysfs_cdev(nonviable, npath, sizeof(npath), true);
		if (npath[0])
			CHECK_RET(itest_count_fds(npath), 0, "no %s fd is left open after the failure", npath);
		if (rc == 0)
			iommufd_device_destroy(dev);
		/* Still usable afterwards. */
		itest_edu_open(&d0, a, pa);
		itest_edu_roundtrip(&d0, buf, iova, EDU_BUF_SIZE, 7, "after the non-viable failure");
		itest_edu_close(&d0);
	}

	itest_unmap(a, iova, SZ_4K, "buffer in A");
	CHECK_RET(iommufd_ioas_destroy(a), 0, "destroy IOAS A");
	CHECK_RET(iommufd_ioas_destroy(b), 0, "destroy IOAS B");
	iommufd_ctx_destroy(ctx);
	itest_free(buf, SZ_4K);
	return itest_finish();
}
