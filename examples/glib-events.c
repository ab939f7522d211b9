/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * glib-events: device interrupts in a GLib main loop with libiommufd-glib,
 * on QEMU's "edu" device.
 *
 *   glib-events BDF       (or the BDF in $IFD_EDU; there is no built-in default)
 *
 * Connects the edu's MSI (INTx if the device has no MSI or it cannot be
 * enabled) and its device request interrupt to GSources with
 * iommufd_glib_device_irq_source_new(), then runs two DMA transfers with
 * "raise an interrupt when done" -- RAM to edu, edu back to RAM -- each
 * started from the loop and finished by its interrupt, and compares the
 * data.  Works the same on every backend: interrupts go through the VFIO
 * device fd whichever IOMMU path the context drives.
 * Exit status: 0 both interrupts arrived and the data came back intact,
 * 1 failure, 77 no such device (or no IOMMU path on this kernel).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>
#include <libiommufd/libiommufd.h>
#include <libiommufd/libiommufd-glib.h>

#include "edu.h"

/* The edu's interrupt registers (32-bit accesses only below 0x80). */
#define EDU_REG_IRQ_STATUS 0x24
#define EDU_REG_IRQ_ACK    0x64
#define EDU_IRQ_DMA_DONE   0x100

/* ~100 ms of guest time per transfer, but a TCG guest can lag a lot. */
#define IRQ_TIMEOUT_S 20

struct run {
	GMainLoop *loop;
	struct edu edu;
	GSource *irq;
	uint8_t *buf;
	uint64_t iova;
	uint64_t bus;       /* what the edu is programmed with (the IOVA behind an IOMMU) */
	int step;           /* 0: RAM -> edu running, 1: edu -> RAM running, 2: done */
	int irqs;
	uint64_t signals;   /* eventfd count summed */
	bool failed;
	bool timed_out;
	bool request;       /* the kernel asked for the device back */
	gint64 t0;
	const char *irq_name;
};

static void edu_wr32(struct edu *e, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(e->bar + off) = v;
}

static void start_dma(struct run *r, int to_ram)
{
	struct edu *e = &r->edu;

	if (to_ram) {
		edu_wr64(e, EDU_REG_DMA_SRC, EDU_BUF_ADDR);
		edu_wr64(e, EDU_REG_DMA_DST, r->bus);
	} else {
		edu_wr64(e, EDU_REG_DMA_SRC, r->bus);
		edu_wr64(e, EDU_REG_DMA_DST, EDU_BUF_ADDR);
	}
	edu_wr64(e, EDU_REG_DMA_COUNT, EDU_BUF_SIZE);
	r->t0 = g_get_monotonic_time();
	edu_wr64(e, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0));
}

/* The interrupt: acknowledge it at the device (for INTx the source unmasks
 * the line after we return), then start the next transfer or stop. */
static gboolean on_irq(uint64_t count, gpointer data)
{
	struct run *r = data;
	uint32_t status;

	if (!count) {
		fprintf(stderr, "glib-events: the interrupt eventfd failed: %s\n",
			strerror(-iommufd_glib_source_get_error(r->irq)));
		r->failed = true;
		g_main_loop_quit(r->loop);
		return G_SOURCE_REMOVE;
	}
	status = edu_rd32(&r->edu, EDU_REG_IRQ_STATUS);
	edu_wr32(&r->edu, EDU_REG_IRQ_ACK, status);
	r->signals += count;
	if (!(status & EDU_IRQ_DMA_DONE)) {
		printf("glib-events: %s interrupt without DMA completion (status 0x%x): ignored\n", r->irq_name,
		       status);
		return G_SOURCE_CONTINUE;
	}
	r->irqs++;
	if (edu_rd64(&r->edu, EDU_REG_DMA_CMD) & EDU_DMA_START) {
		fprintf(stderr, "glib-events: DMA-done interrupt while the DMA still runs\n");
		r->failed = true;
		g_main_loop_quit(r->loop);
		return G_SOURCE_CONTINUE;
	}
	printf("glib-events: %s interrupt %d (status 0x%x, eventfd count %" PRIu64 "): DMA %s done after %.1f ms\n",
	       r->irq_name, r->irqs, status, count, r->step == 0 ? "RAM -> edu" : "edu -> RAM",
	       (double)(g_get_monotonic_time() - r->t0) / 1000.0);
	if (++r->step == 1) {
		/* Clear the buffer so that only the second transfer can refill it. */
		memset(r->buf, 0, EDU_BUF_SIZE);
		start_dma(r, 1);
		return G_SOURCE_CONTINUE;
	}
	g_main_loop_quit(r->loop);
	return G_SOURCE_CONTINUE;
}

