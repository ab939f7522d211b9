/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * nvme: a small userspace NVMe driver on libiommufd.
 *
 *   nvme [--poll-only | --irq-only] [--slba S] [--lbas N] BDF
 *   nvme [--poll-only | --irq-only] --write-lbas FIRST-LAST [--overwrite] BDF
 *   nvme [--poll-only | --irq-only] --perf SECONDS BDF
 *
 * Resets the controller, brings it up with an admin queue, identifies it,
 * then moves data on namespace 1 through one I/O queue pair - first
 * completing commands by polling, then by MSI-X interrupts delivered to
 * eventfds.
 *
 * By default it only reads: LBAs S..S+N-1 (default 0..63), once per
 * completion path, and checks that both reads return the same data.
 *
 * Writing needs --write-lbas, which names the inclusive range it may
 * destroy: it writes a pattern there, reads it back and compares.  Before
 * writing it reads the range, and refuses if any LBA holds something other
 * than zeros or its own pattern (a partition table, a file system), unless
 * --overwrite is also given.  A block of zeros may still belong to a file
 * system: only name LBAs of a disk whose data you do not need.
 *
 * --perf SECONDS measures instead (perf.c): random reads at queue depths
 * 1, 8 and 32, SECONDS each, printing IOPS, latency and the library's share.
 *
 * There is no default device: BDF (e.g. 0000:01:00.0) is required, and
 * must be bound to vfio-pci (iommufdctl bind BDF).
 *
 * Exit status: 0 verified, 1 any failure (also a refused write), 2 usage
 * error, 77 no such device (or no IOMMU path on this kernel).
 *
 * What the library does for us: picks the kernel interface (iommufd cdev,
 * iommufd + group, or legacy type1) and opens the device on it, chooses
 * IOVAs for our buffers (iommufd_ioas_map), and turns pointers into IOVAs
 * on each I/O (iommufd_ioas_translate).  Everything NVMe is below.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

#include "nvme.h"

#define ADMIN_DEPTH  32u  /* admin queue entries */
#define IO_DEPTH     64u  /* I/O queue entries, lowered to CAP.MQES */
#define MAX_INFLIGHT 8u   /* I/O commands submitted per doorbell write */
#define IO_QID       1u
#define IO_VECTOR    1u   /* MSI-X vector of the I/O CQ; the admin CQ uses 0 */
#define CMD_TIMEOUT_MS 10000 /* TCG guests are slow; real devices take microseconds */
#define NSID         1u
#define PCI_CLASS_REVISION 0x08     /* config space: class code in bits 31:8 */
#define PCI_CLASS_NVME     0x010802 /* mass storage, non-volatile memory, NVMe */
/* One PRP list page, never chained: 512 entries after PRP1's page. */
#define MAX_XFER_PRP ((size_t)(NVME_PAGE_SIZE / 8) * NVME_PAGE_SIZE)

/* Memory the controller reaches by DMA: one iommufd_ioas_map() each. */
struct dma_buf {
	const char *name;
	void *va;
	size_t len;
	uint32_t access; /* IOMMUFD_MAP_READ: the device reads it; _WRITE: writes it */
	uint64_t iova;
	bool mapped;
};

struct queue {
	uint16_t qid;
	uint16_t depth;
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint16_t sq_tail, sq_head, cq_head;
	uint16_t phase;  /* the phase tag that marks a new CQ entry */
	uint16_t next_cid;
	uint32_t sq_db, cq_db; /* doorbell offsets in BAR0 */
	int efd;         /* eventfd of the CQ's vector, or -1 to poll */
	unsigned long irqs;
};

