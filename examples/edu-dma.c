/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * edu-dma: the smallest complete DMA round trip with libiommufd, on QEMU's
 * "edu" teaching device.
 *
 *   edu-dma [BDF]        (default: $IFD_EDU, else 0000:00:03.0)
 *
 * Maps one 4 KiB buffer below the edu's 28-bit DMA limit, copies it into
 * the device and back out into the same (cleared) buffer, and compares.
 * Exit status: 0 the data came back intact, 1 failure, 77 no such device
 * (or no IOMMU path on this kernel).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <libiommufd/libiommufd.h>

#include "edu.h"

#define DMA_TIMEOUT_MS 10000 /* ~100 ms of virtual time, but TCG guests lag */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Not a constant fill: a transfer that moved the wrong bytes must show. */
static void fill(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 8) + 0x5a);
}

int main(int argc, char **argv)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct edu edu = { 0 };
	/* The edu masks DMA addresses to 28 bits: an IOVA above that would
	 * silently reach some other address, so the allocator must stay low. */
	struct iommufd_map_opts mopts = { .sz = sizeof(mopts), .iova_max = EDU_IOVA_MAX };
	const char *bdf;
	uint8_t *buf = NULL, *expect = NULL;
	uint64_t iova = 0;
	bool mapped = false;
	struct timespec t0;
	double to_edu_ms;
	int r, rc = 1;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: edu-dma [BDF]   (default $IFD_EDU, else 0000:00:03.0)\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 1;
	}
	bdf = argc == 2 ? argv[1] : getenv("IFD_EDU");
	if (!bdf || !*bdf)
		bdf = "0000:00:03.0";
	setvbuf(stdout, NULL, _IOLBF, 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = iommufd_ctx_create(NULL, &ctx);
	if (r < 0) {
		fprintf(stderr, "edu-dma: iommufd_ctx_create: %s\n", strerror(-r));
		return r == -ENODEV ? 77 : 1;
	}
	printf("edu-dma: backend %s\n", iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	r = iommufd_ioas_create(ctx, &ioas);
	if (r < 0) {
		fprintf(stderr, "edu-dma: iommufd_ioas_create: %s\n", strerror(-r));
		goto out;
	}
	r = iommufd_device_open(ioas, bdf, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "edu-dma: iommufd_device_open(%s): %s\n", bdf, strerror(-r));
		if (r == -ENODEV)
			rc = 77;
		goto out;
	}
	r = edu_init(&edu, dev);
	if (r < 0) {
		fprintf(stderr, "edu-dma: %s: %s\n", bdf,
			r == -ENODEV ? "not an edu device (ID register mismatch)" : strerror(-r));
		goto out;
	}
	printf("edu-dma: %s open, IOMMU group %d [%.2f ms]\n", iommufd_device_get_name(dev),
	       iommufd_device_get_group(dev), ms_since(&t0));

	buf = mmap(NULL, EDU_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect = malloc(EDU_BUF_SIZE);
	if (buf == MAP_FAILED || !expect) {
		buf = NULL;
		fprintf(stderr, "edu-dma: out of memory\n");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = iommufd_ioas_map(ioas, buf, EDU_BUF_SIZE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &mopts, &iova);
	if (r < 0) {
		fprintf(stderr, "edu-dma: iommufd_ioas_map: %s\n", strerror(-r));
		goto out;
	}
	mapped = true;
	printf("edu-dma: %u-byte buffer at IOVA 0x%" PRIx64 " (limit 0x%llx) [%.2f ms]\n", EDU_BUF_SIZE, iova,
	       EDU_IOVA_MAX, ms_since(&t0));
	if (iova + EDU_BUF_SIZE - 1 > EDU_IOVA_MAX) {
		fprintf(stderr, "edu-dma: the library ignored iova_max\n");
		goto out;
	}

	fill(buf, EDU_BUF_SIZE);
	memcpy(expect, buf, EDU_BUF_SIZE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = edu_dma(&edu, iova, 0, EDU_BUF_SIZE, 0, DMA_TIMEOUT_MS);
	if (r < 0) {
		fprintf(stderr, "edu-dma: DMA RAM -> edu: %s\n", strerror(-r));
		goto out;
	}
	to_edu_ms = ms_since(&t0);
	memset(buf, 0, EDU_BUF_SIZE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = edu_dma(&edu, iova, 0, EDU_BUF_SIZE, 1, DMA_TIMEOUT_MS);
	if (r < 0) {
		fprintf(stderr, "edu-dma: DMA edu -> RAM: %s\n", strerror(-r));
		goto out;
	}
	printf("edu-dma: DMA RAM -> edu %.2f ms, edu -> RAM %.2f ms\n", to_edu_ms, ms_since(&t0));
	if (memcmp(buf, expect, EDU_BUF_SIZE)) {
		size_t i = 0;

		while (buf[i] == expect[i])
			i++;
		fprintf(stderr, "edu-dma: data differs from byte %zu: wrote 0x%02x, read back 0x%02x\n", i,
			expect[i], buf[i]);
		goto out;
	}
	printf("edu-dma: verified %u bytes through the IOMMU\n", EDU_BUF_SIZE);
	rc = 0;

out:
	/* The device must stop before its memory goes, and the mapping must go
	 * before the memory is freed; check each step so a leak shows. */
	if (edu.bar && iommufd_device_set_bus_master(dev, false) < 0) {
		fprintf(stderr, "edu-dma: clearing bus master: %s\n", strerror(errno));
		rc = 1;
	}
	if (edu.bar && (r = iommufd_device_unmap_region(dev, IOMMUFD_REGION_BAR0)) < 0) {
		fprintf(stderr, "edu-dma: iommufd_device_unmap_region: %s\n", strerror(-r));
		rc = 1;
	}
	if (mapped && (r = iommufd_ioas_unmap(ioas, iova, EDU_BUF_SIZE, NULL)) < 0) {
		fprintf(stderr, "edu-dma: iommufd_ioas_unmap: %s\n", strerror(-r));
		rc = 1;
	} else if (buf) {
		munmap(buf, EDU_BUF_SIZE);
	}
	free(expect);
	if ((r = iommufd_device_destroy(dev)) < 0) {
		fprintf(stderr, "edu-dma: iommufd_device_destroy: %s\n", strerror(-r));
		rc = 1;
	}
	if ((r = iommufd_ioas_destroy(ioas)) < 0) {
		fprintf(stderr, "edu-dma: iommufd_ioas_destroy: %s\n", strerror(-r));
		rc = 1;
	}
	iommufd_ctx_destroy(ctx);
	printf("edu-dma: %s\n", rc == 0 ? "PASS" : rc == 77 ? "SKIP" : "FAIL");
	return rc;
}
