/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iopf: an I/O page-fault service with libiommufd.  The device's DMA runs
 * on an HWPT with no memory behind it; each page it touches faults, and
 * this program maps fresh memory there and tells the device to retry.
 *
 *   iopf [--window BASE:LEN] [--count N] DEVICE
 *   iopf --mock [--window BASE:LEN] [--count N]
 *
 * DEVICE (a PCI address, or a /dev/vfio/devices/vfioN path) must support
 * PRI.  The program serves until SIGINT/SIGTERM, or N groups.  A request
 * for a page inside the window gets that page mapped (IOMMUFD_MAP_FIXED,
 * fresh zeroed memory, read and write) and SUCCESS; a page outside the
 * window, or one the IOMMU cannot map, gets INVALID.
 *
 * --mock needs a kernel with CONFIG_IOMMUFD_TEST: it creates a mock device
 * in the context's iommufd, injects N page faults (default 48), some
 * inside the window and some not, serves them the same way, then checks
 * every answer and, with the mock's page-table query, that every page it
 * mapped is in the HWPT and no page outside the window is.  Its default
 * window straddles the top of the mock IOMMU's aperture, so that part of
 * the window cannot be mapped and the "map failed" answer is exercised.
 *
 * Where the library reports fault queues or HWPTs unsupported (TYPE1, a
 * kernel without iommufd, the group backend) it prints "unsupported: WHY"
 * after checking that the refusal is the documented one (-EOPNOTSUPP, the
 * reason BACKEND or KERNEL).
 *
 * Exit status: 0 served (with --mock: and every check held), or
 * unsupported with --mock; 77 unsupported with a DEVICE, no mock IOMMU, or
 * no IOMMU path at all; 1 failure; 2 usage.  In the VM rig (IFD_CELL set) no arguments mean
 * --mock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

#include "../tests/integration/mock.h"

#define DEFAULT_WINDOW_BASE 0x10000000ull
#define DEFAULT_WINDOW_LEN  0x10000000ull
/* Half below the mock aperture's end, half above. */
#define MOCK_WINDOW_LEN  0x80000ull
#define MOCK_WINDOW_BASE (MOCK_APERTURE_LAST + 1 - MOCK_WINDOW_LEN / 2)
#define MOCK_FAULTS      48u
#define MOCK_BURST       16u  /* faults injected before serving them */
#define MOCK_WAIT_MS     5000 /* an injected fault reaches the queue at once */
#define MAX_BATCH        4096u

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNSUPPORTED = 77 };

struct page_rec {
	struct iommufd_map *map;
	void *mem;
};

/* Why a group got its answer: one line per group says it. */
enum verdict { V_MAPPED, V_PRESENT, V_OUTSIDE, V_MAP_FAILED };

struct mock_fault {
	uint64_t addr;
	uint32_t perm;
	uint32_t want; /* the code the group must get */
	uint32_t sent; /* the code it got; UINT32_MAX: none yet */
};

struct service {
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct iommufd_fault_queue *q;
	struct iommufd_hwpt *hwpt;
	struct iommufd_hwpt *parent; /* the nesting parent of a nested hwpt, or NULL */
	uint64_t win_base, win_len, pg;

	struct page_rec *pages;
	size_t npages, cap;

	struct iommufd_page_request *reqs;
	struct iommufd_page_response *resp;
	size_t batch;

	uint64_t groups, requests, success, invalid, mapped, present, outside, map_failed;