struct ctrl {
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	volatile uint8_t *bar; /* NULL: registers through iommufd_device_region_*() */
	size_t bar_len;
	uint64_t cap;
	unsigned int ready_timeout_ms;
	struct dma_buf qmem, ident, wbuf, rbuf;
	struct queue aq, ioq;
	bool ioq_live;
	uint16_t io_depth;
	uint64_t *prp_lists[MAX_INFLIGHT];
	size_t max_xfer;
	uint32_t lba_size;
	uint64_t nsze;
	int efds[2];
	bool msix_on;
	unsigned int admin_cmds_irq; /* admin commands since MSI-X was enabled */
	unsigned long io_cmds;       /* I/O commands submitted, for the interrupt count */
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void tic(struct timespec *t0)
{
	clock_gettime(CLOCK_MONOTONIC, t0);
}

/* ---------------------------------------------------------------- registers */

/*
 * NVMe registers take 32-bit accesses; 64-bit ones are done as two halves,
 * low first, which the spec allows.  Without an mmappable BAR every access
 * becomes a pread/pwrite on the device fd.
 */
static uint32_t rd32(struct ctrl *c, uint32_t off)
{
	uint32_t v;

	if (c->bar)
		return *(volatile uint32_t *)(c->bar + off);
	if (iommufd_device_region_read(c->dev, IOMMUFD_REGION_BAR0, off, &v, 4) < 0)
		return UINT32_MAX; /* what a vanished device reads as, too */
	return v;
}

static void wr32(struct ctrl *c, uint32_t off, uint32_t v)
{
	if (c->bar)
		*(volatile uint32_t *)(c->bar + off) = v;
	else if (iommufd_device_region_write(c->dev, IOMMUFD_REGION_BAR0, off, &v, 4) < 0)
		fprintf(stderr, "nvme: BAR0 write at 0x%x failed: %s\n", off, strerror(errno));
}

static uint64_t rd64(struct ctrl *c, uint32_t off)
{
	uint64_t lo = rd32(c, off);

	return lo | (uint64_t)rd32(c, off + 4) << 32;
}

static void wr64(struct ctrl *c, uint32_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

/* Wait for CSTS.RDY to become @rdy, at most CAP.TO. */
static int wait_ready(struct ctrl *c, bool rdy)
{
	struct timespec t0;

	tic(&t0);
	for (;;) {
		uint32_t csts = rd32(c, NVME_REG_CSTS);

		if (csts == UINT32_MAX) {
			fprintf(stderr, "nvme: CSTS reads all ones: the device is gone\n");
			return -ENODEV;
		}
		if (!!(csts & NVME_CSTS_RDY) == rdy)
			return 0;
		if (rdy && (csts & NVME_CSTS_CFS)) {
			fprintf(stderr, "nvme: controller fatal status while enabling (CSTS 0x%x)\n", csts);
			return -EIO;
		}
		if (ms_since(&t0) > c->ready_timeout_ms) {
			fprintf(stderr, "nvme: CSTS.RDY did not become %d within CAP.TO = %u ms (CSTS 0x%x)\n", rdy,
				c->ready_timeout_ms, csts);
			return -ETIMEDOUT;
		}
		struct timespec nap = { 0, 100000 };
		nanosleep(&nap, NULL);
	}
}

static int ctrl_disable(struct ctrl *c)
{
	uint32_t cc = rd32(c, NVME_REG_CC);
	int r;

	/* Changing CC.EN while CSTS.RDY still follows the last change is
	 * undefined, so let a transition in progress finish first. */
	r = wait_ready(c, cc & NVME_CC_EN);
	if (r == -ENODEV)
		return r;
	if (cc & NVME_CC_EN)
		wr32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
	return wait_ready(c, false);
}

/* ------------------------------------------------------------ DMA memory */

static int dma_alloc_map(struct ctrl *c, struct dma_buf *b, const char *name, size_t len, uint32_t access)
{
	int r;

	b->name = name;
	b->len = (len + NVME_PAGE_SIZE - 1) & ~(size_t)(NVME_PAGE_SIZE - 1);
	b->access = access;
	/* Anonymous mmap: page aligned, zeroed, and its own pages, so the
	 * pinning of one buffer never pins a neighbour's heap memory. */
	b->va = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->va == MAP_FAILED) {
		b->va = NULL;
		fprintf(stderr, "nvme: mmap of %zu bytes for %s: %s\n", b->len, name, strerror(errno));
		return -ENOMEM;
	}
	r = iommufd_ioas_map(c->ioas, b->va, b->len, access, NULL, &b->iova);
	if (r < 0) {
		fprintf(stderr, "nvme: iommufd_ioas_map(%s, %zu bytes): %s\n", name, b->len, strerror(-r));
		return r;
	}
	b->mapped = true;
	printf("nvme:   %-8s %7zu bytes at IOVA 0x%" PRIx64 " (device %s)\n", name, b->len, b->iova,
	       access == IOMMUFD_MAP_READ	   ? "reads"
	       : access == IOMMUFD_MAP_WRITE ? "writes"
					     : "reads and writes");
	return 0;
}

static int dma_unmap_free(struct ctrl *c, struct dma_buf *b)
{
	int r = 0;

	if (b->mapped) {
		r = iommufd_ioas_unmap(c->ioas, b->iova, b->len, NULL);
		if (r < 0)
			fprintf(stderr, "nvme: iommufd_ioas_unmap(%s): %s\n", b->name, strerror(-r));
		b->mapped = false;
	}
	/* Never free memory the device may still reach. */
	if (b->va && r == 0) {
		munmap(b->va, b->len);
		b->va = NULL;
	}
	return r;
}

/* The hot path: a pointer into mapped memory to the address the device uses. */
static uint64_t iova_of(struct ctrl *c, const void *p, size_t len)
{
	uint64_t iova;

	if (iommufd_ioas_translate(c->ioas, p, len, &iova) < 0) {
		fprintf(stderr, "nvme: BUG: %p+%zu is not in mapped memory\n", p, len);
		abort();
	}
	return iova;
}

/*
 * What the controller is given: the bus address of @len bytes at @p, which
 * must not cross a page (the caller names pages one by one).  Behind an
 * IOMMU that is the IOVA; on the unsafe no-IOMMU backend it is the
 * physical address, and the pages of one mapping need not be adjacent.
 */
static uint64_t bus_of(struct ctrl *c, const void *p, size_t len)
{
	struct iommufd_dma_segment seg;
	uint64_t iova = iova_of(c, p, len);

	if (iommufd_ioas_get_bus_addrs(c->ioas, iova, len, &seg, 1) != 1) {
		fprintf(stderr, "nvme: BUG: no single bus address for %p+%zu\n", p, len);
		abort();
	}
	return seg.bus_addr;
}

/* ------------------------------------------------------------ queues */

static const char *status_str(uint16_t status)
{
	unsigned int sct = NVME_STATUS_SCT(status), sc = NVME_STATUS_SC(status);

	if (sct == NVME_SCT_GENERIC) {
		switch (sc) {
		case 0x00: return "success";
		case 0x01: return "invalid command opcode";
		case 0x02: return "invalid field in command";
		case 0x03: return "command ID conflict";
		case 0x04: return "data transfer error";
		case 0x06: return "internal error";
		case 0x07: return "command abort requested";
		case 0x08: return "command aborted due to SQ deletion";
		case 0x0b: return "invalid namespace or format";
		case 0x0c: return "command sequence error";
		case 0x13: return "PRP offset invalid";
		case 0x80: return "LBA out of range";
		case 0x81: return "capacity exceeded";
		case 0x82: return "namespace not ready";
		}
	} else if (sct == NVME_SCT_CMD) {
		switch (sc) {
		case 0x00: return "completion queue invalid";
		case 0x01: return "invalid queue identifier";
		case 0x02: return "invalid queue size";
		case 0x08: return "invalid interrupt vector";
		case 0x0c: return "invalid queue deletion";
		case 0x80: return "conflicting attributes";
		case 0x82: return "attempted write to read only range";
		}
	} else if (sct == NVME_SCT_MEDIA) {
		switch (sc) {
		case 0x80: return "write fault";
		case 0x81: return "unrecovered read error";
		case 0x85: return "compare failure";
		case 0x86: return "access denied";
		case 0x87: return "deallocated or unwritten logical block";
		}
	} else if (sct == NVME_SCT_PATH) {
		return "path related status";
	} else if (sct == NVME_SCT_VENDOR) {
		return "vendor specific status";
	}
	return "unknown status";
}

static void print_status(const char *what, uint16_t s)
{
	fprintf(stderr, "nvme: %s failed: %s (SCT %u SC 0x%02x%s)\n", what, status_str(s), NVME_STATUS_SCT(s),
		NVME_STATUS_SC(s), NVME_STATUS_DNR(s) ? ", do not retry" : "");
}

static void queue_init(struct ctrl *c, struct queue *q, uint16_t qid, uint16_t depth, void *sq, void *cq)
{
	uint32_t stride = 4u << NVME_CAP_DSTRD(c->cap);

	memset(q, 0, sizeof(*q));
	q->qid = qid;
	q->depth = depth;
	q->sq = sq;
	q->cq = cq;
	q->phase = 1; /* the controller writes 1 on its first pass over a zeroed CQ */
	q->sq_db = NVME_REG_DBS + (2u * qid) * stride;
	q->cq_db = NVME_REG_DBS + (2u * qid + 1) * stride;
	q->efd = -1;
	memset(sq, 0, (size_t)depth * sizeof(struct nvme_sqe));
	memset(cq, 0, (size_t)depth * sizeof(struct nvme_cqe));
}

/*
 * The CID of the first of @n commands about to be queued.  They get
 * consecutive CIDs, which never reach FFFFh: error reports use it for "no
 * command".
 */
static uint16_t cid_first(struct queue *q, unsigned int n)
{
	if (q->next_cid > 0xffff - n)
		q->next_cid = 0;
	return q->next_cid;
}

/* Queue a command without telling the controller; returns its CID. */
static uint16_t sq_push(struct queue *q, struct nvme_sqe *cmd)
{
	/* Callers never queue more than MAX_INFLIGHT < depth - 1 commands, so
	 * the SQ cannot fill; check anyway, as overrunning it is silent. */
	if ((q->sq_tail + 1) % q->depth == q->sq_head) {
		fprintf(stderr, "nvme: BUG: SQ %u overflow\n", q->qid);
		abort();
	}
	cmd->cid = q->next_cid++;
	q->sq[q->sq_tail] = *cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->depth);
	return cmd->cid;
}

