/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * nvme's perf mode (--perf SECONDS), part of nvme.c (included by it, so it
 * drives the same queues, registers and completion paths): random reads of
 * 4 KiB and 512 B at queue depth 1, 8 and 32, for a fixed time each, on the
 * queue pair of the completion path in use (polled or MSI-X).  Each read
 * lands in its own slot of a buffer pre-mapped once, slot by slot, with map
 * handles; its IOVA comes either from the slot's handle
 * (iommufd_map_get_iova(), what a driver with pre-mapped buffers does) or
 * from iommufd_ioas_translate() of the pointer (a driver given arbitrary
 * buffers).  The time inside that library call is measured per I/O: the
 * library's share (with one clock read in it: an upper bound).  Each
 * configuration runs PERF_REPS times, the handle and translate runs
 * alternating, SECONDS / PERF_REPS each; one machine-readable line per
 * configuration and IOVA source gives the medians over the repetitions
 * (IOPS also min and max):
 *   @@BENCH name=nvme cell=.. backend=.. mode=poll|msix bs=BYTES qd=N
 *           iova=handle|translate reps=R secs=S ios=N iops=.. iops_min=..
 *           iops_max=.. mibs=.. p50_us=.. p99_us=.. p999_us=.. lib_ns=..
 *           lib_share=..
 * It never writes: the LBAs read are anywhere in namespace 1.
 */

#define PERF_MAX_QD   32u
#define PERF_SLOT     4096u
#define PERF_MAX_LAT  (1u << 20) /* latencies kept per run; later ones are not sampled */
#define PERF_REPS     5u

/* What one run measured. */
struct perf_res {
	double secs, iops, p50, p99, p999, lib_ns; /* latencies in ns */
	unsigned long ios;
};

struct perf {
	struct iommufd_map *h[PERF_MAX_QD];
	uint8_t *buf;
	double *lat; /* ns */
	uint64_t seed;
};

static double perf_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int perf_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double perf_pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* Queue the read of slot @slot; returns the ns spent in the library. */
static double perf_submit(struct ctrl *c, struct perf *p, unsigned int slot, uint32_t bs, bool translate)
{
	uint32_t nlb = bs / c->lba_size;
	uint64_t blocks = c->nsze / nlb, slba, iova;
	struct queue *q = &c->ioq;
	double t0, lib;
	struct nvme_sqe cmd;

	p->seed = p->seed * 6364136223846793005ull + 1442695040888963407ull;
	slba = (p->seed >> 17) % blocks * nlb;
	t0 = perf_now();
	if (translate)
		iova = iova_of(c, p->buf + (size_t)slot * PERF_SLOT, bs);
	else
		iova = iommufd_map_get_iova(p->h[slot]);
	lib = perf_now() - t0;
	cmd = (struct nvme_sqe){
		.opcode = NVME_CMD_READ,
		.cid = (uint16_t)slot,
		.nsid = NSID,
		.prp1 = iova,
		.cdw10 = (uint32_t)slba,
		.cdw11 = (uint32_t)(slba >> 32),
		.cdw12 = nlb - 1,
	};
	q->sq[q->sq_tail] = cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->depth);
	return lib;
}

/* One run: @qd reads kept in flight for @secs seconds. */
static int perf_run(struct ctrl *c, struct perf *p, bool irq, uint32_t bs, unsigned int qd, bool translate,
		    double secs, struct perf_res *res)
{
	double t_sub[PERF_MAX_QD], lib = 0, t_start, t_end, now;
	unsigned long ios = 0, nlat = 0;
	unsigned int inflight = 0;
	struct queue *q = &c->ioq;

	for (unsigned int s = 0; s < qd; s++) {
		lib += perf_submit(c, p, s, bs, translate);
		t_sub[s] = perf_now();
		inflight++;
	}
	sq_ring(c, q);
	t_start = perf_now();
	t_end = t_start + secs * 1e9;
	while (inflight) {
		struct nvme_cqe e;
		bool any = false, again;

		if (irq && !irq_wait(q, CMD_TIMEOUT_MS)) {
			fprintf(stderr, "nvme: perf: no interrupt in %d ms with %u reads in flight\n", CMD_TIMEOUT_MS,
				inflight);
			return -ETIMEDOUT;
		}
		now = perf_now();
		again = now < t_end;
		while (cq_pop(q, &e)) {
			any = true;
			if (e.sq_id != q->qid || e.cid >= qd || !NVME_STATUS_OK(e.status)) {
				fprintf(stderr, "nvme: perf: bad completion (SQ %u, CID %u)\n", e.sq_id, e.cid);
				print_status("perf read", e.status);
				return -EIO;
			}
			if (nlat < PERF_MAX_LAT)
				p->lat[nlat++] = now - t_sub[e.cid];
			ios++;
			inflight--;
			if (again) {
				lib += perf_submit(c, p, e.cid, bs, translate);
				t_sub[e.cid] = perf_now();
				inflight++;
			}
		}
		if (any) {
			wr32(c, q->cq_db, q->cq_head);
			if (again)
				sq_ring(c, q);
		} else if (!irq && now - t_start > secs * 1e9 + CMD_TIMEOUT_MS * 1e6) {
			fprintf(stderr, "nvme: perf: %u reads never completed\n", inflight);
			return -ETIMEDOUT;
		}
	}
	now = perf_now() - t_start;
	qsort(p->lat, nlat, sizeof(*p->lat), perf_cmp);
	*res = (struct perf_res){
		.secs = now / 1e9,
		.iops = (double)ios / now * 1e9,
		.p50 = perf_pct(p->lat, nlat, 0.5),
		.p99 = perf_pct(p->lat, nlat, 0.99),
		.p999 = perf_pct(p->lat, nlat, 0.999),
		.lib_ns = ios ? lib / (double)ios : 0,
		.ios = ios,
	};
	return 0;
}