	/* --mock only */
	bool mock;
	int fd;
	uint32_t stdev_id, idev_id;
	struct mock_fault *faults;
	uint32_t nfaults, injected;
	unsigned int wrong_fields;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *reason_name(uint32_t r)
{
	static const char *const names[] = { "NONE", "LIBRARY", "KERNEL", "BACKEND", "IOMMU", "DEVICE",
					     "NEED_DEVICE" };

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

static void perm_str(uint32_t perm, char out[5])
{
	out[0] = perm & IOMMUFD_PRQ_READ ? 'r' : '-';
	out[1] = perm & IOMMUFD_PRQ_WRITE ? 'w' : '-';
	out[2] = perm & IOMMUFD_PRQ_EXEC ? 'x' : '-';
	out[3] = perm & IOMMUFD_PRQ_PRIV ? 'p' : '-';
	out[4] = '\0';
}

static bool in_window(const struct service *s, uint64_t page)
{
	return page >= s->win_base && page - s->win_base < s->win_len && s->win_len - (page - s->win_base) >= s->pg;
}

static int record_page(struct service *s, struct iommufd_map *map, void *mem)
{
	if (s->npages == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct page_rec *p = realloc(s->pages, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->pages = p;
		s->cap = cap;
	}
	s->pages[s->npages++] = (struct page_rec){ map, mem };
	return 0;
}

/* Map fresh memory at @page unless something is there already. */
static enum verdict serve_page(struct service *s, uint64_t page, int *err)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = page };
	struct iommufd_map *map = NULL;
	void *mem;
	int r;

	*err = 0;
	if (!in_window(s, page))
		return V_OUTSIDE;
	/* Another record (or group) for the same page got there first; the
	 * device only has to retry. */
	if (iommufd_ioas_find_iova(s->ioas, page, NULL) == 0)
		return V_PRESENT;
	mem = mmap(NULL, s->pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		*err = -errno;
		return V_MAP_FAILED;
	}
	/* Read and write whatever the request asked: the memory is ours and
	 * fresh, and a later write to a read-only page would fault again
	 * with nothing we could do but remap. */
	r = iommufd_map_create(s->ioas, mem, s->pg, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &o,
			       &map);
	if (r == 0)
		r = record_page(s, map, mem);
	if (r < 0) {
		if (map)
			iommufd_map_destroy(map);
		munmap(mem, s->pg);
		*err = r;
		return V_MAP_FAILED;
	}
	return V_MAPPED;
}

static struct mock_fault *mock_fault_of(struct service *s, const struct iommufd_page_request *p)
{
	return s->mock && p->grpid < s->nfaults ? &s->faults[p->grpid] : NULL;
}

/*
 * One group: records [first, first + n).  Returns the response code; the
 * group's line is printed here.
 */
static uint32_t serve_group(struct service *s, const struct iommufd_page_request *g, size_t n)
{
	enum verdict verdict = V_PRESENT, v = V_PRESENT;
	uint64_t first_page = UINT64_MAX;
	unsigned int newly = 0;
	uint32_t code;
	char perm[5];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t page = g[i].addr & ~(s->pg - 1);
		struct mock_fault *f = mock_fault_of(s, &g[i]);

		if (f && (g[i].addr != f->addr || g[i].perm != f->perm || g[i].dev != s->dev ||
			  g[i].dev_id != s->idev_id || (g[i].flags & IOMMUFD_PRQ_PASID_VALID)))
			s->wrong_fields++;
		v = serve_page(s, page, &err);
		if (v == V_MAPPED && !newly++)
			first_page = page;
		/* The device gets one answer for the group: once a page
		 * cannot be served, the rest need not be mapped. */
		if (v == V_OUTSIDE || v == V_MAP_FAILED)
			break;
	}
	if (v == V_OUTSIDE || v == V_MAP_FAILED)
		verdict = v;
	else if (newly)
		verdict = V_MAPPED;
	s->groups++;
	s->requests += n;
	s->mapped += newly;
	code = verdict == V_MAPPED || verdict == V_PRESENT ? IOMMUFD_PAGE_RESPONSE_SUCCESS :
							     IOMMUFD_PAGE_RESPONSE_INVALID;
	if (code == IOMMUFD_PAGE_RESPONSE_SUCCESS)
		s->success++;
	else
		s->invalid++;
	s->present += verdict == V_PRESENT;
	s->outside += verdict == V_OUTSIDE;
	s->map_failed += verdict == V_MAP_FAILED;

	perm_str(g[0].perm, perm);
	printf("iopf: group %u dev %u", g[0].grpid, g[0].dev_id);
	if (g[0].flags & IOMMUFD_PRQ_PASID_VALID)
		printf(" pasid %u", g[0].pasid);
	printf(" addr 0x%" PRIx64 " %s, %zu request%s: ", g[0].addr, perm, n, n == 1 ? "" : "s");
	switch (verdict) {
	case V_MAPPED:
		printf("mapped %u page%s from 0x%" PRIx64, newly, newly == 1 ? "" : "s", first_page);
		break;
	case V_PRESENT:
		printf("already mapped");
		break;
	case V_OUTSIDE:
		printf("outside the window");
		break;
	case V_MAP_FAILED:
		printf("map failed (%s)", strerror(-err));
		break;
	}
	printf(" -> %s\n", code == IOMMUFD_PAGE_RESPONSE_SUCCESS ? "SUCCESS" : "INVALID");
	return code;
}