static void sq_ring(struct ctrl *c, struct queue *q)
{
	/* The entries must be in memory before the controller can see the new
	 * tail: the doorbell write is what makes it fetch them. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr32(c, q->sq_db, q->sq_tail);
}

/* Take one new CQ entry, if there is one. */
static bool cq_pop(struct queue *q, struct nvme_cqe *out)
{
	volatile struct nvme_cqe *e = &q->cq[q->cq_head];

	if (NVME_STATUS_PHASE(e->status) != q->phase)
		return false;
	/* Only after the phase says the entry is complete may the rest be read. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	out->result = e->result;
	out->sq_head = e->sq_head;
	out->sq_id = e->sq_id;
	out->cid = e->cid;
	out->status = e->status;
	q->sq_head = out->sq_head;
	if (++q->cq_head == q->depth) {
		q->cq_head = 0;
		q->phase ^= 1; /* the controller flips the tag on each wrap */
	}
	return true;
}

/*
 * Sleep until the queue's vector fires; the eventfd counts the interrupts
 * since the last read.  Returns false on timeout.
 */
static bool irq_wait(struct queue *q, double left_ms)
{
	struct pollfd pfd = { .fd = q->efd, .events = POLLIN };
	uint64_t cnt;
	int r;

	do
		r = poll(&pfd, 1, left_ms < 1 ? 1 : (int)left_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return false;
	if (read(q->efd, &cnt, sizeof(cnt)) == sizeof(cnt))
		q->irqs += cnt;
	return true;
}

/*
 * Collect @n completions for commands @first_cid.. (consecutive CIDs) into
 * @cqes, indexed by CID - @first_cid.  A polled queue spins on the phase
 * tag.  An interrupt-driven one looks at the CQ only after its vector
 * fired: nothing is lost, since the controller signals after it writes an
 * entry, and a completion that did not interrupt fails the run instead of
 * being found by accident.
 */
static int cq_wait(struct ctrl *c, struct queue *q, uint16_t first_cid, unsigned int n, struct nvme_cqe *cqes)
{
	struct timespec t0;
	unsigned int got = 0;

	tic(&t0);
	while (got < n) {
		double left = CMD_TIMEOUT_MS - ms_since(&t0);
		struct nvme_cqe e;
		bool any = false;

		if (left <= 0 || (q->efd >= 0 && !irq_wait(q, left))) {
			fprintf(stderr, "nvme: queue %u: %u of %u completions after %d ms%s (CSTS 0x%x)\n", q->qid,
				got, n, CMD_TIMEOUT_MS, q->efd >= 0 ? " waiting for interrupts" : "",
				rd32(c, NVME_REG_CSTS));
			return -ETIMEDOUT;
		}
		while (got < n && cq_pop(q, &e)) {
			uint16_t i = (uint16_t)(e.cid - first_cid);

			any = true;
			if (e.sq_id != q->qid || i >= n) {
				fprintf(stderr, "nvme: unexpected completion on CQ %u: SQ %u CID %u\n", q->qid, e.sq_id,
					e.cid);
				return -EPROTO;
			}
			cqes[i] = e;
			got++;
		}
		if (any)
			wr32(c, q->cq_db, q->cq_head); /* hand the slots back */
	}
	return 0;
}

/* One admin command, synchronously; prints and fails on a bad status. */
static int admin_cmd(struct ctrl *c, const char *what, struct nvme_sqe *cmd, struct nvme_cqe *cqe)
{
	uint16_t cid;
	int r;

	cid_first(&c->aq, 1);
	cid = sq_push(&c->aq, cmd);
	if (c->msix_on)
		c->admin_cmds_irq++;
	sq_ring(c, &c->aq);
	r = cq_wait(c, &c->aq, cid, 1, cqe);
	if (r < 0) {
		fprintf(stderr, "nvme: %s: no completion\n", what);
		return r;
	}
	if (!NVME_STATUS_OK(cqe->status)) {
		print_status(what, cqe->status);
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ bring-up */

static int ctrl_enable(struct ctrl *c)
{
	uint8_t *q = c->qmem.va;

	queue_init(c, &c->aq, 0, ADMIN_DEPTH, q, q + NVME_PAGE_SIZE);
	wr32(c, NVME_REG_AQA, (uint32_t)(ADMIN_DEPTH - 1) << 16 | (ADMIN_DEPTH - 1));
	wr64(c, NVME_REG_ASQ, bus_of(c, c->aq.sq, NVME_PAGE_SIZE));
	wr64(c, NVME_REG_ACQ, bus_of(c, (void *)c->aq.cq, NVME_PAGE_SIZE));
	uint32_t cc = NVME_CC_CSS_NVM | NVME_CC_MPS(NVME_PAGE_SHIFT) | NVME_CC_IOSQES(NVME_SQES_LOG) |
		      NVME_CC_IOCQES(NVME_CQES_LOG);
	wr32(c, NVME_REG_CC, cc);
	wr32(c, NVME_REG_CC, cc | NVME_CC_EN);
	return wait_ready(c, true);
}

/* Copy an ASCII identify field, without its space padding. */
static void id_string(char *out, const uint8_t *field, size_t len)
{
	memcpy(out, field, len);
	out[len] = 0;
	while (len && (out[len - 1] == ' ' || out[len - 1] == 0))
		out[--len] = 0;
}

static int identify(struct ctrl *c, uint8_t cns, uint32_t nsid, const char *what)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADMIN_IDENTIFY, .nsid = nsid, .cdw10 = cns };
	struct nvme_cqe cqe;

	memset(c->ident.va, 0, NVME_IDENTIFY_SIZE);
	cmd.prp1 = bus_of(c, c->ident.va, NVME_IDENTIFY_SIZE);
	return admin_cmd(c, what, &cmd, &cqe);
}

static int identify_all(struct ctrl *c)
{
	const uint8_t *id = c->ident.va;
	char sn[NVME_IDCTRL_SN_LEN + 1], mn[NVME_IDCTRL_MN_LEN + 1], fr[NVME_IDCTRL_FR_LEN + 1];
	uint32_t nn, lbaf;
	uint8_t mdts, flbas, fmt;
	int r;

	r = identify(c, NVME_CNS_CTRL, 0, "Identify Controller");
	if (r < 0)
		return r;
	id_string(sn, id + NVME_IDCTRL_SN, NVME_IDCTRL_SN_LEN);
	id_string(mn, id + NVME_IDCTRL_MN, NVME_IDCTRL_MN_LEN);
	id_string(fr, id + NVME_IDCTRL_FR, NVME_IDCTRL_FR_LEN);
	mdts = id[NVME_IDCTRL_MDTS];
	memcpy(&nn, id + NVME_IDCTRL_NN, 4);
	printf("nvme: model \"%s\", serial \"%s\", firmware \"%s\", %u namespace(s)\n", mn, sn, fr, nn);

	/* MDTS counts in the controller's minimum page size. */
	c->max_xfer = MAX_XFER_PRP;
	if (mdts && mdts < 32) {
		uint64_t lim = (uint64_t)NVME_PAGE_SIZE << NVME_CAP_MPSMIN(c->cap) << mdts;
		if (lim < c->max_xfer)
			c->max_xfer = (size_t)lim;
	}
	if (nn < NSID) {
		fprintf(stderr, "nvme: the controller has no namespace %u\n", NSID);
		return -ENODEV;
	}

	r = identify(c, NVME_CNS_NS, NSID, "Identify Namespace");
	if (r < 0)
		return r;
	memcpy(&c->nsze, id + NVME_IDNS_NSZE, 8);
	flbas = id[NVME_IDNS_FLBAS];
	fmt = (uint8_t)((flbas & 0xf) | ((flbas >> 5) & 0x3) << 4);
	if (fmt > id[NVME_IDNS_NLBAF] || c->nsze == 0) {
		fprintf(stderr, "nvme: namespace %u is not usable (size %" PRIu64 ", format %u)\n", NSID, c->nsze,
			fmt);
		return -ENODEV;
	}
	memcpy(&lbaf, id + NVME_IDNS_LBAF + 4 * fmt, 4);
	if (NVME_LBAF_MS(lbaf) || NVME_LBAF_LBADS(lbaf) < 9 || NVME_LBAF_LBADS(lbaf) > 16) {
		fprintf(stderr, "nvme: namespace %u: LBA format %u (%u data bits, %u metadata bytes) "
			"is not supported here\n", NSID, fmt, NVME_LBAF_LBADS(lbaf), NVME_LBAF_MS(lbaf));
		return -ENOTSUP;
	}
	c->lba_size = 1u << NVME_LBAF_LBADS(lbaf);
	c->max_xfer -= c->max_xfer % c->lba_size;
	printf("nvme: namespace %u: %" PRIu64 " LBAs of %u bytes (%" PRIu64 " MiB); max transfer %zu KiB\n",
	       NSID, c->nsze, c->lba_size, c->nsze * c->lba_size >> 20, c->max_xfer >> 10);
	return 0;
}

/* The I/O queue pair; @irq: its CQ signals MSI-X vector IO_VECTOR. */
static int ioq_create(struct ctrl *c, bool irq)
{
	uint8_t *q = c->qmem.va;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	int r;

	queue_init(c, &c->ioq, IO_QID, c->io_depth, q + 2 * NVME_PAGE_SIZE, q + 3 * NVME_PAGE_SIZE);
	/* The CQ first: the SQ names it. */
	cmd = (struct nvme_sqe){
		.opcode = NVME_ADMIN_CREATE_CQ,
		.prp1 = bus_of(c, (void *)c->ioq.cq, NVME_PAGE_SIZE),
		.cdw10 = NVME_QUEUE_CDW10(IO_QID, c->io_depth),
		.cdw11 = NVME_CQ_PC | (irq ? NVME_CQ_IEN | NVME_CQ_IV(IO_VECTOR) : 0),
	};
	r = admin_cmd(c, "Create I/O Completion Queue", &cmd, &cqe);
	if (r < 0)
		return r;
	cmd = (struct nvme_sqe){
		.opcode = NVME_ADMIN_CREATE_SQ,
		.prp1 = bus_of(c, c->ioq.sq, NVME_PAGE_SIZE),
		.cdw10 = NVME_QUEUE_CDW10(IO_QID, c->io_depth),
		.cdw11 = NVME_SQ_PC | NVME_SQ_CQID(IO_QID),
	};
	r = admin_cmd(c, "Create I/O Submission Queue", &cmd, &cqe);
	if (r < 0) {
		cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_DELETE_CQ, .cdw10 = IO_QID };
		admin_cmd(c, "Delete I/O Completion Queue", &cmd, &cqe);
		return r;
	}
	c->ioq_live = true;
	c->ioq.efd = irq ? c->efds[IO_VECTOR] : -1;
	return 0;
}

