/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Shared helpers of the integration tests: checks that print one line each
 * ("ok - ..." / "not ok - ..."), the rig's environment, capture of the
 * library's log, the backend check every test makes, memory of the kinds
 * the tests map, and edu DMA round trips.
 *
 * The tests run inside the QEMU guest of tests/vm/run-cell.sh, as root,
 * through the public API only.  Exit 0 = pass, 1 = fail, 77 = skip (only
 * when the program is run outside the rig, where the devices cannot exist).
 */
#ifndef IFD_ITEST_H
#define IFD_ITEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

#include "edu.h"

#define ITEST_SKIP 77
#define ITEST_DMA_TIMEOUT_MS 10000u /* one transfer is ~100 ms of virtual time */
#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull

static unsigned int itest_nchecks, itest_nfailed;
static const char *itest_name = "itest";
static int itest_kmsg_fd = -1; /* /dev/kmsg from the test's start */

/* ------------------------------------------------------------------ checks */

static inline void itest_vline(bool ok, const char *file, int line, const char *fmt, va_list ap)
{
	itest_nchecks++;
	if (!ok)
		itest_nfailed++;
	printf("%s - ", ok ? "ok" : "not ok");
	vprintf(fmt, ap);
	if (!ok)
		printf("  [%s:%d]", file, line);
	printf("\n");
	fflush(stdout);
}

static inline __attribute__((format(printf, 4, 5))) bool itest_check(bool ok, const char *file, int line,
							      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	itest_vline(ok, file, line, fmt, ap);
	va_end(ap);
	return ok;
}

/* A return value against the one expected, printing both on a mismatch. */
static inline __attribute__((format(printf, 5, 6))) bool itest_check_ret(long got, long want, const char *file, int line,
								  const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	bool ok = got == want;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ok)
		return itest_check(true, file, line, "%s", msg);
	return itest_check(false, file, line, "%s: got %ld (%s), want %ld (%s)", msg, got,
			   got < 0 ? strerror((int)-got) : "success", want, want < 0 ? strerror((int)-want) : "success");
}

#define CHECK(cond, ...) itest_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_RET(got, want, ...) itest_check_ret((long)(got), (long)(want), __FILE__, __LINE__, __VA_ARGS__)
/* Like CHECK, but a failure ends the test: later steps depend on it. */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!CHECK(cond, __VA_ARGS__))                                 \
			itest_bail();                                          \
	} while (0)
#define REQUIRE_RET(got, want, ...)                                            \
	do {                                                                   \
		if (!CHECK_RET(got, want, __VA_ARGS__))                        \
			itest_bail();                                          \
	} while (0)

static inline __attribute__((format(printf, 1, 2))) void itest_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/*
 * Kernel records logged since itest_start() that look like a kernel bug
 * (WARN, BUG, oops, RCU stall, lockup, hung task).  The rig boots with "quiet", so such records at
 * KERN_WARNING never reach the console it scans; read them here.  They are
 * printed with the trigger words lower-cased, so that this output is not
 * mistaken for a second report by the rig's console scan.
 */