static gboolean on_request(uint64_t count, gpointer data)
{
	struct run *r = data;

	/* A real program would stop using the device and close it now. */
	printf("glib-events: the kernel requests the device back (count %" PRIu64 "): stopping\n", count);
	r->request = true;
	r->failed = true;
	g_main_loop_quit(r->loop);
	return G_SOURCE_REMOVE;
}

static gboolean on_timeout(gpointer data)
{
	struct run *r = data;

	fprintf(stderr, "glib-events: no interrupt within %d s (step %d, edu irq status 0x%x)\n", IRQ_TIMEOUT_S,
		r->step, edu_rd32(&r->edu, EDU_REG_IRQ_STATUS));
	r->timed_out = true;
	g_main_loop_quit(r->loop);
	return G_SOURCE_REMOVE;
}

static gboolean kick(gpointer data)
{
	start_dma(data, 0);
	return G_SOURCE_REMOVE;
}

/* MSI if the device has it, else INTx. */
static int irq_source(struct iommufd_device *dev, GSource **src, const char **name)
{
	int r = -ENODEV;

	if (iommufd_device_get_irq_count(dev, IOMMUFD_IRQ_MSI) > 0) {
		r = iommufd_glib_device_irq_source_new(dev, IOMMUFD_IRQ_MSI, 0, src);
		if (r == 0) {
			*name = "MSI";
			return 0;
		}
		fprintf(stderr, "glib-events: MSI: %s; trying INTx\n", strerror(-r));
	}
	if (iommufd_device_get_irq_count(dev, IOMMUFD_IRQ_INTX) > 0) {
		r = iommufd_glib_device_irq_source_new(dev, IOMMUFD_IRQ_INTX, 0, src);
		if (r == 0)
			*name = "INTx";
	}
	return r;
}

static void fill(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + (i >> 8) + 0x3c);
}