static int ioq_delete(struct ctrl *c)
{
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	int r, r2;

	if (!c->ioq_live)
		return 0;
	c->ioq_live = false;
	/* The SQ first: a CQ with an SQ still on it cannot go. */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_DELETE_SQ, .cdw10 = IO_QID };
	r = admin_cmd(c, "Delete I/O Submission Queue", &cmd, &cqe);
	cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_DELETE_CQ, .cdw10 = IO_QID };
	r2 = admin_cmd(c, "Delete I/O Completion Queue", &cmd, &cqe);
	return r < 0 ? r : r2;
}

/* ------------------------------------------------------------ I/O */

enum prp_form { PRP_ONE, PRP_TWO, PRP_LIST, PRP_FORMS };
static const char *const prp_form_name[PRP_FORMS] = { "PRP1", "PRP1+PRP2", "PRP list" };

/*
 * Describe @len bytes at @va to the controller.  PRP1 may start anywhere in
 * a page; every further page is named whole: by PRP2 itself when only one
 * remains, otherwise by a list in @list that PRP2 points to.  Each page
 * gets its own bus address: without an IOMMU (the no-IOMMU backend) the
 * pages of a buffer are not physically adjacent.
 */
static enum prp_form build_prps(struct ctrl *c, void *va, size_t len, uint64_t *list, struct nvme_sqe *cmd)
{
	size_t first = NVME_PAGE_SIZE - ((uintptr_t)va & (NVME_PAGE_SIZE - 1));
	uint8_t *p = (uint8_t *)va + first;

	cmd->prp1 = bus_of(c, va, len < first ? len : first);
	if (len <= first)
		return PRP_ONE;
	len -= first;
	if (len <= NVME_PAGE_SIZE) {
		cmd->prp2 = bus_of(c, p, len);
		return PRP_TWO;
	}
	for (size_t i = 0; i * NVME_PAGE_SIZE < len; i++)
		list[i] = bus_of(c, p + i * NVME_PAGE_SIZE, NVME_PAGE_SIZE < len - i * NVME_PAGE_SIZE ?
						       NVME_PAGE_SIZE : len - i * NVME_PAGE_SIZE);
	cmd->prp2 = bus_of(c, list, NVME_PAGE_SIZE);
	return PRP_LIST;
}

/*
 * How many bytes command number @idx moves, @done bytes into the transfer.
 * Writes take the largest commands; reads also take a one-LBA command and
 * then one that ends at the end of the next page, so that a run covers all
 * three PRP forms and a PRP1 with an offset.
 */
static size_t chunk_len(struct ctrl *c, bool mixed, unsigned int idx, size_t done, size_t left)
{
	size_t n = c->max_xfer;

	if (mixed && idx == 0)
		n = c->lba_size;
	else if (mixed && idx == 1)
		n = ((done / NVME_PAGE_SIZE) + 2) * NVME_PAGE_SIZE - done;
	if (n > left)
		n = left;
	n -= n % c->lba_size;
	return n ? n : c->lba_size;
}