static inline void itest_check_kmsg(void)
{
	static const char *const bad[] = { "WARNING:", "BUG:", "Oops", "Call Trace", "Kernel panic",
					   "general protection", "cut here", "UBSAN", "KASAN", "detected stalls",
					   "soft lockup", "hard LOCKUP", "blocked for more than" };
	char rec[2048];
	unsigned int hits = 0;
	ssize_t n;

	if (itest_kmsg_fd < 0)
		return;
	while ((n = read(itest_kmsg_fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *msg;
		bool hit = false;

		if (n <= 0)
			continue;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) && !hit; i++)
			hit = strstr(msg, bad[i]) != NULL;
		if (!hit)
			continue;
		if (++hits <= 20) {
			for (char *c = msg; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
			printf("#   kernel (lower-cased): %.300s\n", msg);
		}
	}
	close(itest_kmsg_fd);
	itest_kmsg_fd = -1;
	itest_nchecks++;
	if (hits)
		itest_nfailed++;
	printf("%s - the kernel logged no warning, BUG or oops during the test (%u such records)\n",
	       hits ? "not ok" : "ok", hits);
}

static inline int itest_finish(void)
{
	itest_check_kmsg();
	printf("# %s: %u checks, %u failed: %s\n", itest_name, itest_nchecks, itest_nfailed,
	       itest_nfailed ? "FAIL" : "PASS");
	fflush(stdout);
	return itest_nfailed || !itest_nchecks ? 1 : 0;
}

static inline __attribute__((noreturn)) void itest_bail(void)
{
	printf("# %s: stopping after a failed requirement\n", itest_name);
	itest_nfailed += !itest_nfailed;
	exit(itest_finish());
}

/* ------------------------------------------------------------- environment */

static inline const char *itest_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * A variable the rig sets.  Outside the rig (no IFD_CELL) the devices do not
 * exist, which is the one honest reason to skip; inside it, a missing
 * variable is a rig bug and fails the test.
 */
static inline const char *itest_env_req(const char *name)
{
	const char *v = itest_env(name);

	if (v)
		return v;
	if (!itest_env("IFD_CELL")) {
		printf("# %s: %s is not set: not running inside the VM rig (tests/vm/run-cell.sh); skipping\n",
		       itest_name, name);
		exit(ITEST_SKIP);
	}
	printf("not ok - environment variable %s is set by the rig\n", name);
	itest_nfailed++;
	itest_bail();
}

/*
 * Debian's own kernels (IFD_KERNEL_BUILD=stock: 6.12-auto, 7.3-stock) have no
 * iommufd, no VFIO cdevs and no fault injection; the rig's test kernels
 * (test, compat; 7.3 or 6.12 source) have all three.  IFD_KERNEL is only
 * the version.
 */
static inline bool itest_stock_kernel(void)
{
	return !strcmp(itest_env_req("IFD_KERNEL_BUILD"), "stock");
}

/* The test kernel built with /dev/vfio/vfio as iommufd's compat container
 * (IFD_KERNEL_BUILD=compat: 7.3-compat, 7.3-compat-auto). */
static inline bool itest_compat_container(void)
{
	return !strcmp(itest_env_req("IFD_KERNEL_BUILD"), "compat");
}

/* The two BDFs of IFD_EDU_PAIR ("A B"). */
static inline void itest_pair(char a[32], char b[32])
{
	const char *p = itest_env_req("IFD_EDU_PAIR");

	if (sscanf(p, "%31s %31s", a, b) != 2) {
		printf("not ok - IFD_EDU_PAIR='%s' holds two PCI addresses\n", p);
		itest_nfailed++;
		itest_bail();
	}
}

/* "0000:00:03.0" -> "00:03.0" */
static inline const char *itest_short_bdf(const char *bdf)
{
	return strlen(bdf) == 12 ? bdf + 5 : bdf;
}

static inline void itest_start(const char *name)
{
	itest_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	itest_kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (itest_kmsg_fd >= 0)
		lseek(itest_kmsg_fd, 0, SEEK_END);
	itest_note("%s: cell %s, LIBIOMMUFD_BACKEND=%s, IFD_EXPECT_BACKEND=%s, page size %ld", name,
		   itest_env("IFD_CELL") ? itest_env("IFD_CELL") : "(none)",
		   itest_env("LIBIOMMUFD_BACKEND") ? itest_env("LIBIOMMUFD_BACKEND") : "(unset)",
		   itest_env("IFD_EXPECT_BACKEND") ? itest_env("IFD_EXPECT_BACKEND") : "(unset)",
		   sysconf(_SC_PAGESIZE));
}

/* ------------------------------------------------------------- log capture */

#define ITEST_LOG_LINES 256
struct itest_log {
	char line[ITEST_LOG_LINES][512];
	int level[ITEST_LOG_LINES];
	unsigned int n; /* total seen; the newest ITEST_LOG_LINES are kept */
};

static struct itest_log itest_log_buf;

static inline void itest_log_fn(void *data, int level, const char *msg)
{
	struct itest_log *l = data;
	unsigned int i = l->n++ % ITEST_LOG_LINES;

	snprintf(l->line[i], sizeof(l->line[i]), "%s", msg);
	l->level[i] = level;
	/* Errors and warnings always; everything with LIBIOMMUFD_DEBUG, or in
	 * a build with -DITEST_VERBOSE (the rig unsets LIBIOMMUFD_DEBUG). */
#ifdef ITEST_VERBOSE
	if (true)
#else
	if (level <= IOMMUFD_LOG_WARNING || itest_env("LIBIOMMUFD_DEBUG"))
#endif
		printf("#   libiommufd[%d]: %s\n", level, msg);
}

static inline void itest_log_clear(void)
{
	itest_log_buf.n = 0;
}

/* Does a captured line (since the last clear) contain @a and, if given, @b? */
static inline bool itest_log_has(const char *a, const char *b)
{
	unsigned int first = itest_log_buf.n > ITEST_LOG_LINES ? itest_log_buf.n - ITEST_LOG_LINES : 0;

	for (unsigned int k = first; k < itest_log_buf.n; k++) {
		const char *s = itest_log_buf.line[k % ITEST_LOG_LINES];

		if (strstr(s, a) && (!b || strstr(s, b)))
			return true;
	}
	return false;
}

/* Like itest_log_has(), ignoring case (log wording may capitalise). */
static inline bool itest_log_has_icase(const char *a, const char *b)
{
	unsigned int first = itest_log_buf.n > ITEST_LOG_LINES ? itest_log_buf.n - ITEST_LOG_LINES : 0;

	for (unsigned int k = first; k < itest_log_buf.n; k++) {
		const char *s = itest_log_buf.line[k % ITEST_LOG_LINES];

		if (strcasestr(s, a) && (!b || strcasestr(s, b)))
			return true;
	}
	return false;
}

static inline struct iommufd_ctx_opts itest_ctx_opts(void)
{
	struct iommufd_ctx_opts o = {
		.sz = sizeof(o),
		.backend = IOMMUFD_BACKEND_AUTO,
		.log_fn = itest_log_fn,
		.log_data = &itest_log_buf,
		.log_level = IOMMUFD_LOG_DEBUG,
	};
	return o;
}

/* ----------------------------------------------------------------- backend */

static inline enum iommufd_backend itest_expected_backend(void)
{
	const char *e = itest_env("IFD_EXPECT_BACKEND");

	if (!e)
		return IOMMUFD_BACKEND_AUTO;
	if (!strcmp(e, "cdev"))
		return IOMMUFD_BACKEND_CDEV;
	if (!strcmp(e, "group"))
		return IOMMUFD_BACKEND_GROUP;
	if (!strcmp(e, "type1"))
		return IOMMUFD_BACKEND_TYPE1;
	if (!strcmp(e, "noiommu"))
		return IOMMUFD_BACKEND_NOIOMMU;
	printf("not ok - IFD_EXPECT_BACKEND='%s' is one of cdev, group, type1, noiommu\n", e);
	itest_nfailed++;
	itest_bail();
}

/* Every test: the context drives the backend the cell expects. */
static inline bool itest_check_backend(struct iommufd_ctx *ctx)
{
	enum iommufd_backend got = iommufd_ctx_get_backend(ctx), want = itest_expected_backend();

	if (want == IOMMUFD_BACKEND_AUTO) {
		itest_note("context backend: %s (IFD_EXPECT_BACKEND unset, not checked)", iommufd_backend_name(got));
		return true;
	}
	return CHECK(got == want, "context backend is %s (IFD_EXPECT_BACKEND=%s)", iommufd_backend_name(got),
		     iommufd_backend_name(want));
}

static inline struct iommufd_ctx *itest_ctx(void)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *ctx = NULL;

	REQUIRE_RET(iommufd_ctx_create(&o, &ctx), 0, "iommufd_ctx_create");
	if (!itest_check_backend(ctx))
		itest_bail();
	return ctx;
}

