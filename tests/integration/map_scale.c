/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * map_scale: many map/unmap cycles with library-chosen IOVAs over four kinds
 * of memory, with a window of live mappings so the allocator's tree holds
 * many entries and frees land in the middle of it.
 *
 * Kinds: 4 KiB anonymous pages (THP disabled with PR_SET_THP_DISABLE), THP
 * (MADV_HUGEPAGE on a 2 MiB-aligned region; smaps must show huge pages),
 * hugetlbfs 2 MiB pages (a file on /dev/hugepages), memfd (memfd_create +
 * shared mmap).  Sizes vary from one page to 2 MiB;
 * mappings may overlap in memory (the same pages pinned several times).
 * Limits: iova_max 0xffffffff, and EDU_IOVA_MAX on every fourth cycle.
 * Every IOVA is checked: nonzero, aligned, under the limit, inside the
 * usable ranges, not overlapping another live mapping.  After each kind a
 * real edu DMA goes through a mapping of that kind while the window is
 * still full.  Cycle counts and times are printed (information only).
 *
 * IFD_MAP_SCALE_CYCLES overrides the cycles per kind (default 10000).
 */
#include <sys/prctl.h>
#include <sys/statfs.h>

#include "itest.h"

#define WINDOW 64
#define REGION_LEN (16ull << 20)
#define LIMIT_32 0xffffffffull
#define HUGETLBFS_MAGIC_NR 0x958458f6
#define MAX_REPORTED 10 /* individual failure lines per kind */

enum kind { K_ANON, K_THP, K_HUGETLB, K_MEMFD, K_NUM };
static const char *const kind_name[K_NUM] = { "anon 4 KiB", "THP", "hugetlbfs 2 MiB", "memfd" };

struct region {
	uint8_t *base;
	size_t len;
	bool huge; /* 2 MiB-aligned 2 MiB pieces make sense */
};

struct live {
	uint64_t iova, len;
	uint8_t *va;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* A numeric field (in kB) of the /proc/self/smaps entry holding @addr, or -1. */
static long smaps_kb(const void *addr, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long v = -1;
	size_t flen = strlen(field);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && !strncmp(line, field, flen)) {
			v = atol(line + flen);
			break;
		}
	}
	fclose(f);
	return v;
}

static const char *thp_mode(void)
{
	static char mode[128];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	snprintf(mode, sizeof(mode), "unknown");
	if (f) {
		if (fgets(mode, sizeof(mode), f))
			mode[strcspn(mode, "\n")] = '\0';
		fclose(f);
	}
	return mode;
}