/* Read or write @nlb LBAs from @slba, @buf holding them; MAX_INFLIGHT at a time. */
static int do_io(struct ctrl *c, uint8_t opcode, uint8_t *buf, uint64_t slba, uint32_t nlb, bool mixed,
		 unsigned int forms[PRP_FORMS])
{
	const size_t total = (size_t)nlb * c->lba_size;
	size_t done = 0;
	unsigned int idx = 0;

	while (done < total) {
		struct nvme_cqe cqes[MAX_INFLIGHT];
		size_t at[MAX_INFLIGHT], lens[MAX_INFLIGHT];
		uint16_t first_cid = cid_first(&c->ioq, MAX_INFLIGHT);
		unsigned int n = 0;
		int r;

		for (; n < MAX_INFLIGHT && done < total; n++, idx++) {
			size_t len = chunk_len(c, mixed, idx, done, total - done);
			struct nvme_sqe cmd = {
				.opcode = opcode,
				.nsid = NSID,
				.cdw10 = (uint32_t)(slba + done / c->lba_size),
				.cdw11 = (uint32_t)((slba + done / c->lba_size) >> 32),
				.cdw12 = (uint32_t)(len / c->lba_size - 1), /* 0-based NLB */
			};

			forms[build_prps(c, buf + done, len, c->prp_lists[n], &cmd)]++;
			sq_push(&c->ioq, &cmd);
			c->io_cmds++;
			at[n] = done;
			lens[n] = len;
			done += len;
		}
		sq_ring(c, &c->ioq);
		r = cq_wait(c, &c->ioq, first_cid, n, cqes);
		if (r < 0)
			return r;
		for (unsigned int i = 0; i < n; i++) {
			char what[64];

			if (!NVME_STATUS_OK(cqes[i].status)) {
				snprintf(what, sizeof(what), "%s of %zu LBAs at %" PRIu64,
					 opcode == NVME_CMD_WRITE ? "write" : "read", lens[i] / c->lba_size,
					 slba + at[i] / c->lba_size);
				print_status(what, cqes[i].status);
				return -EIO;
			}
		}
	}
	return 0;
}

/*
 * 8-byte words naming their LBA, their place in it and the pass, so that
 * a mismatch shows at a glance which block or offset the data came from and
 * a stale block from an earlier pass cannot pass for a fresh one.
 */
static uint64_t pattern_word(uint64_t lba, uint32_t word, uint32_t pass)
{
	return lba << 32 | (uint64_t)(pass & 0xff) << 24 | (word & 0xffffff);
}

static void fill_pattern(struct ctrl *c, uint64_t slba, uint32_t nlb, uint32_t pass)
{
	uint64_t *w = c->wbuf.va;
	uint32_t per_lba = c->lba_size / 8;

	for (uint64_t i = 0; i < (uint64_t)nlb * per_lba; i++)
		w[i] = pattern_word(slba + i / per_lba, (uint32_t)(i % per_lba), pass);
}

static int verify(struct ctrl *c, uint64_t slba, uint32_t nlb)
{
	size_t len = (size_t)nlb * c->lba_size;
	const uint64_t *w = c->wbuf.va, *r = c->rbuf.va;
	unsigned long bad_lbas = 0;
	uint64_t last_bad = UINT64_MAX;

	if (!memcmp(c->wbuf.va, c->rbuf.va, len))
		return 0;
	for (size_t i = 0; i < len / 8; i++) {
		uint64_t lba = slba + i * 8 / c->lba_size;

		if (w[i] == r[i] || lba == last_bad)
			continue;
		if (!bad_lbas)
			fprintf(stderr, "nvme: mismatch at LBA %" PRIu64 " byte %zu: wrote 0x%016" PRIx64
				", read 0x%016" PRIx64 "\n", lba, i * 8 % c->lba_size, w[i], r[i]);
		bad_lbas++;
		last_bad = lba;
	}
	fprintf(stderr, "nvme: %lu of %u LBAs differ\n", bad_lbas, nlb);
	return -EIO;
}

static void print_io(const char *tag, const char *what, const unsigned int forms[PRP_FORMS], size_t bytes,
		     double ms)
{
	unsigned int cmds = 0;

	for (int f = 0; f < PRP_FORMS; f++)
		cmds += forms[f];
	printf("nvme: %s %s %zu bytes in %u command(s):", tag, what, bytes, cmds);
	for (int f = 0; f < PRP_FORMS; f++)
		if (forms[f])
			printf(" %u x %s", forms[f], prp_form_name[f]);
	printf(" [%.2f ms]\n", ms);
}

/* What this run does with which LBAs of namespace NSID. */
struct plan {
	uint64_t slba;
	uint32_t nlb;
	bool write;     /* --write-lbas: the user named these LBAs as ours to destroy */
	bool overwrite; /* --overwrite: even if they hold somebody's data */
};

/*
 * Zeros, or a pattern of ours from any earlier pass: nothing anybody could
 * want.  Anything else - a partition table, a superblock - is data.
 */
static bool lba_is_blank(const struct ctrl *c, const uint64_t *w, uint64_t lba)
{
	uint32_t per_lba = c->lba_size / 8;
	uint32_t pass = (uint32_t)(w[0] >> 24) & 0xff;
	bool zero = true, ours = pass != 0;

	for (uint32_t i = 0; i < per_lba && (zero || ours); i++) {
		zero = zero && w[i] == 0;
		ours = ours && w[i] == pattern_word(lba, i, pass);
	}
	return zero || ours;
}

/* Read the LBAs about to be written and refuse if any of them holds data. */
static int check_blank(struct ctrl *c, const struct plan *pl)
{
	unsigned int forms[PRP_FORMS] = { 0 };
	const uint8_t *buf = c->rbuf.va;
	int r;

	r = do_io(c, NVME_CMD_READ, c->rbuf.va, pl->slba, pl->nlb, false, forms);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < pl->nlb; i++) {
		if (lba_is_blank(c, (const uint64_t *)(buf + (size_t)i * c->lba_size), pl->slba + i))
			continue;
		fprintf(stderr,
			"nvme: LBA %" PRIu64 " holds data (neither zeros nor this program's pattern); not writing "
			"LBAs %" PRIu64 "..%" PRIu64 ".  Name LBAs you may destroy, or add --overwrite to destroy "
			"this data too.\n",
			pl->slba + i, pl->slba, pl->slba + pl->nlb - 1);
		return -EEXIST;
	}
	return 0;
}