static inline bool itest_is_cdev(struct iommufd_ctx *ctx)
{
	return iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_CDEV;
}

/* The unsafe no-IOMMU backend: no reserved ranges, no isolation. */
static inline bool itest_is_noiommu(struct iommufd_ctx *ctx)
{
	return iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_NOIOMMU;
}

/* Whether the library moves @dev, open, to another IOAS (CDEV; NOIOMMU on
 * /dev/iommu, where nothing needs reprogramming): its own answer. */
static inline bool itest_can_move(struct iommufd_ctx *ctx, struct iommufd_device *dev)
{
	struct iommufd_feature_status st;

	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	return iommufd_feature_query(ctx, dev, IOMMUFD_FEATURE_HWPT_REPLACE, &st) == 1;
}

/*
 * Without an IOMMU nothing blocks a device's DMA: a check that a write is
 * blocked becomes a check that the library says there is no IOMMU (no
 * HWPTs, for the backend) and, for @ioas, gives no bus address for the
 * unmapped @iova, so the test never programs the device with an address
 * it did not get from the library.  True on such a context, where the
 * caller must then leave the DMA out.
 */
static inline bool itest_no_isolation(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, uint64_t iova,
				      const char *what)
{
	struct iommufd_feature_status st;
	struct iommufd_dma_segment seg;

	if (!itest_is_noiommu(ctx))
		return false;
	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	CHECK(iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_HWPT, &st) == 0 &&
	      st.reason == IOMMUFD_REASON_BACKEND,
	      "%s: no IOMMU, so nothing blocks DMA: the library says so (HWPT: %s)", what, st.why);
	if (ioas)
		CHECK_RET(iommufd_ioas_get_bus_addrs(ioas, iova, 1, &seg, 1), -ENOENT,
			  "%s: unmapped IOVA 0x%" PRIx64 " has no bus address to give the device", what, iova);
	return true;
}

