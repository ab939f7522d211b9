/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * p2p_bar: peer-to-peer DMA through another device's BAR.  The edu DMA
 * engine writes into, and reads from, BAR 2 of QEMU's ivshmem-plain (1 MiB
 * of plain memory, on vfio-pci), mapped into the IOAS with
 * iommufd_ioas_map_bar(); the CPU checks through the BAR's own mmap.
 *
 * Then revocation: the library resets the ivshmem device (or, when it has
 * no reset method, turns its memory decode off through the config space,
 * the other cause the library sees).  On CDEV/GROUP the kernel revokes the
 * dma-buf: the library must report P2P_REVOKED with the mapping's IOVA,
 * iommufd_ioas_bar_revoked() must say so, and a later DMA must not land.
 * Unmap and map again cures it.  On TYPE1 nothing is revoked (documented):
 * no event, and DMA still lands once the BAR decodes again.
 */
#include <poll.h>

#include "feature.h"

#define BAR 2u
#define SLICE 0x10000ull       /* 64 KiB of the BAR */
#define OFF_W 0x1000u          /* where the edu writes into the slice */
#define OFF_R 0x3000u          /* where the edu reads from */
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2

static bool read_revoked(struct iommufd_ctx *ctx, int efd, struct iommufd_ioas *ioas, uint64_t iova,
			 struct iommufd_device *bar_dev)
{
	struct iommufd_event ev[8];
	struct pollfd p = { .fd = efd, .events = POLLIN };
	bool seen = false;
	int n;

	CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLIN), "the event fd is readable after the revocation");
	while ((n = iommufd_ctx_read_events(ctx, ev, 8)) > 0) {
		for (int i = 0; i < n; i++) {
			itest_note("event kind %u dev %p name %s ioas %p iova 0x%" PRIx64 " len 0x%" PRIx64, ev[i].kind,
				   (void *)ev[i].dev, ev[i].name, (void *)ev[i].ioas, ev[i].iova, ev[i].len);
			if (ev[i].kind == IOMMUFD_EVENT_P2P_REVOKED && ev[i].ioas == ioas && ev[i].iova == iova &&
			    ev[i].len == SLICE && ev[i].dev == bar_dev)
				seen = true;
		}
	}
	return CHECK(seen, "IOMMUFD_EVENT_P2P_REVOKED reported with the mapping's IOAS, IOVA 0x%" PRIx64
		     ", length and device", iova);
}

/* Revoke through the library: a reset, else memory decode off and on.
 * Returns what it did, for the messages. */
