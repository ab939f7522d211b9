/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Fault queue and dirty bitmap costs on the kernel's mock IOMMU
 * (CONFIG_IOMMUFD_TEST, tests/integration/mock.h), CDEV only.
 *
 * fault: the mock injects BATCH page requests (one group each), then they
 * are read and answered, alternately through the library (batched reads,
 * one write per iommufd_fault_queue_respond()) and raw on the same queue fd
 * (one record per read(2), one answer per write(2)).  Timed: the reading and
 * answering, not the injection, after one untimed round of each (every
 * measurement here starts warm).  Syscalls per fault: the library's own count
 * of read(2) (stats.reads) plus one write per respond call; raw: 2.
 *
 * dirty: a --dirty-mib IOAS (one 2 MiB hugetlbfs buffer mapped again and
 * again) on the mock's huge page table where the kernel has it (7.3: no
 * aperture limit, 1 MiB leaves, so 16 GiB), else on its default one (6.12:
 * 2 KiB pages, the aperture ends at 2 GiB); every 7th leaf marked dirty,
 * read NO_CLEAR at 4 KiB per bit through iommufd_hwpt_get_dirty_bitmap()
 * and IOMMU_HWPT_GET_DIRTY_BITMAP, interleaved; the bitmap must hold
 * exactly the marked pages.
 *
 *   @@BENCH name=fault cell=.. batch=B reps=R lib_fps=.. raw_fps=.. ratio=..
 *           ratio_min=.. ratio_max=.. lib_sys_per_fault=.. raw_sys_per_fault=..
 *   @@BENCH name=dirty cell=.. size=BYTES table=huge|2k reps=R lib_ns=.. raw_ns=.. ratio=..
 *           ratio_min=.. ratio_max=..
 *
 *   mock-bench [--reps R] [--faults B] [--dirty-mib M]
 * On a kernel or backend without the mock (6.12, GROUP, TYPE1) it prints
 * one "@@BENCH name=mock ... unsupported=REASON" line and exits 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

#include "kabi.h"
#include "mock.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

#define MAX_REPS 64
#define MAX_B    4096
#define FBASE    0x10000000ull
#define DIOVA    MOCK_APERTURE_FIRST
#define CHUNK    (2ull << 20)

static const char *cell;

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "mock-bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

static int inject(int fd, uint32_t dev_id, int n, uint32_t *grp)
{
	for (int i = 0; i < n; i++, (*grp)++) {
		int r = mock_trigger_iopf(fd, dev_id, 0, *grp, IOMMUFD_PRQ_READ, FBASE + (uint64_t)(*grp % 4096) * 4096);

		if (r)
			return r;
	}
	return 0;
}