/* ------------------------------------------------------------------ memory */

static inline void *itest_mmap_aligned(size_t len, size_t align, int flags, int fd)
{
	size_t total = len + align;
	uint8_t *p, *a;

	p = mmap(NULL, total, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + total)
		munmap(a + len, (size_t)(p + total - (a + len)));
	return a;
}

/* Anonymous private memory, @align aligned (a power of two >= page). */
static inline void *itest_alloc(size_t len, size_t align)
{
	void *p = itest_mmap_aligned(len, align ? align : SZ_4K, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (!p) {
		printf("not ok - mmap of %zu bytes: %s\n", len, strerror(errno));
		itest_nfailed++;
		itest_bail();
	}
	memset(p, 0, len);
	return p;
}

static inline void itest_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

/* ------------------------------------------------------------ IOVA checks */

static inline int itest_ranges(struct iommufd_ioas *ioas, struct iommufd_iova_range *r, size_t max)
{
	int n = iommufd_ioas_get_ranges(ioas, r, max);

	if (n > (int)max)
		n = (int)max;
	return n;
}

static inline bool itest_in_ranges(const struct iommufd_iova_range *r, int n, uint64_t iova, uint64_t len)
{
	uint64_t last = iova + len - 1;

	if (!len || last < iova)
		return false;
	for (int i = 0; i < n; i++)
		if (iova >= r[i].start && last <= r[i].last)
			return true;
	return false;
}

static inline void itest_print_ranges(struct iommufd_ioas *ioas, const char *what)
{
	struct iommufd_iova_range r[32];
	int n = iommufd_ioas_get_ranges(ioas, r, 32);

	itest_note("%s: %d usable IOVA range(s), alignment 0x%" PRIx64, what, n,
		   (uint64_t)iommufd_ioas_get_alignment(ioas));
	for (int i = 0; i < n && i < 32; i++)
		itest_note("  [0x%" PRIx64 ", 0x%" PRIx64 "]", r[i].start, r[i].last);
}

/*
 * Map with a library-chosen IOVA under @iova_max, and check what the API
 * promises about the IOVA: nonzero, aligned, under the limit, inside the
 * usable ranges.
 */
static inline uint64_t itest_map(struct iommufd_ioas *ioas, void *buf, size_t len, uint64_t iova_max, const char *what)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = iova_max };
	struct iommufd_iova_range r[32];
	uint64_t iova = 0;
	int64_t align;
	int n;

	REQUIRE_RET(iommufd_ioas_map(ioas, buf, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova), 0,
		    "map %s (%zu bytes, iova_max 0x%" PRIx64 ")", what, len, iova_max);
	n = itest_ranges(ioas, r, 32);
	align = iommufd_ioas_get_alignment(ioas);
	CHECK(iova != 0 && align > 0 && !(iova & (uint64_t)(align - 1)) &&
		      (!iova_max || iova + len - 1 <= iova_max) && itest_in_ranges(r, n, iova, len),
	      "%s at IOVA 0x%" PRIx64 ": nonzero, %" PRId64 "-aligned, <= 0x%" PRIx64 ", inside the usable ranges",
	      what, iova, align, iova_max);
	return iova;
}

static inline uint64_t itest_map_fixed(struct iommufd_ioas *ioas, void *buf, size_t len, uint64_t iova, const char *what)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = iova };
	uint64_t got = ~0ull;

	REQUIRE_RET(iommufd_ioas_map(ioas, buf, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &o,
				     &got),
		    0, "map %s at fixed IOVA 0x%" PRIx64, what, iova);
	CHECK(got == iova, "fixed map %s reports IOVA 0x%" PRIx64 " (asked 0x%" PRIx64 ")", what, got, iova);
	return got;
}