/*
 * Read what waits, answer every group of it in one call.  1 if there may
 * be more, 0 if the queue is empty, or a negative errno.
 */
static int serve_batch(struct service *s)
{
	size_t ngroups = 0, start = 0;
	int n, r;

	n = iommufd_fault_queue_read(s->q, s->reqs, s->batch);
	if (n == -EMSGSIZE && s->batch < MAX_BATCH) {
		size_t b = s->batch * 2;
		struct iommufd_page_request *rq = realloc(s->reqs, b * sizeof(*rq));
		struct iommufd_page_response *rs;

		if (!rq)
			return -ENOMEM;
		s->reqs = rq;
		rs = realloc(s->resp, b * sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		s->resp = rs;
		s->batch = b;
		return 1;
	}
	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		fprintf(stderr, "iopf: iommufd_fault_queue_read: %s\n", strerror(-n));
		return n;
	}
	for (size_t i = 0; i < (size_t)n; i++) {
		/* The library hands out whole groups, last record flagged. */
		if (!(s->reqs[i].flags & IOMMUFD_PRQ_LAST_PAGE) && i + 1 < (size_t)n)
			continue;
		s->resp[ngroups].cookie = s->reqs[start].cookie;
		s->resp[ngroups].code = serve_group(s, &s->reqs[start], i + 1 - start);
		{
			struct mock_fault *f = mock_fault_of(s, &s->reqs[start]);

			if (f)
				f->sent = s->resp[ngroups].code;
		}
		ngroups++;
		start = i + 1;
	}
	r = iommufd_fault_queue_respond(s->q, s->resp, ngroups);
	if (r != (int)ngroups) {
		fprintf(stderr, "iopf: iommufd_fault_queue_respond(%zu groups): %s\n", ngroups,
			r < 0 ? strerror(-r) : "short count");
		return r < 0 ? r : -EIO;
	}
	return 1;
}

/* ---------------------------------------------------------------- mock */

/*
 * The fault plan: mostly pages in the window (some twice), the rest
 * below and above it.  What each must get follows from the window and the
 * mock IOMMU's aperture, so --window changes the plan's answers too.
 */
static void mock_plan(struct service *s)
{
	static const uint32_t perms[] = { IOMMUFD_PRQ_READ, IOMMUFD_PRQ_WRITE, IOMMUFD_PRQ_READ | IOMMUFD_PRQ_WRITE,
					  IOMMUFD_PRQ_READ | IOMMUFD_PRQ_EXEC };
	uint64_t wpages = s->win_len / s->pg;

	for (uint32_t i = 0; i < s->nfaults; i++) {
		struct mock_fault *f = &s->faults[i];
		uint64_t page;

		switch (i % 6) {
		case 3:
			/* The page of fault i - 3 again: served once. */
			page = s->faults[i - 3].addr;
			break;
		case 4:
			/* Below the window, if there is room below it. */
			if (s->win_base >= (uint64_t)(i + 1) * s->pg)
				page = s->win_base - (uint64_t)(i + 1) * s->pg;
			else
				page = s->win_base + s->win_len + (uint64_t)i * s->pg;
			break;
		case 5:
			page = s->win_base + s->win_len + (uint64_t)i * s->pg;
			break;
		default:
			/* i * 5 walks the window, wrapping round it. */
			page = s->win_base + ((uint64_t)i * 5 % (wpages ? wpages : 1)) * s->pg;
			break;
		}
		f->addr = page;
		f->perm = perms[i % 4];
		f->sent = UINT32_MAX;
		f->want = in_window(s, page) && page >= MOCK_APERTURE_FIRST && page + s->pg - 1 <= MOCK_APERTURE_LAST ?
				  IOMMUFD_PAGE_RESPONSE_SUCCESS :
				  IOMMUFD_PAGE_RESPONSE_INVALID;
	}
}