/* FNV-1a: enough to tell two reads of the same LBAs apart. */
static uint64_t fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Read the LBAs; every read after the first must return the same data. */
static int read_pass(struct ctrl *c, const char *tag, const struct plan *pl, uint64_t *sum, bool *have_sum)
{
	unsigned int forms[PRP_FORMS] = { 0 };
	size_t bytes = (size_t)pl->nlb * c->lba_size;
	const uint8_t *buf = c->rbuf.va;
	uint32_t zero_lbas = 0;
	struct timespec t0;
	uint64_t h;
	int r;

	memset(c->rbuf.va, 0xa5, bytes);
	tic(&t0);
	r = do_io(c, NVME_CMD_READ, c->rbuf.va, pl->slba, pl->nlb, true, forms);
	if (r < 0)
		return r;
	print_io(tag, "read ", forms, bytes, ms_since(&t0));
	for (uint32_t i = 0; i < pl->nlb; i++) {
		const uint8_t *lba = buf + (size_t)i * c->lba_size;

		if (lba[0] == 0 && !memcmp(lba, lba + 1, c->lba_size - 1))
			zero_lbas++;
	}
	h = fnv1a(buf, bytes);
	printf("nvme: %s LBA %" PRIu64 "..%" PRIu64 ": %u of %u LBAs all zeros, FNV-1a 0x%016" PRIx64 "\n", tag,
	       pl->slba, pl->slba + pl->nlb - 1, zero_lbas, pl->nlb, h);
	if (*have_sum && h != *sum) {
		fprintf(stderr, "nvme: %s this read differs from the first (FNV-1a 0x%016" PRIx64 ")\n", tag, *sum);
		return -EIO;
	}
	*sum = h;
	*have_sum = true;
	return 0;
}

/* Check the LBAs may go, write, read back, compare. */
static int write_pass(struct ctrl *c, const char *tag, const struct plan *pl, uint32_t pass)
{
	unsigned int wforms[PRP_FORMS] = { 0 }, rforms[PRP_FORMS] = { 0 };
	size_t bytes = (size_t)pl->nlb * c->lba_size;
	struct timespec t0;
	int r;

	if (!pl->overwrite) {
		r = check_blank(c, pl);
		if (r < 0)
			return r;
	}
	fill_pattern(c, pl->slba, pl->nlb, pass);
	memset(c->rbuf.va, 0xa5, bytes);
	tic(&t0);
	r = do_io(c, NVME_CMD_WRITE, c->wbuf.va, pl->slba, pl->nlb, false, wforms);
	if (r < 0)
		return r;
	print_io(tag, "wrote", wforms, bytes, ms_since(&t0));
	tic(&t0);
	r = do_io(c, NVME_CMD_READ, c->rbuf.va, pl->slba, pl->nlb, true, rforms);
	if (r < 0)
		return r;
	print_io(tag, "read ", rforms, bytes, ms_since(&t0));
	tic(&t0);
	r = verify(c, pl->slba, pl->nlb);
	if (r < 0)
		return r;
	printf("nvme: %s verified %zu bytes (LBA %" PRIu64 "..%" PRIu64 ") [%.2f ms]\n", tag, bytes, pl->slba,
	       pl->slba + pl->nlb - 1, ms_since(&t0));
	return 0;
}

/* Create the queue pair, move the data, delete the pair. */
static int io_pass(struct ctrl *c, bool irq, const struct plan *pl, uint32_t pass, uint64_t *sum,
		   bool *have_sum)
{
	const char *tag = irq ? "[msi-x]" : "[poll] ";
	unsigned long cmds_before;
	struct timespec t0;
	int r, r2;

	tic(&t0);
	r = ioq_create(c, irq);
	if (r < 0)
		return r;
	printf("nvme: %s I/O queue pair %u created, %u entries, %s [%.2f ms]\n", tag, IO_QID, c->io_depth,
	       irq ? "CQ interrupts on MSI-X vector 1" : "CQ polled", ms_since(&t0));
	cmds_before = c->io_cmds;
	r = pl->write ? write_pass(c, tag, pl, pass) : read_pass(c, tag, pl, sum, have_sum);
	if (r == 0 && irq)
		printf("nvme: %s vector 1 fired %lu time(s) for %lu I/O commands\n", tag, c->ioq.irqs,
		       c->io_cmds - cmds_before);

	tic(&t0);
	r2 = ioq_delete(c);
	if (r2 == 0)
		printf("nvme: %s I/O queue pair deleted [%.2f ms]\n", tag, ms_since(&t0));
	return r < 0 ? r : r2;
}

static int msix_enable(struct ctrl *c)
{
	int n = iommufd_device_get_irq_count(c->dev, IOMMUFD_IRQ_MSIX);
	int r;

	if (n < 2) {
		fprintf(stderr, "nvme: the device has %d MSI-X vectors, needs 2: %s\n", n,
			n < 0 ? strerror(-n) : "no interrupts for I/O");
		return n < 0 ? n : -ENOTSUP;
	}
	/* Vector 0 gets an eventfd too: the admin CQ always signals it, and
	 * counting those shows the admin path interrupting while we poll it.
	 * (QEMU's model only signals vectors of CQs created while MSI-X is on,
	 * which is one reason this runs before the controller is enabled.) */
	for (int i = 0; i < 2; i++) {
		c->efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->efds[i] < 0) {
			perror("nvme: eventfd");
			return -errno;
		}
	}
	r = iommufd_device_irq_enable(c->dev, IOMMUFD_IRQ_MSIX, 0, 2, c->efds);
	if (r < 0) {
		fprintf(stderr, "nvme: iommufd_device_irq_enable(MSI-X, 0..1): %s\n", strerror(-r));
		return r;
	}
	c->msix_on = true;
	printf("nvme: [msi-x] %d vectors; 0 (admin CQ) and 1 (I/O CQ) signal eventfds %d and %d\n", n,
	       c->efds[0], c->efds[1]);
	return 0;
}

static int msix_disable(struct ctrl *c)
{
	uint64_t cnt = 0;
	int r = 0;

	if (c->msix_on) {
		if (read(c->efds[0], &cnt, sizeof(cnt)) != sizeof(cnt))
			cnt = 0;
		printf("nvme: [msi-x] vector 0 fired %" PRIu64 " time(s) for %u admin commands (CQ polled)\n", cnt,
		       c->admin_cmds_irq);
		r = iommufd_device_irq_disable(c->dev, IOMMUFD_IRQ_MSIX);
		if (r < 0)
			fprintf(stderr, "nvme: iommufd_device_irq_disable(MSI-X): %s\n", strerror(-r));
		c->msix_on = false;
	}
	for (int i = 0; i < 2; i++) {
		if (c->efds[i] >= 0)
			close(c->efds[i]);
		c->efds[i] = -1;
	}
	return r;
}

/* The perf mode: the same queues and completion paths, timed. */
#include "perf.c"

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f, "usage: nvme [--poll-only | --irq-only] [--slba S] [--lbas N] BDF\n"
		   "       nvme [--poll-only | --irq-only] --write-lbas FIRST-LAST [--overwrite] BDF\n"
		   "       nvme [--poll-only | --irq-only] --perf SECONDS BDF\n"
		   "  Drives the NVMe controller BDF (bound to vfio-pci; there is no default) from userspace,\n"
		   "  completing commands by polling, then by MSI-X interrupts.\n"
		   "  By default it only reads LBAs S..S+N-1 of namespace 1 (default 0..63) on each path\n"
		   "  and checks that the reads agree.\n"
		   "  --write-lbas FIRST-LAST  write a pattern to these LBAs (inclusive), read it back and\n"
		   "                           compare.  Refused if any of them holds data (anything but\n"
		   "                           zeros or this program's pattern), e.g. a partition table.\n"
		   "  --overwrite              with --write-lbas: destroy that data too.\n"
		   "  --perf SECONDS           random 4 KiB and 512 B reads at queue depths 1, 8, 32 for\n"
		   "                           SECONDS each (per completion path and IOVA source); prints\n"
		   "                           IOPS, MiB/s, latency percentiles and the library's share.\n"
		   "  --irq is --irq-only.  LIBIOMMUFD_BACKEND=cdev|group|type1 forces the kernel path.\n"
		   "  Exit status: 0 verified, 1 failure or refused write, 2 usage error, 77 no device.\n");
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && *s && !*end && *s != '-';
}