/* Read and answer @n requests through the library; counts its calls. */
static int lib_round(struct iommufd_fault_queue *q, int n, uint64_t *writes)
{
	static struct iommufd_page_request req[MAX_B];
	static struct iommufd_page_response resp[MAX_B];
	int got = 0, spins = 0;

	while (got < n) {
		int k = iommufd_fault_queue_read(q, req, (size_t)(n - got));

		if (k == -EAGAIN && ++spins < 1000000)
			continue;
		if (k <= 0)
			return k ? k : -EIO;
		for (int i = 0; i < k; i++)
			resp[i] = (struct iommufd_page_response){ req[i].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
		if (iommufd_fault_queue_respond(q, resp, (size_t)k) != k)
			return -EIO;
		(*writes)++;
		got += k;
	}
	return 0;
}

/* The same, one record per read(2) and one answer per write(2). */
static int raw_round(int qfd, int n)
{
	struct ifd_k_hwpt_pgfault rec;
	struct ifd_k_hwpt_page_response resp;
	int got = 0, spins = 0;

	while (got < n) {
		ssize_t k = read(qfd, &rec, sizeof(rec));

		if ((k == 0 || (k < 0 && errno == EAGAIN)) && ++spins < 1000000)
			continue;
		if (k != (ssize_t)sizeof(rec))
			return k < 0 ? -errno : -EIO;
		resp.cookie = rec.cookie;
		resp.code = IFD_K_IOMMUFD_PAGE_RESP_SUCCESS;
		if (write(qfd, &resp, sizeof(resp)) != (ssize_t)sizeof(resp))
			return -errno;
		got++;
	}
	return 0;
}

static int fault_bench(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct iommufd_device *dev,
		       uint32_t stdev, uint32_t idev, int reps, int batch)
{
	struct iommufd_fault_queue_opts qo = { .sz = sizeof(qo) };
	struct iommufd_hwpt_opts ho = { .sz = sizeof(ho) };
	struct iommufd_fault_queue_stats s = { .sz = sizeof(s) };
	struct iommufd_fault_queue *q;
	struct iommufd_hwpt *h;
	double lib[MAX_REPS], raw[MAX_REPS], ratio[MAX_REPS], t0;
	uint64_t writes = 0, reads0;
	uint32_t grp = 0;
	int fd = iommufd_ctx_get_fd(ctx), r;

	if ((r = iommufd_fault_queue_create(ctx, &qo, &q)))
		return fail("fault queue", r);
	ho.fault = q;
	if ((r = iommufd_hwpt_create(dev, ioas, &ho, &h)))
		return fail("fault HWPT", r);
	if ((r = mock_replace(fd, stdev, iommufd_hwpt_get_id(h), NULL)))
		return fail("mock onto the fault HWPT", r);
	/* One untimed round of each: the first pays for the library's lazy
	 * set-up and cold caches, which would land on whichever runs first. */
	if ((r = inject(fd, idev, batch, &grp)) || (r = lib_round(q, batch, &writes)) ||
	    (r = inject(fd, idev, batch, &grp)) || (r = raw_round(iommufd_fault_queue_get_fd(q), batch)))
		return fail("warm-up round", r);
	if ((r = iommufd_fault_queue_get_stats(q, &s)))
		return fail("stats", r);
	reads0 = s.reads;
	writes = 0;
	for (int rep = 0; rep < reps; rep++) {
		if ((r = inject(fd, idev, batch, &grp)))
			return fail("inject", r);
		t0 = now_ns();
		if ((r = lib_round(q, batch, &writes)))
			return fail("library read/respond", r);
		lib[rep] = (now_ns() - t0) / batch;
		if ((r = inject(fd, idev, batch, &grp)))
			return fail("inject", r);
		t0 = now_ns();
		if ((r = raw_round(iommufd_fault_queue_get_fd(q), batch)))
			return fail("raw read/write", r);
		raw[rep] = (now_ns() - t0) / batch;
		ratio[rep] = lib[rep] / raw[rep];
	}
	if ((r = iommufd_fault_queue_get_stats(q, &s)))
		return fail("stats", r);
	{
		double lm = median(lib, reps), rm = median(raw, reps), q50 = median(ratio, reps);
		double faults = (double)reps * batch;

		printf("@@BENCH name=fault cell=%s batch=%d reps=%d lib_fps=%.0f raw_fps=%.0f ratio=%.4f ratio_min=%.4f "
		       "ratio_max=%.4f lib_sys_per_fault=%.4f raw_sys_per_fault=2 syscall_ratio=%.1f\n",
		       cell, batch, reps, 1e9 / lm, 1e9 / rm, q50, ratio[0], ratio[reps - 1],
		       (double)(s.reads - reads0 + writes) / faults, 2 * faults / (double)(s.reads - reads0 + writes));
	}
	mock_replace(fd, stdev, (uint32_t)iommufd_ioas_get_id(ioas), NULL);
	iommufd_hwpt_destroy(h);
	iommufd_fault_queue_destroy(q);
	return 0;
}

/*
 * The IOAS's dirty HWPT: on 7.3's mock, the huge page table (vendor data
 * pagetable_type MOCK_IOMMUPT_HUGE: 1 MiB leaves, no 2 GiB aperture), so a
 * 16 GiB IOAS fits; elsewhere (6.12's mock has no such type) the default
 * one with 2 KiB pages.  *huge says which.
 */
static int dirty_hwpt(struct iommufd_device *dev, struct iommufd_ioas *ioas, bool want_huge,
		      struct iommufd_hwpt **h, bool *huge)
{
	struct mock_hwpt_data cfg = { .iotlb = MOCK_IOTLB_DEFAULT, .pagetable_type = MOCK_IOMMUPT_HUGE };
	struct iommufd_hwpt_opts ho = { .sz = sizeof(ho), .flags = IOMMUFD_HWPT_DIRTY_TRACKING };

	*huge = false;
	if (want_huge) {
		ho.data_type = IOMMUFD_HWPT_DATA_SELFTEST;
		ho.data = &cfg;
		ho.data_len = sizeof(cfg);
		if (!iommufd_hwpt_create(dev, ioas, &ho, h)) {
			*huge = true;
			return 0;
		}
		ho.data_type = 0;
		ho.data = NULL;
		ho.data_len = 0;
	}
	return iommufd_hwpt_create(dev, ioas, &ho, h);
}

static int dirty_bench(struct iommufd_ctx *ctx, struct iommufd_device *dev, uint32_t stdev, int reps,
		       uint64_t len, uint32_t home_id)
{
	struct iommufd_ioas *ioas;
	struct iommufd_hwpt *h;
	double lib[MAX_REPS], raw[MAX_REPS], ratio[MAX_REPS], t0;
	uint64_t words = len / 4096 / 64, *bm = calloc(words, 8), nr = 0, *mark, unit, want;
	uint8_t *buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			    MAP_POPULATE, -1, 0);
	int fd = iommufd_ctx_get_fd(ctx), r;
	bool huge;

	if (!bm || buf == MAP_FAILED)
		return fail("dirty buffers (hugetlbfs)", ENOMEM);
	/* An IOAS of its own, huge pages allowed: the huge table takes only them. */
	if ((r = iommufd_ioas_create(ctx, &ioas)))
		return fail("dirty IOAS", r);
	if ((r = dirty_hwpt(dev, ioas, true, &h, &huge)))
		return fail("dirty-tracking HWPT", r);
	if (!huge && len > MOCK_APERTURE_LAST + 1 - DIOVA) {
		fprintf(stderr, "mock-bench: this kernel's mock has no huge page table: its aperture ends at 2 GiB, "
			"so --dirty-mib is at most %llu here\n", (MOCK_APERTURE_LAST + 1 - DIOVA) >> 20);
		return 1;
	}
	if ((r = mock_replace(fd, stdev, iommufd_hwpt_get_id(h), NULL)))
		return fail("mock onto the dirty HWPT", r);
	for (uint64_t off = 0; off < len; off += CHUNK) {
		struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova = DIOVA + off };
		uint64_t iova;

		if ((r = iommufd_ioas_map(ioas, buf, CHUNK, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &mo,
					    &iova)))
			return fail("map a 2 MiB piece of the dirty IOAS", r);
	}
	if ((r = iommufd_hwpt_set_dirty_tracking(h, true)))
		return fail("start dirty tracking", r);
	/* The mock keeps one dirty bit per leaf: every 7th 1 MiB leaf of the
	 * huge table (256 pages of 4 KiB read dirty each), else every 7th
	 * 4 KiB page (both of its 2 KiB mock pages). */
	unit = huge ? MOCK_HUGE_PAGE_SIZE : MOCK_PAGE_SIZE;
	mark = calloc(len / unit / 64 + 1, 8);
	if (!mark)
		return fail("dirty marks", ENOMEM);
	if (huge) {
		for (uint64_t p = 0; p < len / unit; p += 7)
			mark[p / 64] |= 1ull << (p % 64);
		want = (len / unit + 6) / 7 * (unit / 4096);
	} else {
		for (uint64_t p = 0; p < len / 4096; p += 7) {
			mark[2 * p / 64] |= 1ull << (2 * p % 64);
			mark[(2 * p + 1) / 64] |= 1ull << ((2 * p + 1) % 64);
		}
		want = (len / 4096 + 6) / 7;
	}
	if ((r = mock_set_dirty(fd, iommufd_hwpt_get_id(h), DIOVA, len, unit, mark, &nr)))
		return fail("mock marks pages dirty", r);
	/* Untimed: the first read of each kind warms the same caches. */
	if ((r = iommufd_hwpt_get_dirty_bitmap(h, DIOVA, len, 4096, bm, IOMMUFD_DIRTY_NO_CLEAR)))
		return fail("iommufd_hwpt_get_dirty_bitmap", r);
	for (int rep = 0; rep < reps; rep++) {
		struct ifd_k_hwpt_get_dirty_bitmap g = {
			.size = sizeof(g), .hwpt_id = iommufd_hwpt_get_id(h),
			.flags = IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, .iova = DIOVA, .length = len,
			.page_size = 4096, .data = (uintptr_t)bm,
		};

		/* The kernel only sets bits: a raw caller clears the bitmap
		 * first, as the library does, or reads stale bits as dirty. */
		t0 = now_ns();
		memset(bm, 0, words * 8);
		if (ioctl(fd, IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP, &g))
			return fail("raw IOMMU_HWPT_GET_DIRTY_BITMAP", errno);
		raw[rep] = now_ns() - t0;
		t0 = now_ns();
		if ((r = iommufd_hwpt_get_dirty_bitmap(h, DIOVA, len, 4096, bm, IOMMUFD_DIRTY_NO_CLEAR)))
			return fail("iommufd_hwpt_get_dirty_bitmap", r);
		lib[rep] = now_ns() - t0;
		ratio[rep] = lib[rep] / raw[rep];
	}
	{
		uint64_t set = 0;

		for (uint64_t w = 0; w < words; w++)
			set += (uint64_t)__builtin_popcountll(bm[w]);
		if (set != want) {
			fprintf(stderr, "mock-bench: the bitmap has %" PRIu64 " dirty pages, %" PRIu64 " were marked\n",
				set, want);
			return 1;
		}
	}
	{
		double lm = median(lib, reps), rm = median(raw, reps), q50 = median(ratio, reps);

		printf("@@BENCH name=dirty cell=%s size=%" PRIu64 " table=%s reps=%d lib_ns=%.0f raw_ns=%.0f "
		       "ratio=%.4f ratio_min=%.4f ratio_max=%.4f\n", cell, len, huge ? "huge" : "2k", reps, lm, rm, q50,
		       ratio[0], ratio[reps - 1]);
	}
	iommufd_hwpt_set_dirty_tracking(h, false);
	mock_replace(fd, stdev, home_id, NULL);
	iommufd_hwpt_destroy(h);
	iommufd_ioas_unmap_all(ioas);
	iommufd_ioas_destroy(ioas);
	munmap(buf, CHUNK);
	free(bm);
	free(mark);
	return 0;
}