static const char *do_revoke(struct iommufd_device *bar_dev)
{
	uint16_t cmd = 0, off;
	int r = iommufd_device_reset(bar_dev);

	if (r == 0)
		return "reset";
	CHECK_RET(r, -EOPNOTSUPP, "iommufd_device_reset of the ivshmem: done, or refused as documented "
		  "(no reset method)");
	REQUIRE_RET(iommufd_device_config_read(bar_dev, PCI_COMMAND, &cmd, 2), 0, "read the command register");
	cmd = le16toh(cmd);
	CHECK(cmd & PCI_COMMAND_MEMORY, "ivshmem memory decode is on (command 0x%x)", cmd);
	off = htole16((uint16_t)(cmd & ~PCI_COMMAND_MEMORY));
	CHECK_RET(iommufd_device_config_write(bar_dev, PCI_COMMAND, &off, 2), 0, "memory decode off");
	cmd = htole16(cmd);
	CHECK_RET(iommufd_device_config_write(bar_dev, PCI_COMMAND, &cmd, 2), 0, "memory decode back on");
	return "memory decode off";
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_feature_status st;
	struct iommufd_region_info ri;
	struct iommufd_device *ivsh = NULL;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_map_info info;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	volatile uint8_t *bar;
	uint8_t *ram, snap[EDU_BUF_SIZE];
	uint64_t bar_iova = 0, ram_iova = 0, again = 0;
	size_t bar_len = 0;
	void *bar_p = NULL;
	bool iommufd, dmabuf;
	const char *how;
	int q, r, efd;

	itest_start("p2p_bar");
	const char *edu_bdf = itest_env_req("IFD_EDU");
	const char *ivsh_bdf = itest_env_req("IFD_IVSHMEM");

	ctx = itest_ctx();
	iommufd = iommufd_ctx_get_backend(ctx) != IOMMUFD_BACKEND_TYPE1;
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	REQUIRE_RET(iommufd_device_open(ioas, ivsh_bdf, NULL, &ivsh), 0, "open the ivshmem %s", ivsh_bdf);
	REQUIRE_RET(iommufd_device_get_region_info(ivsh, BAR, &ri), 0, "BAR %u info", BAR);
	REQUIRE(ri.size >= 0x100000, "ivshmem BAR %u is 1 MiB of memory (0x%" PRIx64 ")", BAR, ri.size);
	REQUIRE_RET(iommufd_device_map_region(ivsh, BAR, &bar_p, &bar_len), 0, "mmap ivshmem BAR %u", BAR);
	bar = bar_p;
	efd = iommufd_ctx_get_event_fd(ctx);
	REQUIRE(efd >= 0, "iommufd_ctx_get_event_fd (%d)", efd);

	/* The feature answer: a dma-buf path on iommufd, the mmap path on type1. */
	q = feature_get(ctx, ivsh, IOMMUFD_FEATURE_P2P_DMABUF, &st, "P2P_DMABUF");
	if (iommufd && iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_NOIOMMU)
		CHECK(q == 0 && st.reason == IOMMUFD_REASON_BACKEND, "P2P_DMABUF: no IOMMU says BACKEND");
	else if (iommufd && !strcmp(itest_env_req("IFD_KERNEL"), "6.12"))
		/* The 6.12-src cell: no dma-buf export (7.0), no MAP_FILE (6.13). */
		CHECK(q == 0 && st.reason == IOMMUFD_REASON_KERNEL, "P2P_DMABUF: 6.12 says KERNEL");
	else if (iommufd)
		CHECK(q == 1, "P2P_DMABUF is offered on %s with the ivshmem",
		      iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	else
		CHECK(q == 0 && st.reason == IOMMUFD_REASON_BACKEND, "P2P_DMABUF: type1 says BACKEND (it maps the mmap)");
	dmabuf = q == 1;
	if (dmabuf) {
		int fd = -1;

		CHECK_RET(iommufd_device_export_dmabuf(ivsh, BAR, 0, SLICE, &fd), 0, "export BAR %u as a dma-buf", BAR);
		CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "the dma-buf fd is close-on-exec");
		if (fd >= 0)
			close(fd);
	}

	/* ---- 1. map the BAR slice and a RAM buffer */
	r = iommufd_ioas_map_bar(ioas, ivsh, BAR, 0, SLICE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &bar_iova);
	if (iommufd && !dmabuf) {
		/* An iommufd context whose kernel or backend (no IOMMU at all)
		 * has no dma-buf path: the map is refused as the query said. */
		CHECK_RET(r, -EOPNOTSUPP, "iommufd_ioas_map_bar refused where P2P_DMABUF is reported missing (%s)",
			  st.why);
		goto out;
	}
	if (!iommufd && itest_compat_container()) {
		/* TYPE1 over iommufd's compat container pins like iommufd:
		 * no BAR mmap, and no dma-buf on this path. */
		CHECK_RET(r, -EOPNOTSUPP, "iommufd_ioas_map_bar on iommufd's compat container is refused");
		goto out;
	}
	REQUIRE_RET(r, 0, "iommufd_ioas_map_bar of ivshmem BAR %u (%s)", BAR, dmabuf ? "dma-buf" : "mmap");
	CHECK(bar_iova && bar_iova + SLICE - 1 <= EDU_IOVA_MAX, "BAR IOVA 0x%" PRIx64 " is under the edu's limit",
	      bar_iova);
	CHECK_RET(iommufd_ioas_find_iova(ioas, bar_iova + OFF_W, &info), 0, "find_iova sees the BAR mapping");
	CHECK(info.iova == bar_iova && info.len == SLICE, "the mapping is the slice");
	CHECK_RET(iommufd_ioas_bar_revoked(ioas, bar_iova), 0, "a fresh BAR mapping is not revoked");
	ram = itest_alloc(SZ_4K, SZ_4K);
	ram_iova = itest_map(ioas, ram, SZ_4K, EDU_IOVA_MAX, "RAM buffer");

	/* ---- 2. RAM -> edu -> BAR, read back through the BAR's mmap */
	for (size_t i = 0; i < SLICE; i++)
		bar[i] = 0x5a;
	itest_fill(ram, SZ_4K, 21);
	if (itest_dma(&x, ram_iova, 0, EDU_BUF_SIZE, 0) && itest_dma(&x, bar_iova + OFF_W, 0, EDU_BUF_SIZE, 1)) {
		long d = -1;

		for (size_t i = 0; i < EDU_BUF_SIZE && d < 0; i++)
			if (bar[OFF_W + i] != itest_pat(i, 21))
				d = (long)i;
		CHECK(d < 0, "edu -> BAR IOVA 0x%" PRIx64 ": the pattern is in the BAR (read through its mmap)",
		      bar_iova + OFF_W);
		if (d >= 0)
			itest_note("  BAR byte %ld is 0x%02x, want 0x%02x", d, bar[OFF_W + d], itest_pat((size_t)d, 21));
		CHECK(bar[OFF_W - 1] == 0x5a && bar[OFF_W + EDU_BUF_SIZE] == 0x5a, "and nowhere else around it");
	}

	/* ---- 3. BAR -> edu -> RAM */
	for (size_t i = 0; i < EDU_BUF_SIZE; i++)
		bar[OFF_R + i] = itest_pat(i, 22);
	memset(ram, 0, SZ_4K);
	if (itest_dma(&x, bar_iova + OFF_R, 0, EDU_BUF_SIZE, 0) && itest_dma(&x, ram_iova, 0, EDU_BUF_SIZE, 1))
		CHECK(itest_pat_diff(ram, SZ_4K, 22) < 0, "BAR IOVA 0x%" PRIx64 " -> edu -> RAM: the BAR's pattern "
		      "arrives", bar_iova + OFF_R);

	/* ---- 4. revocation */
	how = do_revoke(ivsh);
	itest_note("revoked by: %s", how);
	for (size_t i = 0; i < EDU_BUF_SIZE; i++)
		snap[i] = bar[OFF_W + i];
	itest_fill(ram, SZ_4K, 23);
	itest_dma(&x, ram_iova, 0, EDU_BUF_SIZE, 0); /* edu buffer = pattern 23 */
	if (dmabuf) {
		read_revoked(ctx, efd, ioas, bar_iova, ivsh);
		CHECK_RET(iommufd_ioas_bar_revoked(ioas, bar_iova + OFF_W), 1, "iommufd_ioas_bar_revoked says revoked");
		CHECK(itest_dma(&x, bar_iova + OFF_W, 0, EDU_BUF_SIZE, 1), "DMA edu -> revoked BAR IOVA completes on "
		      "the device side");
		{
			long d = -1;

			for (size_t i = 0; i < EDU_BUF_SIZE && d < 0; i++)
				if (bar[OFF_W + i] != snap[i])
					d = (long)i;
			CHECK(d < 0, "after the %s the DMA did not land in the BAR", how);
		}
		/* The cure: unmap, map again. */
		itest_unmap(ioas, bar_iova, SLICE, "the revoked BAR mapping");
		CHECK_RET(iommufd_ioas_bar_revoked(ioas, bar_iova), -ENOENT, "no BAR mapping there any more");
		CHECK_RET(iommufd_ioas_map_bar(ioas, ivsh, BAR, 0, SLICE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o,
					       &again), 0, "map the BAR again");
		if (again && itest_dma(&x, again + OFF_W, 0, EDU_BUF_SIZE, 1)) {
			long d = -1;

			for (size_t i = 0; i < EDU_BUF_SIZE && d < 0; i++)
				if (bar[OFF_W + i] != itest_pat(i, 23))
					d = (long)i;
			CHECK(d < 0, "the new mapping works: edu -> BAR lands again");
		}
		bar_iova = again;
	} else {
		struct iommufd_event ev[4];

		CHECK_RET(iommufd_ioas_bar_revoked(ioas, bar_iova), 0, "type1: the mapping is not revoked (documented)");
		CHECK_RET(iommufd_ctx_read_events(ctx, ev, 4), -EAGAIN, "type1: no P2P_REVOKED event");
		if (itest_dma(&x, bar_iova + OFF_W, 0, EDU_BUF_SIZE, 1)) {
			long d = -1;

			for (size_t i = 0; i < EDU_BUF_SIZE && d < 0; i++)
				if (bar[OFF_W + i] != itest_pat(i, 23))
					d = (long)i;
			CHECK(d < 0, "type1: after the %s DMA still lands in the BAR (the IOMMU keeps its address)", how);
		}
	}

out:
	if (bar_iova)
		itest_unmap(ioas, bar_iova, SLICE, "the BAR mapping");
	if (ram_iova)
		itest_unmap(ioas, ram_iova, SZ_4K, "RAM buffer");
	CHECK_RET(iommufd_device_unmap_region(ivsh, BAR), 0, "unmap the BAR's mmap");
	CHECK_RET(iommufd_device_destroy(ivsh), 0, "destroy the ivshmem");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "destroy the IOAS");
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