/* The median of @n values of field @off of @r (sorts a copy). */
static double perf_median(const struct perf_res *r, unsigned int n, size_t off)
{
	double v[PERF_REPS];

	for (unsigned int i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&r[i] + off);
	qsort(v, n, sizeof(v[0]), perf_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void perf_print(struct ctrl *c, bool irq, uint32_t bs, unsigned int qd, bool translate,
		       const struct perf_res *r, unsigned int n)
{
	const char *cell = getenv("IFD_CELL");
	double secs = 0, lo = r[0].iops, hi = r[0].iops;
	unsigned long ios = 0;

	for (unsigned int i = 0; i < n; i++) {
		secs += r[i].secs;
		ios += r[i].ios;
		lo = r[i].iops < lo ? r[i].iops : lo;
		hi = r[i].iops > hi ? r[i].iops : hi;
	}
	double iops = perf_median(r, n, offsetof(struct perf_res, iops));
	double lib_ns = perf_median(r, n, offsetof(struct perf_res, lib_ns));

	printf("@@BENCH name=nvme cell=%s backend=%s mode=%s bs=%u qd=%u iova=%s reps=%u secs=%.2f ios=%lu "
	       "iops=%.0f iops_min=%.0f iops_max=%.0f mibs=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f lib_ns=%.1f "
	       "lib_share=%.5f\n",
	       cell ? cell : "host", iommufd_backend_name(iommufd_ctx_get_backend(c->ctx)), irq ? "msix" : "poll",
	       bs, qd, translate ? "translate" : "handle", n, secs, ios, iops, lo, hi, iops * bs / 1048576.0,
	       perf_median(r, n, offsetof(struct perf_res, p50)) / 1e3,
	       perf_median(r, n, offsetof(struct perf_res, p99)) / 1e3,
	       perf_median(r, n, offsetof(struct perf_res, p999)) / 1e3, lib_ns, lib_ns * iops / 1e9);
}

/* Every run on the completion path @irq, on a fresh queue pair. */
static int perf_pass(struct ctrl *c, bool irq, double secs)
{
	static const uint32_t sizes[] = { 4096, 512 };
	static const unsigned int depths[] = { 1, 8, 32 };
	struct perf p = { .seed = 0x2545f4914f6cdd1dull };
	size_t len = (size_t)PERF_MAX_QD * PERF_SLOT;
	int r, r2;

	if (c->io_depth <= PERF_MAX_QD) {
		fprintf(stderr, "nvme: perf needs I/O queues of more than %u entries (have %u)\n", PERF_MAX_QD,
			c->io_depth);
		return -ENOTSUP;
	}
	p.buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	p.lat = calloc(PERF_MAX_LAT, sizeof(*p.lat));
	if (p.buf == MAP_FAILED || !p.lat) {
		fprintf(stderr, "nvme: perf: out of memory\n");
		return -ENOMEM;
	}
	for (unsigned int s = 0; s < PERF_MAX_QD; s++) {
		r = iommufd_map_create(c->ioas, p.buf + (size_t)s * PERF_SLOT, PERF_SLOT, IOMMUFD_MAP_WRITE, NULL,
				       &p.h[s]);
		if (r < 0) {
			fprintf(stderr, "nvme: perf: iommufd_map_create(slot %u): %s\n", s, strerror(-r));
			return r;
		}
	}
	r = ioq_create(c, irq);
	for (size_t b = 0; r == 0 && b < sizeof(sizes) / sizeof(sizes[0]); b++) {
		if (sizes[b] % c->lba_size) {
			printf("@@BENCH name=nvme mode=%s bs=%u unsupported=lba-size-%u\n", irq ? "msix" : "poll",
			       sizes[b], c->lba_size);
			continue;
		}
		for (size_t d = 0; r == 0 && d < sizeof(depths) / sizeof(depths[0]); d++) {
			struct perf_res res[2][PERF_REPS];

			/* handle and translate alternate, so drift hits both */
			for (unsigned int k = 0; r == 0 && k < PERF_REPS; k++)
				for (int tr = 0; r == 0 && tr < 2; tr++)
					r = perf_run(c, &p, irq, sizes[b], depths[d], tr, secs / PERF_REPS,
						     &res[tr][k]);
			for (int tr = 0; r == 0 && tr < 2; tr++)
				perf_print(c, irq, sizes[b], depths[d], tr, res[tr], PERF_REPS);
		}
	}
	r2 = ioq_delete(c);
	if (r == 0)
		r = r2;
	/* The controller is idle now (its queues are gone): the slots may go. */
	for (unsigned int s = 0; s < PERF_MAX_QD; s++)
		if (p.h[s] && iommufd_map_destroy(p.h[s]) < 0 && r == 0)
			r = -EIO;
	if (r == 0)
		munmap(p.buf, len);
	free(p.lat);
	return r;
}