/* Inject the next burst once everything injected so far is answered. */
static int mock_feed(struct service *s)
{
	uint32_t end;

	if (s->injected == s->nfaults || s->groups < s->injected)
		return 0;
	end = s->injected + MOCK_BURST < s->nfaults ? s->injected + MOCK_BURST : s->nfaults;
	for (; s->injected < end; s->injected++) {
		const struct mock_fault *f = &s->faults[s->injected];
		int r = mock_trigger_iopf(s->fd, s->idev_id, 0, s->injected, f->perm, f->addr);

		if (r) {
			fprintf(stderr, "iopf: injecting fault %u (IOMMU_TEST_OP_TRIGGER_IOPF): %s\n", s->injected,
				strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Every answer as planned, and the mock's page table as we left it. */
static bool mock_verify(struct service *s)
{
	struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };
	unsigned int wrong = 0, missing = 0, absent_bad = 0, unchecked = 0;
	/* A nested HWPT's pages are its parent's: the mock checks those. */
	uint32_t hwpt_id = iommufd_hwpt_get_id(s->parent ? s->parent : s->hwpt);
	void *scratch;
	bool ok = true;
	int r;

	for (uint32_t i = 0; i < s->nfaults; i++) {
		const struct mock_fault *f = &s->faults[i];

		if (f->sent == UINT32_MAX)
			missing++;
		else if (f->sent != f->want)
			wrong++;
	}
	if (missing || wrong || s->wrong_fields) {
		printf("iopf: check FAILED: %u faults unanswered, %u answered with the wrong code, %u requests with "
		       "fields other than injected\n", missing, wrong, s->wrong_fields);
		ok = false;
	} else {
		printf("iopf: check: all %u faults answered with the expected code, every request as injected\n",
		       s->nfaults);
	}

	r = iommufd_fault_queue_get_stats(s->q, &st);
	if (r < 0 || st.responses != s->groups || st.groups != s->groups || st.outstanding || st.lost || st.full) {
		printf("iopf: check FAILED: queue stats (%s): groups %" PRIu64 ", responses %" PRIu64 " (want %" PRIu64
		       "), outstanding %" PRIu64 ", lost %" PRIu64 ", full %" PRIu64 "\n",
		       r < 0 ? strerror(-r) : "ok", st.groups, st.responses, s->groups, st.outstanding, st.lost, st.full);
		ok = false;
	}

	for (size_t i = 0; i < s->npages; i++) {
		r = mock_check_map(s->fd, hwpt_id, iommufd_map_get_iova(s->pages[i].map), s->pg, s->pages[i].mem);
		if (r) {
			printf("iopf: check FAILED: page 0x%" PRIx64 " is not mapped to its memory in HWPT %u "
			       "(IOMMU_TEST_OP_MD_CHECK_MAP: %s)\n",
			       iommufd_map_get_iova(s->pages[i].map), hwpt_id, strerror(-r));
			ok = false;
		}
	}

	/* What was refused must not be there: looked up against a page of
	 * ours, which nothing maps, the lookup fails. */
	scratch = mmap(NULL, s->pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (scratch == MAP_FAILED) {
		printf("iopf: check FAILED: mmap: %s\n", strerror(errno));
		return false;
	}
	for (uint32_t i = 0; i < s->nfaults; i++) {
		const struct mock_fault *f = &s->faults[i];

		if (f->want != IOMMUFD_PAGE_RESPONSE_INVALID)
			continue;
		/* Beyond the aperture there is no page table to ask. */
		if (f->addr < MOCK_APERTURE_FIRST || f->addr + s->pg - 1 > MOCK_APERTURE_LAST) {
			unchecked++;
			continue;
		}
		r = mock_check_map(s->fd, hwpt_id, f->addr, s->pg, scratch);
		if (r != -EINVAL) {
			printf("iopf: check FAILED: refused page 0x%" PRIx64 ": MD_CHECK_MAP says %s, not unmapped\n",
			       f->addr, r ? strerror(-r) : "mapped");
			absent_bad++;
		}
	}
	munmap(scratch, s->pg);
	if (absent_bad)
		ok = false;
	if (ok)
		printf("iopf: check: the %zu mapped pages are in HWPT %u's page table; the refused pages inside the "
		       "aperture are not (%u beyond it not asked)\n",
		       s->npages, hwpt_id, unchecked);
	return ok;
}

/* ------------------------------------------------------ unsupported */

/*
 * The documented refusal: the query says no with reason BACKEND or KERNEL
 * and a line for a human, and the call itself returns -EOPNOTSUPP.
 * Returns 1 (it was), 0 (the feature is there), -1 (it was refused some
 * other way: a library defect).
 */
static int refused(struct iommufd_ctx *ctx, enum iommufd_feature f, const char *what, int call_ret, bool called,
		   bool *printed)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	int q = iommufd_feature_query(ctx, NULL, f, &st);

	if (q == 1)
		return 0;
	st.why[sizeof(st.why) - 1] = '\0';
	if (q != 0) {
		printf("iopf: FAIL: iommufd_feature_query(%s): %s\n", what, strerror(-q));
		return -1;
	}
	if ((st.reason != IOMMUFD_REASON_BACKEND && st.reason != IOMMUFD_REASON_KERNEL) || !st.why[0]) {
		printf("iopf: FAIL: %s reported unsupported with reason %s ('%s'), not BACKEND or KERNEL with a reason "
		       "line\n", what, reason_name(st.reason), st.why);
		return -1;
	}
	if (called && call_ret != -EOPNOTSUPP) {
		printf("iopf: FAIL: %s reported unsupported (%s), but the call returned %d (%s), not -EOPNOTSUPP\n",
		       what, st.why, call_ret, call_ret < 0 ? strerror(-call_ret) : "success");
		return -1;
	}
	if (!*printed)
		printf("iopf: unsupported: %s: %s (reason %s)\n", what, st.why, reason_name(st.reason));
	*printed = true;
	return 1;
}

/*
 * Before anything is set up: if fault queues or HWPTs are missing, say so
 * and check the library said it the documented way.  Returns -1 (go on),
 * else the exit code.
 */
static int check_support(struct service *s, bool mock)
{
	struct iommufd_fault_queue *q = NULL;
	bool printed = false;
	int fq, hw, r, hr = 0;

	r = iommufd_fault_queue_create(s->ctx, NULL, &q);
	fq = refused(s->ctx, IOMMUFD_FEATURE_FAULT_QUEUE, "I/O page-fault queues", r, true, &printed);
	if (r == 0) {
		iommufd_fault_queue_destroy(q);
	} else if (q) {
		printf("iopf: FAIL: a refused iommufd_fault_queue_create set its out pointer\n");
		fq = -1;
	}

	/* Only iommufd can make the mock device iommufd_hwpt_create() needs;
	 * on TYPE1 the query alone answers. */
	if (mock && iommufd_ctx_get_fd(s->ctx) >= 0) {
		struct iommufd_hwpt_opts ho = { .sz = sizeof(ho) };
		struct iommufd_hwpt *h = NULL;
		int64_t ioas_id = iommufd_ioas_get_id(s->ioas);

		hw = refused(s->ctx, IOMMUFD_FEATURE_HWPT, "HWPTs", 0, false, &printed);
		if (hw == 1 && mock_available(s->fd) == 1 &&
		    !mock_dev_create(s->fd, (uint32_t)ioas_id, 0, &s->stdev_id, NULL, &s->idev_id) &&
		    !iommufd_device_adopt_id(s->ctx, s->idev_id, -1, NULL, &s->dev)) {
			hr = iommufd_hwpt_create(s->dev, s->ioas, &ho, &h);
			if (hr == 0)
				iommufd_hwpt_destroy(h);
			hw = refused(s->ctx, IOMMUFD_FEATURE_HWPT, "HWPTs", hr, true, &printed);
		}
	} else {
		hw = refused(s->ctx, IOMMUFD_FEATURE_HWPT, "HWPTs", 0, false, &printed);
	}
	if (fq < 0 || hw < 0)
		return EXIT_FAIL;
	if (fq == 0 && hw == 0)
		return -1;
	return mock ? EXIT_OK : EXIT_UNSUPPORTED;
}

/* ------------------------------------------------------------- setup */

static int setup_mock(struct service *s)
{
	int64_t ioas_id = iommufd_ioas_get_id(s->ioas);
	int r;

	if (mock_available(s->fd) != 1) {
		fprintf(stderr, "iopf: the kernel has no mock IOMMU (CONFIG_IOMMUFD_TEST): --mock cannot run\n");
		return -ENODEV;
	}
	r = mock_dev_create(s->fd, (uint32_t)ioas_id, 0, &s->stdev_id, NULL, &s->idev_id);
	if (r) {
		fprintf(stderr, "iopf: creating a mock device (IOMMU_TEST_OP_MOCK_DOMAIN): %s\n", strerror(-r));
		return r;
	}
	r = iommufd_device_adopt_id(s->ctx, s->idev_id, -1, NULL, &s->dev);
	if (r) {
		fprintf(stderr, "iopf: iommufd_device_adopt_id(%u): %s\n", s->idev_id, strerror(-r));
		return r;
	}
	printf("iopf: mock device: iommufd device ID %u\n", s->idev_id);
	return 0;
}

static int setup_queue_hwpt(struct service *s)
{
	struct iommufd_hwpt_opts ho = { .sz = sizeof(ho) };
	int r;

	r = iommufd_fault_queue_create(s->ctx, NULL, &s->q);
	if (r) {
		fprintf(stderr, "iopf: iommufd_fault_queue_create: %s\n", strerror(-r));
		return r;
	}
	ho.fault = s->q;
	r = iommufd_hwpt_create(s->dev, s->ioas, &ho, &s->hwpt);
	if (r == -EOPNOTSUPP && s->mock) {
		/* Some kernels (6.12) take a fault queue only on a nested
		 * HWPT: put the queue on one, nested on a nesting parent of
		 * the IOAS (the mock's vendor data: its IOTLB value only).
		 * Faults still name IOAS addresses, served the same way. */
		struct iommufd_hwpt_opts po = { .sz = sizeof(po), .flags = IOMMUFD_HWPT_NEST_PARENT };
		struct mock_hwpt_data d = { .iotlb = MOCK_IOTLB_DEFAULT };
		struct iommufd_hwpt_nested_opts no = { .sz = sizeof(no), .data_type = IOMMUFD_HWPT_DATA_SELFTEST,
						       .data = &d, .data_len = sizeof(d.iotlb), .fault = s->q };

		printf("iopf: this kernel takes fault queues only on nested HWPTs: using one\n");
		r = iommufd_hwpt_create(s->dev, s->ioas, &po, &s->parent);
		if (r == 0)
			r = iommufd_hwpt_create_nested(s->dev, s->parent, NULL, &no, &s->hwpt);
	}
	if (r) {
		fprintf(stderr, "iopf: iommufd_hwpt_create (fault queue %u): %s\n", iommufd_fault_queue_get_id(s->q),
			strerror(-r));
		return r;
	}
	/* The library attaches only devices whose VFIO fd it holds; the mock
	 * device has none and moves with the mock's own replace. */
	if (s->mock)
		r = mock_replace(s->fd, s->stdev_id, iommufd_hwpt_get_id(s->hwpt), NULL);
	else
		r = iommufd_device_attach_hwpt(s->dev, s->hwpt);
	if (r) {
		fprintf(stderr, "iopf: attaching the device to HWPT %u: %s%s\n", iommufd_hwpt_get_id(s->hwpt),
			strerror(-r), s->mock ? "" : " (does the device support PRI?)");
		return r;
	}
	printf("iopf: fault queue %u, HWPT %u; serving [0x%" PRIx64 ", 0x%" PRIx64 ") in %" PRIu64 "-byte pages\n",
	       iommufd_fault_queue_get_id(s->q), iommufd_hwpt_get_id(s->hwpt), s->win_base, s->win_base + s->win_len,
	       s->pg);
	return 0;
}

static bool step_ok(const char *what, int r)
{
	if (r >= 0)
		return true;
	fprintf(stderr, "iopf: cleanup: %s: %s\n", what, strerror(-r));
	return false;
}

/* Everything goes, in dependency order.  False if a step failed. */
static bool teardown(struct service *s)
{
	bool ok = true;

	/* Off the HWPT first: it cannot go while attached, nor the queue
	 * while the HWPT uses it. */
	if (s->hwpt && s->dev) {
		if (s->mock)
			ok &= step_ok("moving the mock device back to the IOAS",
				      mock_replace(s->fd, s->stdev_id, (uint32_t)iommufd_ioas_get_id(s->ioas), NULL));
		else if (iommufd_device_get_hwpt(s->dev) == s->hwpt)
			ok &= step_ok("iommufd_device_attach (back to the IOAS)", iommufd_device_attach(s->dev, s->ioas));
	}
	for (size_t i = 0; i < s->npages; i++) {
		ok &= step_ok("iommufd_map_destroy", iommufd_map_destroy(s->pages[i].map));
		munmap(s->pages[i].mem, s->pg);
	}
	free(s->pages);
	ok &= step_ok("iommufd_hwpt_destroy", iommufd_hwpt_destroy(s->hwpt));
	ok &= step_ok("iommufd_hwpt_destroy (the nesting parent)", iommufd_hwpt_destroy(s->parent));
	ok &= step_ok("iommufd_fault_queue_destroy", iommufd_fault_queue_destroy(s->q));
	ok &= step_ok("iommufd_device_destroy", iommufd_device_destroy(s->dev));
	if (s->stdev_id)
		ok &= step_ok("IOMMU_DESTROY of the mock device", mock_destroy(s->fd, s->stdev_id));
	ok &= step_ok("iommufd_ioas_destroy", iommufd_ioas_destroy(s->ioas));
	iommufd_ctx_destroy(s->ctx);
	free(s->reqs);
	free(s->resp);
	free(s->faults);
	return ok;
}

/* ------------------------------------------------------------- main */

static bool parse_u64(const char *str, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(str, &end, 0);
	return !errno && end != str && !*end && str[0] != '-';
}

static int usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: iopf [--window BASE:LEN] [--count N] DEVICE\n"
		"       iopf --mock [--window BASE:LEN] [--count N]\n"
		"Serves I/O page faults by mapping fresh memory inside the window (default 0x%llx:0x%llx;\n"
		"with --mock 0x%llx:0x%llx). DEVICE: serve N groups (default: until SIGINT/SIGTERM).\n"
		"--mock: inject N faults (default %u) with the kernel's mock IOMMU, serve and check them.\n",
		DEFAULT_WINDOW_BASE, DEFAULT_WINDOW_LEN, MOCK_WINDOW_BASE, MOCK_WINDOW_LEN, MOCK_FAULTS);
	return rc;
}

int main(int argc, char **argv)
{
	struct service s = { .fd = -1, .batch = 64 };
	const char *name = NULL;
	bool have_window = false, unsupported = false;
	uint64_t count = 0;
	int64_t align;
	sigset_t block, orig;
	struct sigaction sa;
	int rc = EXIT_FAIL, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The VM rig runs every program without arguments unless told. */
	if (argc == 1 && getenv("IFD_CELL"))
		s.mock = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			return usage(EXIT_OK);
		} else if (!strcmp(a, "--mock")) {
			s.mock = true;
		} else if (!strcmp(a, "--count") && i + 1 < argc) {
			if (!parse_u64(argv[++i], &count) || !count || count > 1000000)
				return usage(EXIT_USAGE);
		} else if (!strcmp(a, "--window") && i + 1 < argc) {
			char buf[64], *colon;

			snprintf(buf, sizeof(buf), "%s", argv[++i]);
			colon = strchr(buf, ':');
			if (!colon)
				return usage(EXIT_USAGE);
			*colon = '\0';
			if (!parse_u64(buf, &s.win_base) || !parse_u64(colon + 1, &s.win_len) || !s.win_len ||
			    s.win_base + s.win_len < s.win_base)
				return usage(EXIT_USAGE);
			have_window = true;
		} else if (a[0] != '-' && !name) {
			name = a;
		} else {
			return usage(EXIT_USAGE);
		}
	}
	if (s.mock == !!name)
		return usage(EXIT_USAGE);
	if (!have_window) {
		s.win_base = s.mock ? MOCK_WINDOW_BASE : DEFAULT_WINDOW_BASE;
		s.win_len = s.mock ? MOCK_WINDOW_LEN : DEFAULT_WINDOW_LEN;
	}

	r = iommufd_ctx_create(NULL, &s.ctx);
	if (r) {
		fprintf(stderr, "iopf: iommufd_ctx_create: %s%s\n", strerror(-r),
			r == -ENODEV ? " (no /dev/iommu nor /dev/vfio/vfio here)" : "");
		return r == -ENODEV ? EXIT_UNSUPPORTED : EXIT_FAIL;
	}
	printf("iopf: backend %s\n", iommufd_backend_name(iommufd_ctx_get_backend(s.ctx)));
	r = iommufd_ioas_create(s.ctx, &s.ioas);
	if (r) {
		fprintf(stderr, "iopf: iommufd_ioas_create: %s\n", strerror(-r));
		goto out;
	}
	s.fd = iommufd_ctx_get_fd(s.ctx);
	r = check_support(&s, s.mock);
	if (r >= 0) {
		rc = r;
		unsupported = r != EXIT_FAIL;
		goto out;
	}

	align = iommufd_ioas_get_alignment(s.ioas);
	s.pg = (uint64_t)sysconf(_SC_PAGESIZE);
	if (align > 0 && (uint64_t)align > s.pg)
		s.pg = (uint64_t)align;
	if ((s.win_base | s.win_len) & (s.pg - 1)) {
		fprintf(stderr, "iopf: the window must be aligned to the page size, 0x%" PRIx64 "\n", s.pg);
		rc = EXIT_USAGE;
		goto out;
	}

	if (s.mock) {
		if (!s.dev) {
			r = setup_mock(&s);
			if (r) {
				rc = r == -ENODEV ? EXIT_UNSUPPORTED : EXIT_FAIL;
				goto out;
			}
		}
		s.nfaults = count ? (uint32_t)count : MOCK_FAULTS;
		s.faults = calloc(s.nfaults, sizeof(*s.faults));
		if (!s.faults)
			goto out;
		mock_plan(&s);
	} else {
		r = iommufd_device_open(s.ioas, name, NULL, &s.dev);
		if (r) {
			fprintf(stderr, "iopf: iommufd_device_open(%s): %s\n", name, strerror(-r));
			goto out;
		}
		s.idev_id = (uint32_t)iommufd_device_get_id(s.dev);
	}
	s.reqs = calloc(s.batch, sizeof(*s.reqs));
	s.resp = calloc(s.batch, sizeof(*s.resp));
	if (!s.reqs || !s.resp || setup_queue_hwpt(&s))
		goto out;

	/* Signals only interrupt the wait, so none is lost between the check
	 * of @stop and it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);

	for (;;) {
		struct pollfd p = { .fd = iommufd_fault_queue_get_fd(s.q), .events = POLLIN };
		struct timespec ts = { MOCK_WAIT_MS / 1000, 0 };

		if (stop || (s.mock ? s.groups >= s.nfaults : count && s.groups >= count))
			break;
		if (s.mock && mock_feed(&s))
			goto out;
		r = ppoll(&p, 1, s.mock ? &ts : NULL, &orig);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "iopf: poll: %s\n", strerror(errno));
			goto out;
		}
		if (r == 0) {
			fprintf(stderr, "iopf: %u faults injected, %" PRIu64 " served, and nothing more came in %d ms\n",
				s.injected, s.groups, MOCK_WAIT_MS);
			goto out;
		}
		/* Drain: the library may hold requests it read ahead, which
		 * the fd does not poll for. */
		while ((r = serve_batch(&s)) > 0 && !(count && !s.mock && s.groups >= count))
			;
		if (r < 0)
			goto out;
	}

	{
		struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };

		iommufd_fault_queue_get_stats(s.q, &st);
		printf("iopf: served %" PRIu64 " groups (%" PRIu64 " requests): %" PRIu64 " SUCCESS (%" PRIu64
		       " pages mapped, %" PRIu64 " already mapped), %" PRIu64 " INVALID (%" PRIu64
		       " outside the window, %" PRIu64 " map failed); %" PRIu64 " read(2) calls, %" PRIu64 " lost\n",
		       s.groups, s.requests, s.success, s.mapped, s.present, s.invalid, s.outside, s.map_failed,
		       st.reads, st.lost);
	}
	rc = EXIT_OK;
	if (s.mock && !mock_verify(&s))
		rc = EXIT_FAIL;
out:
	if (!teardown(&s) && rc == EXIT_OK)
		rc = EXIT_FAIL;
	if (s.mock)
		printf("iopf: %s\n", rc == EXIT_OK ? (unsupported ? "PASS (unsupported, refused the documented way)" : "PASS") :
				      rc == EXIT_UNSUPPORTED ? "SKIP" : "FAIL");
	return rc;
}