static inline void itest_unmap(struct iommufd_ioas *ioas, uint64_t iova, size_t len, const char *what)
{
	uint64_t bytes = 0;

	CHECK_RET(iommufd_ioas_unmap(ioas, iova, len, &bytes), 0, "unmap %s at IOVA 0x%" PRIx64, what, iova);
	CHECK(bytes == len, "unmap %s reports %" PRIu64 " bytes unmapped (expected %zu)", what, bytes, len);
}

/*
 * The IOVA the library must choose for a small mapping in an empty IOAS:
 * the lowest aligned address in the usable ranges, never 0 (the API
 * promises "lowest fit ... never IOVA 0").
 */
static inline uint64_t itest_lowest_iova(struct iommufd_ioas *ioas)
{
	struct iommufd_iova_range r[32];
	int n = itest_ranges(ioas, r, 32);
	uint64_t align = (uint64_t)iommufd_ioas_get_alignment(ioas), a;

	if (n < 1)
		return 0;
	a = (r[0].start + align - 1) & ~(align - 1);
	return a ? a : align;
}

/* A page-aligned IOVA inside the ranges, under @max, >= @min, @align-aligned,
 * where nothing of this IOAS is mapped; 0 if none is found. */
static inline uint64_t itest_free_iova(struct iommufd_ioas *ioas, uint64_t min, uint64_t max, uint64_t len, uint64_t align)
{
	struct iommufd_iova_range r[32];
	int n = itest_ranges(ioas, r, 32);

	for (int i = 0; i < n; i++) {
		uint64_t a = r[i].start > min ? r[i].start : min;

		a = (a + align - 1) & ~(align - 1);
		for (; a + len - 1 <= r[i].last && a + len - 1 <= max && a >= min; a += align) {
			bool clash = false;

			for (uint64_t o = 0; o < len && !clash; o += SZ_4K)
				clash = iommufd_ioas_find_iova(ioas, a + o, NULL) == 0;
			if (!clash)
				return a;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- patterns */

static inline uint8_t itest_pat(size_t i, unsigned int seed)
{
	return (uint8_t)((i * 131u + (i >> 8) * 7u + seed * 0x9du + 1u) ^ (seed >> 3));
}

static inline void itest_fill(void *buf, size_t len, unsigned int seed)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = itest_pat(i, seed);
}

/* Index of the first byte that differs from the pattern, or -1. */
static inline long itest_pat_diff(const void *buf, size_t len, unsigned int seed)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i] != itest_pat(i, seed))
			return (long)i;
	return -1;
}

/* Index of the first byte that is not @v, or -1. */
static inline long itest_byte_diff(const void *buf, size_t len, uint8_t v)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return (long)i;
	return -1;
}

/* --------------------------------------------------------------------- edu */

struct itest_edu {
	struct iommufd_device *dev;
	struct edu e;
	char name[64];
};

static inline bool itest_edu_init(struct itest_edu *x, struct iommufd_device *dev, const char *what)
{
	x->dev = dev;
	snprintf(x->name, sizeof(x->name), "%s", what);
	return CHECK_RET(edu_init(&x->e, dev), 0, "%s: BAR0 mapped, edu ID register reads 0x%x, bus master on",
			 what, EDU_ID_VALUE);
}

/* Open @name into @ioas and bring the edu up; a failure ends the test. */
static inline void itest_edu_open(struct itest_edu *x, struct iommufd_ioas *ioas, const char *name)
{
	struct iommufd_device *dev = NULL;

	REQUIRE_RET(iommufd_device_open(ioas, name, NULL, &dev), 0, "open %s", name);
	if (!itest_edu_init(x, dev, name))
		itest_bail();
}

static inline void itest_edu_close(struct itest_edu *x)
{
	if (x->dev)
		CHECK_RET(iommufd_device_destroy(x->dev), 0, "destroy device %s", x->name);
	x->dev = NULL;
}

/* One transfer; @to_ram: edu -> RAM at @iova.  Checked. */
static inline bool itest_dma(struct itest_edu *x, uint64_t iova, uint32_t off, uint32_t len, int to_ram)
{
	int r = edu_dma(&x->e, iova, off, len, to_ram, ITEST_DMA_TIMEOUT_MS);

	if (r == 0)
		return true;
	return CHECK_RET(r, 0, "%s: DMA %s IOVA 0x%" PRIx64 " (%u bytes) completes", x->name,
			 to_ram ? "edu -> RAM at" : "RAM -> edu from", iova, len);
}