/* "FIRST-LAST", inclusive, at most 65536 LBAs. */
static bool parse_range(const char *s, uint64_t *first, uint32_t *n)
{
	const char *dash = strchr(s, '-');
	uint64_t last;
	char buf[32];

	if (!dash || (size_t)(dash - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(dash - s));
	buf[dash - s] = 0;
	if (!parse_u64(buf, first) || !parse_u64(dash + 1, &last) || last < *first || last - *first >= 65536)
		return false;
	*n = (uint32_t)(last - *first + 1);
	return true;
}

/* Undo everything in reverse; returns the first failure. */
static int teardown(struct ctrl *c)
{
	int r = 0, t;

#define KEEP(x) do { t = (x); if (t < 0 && r == 0) r = t; } while (0)
	if (c->bar || c->dev) {
		KEEP(ioq_delete(c));
		/* Quiesce the controller before the memory it uses goes away. */
		if (c->cap)
			KEEP(ctrl_disable(c));
		KEEP(msix_disable(c));
		if (c->dev) {
			t = iommufd_device_set_bus_master(c->dev, false);
			if (t < 0)
				fprintf(stderr, "nvme: clearing bus master: %s\n", strerror(-t));
			KEEP(t);
		}
	}
	if (c->bar) {
		t = iommufd_device_unmap_region(c->dev, IOMMUFD_REGION_BAR0);
		if (t < 0)
			fprintf(stderr, "nvme: iommufd_device_unmap_region: %s\n", strerror(-t));
		KEEP(t);
		c->bar = NULL;
	}
	KEEP(dma_unmap_free(c, &c->rbuf));
	KEEP(dma_unmap_free(c, &c->wbuf));
	KEEP(dma_unmap_free(c, &c->ident));
	KEEP(dma_unmap_free(c, &c->qmem));
	t = iommufd_device_destroy(c->dev);
	if (t < 0)
		fprintf(stderr, "nvme: iommufd_device_destroy: %s\n", strerror(-t));
	KEEP(t);
	t = iommufd_ioas_destroy(c->ioas);
	if (t < 0)
		fprintf(stderr, "nvme: iommufd_ioas_destroy: %s\n", strerror(-t));
	KEEP(t);
	iommufd_ctx_destroy(c->ctx);
#undef KEEP
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "irq", no_argument, NULL, 'i' },      { "irq-only", no_argument, NULL, 'i' },
		{ "poll-only", no_argument, NULL, 'p' }, { "lbas", required_argument, NULL, 'n' },
		{ "slba", required_argument, NULL, 's' }, { "write-lbas", required_argument, NULL, 'w' },
		{ "overwrite", no_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ "perf", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctrl c = { .efds = { -1, -1 } };
	struct plan plan = { .slba = 0, .nlb = 64 };
	bool do_poll = true, do_irq = true, read_range = false, have_sum = false;
	uint64_t v, sum = 0;
	double perf_secs = 0;
	const char *bdf;
	struct timespec t0, t_all;
	uint32_t vs, stride, class_rev;
	void *bar;
	int opt, r, rt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': do_poll = false; do_irq = true; break;
		case 'p': do_irq = false; do_poll = true; break;
		case 'n':
			if (!parse_u64(optarg, &v) || v == 0 || v > 65536) {
				fprintf(stderr, "nvme: --lbas wants 1..65536\n");
				return 2;
			}
			plan.nlb = (uint32_t)v;
			read_range = true;
			break;
		case 's':
			if (!parse_u64(optarg, &plan.slba)) {
				fprintf(stderr, "nvme: --slba wants a number\n");
				return 2;
			}
			read_range = true;
			break;
		case 'w':
			if (!parse_range(optarg, &plan.slba, &plan.nlb)) {
				fprintf(stderr, "nvme: --write-lbas wants FIRST-LAST, e.g. 2048-2111 (at most 65536 LBAs)\n");
				return 2;
			}
			plan.write = true;
			break;
		case 'o': plan.overwrite = true; break;
		case 'P': {
			char *end;

			perf_secs = strtod(optarg, &end);
			if (*end || !(perf_secs > 0 && perf_secs <= 3600)) {
				fprintf(stderr, "nvme: --perf wants seconds per run, 0 < S <= 3600\n");
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* One way to name the LBAs: a write range must be read exactly as given. */
	if (plan.write && read_range) {
		fprintf(stderr, "nvme: --write-lbas names its own range; drop --slba and --lbas\n");
		return 2;
	}
	if (perf_secs > 0 && (plan.write || read_range)) {
		fprintf(stderr, "nvme: --perf only reads, anywhere on the namespace; drop --write-lbas, --slba, --lbas\n");
		return 2;
	}
	if (plan.overwrite && !plan.write) {
		fprintf(stderr, "nvme: --overwrite only makes sense with --write-lbas\n");
		return 2;
	}
	if (optind + 1 != argc) {
		if (optind == argc)
			fprintf(stderr, "nvme: name the NVMe controller to use, e.g. nvme 0000:01:00.0\n");
		usage(stderr);
		return 2;
	}
	bdf = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	tic(&t_all);

	/* ---- the IOMMU side: context, address space, device */
	tic(&t0);
	r = iommufd_ctx_create(NULL, &c.ctx);
	if (r < 0) {
		fprintf(stderr, "nvme: iommufd_ctx_create: %s\n", strerror(-r));
		return r == -ENODEV ? 77 : 1;
	}
	printf("nvme: backend %s\n", iommufd_backend_name(iommufd_ctx_get_backend(c.ctx)));
	r = iommufd_ioas_create(c.ctx, &c.ioas);
	if (r < 0) {
		fprintf(stderr, "nvme: iommufd_ioas_create: %s\n", strerror(-r));
		goto out;
	}
	r = iommufd_device_open(c.ioas, bdf, NULL, &c.dev);
	if (r < 0) {
		fprintf(stderr, "nvme: iommufd_device_open(%s): %s\n", bdf, strerror(-r));
		if (r == -ENODEV) {
			teardown(&c);
			return 77;
		}
		goto out;
	}
	printf("nvme: %s open, IOMMU group %d, IOVA alignment %" PRId64 " [%.2f ms]\n",
	       iommufd_device_get_name(c.dev), iommufd_device_get_group(c.dev),
	       iommufd_ioas_get_alignment(c.ioas), ms_since(&t0));

	/* ---- registers, once we know they are an NVMe controller's */
	r = iommufd_device_config_read(c.dev, PCI_CLASS_REVISION, &class_rev, 4);
	if (r < 0) {
		fprintf(stderr, "nvme: reading the PCI class code: %s\n", strerror(-r));
		goto out;
	}
	if (class_rev >> 8 != PCI_CLASS_NVME) {
		fprintf(stderr, "nvme: %s has PCI class 0x%06x, not an NVMe controller's 0x%06x\n", bdf,
			class_rev >> 8, PCI_CLASS_NVME);
		r = -ENODEV;
		goto out;
	}
	r = iommufd_device_map_region(c.dev, IOMMUFD_REGION_BAR0, &bar, &c.bar_len);
	if (r == 0) {
		c.bar = bar;
	} else if (r == -EOPNOTSUPP) {
		struct iommufd_region_info ri;
		r = iommufd_device_get_region_info(c.dev, IOMMUFD_REGION_BAR0, &ri);
		if (r < 0)
			goto out;
		c.bar_len = ri.size;
		printf("nvme: BAR0 cannot be mmapped; registers go through the device fd\n");
	} else {
		fprintf(stderr, "nvme: iommufd_device_map_region(BAR0): %s\n", strerror(-r));
		goto out;
	}
	c.cap = rd64(&c, NVME_REG_CAP);
	vs = rd32(&c, NVME_REG_VS);
	stride = 4u << NVME_CAP_DSTRD(c.cap);
	if (c.bar_len < NVME_REG_DBS + (2u * IO_QID + 2) * stride || c.cap == UINT64_MAX) {
		fprintf(stderr, "nvme: BAR0 (%zu bytes, CAP 0x%" PRIx64 ") is no NVMe controller's\n", c.bar_len,
			c.cap);
		c.cap = 0; /* do not touch CC on the way out */
		r = -ENODEV;
		goto out;
	}
	c.ready_timeout_ms = (unsigned int)NVME_CAP_TO(c.cap) * 500;
	if (!c.ready_timeout_ms)
		c.ready_timeout_ms = 500;
	printf("nvme: BAR0 %zu bytes; NVMe %u.%u.%u, CAP 0x%016" PRIx64 ": MQES %u, DSTRD %u bytes, TO %u ms\n",
	       c.bar_len, vs >> 16, (vs >> 8) & 0xff, vs & 0xff, c.cap, NVME_CAP_MQES(c.cap), stride,
	       c.ready_timeout_ms);
	if (!NVME_CAP_CSS_NVM(c.cap) || NVME_CAP_MPSMIN(c.cap) > 0) {
		fprintf(stderr, "nvme: the controller needs the NVM command set and 4 KiB pages\n");
		r = -ENOTSUP;
		goto out;
	}
	c.io_depth = NVME_CAP_MQES(c.cap) < IO_DEPTH ? (uint16_t)NVME_CAP_MQES(c.cap) : IO_DEPTH;
	if (c.io_depth <= MAX_INFLIGHT) {
		fprintf(stderr, "nvme: I/O queues of %u entries are too small\n", c.io_depth);
		r = -ENOTSUP;
		goto out;
	}

	tic(&t0);
	r = ctrl_disable(&c);
	if (r < 0)
		goto out;
	printf("nvme: controller disabled [%.2f ms]\n", ms_since(&t0));

	/* ---- DMA memory: each buffer mapped with only the access it needs */
	tic(&t0);
	printf("nvme: DMA mappings (IOVAs chosen by the library):\n");
	/* Pages: admin SQ, admin CQ, I/O SQ, I/O CQ, then one PRP list per
	 * command in flight.  The controller reads SQs and lists, writes CQs. */
	r = dma_alloc_map(&c, &c.qmem, "queues", (4 + MAX_INFLIGHT) * NVME_PAGE_SIZE,
			  IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE);
	if (r == 0)
		r = dma_alloc_map(&c, &c.ident, "identify", NVME_IDENTIFY_SIZE, IOMMUFD_MAP_WRITE);
	if (r < 0)
		goto out;
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++)
		c.prp_lists[i] = (uint64_t *)((uint8_t *)c.qmem.va + (4 + i) * NVME_PAGE_SIZE);
	printf("nvme: queue memory mapped [%.2f ms]\n", ms_since(&t0));

	/* ---- bring-up; interrupts first, so that every CQ can have one */
	if (do_irq) {
		tic(&t0);
		r = msix_enable(&c);
		if (r < 0)
			goto out;
		printf("nvme: [msi-x] enabled [%.2f ms]\n", ms_since(&t0));
	}
	tic(&t0);
	r = iommufd_device_set_bus_master(c.dev, true);
	if (r < 0) {
		fprintf(stderr, "nvme: setting bus master: %s\n", strerror(-r));
		goto out;
	}
	r = ctrl_enable(&c);
	if (r < 0)
		goto out;
	printf("nvme: controller enabled, admin queues %u entries [%.2f ms]\n", ADMIN_DEPTH, ms_since(&t0));

	tic(&t0);
	r = identify_all(&c);
	if (r < 0)
		goto out;
	printf("nvme: identify done [%.2f ms]\n", ms_since(&t0));
	if (plan.slba >= c.nsze || plan.nlb > c.nsze - plan.slba) {
		fprintf(stderr, "nvme: LBAs %" PRIu64 "..%" PRIu64 " are beyond the namespace (%" PRIu64 " LBAs)\n",
			plan.slba, plan.slba + plan.nlb - 1, c.nsze);
		r = -ERANGE;
		goto out;
	}
	tic(&t0);
	r = dma_alloc_map(&c, &c.rbuf, "read", (size_t)plan.nlb * c.lba_size, IOMMUFD_MAP_WRITE);
	if (r == 0 && plan.write)
		r = dma_alloc_map(&c, &c.wbuf, "write", (size_t)plan.nlb * c.lba_size, IOMMUFD_MAP_READ);
	if (r < 0)
		goto out;
	printf("nvme: data buffers mapped [%.2f ms]\n", ms_since(&t0));

	/* ---- the two completion paths, each on a fresh queue pair */
	if (perf_secs > 0) {
		if (do_poll)
			r = perf_pass(&c, false, perf_secs);
		if (r == 0 && do_irq)
			r = perf_pass(&c, true, perf_secs);
		if (r == 0 && do_irq)
			r = msix_disable(&c);
		goto out;
	}
	if (do_poll) {
		r = io_pass(&c, false, &plan, 1, &sum, &have_sum);
		if (r < 0)
			goto out;
	}
	if (do_irq) {
		r = io_pass(&c, true, &plan, 2, &sum, &have_sum);
		if (r == 0)
			r = msix_disable(&c);
		if (r < 0)
			goto out;
	}

out:
	tic(&t0);
	rt = teardown(&c);
	if (rt == 0)
		printf("nvme: torn down [%.2f ms]\n", ms_since(&t0));
	else
		fprintf(stderr, "nvme: teardown failed: %s\n", strerror(-rt));
	if (r == 0 && rt == 0) {
		printf("nvme: PASS [%.2f ms total]\n", ms_since(&t_all));
		return 0;
	}
	printf("nvme: FAIL\n");
	return 1;
}