int main(int argc, char **argv)
{
	int reps = 5, batch = 256, r, fd;
	uint64_t dirty_mib = 16384;
	uint32_t stdev, hwpt, idev;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;

	cell = getenv("IFD_CELL") ? getenv("IFD_CELL") : "host";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--faults") && i + 1 < argc)
			batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dirty-mib") && i + 1 < argc)
			dirty_mib = strtoull(argv[++i], NULL, 10);
		else
			reps = -1;
	}
	if (reps < 1 || reps > MAX_REPS || batch < 1 || batch > MAX_B || dirty_mib < 2 || dirty_mib % 2 ||
	    dirty_mib > 65536) {
		fprintf(stderr, "usage: mock-bench [--reps 1..%d] [--faults 1..%d] [--dirty-mib 2..65536, even; "
			"at most 2032 on a mock without its huge page table]\n", MAX_REPS, MAX_B);
		return 2;
	}
	if ((r = iommufd_ctx_create(NULL, &ctx)))
		return fail("context", r);
	if (iommufd_ctx_get_backend(ctx) != IOMMUFD_BACKEND_CDEV) {
		printf("@@BENCH name=mock cell=%s unsupported=backend-%s\n", cell,
		       iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
		return 0;
	}
	fd = iommufd_ctx_get_fd(ctx);
	if (mock_available(fd) != 1) {
		printf("@@BENCH name=mock cell=%s unsupported=no-mock-iommu\n", cell);
		return 0;
	}
	if ((r = iommufd_ioas_create(ctx, &ioas)))
		return fail("IOAS", r);
	/* One entry per CPU page in the mock: the dirty walk is the same
	 * work however the buffer lies. */
	if ((r = iommufd_ioas_set_huge_pages(ioas, false)))
		return fail("forbid huge pages", r);
	if ((r = mock_dev_create(fd, (uint32_t)iommufd_ioas_get_id(ioas), 0, &stdev, &hwpt, &idev)))
		return fail("mock device", r);
	if ((r = iommufd_device_adopt_id(ctx, idev, -1, NULL, &dev)))
		return fail("adopt the mock device", r);
	if (fault_bench(ctx, ioas, dev, stdev, idev, reps, batch) ||
	    dirty_bench(ctx, dev, stdev, reps, dirty_mib << 20, (uint32_t)iommufd_ioas_get_id(ioas)))
		return 1;
	iommufd_device_destroy(dev);
	mock_destroy(fd, stdev);
	iommufd_ioas_destroy(ioas);
	iommufd_ctx_destroy(ctx);
	return 0;
}