static bool region_create(enum kind k, struct region *rg)
{
	int fd;
	void *p;

	rg->len = REGION_LEN;
	rg->huge = k == K_THP || k == K_HUGETLB;
	switch (k) {
	case K_ANON:
		/* Small pages: THP is off for this process while the region is
		 * faulted in and used (prctl, which every kernel has; the rig's
		 * tinyconfig kernel has no madvise(2)). */
		CHECK(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "anon: PR_SET_THP_DISABLE");
		rg->base = itest_alloc(rg->len, SZ_4K);
		memset(rg->base, 1, rg->len);
		CHECK(smaps_kb(rg->base, "AnonHugePages:") == 0, "anon region is backed by small pages");
		return true;
	case K_THP: {
		long kb;
		int r, e;

		rg->base = itest_mmap_aligned(rg->len, SZ_2M, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		if (!CHECK(rg->base != NULL, "THP: mmap 16 MiB"))
			return false;
		r = madvise(rg->base, rg->len, MADV_HUGEPAGE);
		e = errno;
		if (r < 0 && e == ENOSYS)
			itest_note("THP: madvise(2) is not in this kernel (CONFIG_ADVISE_SYSCALLS=n); THP mode: %s",
				   thp_mode());
		else
			CHECK(r == 0, "THP: MADV_HUGEPAGE on a 2 MiB-aligned region (%s)", r ? strerror(e) : "ok");
		memset(rg->base, 1, rg->len);
		/* What matters: the memory really is THP. */
		kb = smaps_kb(rg->base, "AnonHugePages:");
		CHECK(kb > 0, "THP region is backed by transparent huge pages (AnonHugePages: %ld kB, mode %s)", kb,
		      thp_mode());
		return true;
	}
	case K_HUGETLB: {
		char path[] = "/dev/hugepages/ifd-map-scale-XXXXXX";
		struct statfs sfs;

		fd = mkstemp(path);
		if (!CHECK(fd >= 0, "hugetlbfs: create a file on /dev/hugepages (%s)", fd < 0 ? strerror(errno) : "ok"))
			return false;
		unlink(path);
		CHECK(fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC_NR,
		      "/dev/hugepages is a hugetlbfs mount");
		if (!CHECK(ftruncate(fd, (off_t)rg->len) == 0, "hugetlbfs: ftruncate to 16 MiB")) {
			close(fd);
			return false;
		}
		p = mmap(NULL, rg->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (!CHECK(p != MAP_FAILED, "hugetlbfs: mmap 16 MiB (%s)", p == MAP_FAILED ? strerror(errno) : "ok"))
			return false;
		rg->base = p;
		memset(rg->base, 1, rg->len);
		CHECK(smaps_kb(rg->base, "KernelPageSize:") == 2048, "hugetlbfs region uses 2 MiB pages");
		return true;
	}
	case K_MEMFD:
		fd = memfd_create("ifd-map-scale", MFD_CLOEXEC);
		if (!CHECK(fd >= 0, "memfd_create (%s)", fd < 0 ? strerror(errno) : "ok"))
			return false;
		if (!CHECK(ftruncate(fd, (off_t)rg->len) == 0, "memfd: ftruncate to 16 MiB")) {
			close(fd);
			return false;
		}
		p = mmap(NULL, rg->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (!CHECK(p != MAP_FAILED, "memfd: shared mmap of 16 MiB"))
			return false;
		rg->base = p;
		memset(rg->base, 1, rg->len);
		return true;
	default:
		return false;
	}
}

/* Pick a size and an offset for one mapping of @rg. */
static void pick(const struct region *rg, uint64_t *off, uint64_t *len)
{
	unsigned int c = (unsigned int)(rnd() % 16);

	if (c == 0) {
		*len = SZ_2M;
		*off = (rnd() % (rg->len / SZ_2M)) * SZ_2M;
		if (!rg->huge && (rnd() & 1)) /* unaligned 2 MiB too, for small-page memory */
			*off = (rnd() % ((rg->len - SZ_2M) / SZ_4K)) * SZ_4K;
		return;
	}
	if (c <= 3)
		*len = (16 + rnd() % 113) * SZ_4K; /* 64 KiB .. 512 KiB */
	else
		*len = (1 + rnd() % 16) * SZ_4K;
	*off = (rnd() % ((rg->len - *len) / SZ_4K + 1)) * SZ_4K;
}

static void run_kind(enum kind k, struct iommufd_ioas *ioas, struct itest_edu *x, unsigned long cycles)
{
	struct iommufd_iova_range r[32];
	struct region rg = { 0 };
	struct live live[WINDOW];
	unsigned int nlive = 0, bad = 0, unmap_bad = 0, lookups_bad = 0, big = 0, limited = 0;
	uint64_t align = (uint64_t)iommufd_ioas_get_alignment(ioas), lowest = UINT64_MAX, highest = 0;
	double t0, dt;
	int n;

	itest_note("---- %s", kind_name[k]);
	rng_state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)k << 32);
	if (!region_create(k, &rg))
		return;
	n = itest_ranges(ioas, r, 32);

	t0 = itest_now();
	for (unsigned long c = 0; c < cycles; c++) {
		struct iommufd_map_opts o = { .sz = sizeof(o) };
		uint64_t off, len, iova = 0, last;
		bool ok;
		int ret;

		if (nlive == WINDOW) {
			unsigned int i = (unsigned int)(rnd() % nlive);

			ret = iommufd_ioas_unmap(ioas, live[i].iova, live[i].len, NULL);
			if (ret && ++unmap_bad <= MAX_REPORTED)
				CHECK_RET(ret, 0, "%s cycle %lu: unmap IOVA 0x%" PRIx64 " len 0x%" PRIx64, kind_name[k], c,
					  live[i].iova, live[i].len);
			live[i] = live[--nlive];
		}
		pick(&rg, &off, &len);
		o.iova_max = (c % 4 == 3) ? EDU_IOVA_MAX : LIMIT_32;
		limited += o.iova_max == EDU_IOVA_MAX;
		big += len == SZ_2M;
		ret = iommufd_ioas_map(ioas, rg.base + off, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova);
		if (ret) {
			if (++bad <= MAX_REPORTED)
				CHECK_RET(ret, 0, "%s cycle %lu: map 0x%" PRIx64 " bytes at offset 0x%" PRIx64 " (%u live)",
					  kind_name[k], c, len, off, nlive);
			continue;
		}
		last = iova + len - 1;
		ok = iova && !(iova & (align - 1)) && last <= o.iova_max && itest_in_ranges(r, n, iova, len);
		/* 2 MiB of 2 MiB-aligned memory gets a 2 MiB-aligned IOVA. */
		if (len == SZ_2M && !((uintptr_t)(rg.base + off) & (SZ_2M - 1)))
			ok = ok && !(iova & (SZ_2M - 1));
		for (unsigned int i = 0; i < nlive && ok; i++)
			ok = last < live[i].iova || iova > live[i].iova + live[i].len - 1;
		if (!ok && ++bad <= MAX_REPORTED)
			CHECK(false, "%s cycle %lu: IOVA 0x%" PRIx64 "+0x%" PRIx64 " (limit 0x%" PRIx64
			      ") is nonzero, aligned, under the limit, in range, disjoint from %u live maps",
			      kind_name[k], c, iova, len, o.iova_max, nlive);
		if (iova < lowest)
			lowest = iova;
		if (last > highest)
			highest = last;
		live[nlive++] = (struct live){ iova, len, rg.base + off };

		if (c % 97 == 0) {
			struct iommufd_map_info info;
			unsigned int i = (unsigned int)(rnd() % nlive);

			ret = iommufd_ioas_find_iova(ioas, live[i].iova + live[i].len / 2, &info);
			if ((ret || info.iova != live[i].iova || info.len != live[i].len || info.vaddr != live[i].va) &&
			    ++lookups_bad <= MAX_REPORTED)
				CHECK(false, "%s cycle %lu: find_iova in the middle of IOVA 0x%" PRIx64
				      " reports that mapping", kind_name[k], c, live[i].iova);
		}
	}
	dt = itest_now() - t0;

	CHECK(bad == 0, "%s: %lu map cycles (%u of 2 MiB, %u under the edu limit), every IOVA valid (%u bad)",
	      kind_name[k], cycles, big, limited, bad);
	CHECK(unmap_bad == 0, "%s: every unmap succeeded (%u failed)", kind_name[k], unmap_bad);
	CHECK(lookups_bad == 0, "%s: find_iova agreed with the maps (%u wrong)", kind_name[k], lookups_bad);
	itest_note("%s: %lu cycles in %.2f s, %.1f us per map+unmap; IOVAs used 0x%" PRIx64 "..0x%" PRIx64,
		   kind_name[k], cycles, dt, cycles ? dt * 1e6 / (double)cycles : 0.0, lowest, highest);

	/* Real DMA through a mapping of this kind while the window is full:
	 * a whole 2 MiB piece (one huge page for the huge kinds). */
	{
		uint8_t *p = rg.base + rg.len - SZ_2M;
		uint64_t iova = itest_map(ioas, p, SZ_2M, EDU_IOVA_MAX, "2 MiB for the DMA check");

		itest_edu_roundtrip(x, p, iova, EDU_BUF_SIZE, 40 + k, kind_name[k]);
		itest_edu_roundtrip(x, p + SZ_2M - SZ_4K, iova + SZ_2M - SZ_4K, EDU_BUF_SIZE, 50 + k, kind_name[k]);
		itest_unmap(ioas, iova, SZ_2M, "DMA check mapping");
	}

	/* All live lookups right, then unmap half one by one, the rest at once. */
	{
		unsigned int wrong = 0, keep = nlive / 2, failed = 0;
		int all;

		for (unsigned int i = 0; i < nlive; i++) {
			struct iommufd_map_info info;

			if (iommufd_ioas_find_iova(ioas, live[i].iova, &info) || info.len != live[i].len)
				wrong++;
		}
		CHECK(wrong == 0, "%s: all %u live mappings are found", kind_name[k], nlive);
		while (nlive > keep) {
			nlive--;
			failed += iommufd_ioas_unmap(ioas, live[nlive].iova, live[nlive].len, NULL) != 0;
		}
		CHECK(failed == 0, "%s: unmapped half of the window one by one", kind_name[k]);
		all = iommufd_ioas_unmap_all(ioas);
		CHECK_RET(all, (long)keep, "%s: unmap_all removes the other %u", kind_name[k], keep);
		CHECK_RET(iommufd_ioas_find_iova(ioas, live[0].iova, NULL), -ENOENT, "%s: nothing is left",
			  kind_name[k]);
	}

	/* No IOVA leaked: an empty IOAS hands out its lowest IOVA again. */
	{
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
		uint64_t iova = 0, want = itest_lowest_iova(ioas);

		if (CHECK_RET(iommufd_ioas_map(ioas, rg.base, SZ_4K, IOMMUFD_MAP_READ, &o, &iova), 0,
			      "%s: map one page after the cycles", kind_name[k])) {
			CHECK(iova == want, "%s: it gets the lowest IOVA 0x%" PRIx64 " (got 0x%" PRIx64
			      "): every IOVA went back to the allocator", kind_name[k], want, iova);
			itest_unmap(ioas, iova, SZ_4K, "that page");
		}
	}
	munmap(rg.base, rg.len);
	if (k == K_ANON)
		CHECK(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0) == 0, "anon: THP allowed again");
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	unsigned long cycles = 10000;
	const char *c;

	itest_start("map_scale");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	c = itest_env("IFD_MAP_SCALE_CYCLES");
	if (c)
		cycles = strtoul(c, NULL, 0);
	itest_note("%lu cycles per memory kind, window of %d live mappings", cycles, WINDOW);

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");

	for (int k = 0; k < K_NUM; k++)
		run_kind((enum kind)k, ioas, &x, cycles);

	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
