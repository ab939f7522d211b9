/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * QEMU's "edu" PCI device (1234:11e8) driven through libiommufd: a DMA
 * engine with a 4 KiB internal buffer at device address 0x40000.  Shared by
 * examples/edu-dma.c and the integration tests.
 *
 * Traps worth knowing: DMA addresses are masked to 28 bits (IOVAs must be
 * below 256 MiB), and a transfer whose device-side range leaves
 * 0x40000..0x40fff aborts QEMU itself, so every call here checks it.
 *
 * The device is programmed with the bus address of the IOVA
 * (iommufd_ioas_get_bus_addrs()): the IOVA itself behind an IOMMU, the
 * physical address on the unsafe no-IOMMU backend, where QEMU's dma_mask
 * property must be raised for a guest with more than 256 MiB (the guest
 * cannot see it: the environment variable EDU_DMA_MASK says it).
 */
#ifndef IFD_EXAMPLES_EDU_H
#define IFD_EXAMPLES_EDU_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <libiommufd/libiommufd.h>

#define EDU_REG_ID        0x00
#define EDU_REG_DMA_SRC   0x80
#define EDU_REG_DMA_DST   0x88
#define EDU_REG_DMA_COUNT 0x90
#define EDU_REG_DMA_CMD   0x98

#define EDU_DMA_START   0x1
#define EDU_DMA_TO_RAM  0x2 /* direction: 0 = RAM to edu, 1 = edu to RAM */
#define EDU_DMA_IRQ     0x4

#define EDU_BUF_ADDR  0x40000u
#define EDU_BUF_SIZE  4096u
#define EDU_IOVA_MAX  0x0fffffffull /* 28-bit DMA mask */
#define EDU_ID_VALUE  0x010000edu

struct edu {
	struct iommufd_device *dev;
	volatile uint8_t *bar;
	size_t bar_len;
	uint64_t dma_mask; /* highest bus address the device reaches */
};

static inline uint32_t edu_rd32(struct edu *e, uint32_t off)
{
	return *(volatile uint32_t *)(e->bar + off);
}

static inline uint64_t edu_rd64(struct edu *e, uint32_t off)
{
	return *(volatile uint64_t *)(e->bar + off);
}

static inline void edu_wr64(struct edu *e, uint32_t off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar + off) = v;
}

/* Map BAR0, check the ID register, enable bus mastering. */
static inline int edu_init(struct edu *e, struct iommufd_device *dev)
{
	void *bar;
	size_t len;
	int r;

	e->dev = dev;
	e->dma_mask = EDU_IOVA_MAX;
	if (getenv("EDU_DMA_MASK"))
		e->dma_mask = strtoull(getenv("EDU_DMA_MASK"), NULL, 0);
	r = iommufd_device_map_region(dev, IOMMUFD_REGION_BAR0, &bar, &len);
	if (r < 0)
		return r;
	e->bar = (volatile uint8_t *)bar;
	e->bar_len = len;
	if (edu_rd32(e, EDU_REG_ID) != EDU_ID_VALUE)
		return -ENODEV;
	return iommufd_device_set_bus_master(dev, true);
}

/*
 * One transfer between IOVA @iova and the edu buffer at @off, polled to
 * completion.  @to_ram: edu -> RAM.  Returns 0, -EINVAL for a range the
 * device would choke on, or -ETIMEDOUT after @timeout_ms of wall time (a
 * transfer takes ~100 ms of virtual time; a TCG guest can be slower).
 */
static inline int edu_dma(struct edu *e, uint64_t iova, uint32_t off, uint32_t len, int to_ram,
			  unsigned int timeout_ms)
{
	struct iommufd_ioas *ioas = iommufd_device_get_ioas(e->dev);
	struct iommufd_dma_segment seg;
	struct timespec t0, t;
	int n;

	if (!len || off >= EDU_BUF_SIZE || len > EDU_BUF_SIZE - off)
		return -EINVAL;
	/* Unmapped: behind an IOMMU the transfer is issued (and faults);
	 * without one it would reach whatever memory the IOVA names. */
	n = ioas ? iommufd_ioas_get_bus_addrs(ioas, iova, len, &seg, 1) : -ENOENT;
	if (n == 1)
		iova = seg.bus_addr;
	else if (n > 1 || iommufd_ctx_get_backend(iommufd_ioas_get_ctx(ioas)) == IOMMUFD_BACKEND_NOIOMMU)
		return n > 1 ? -EINVAL : -EFAULT; /* the edu cannot scatter */
	if (iova > e->dma_mask || len - 1 > e->dma_mask - iova)
		return -EINVAL;
	if (to_ram) {
		edu_wr64(e, EDU_REG_DMA_SRC, EDU_BUF_ADDR + off);
		edu_wr64(e, EDU_REG_DMA_DST, iova);
	} else {
		edu_wr64(e, EDU_REG_DMA_SRC, iova);
		edu_wr64(e, EDU_REG_DMA_DST, EDU_BUF_ADDR + off);
	}
	edu_wr64(e, EDU_REG_DMA_COUNT, len);
	edu_wr64(e, EDU_REG_DMA_CMD, EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (edu_rd64(e, EDU_REG_DMA_CMD) & EDU_DMA_START) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > (long)timeout_ms)
			return -ETIMEDOUT;
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
	return 0;
}

#endif