/* RAM at @src -> edu buffer -> RAM at @dst (@len <= 4096). */
static inline bool itest_dma_copy(struct itest_edu *x, uint64_t src, uint64_t dst, uint32_t len)
{
	return itest_dma(x, src, 0, len, 0) && itest_dma(x, dst, 0, len, 1);
}

/*
 * The basic proof that a mapping works: pattern into @buf (mapped at
 * @iova), RAM -> edu, clear @buf, edu -> RAM, compare.
 */
static inline bool itest_edu_roundtrip(struct itest_edu *x, void *buf, uint64_t iova, uint32_t len, unsigned int seed,
				const char *what)
{
	long d;

	itest_fill(buf, len, seed);
	if (!itest_dma(x, iova, 0, len, 0))
		return false;
	memset(buf, 0, len);
	if (!itest_dma(x, iova, 0, len, 1))
		return false;
	d = itest_pat_diff(buf, len, seed);
	if (!CHECK(d < 0, "%s: %s: DMA round trip of %u bytes through IOVA 0x%" PRIx64 " returns the pattern", x->name,
		   what, len, iova)) {
		itest_note("  byte %ld is 0x%02x, want 0x%02x", d, ((uint8_t *)buf)[d], itest_pat((size_t)d, seed));
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------- misc */

/*
 * A "Key:   N kB" line of /proc/self/status, in kB; -1 if absent.  VmPin is
 * mm->pinned_vm (iommufd adds every page it pins, whatever the accounting),
 * VmLck is mm->locked_vm (type1 charges it, and iommufd in per-process mode).
 */
static inline long itest_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t kl = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static inline double itest_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Run @fn in a forked child, which counts its own checks and exits 0 when
 * none failed (a failed REQUIRE in it ends the child only).  The parent
 * checks that exit status.  The child leaves /dev/kmsg to the parent.
 */
static inline bool itest_in_child(const char *what, void (*fn)(void *), void *arg)
{
	pid_t pid, w;
	int st = 0;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return CHECK(false, "%s: fork: %s", what, strerror(errno));
	if (pid == 0) {
		static char name[128];

		snprintf(name, sizeof(name), "%s [child: %s]", itest_name, what);
		itest_name = name;
		itest_kmsg_fd = -1;
		itest_nchecks = itest_nfailed = 0;
		fn(arg);
		printf("# %s: %u checks, %u failed\n", itest_name, itest_nchecks, itest_nfailed);
		fflush(NULL);
		_exit(itest_nfailed || !itest_nchecks ? 1 : 0);
	}
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	return CHECK(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the child's checks pass (status 0x%x)",
		     what, st);
}

/* How many of this process's fds point at @path. */
static inline int itest_count_fds(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char link[PATH_MAX], target[PATH_MAX];
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, path))
			n++;
	}
	closedir(d);
	return n;
}

/* The IOMMU group number of PCI device @bdf from sysfs, or -1. */
static inline int itest_sysfs_group(const char *bdf)
{
	char path[128], target[PATH_MAX];
	ssize_t n;
	const char *s;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	s = strrchr(target, '/');
	return atoi(s ? s + 1 : target);
}

/*
 * "/dev/vfio/devices/vfioN" (noiommu-vfioN) for PCI device @bdf, from the vfio-dev entry in
 * sysfs, or "" if there is none.  The sysfs entry exists on kernels without
 * CONFIG_VFIO_DEVICE_CDEV too (6.12 registers the class device with no
 * node): with @need_node, "" unless the character device node exists.
 */
static inline void itest_sysfs_cdev(const char *bdf, char *out, size_t len, bool need_node)
{
	char path[128];
	struct stat st;
	DIR *d;
	struct dirent *de;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return;
	/* Without an IOMMU the kernel names it noiommu-vfioN. */
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4) || !strncmp(de->d_name, "noiommu-vfio", 12)) {
			snprintf(out, len, "/dev/vfio/devices/%.40s", de->d_name);
			break;
		}
	closedir(d);
	if (need_node && out[0] && (stat(out, &st) < 0 || !S_ISCHR(st.st_mode)))
		out[0] = '\0';
}

#endif
