/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * How much the library adds to a DMA map/unmap: the same 4 KiB map+unmap
 * through iommufd_ioas_map/unmap and through the raw ioctl of the backend
 * in use (IOMMU_IOAS_MAP/UNMAP, or VFIO_IOMMU_MAP_DMA/UNMAP_DMA on type1),
 * interleaved in one run on one IOAS, reported as a ratio.  Also the cost
 * of iommufd_ioas_translate() with many live mappings.  Informational: it
 * fails only if a call fails, never on a time.
 *
 *   map-bench [BDF] [iterations]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/vfio.h>

#include <libiommufd/libiommufd.h>

#include "kabi.h"

#define PAGE 4096u
#define RAW_BASE 0x40000000ull /* a window the library is told to avoid */
#define RAW_SIZE 0x00100000ull

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int raw_map(struct iommufd_ioas *ioas, enum iommufd_backend b, void *va, uint64_t iova)
{
	int fd = iommufd_ioas_get_fd(ioas);

	if (b == IOMMUFD_BACKEND_TYPE1) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)va,
			.iova = iova,
			.size = PAGE,
		};
		return ioctl(fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
	}
	struct ifd_k_ioas_map m = {
		.size = sizeof(m),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_READABLE |
			 IFD_K_IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = (uint32_t)iommufd_ioas_get_id(ioas),
		.user_va = (uintptr_t)va,
		.length = PAGE,
		.iova = iova,
	};
	return ioctl(fd, IFD_K_IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static int raw_unmap(struct iommufd_ioas *ioas, enum iommufd_backend b, uint64_t iova)
{
	int fd = iommufd_ioas_get_fd(ioas);

	if (b == IOMMUFD_BACKEND_TYPE1) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = PAGE };
		return ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : 0;
	}
	struct ifd_k_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = (uint32_t)iommufd_ioas_get_id(ioas), .iova = iova, .length = PAGE,
	};
	return ioctl(fd, IFD_K_IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : (getenv("IFD_EDU") ? getenv("IFD_EDU") : "0000:00:03.0");
	int iters = argc > 2 ? atoi(argv[2]) : 2000, live = 1000, r;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	enum iommufd_backend b;
	double t_raw = 0, t_lib = 0, t0;
	uint64_t iova, sink = 0;
	uint8_t *mem;

	if ((r = iommufd_ctx_create(NULL, &ctx)) || (r = iommufd_ioas_create(ctx, &ioas)) ||
	    (r = iommufd_device_open(ioas, bdf, NULL, &dev))) {
		fprintf(stderr, "map-bench: set-up failed: %s\n", strerror(-r));
		return r == -ENODEV ? 77 : 1;
	}
	b = iommufd_ctx_get_backend(ctx);
	mem = mmap(NULL, (size_t)live * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED || iommufd_ioas_reserve(ioas, RAW_BASE, RAW_SIZE)) {
		perror("map-bench: memory or reserve");
		return 1;
	}

	/* Interleave the two so drift in the emulator affects both alike. */
	for (int i = 0; i < iters; i++) {
		t0 = now_ns();
		if (raw_map(ioas, b, mem, RAW_BASE) || raw_unmap(ioas, b, RAW_BASE)) {
			perror("map-bench: raw ioctl");
			return 1;
		}
		t_raw += now_ns() - t0;
		t0 = now_ns();
		if (iommufd_ioas_map(ioas, mem, PAGE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &iova) ||
		    iommufd_ioas_unmap(ioas, iova, PAGE, NULL)) {
			perror("map-bench: library");
			return 1;
		}
		t_lib += now_ns() - t0;
	}
	printf("backend %s: map+unmap 4 KiB x %d: raw %.0f ns, libiommufd %.0f ns, ratio %.3f\n",
	       iommufd_backend_name(b), iters, t_raw / iters, t_lib / iters, t_lib / t_raw);

	/* translate() with `live` mappings: the driver's per-I/O lookup. */
	for (int i = 0; i < live; i++)
		if (iommufd_ioas_map(ioas, mem + (size_t)i * PAGE, PAGE, IOMMUFD_MAP_READ, NULL, &iova)) {
			perror("map-bench: map");
			return 1;
		}
	t0 = now_ns();
	for (int i = 0; i < iters * 10; i++) {
		if (iommufd_ioas_translate(ioas, mem + (size_t)(i % live) * PAGE + 64, 512, &iova)) {
			perror("map-bench: translate");
			return 1;
		}
		sink += iova;
	}
	printf("backend %s: translate with %d live mappings: %.0f ns per lookup (checksum %llx)\n",
	       iommufd_backend_name(b), live, (now_ns() - t0) / (iters * 10), (unsigned long long)sink);
	iommufd_ctx_destroy(ctx);
	munmap(mem, (size_t)live * PAGE);
	return 0;
}