int main(int argc, char **argv)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map_opts mopts = { .sz = sizeof(mopts), .iova_max = EDU_IOVA_MAX };
	struct run run = { 0 };
	GMainContext *gctx = NULL;
	GSource *irq = NULL, *req = NULL, *timer = NULL;
	const char *bdf;
	uint8_t *buf = NULL, *expect = NULL;
	bool mapped = false;
	int r, rc = 1;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: glib-events BDF   (or set IFD_EDU)\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 1;
	}
	bdf = argc == 2 ? argv[1] : getenv("IFD_EDU");
	if (!bdf || !*bdf) {
		fprintf(stderr, "glib-events: name the edu device: glib-events BDF (or set IFD_EDU)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	r = iommufd_ctx_create(NULL, &ctx);
	if (r < 0) {
		fprintf(stderr, "glib-events: iommufd_ctx_create: %s\n", strerror(-r));
		return r == -ENODEV ? 77 : 1;
	}
	printf("glib-events: backend %s\n", iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	r = iommufd_ioas_create(ctx, &ioas);
	if (r < 0) {
		fprintf(stderr, "glib-events: iommufd_ioas_create: %s\n", strerror(-r));
		goto out;
	}
	r = iommufd_device_open(ioas, bdf, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "glib-events: iommufd_device_open(%s): %s\n", bdf, strerror(-r));
		if (r == -ENODEV)
			rc = 77;
		goto out;
	}
	r = edu_init(&run.edu, dev);
	if (r < 0) {
		fprintf(stderr, "glib-events: %s: %s\n", bdf,
			r == -ENODEV ? "not an edu device (ID register mismatch)" : strerror(-r));
		goto out;
	}
	/* Whatever a previous user left raised must not look like our DMA. */
	edu_wr32(&run.edu, EDU_REG_IRQ_ACK, edu_rd32(&run.edu, EDU_REG_IRQ_STATUS));

	buf = mmap(NULL, EDU_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect = malloc(EDU_BUF_SIZE);
	if (buf == MAP_FAILED || !expect) {
		buf = NULL;
		fprintf(stderr, "glib-events: out of memory\n");
		goto out;
	}
	r = iommufd_ioas_map(ioas, buf, EDU_BUF_SIZE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &mopts, &run.iova);
	if (r < 0) {
		fprintf(stderr, "glib-events: iommufd_ioas_map: %s\n", strerror(-r));
		goto out;
	}
	mapped = true;
	/* Without an IOMMU the device needs the memory's physical address:
	 * ask the library rather than assume the IOVA. */
	struct iommufd_dma_segment seg;

	r = iommufd_ioas_get_bus_addrs(ioas, run.iova, EDU_BUF_SIZE, &seg, 1);
	if (r != 1 || seg.bus_addr > run.edu.dma_mask || EDU_BUF_SIZE - 1 > run.edu.dma_mask - seg.bus_addr) {
		fprintf(stderr, "glib-events: no single bus address the edu reaches for IOVA 0x%" PRIx64 ": %s\n",
			run.iova, r < 0 ? strerror(-r) : "scattered or out of reach");
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	run.bus = seg.bus_addr;
	fill(buf, EDU_BUF_SIZE);
	memcpy(expect, buf, EDU_BUF_SIZE);
	run.buf = buf;

	gctx = g_main_context_new();
	run.loop = g_main_loop_new(gctx, FALSE);
	r = irq_source(dev, &irq, &run.irq_name);
	if (r < 0) {
		fprintf(stderr, "glib-events: %s: no interrupt could be connected: %s\n", bdf, strerror(-r));
		goto out;
	}
	run.irq = irq;
	g_source_set_callback(irq, G_SOURCE_FUNC(on_irq), &run, NULL);
	g_source_attach(irq, gctx);
	/* The request interrupt is optional (older kernels, some devices). */
	r = iommufd_glib_device_irq_source_new(dev, IOMMUFD_IRQ_REQ, 0, &req);
	if (r == 0) {
		g_source_set_callback(req, G_SOURCE_FUNC(on_request), &run, NULL);
		g_source_attach(req, gctx);
	} else {
		printf("glib-events: no device request interrupt (%s): hot-unplug would go unnoticed\n",
		       strerror(-r));
	}
	printf("glib-events: %s open, %s on eventfd %d, buffer at IOVA 0x%" PRIx64 "\n",
	       iommufd_device_get_name(dev), run.irq_name, iommufd_glib_eventfd_source_get_fd(irq), run.iova);

	timer = g_timeout_source_new_seconds(IRQ_TIMEOUT_S);
	g_source_set_callback(timer, on_timeout, &run, NULL);
	g_source_attach(timer, gctx);
	GSource *start = g_idle_source_new();
	g_source_set_callback(start, kick, &run, NULL);
	g_source_attach(start, gctx);
	g_source_unref(start);

	g_main_loop_run(run.loop);

	if (!run.failed && !run.timed_out && run.step == 2) {
		/* The second transfer wrote the edu's copy back into the cleared
		 * buffer: it must be what the first transfer took from it. */
		if (memcmp(buf, expect, EDU_BUF_SIZE)) {
			fprintf(stderr, "glib-events: data differs after the round trip\n");
		} else {
			printf("glib-events: %d interrupts (%" PRIu64 " signals) through a GLib loop, %u bytes verified\n",
			       run.irqs, run.signals, EDU_BUF_SIZE);
			rc = 0;
		}
	}

out:
	if (timer) {
		g_source_destroy(timer);
		g_source_unref(timer);
	}
	/* Stop the device first, then the interrupt sources (finalising them
	 * disconnects the vectors and closes their eventfds), then the rest. */
	if (run.edu.bar && iommufd_device_set_bus_master(dev, false) < 0) {
		fprintf(stderr, "glib-events: clearing bus master: %s\n", strerror(errno));
		rc = 1;
	}
	if (irq) {
		g_source_destroy(irq);
		g_source_unref(irq);
	}
	if (req) {
		g_source_destroy(req);
		g_source_unref(req);
	}
	if (run.loop)
		g_main_loop_unref(run.loop);
	if (gctx)
		g_main_context_unref(gctx);
	if (run.edu.bar && (r = iommufd_device_unmap_region(dev, IOMMUFD_REGION_BAR0)) < 0) {
		fprintf(stderr, "glib-events: iommufd_device_unmap_region: %s\n", strerror(-r));
		rc = 1;
	}
	if (mapped && (r = iommufd_ioas_unmap(ioas, run.iova, EDU_BUF_SIZE, NULL)) < 0) {
		fprintf(stderr, "glib-events: iommufd_ioas_unmap: %s\n", strerror(-r));
		rc = 1;
	} else if (buf) {
		munmap(buf, EDU_BUF_SIZE);
	}
	free(expect);
	if ((r = iommufd_device_destroy(dev)) < 0) {
		fprintf(stderr, "glib-events: iommufd_device_destroy: %s\n", strerror(-r));
		rc = 1;
	}
	if ((r = iommufd_ioas_destroy(ioas)) < 0) {
		fprintf(stderr, "glib-events: iommufd_ioas_destroy: %s\n", strerror(-r));
		rc = 1;
	}
	iommufd_ctx_destroy(ctx);
	printf("glib-events: %s\n", rc == 0 ? "PASS" : rc == 77 ? "SKIP" : "FAIL");
	return rc;
}
