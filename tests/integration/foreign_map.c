/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * foreign_map: a mapping the library did not make (defect 2).
 *
 * The header invites raw ioctls on iommufd_ioas_get_fd().  A raw
 * IOMMU_IOAS_MAP (CDEV/GROUP) or VFIO_IOMMU_MAP_DMA (TYPE1) at exactly the
 * IOVA the library would choose next (found by mapping and unmapping once)
 * used to make every later library-chosen map of that size fail with
 * -EEXIST forever.  Now: ten library maps of that size in a row each land
 * elsewhere, and the device does DMA through them; a smaller one too; the
 * library logs the foreign range; a fixed library map on it gets -EEXIST.
 * The device reads the foreign mapping (it is real), and
 * iommufd_ioas_unmap_all() removes it too, returning only the count of the
 * library's own mappings.
 */
#include <sys/ioctl.h>

#include <linux/vfio.h>

#include "itest.h"

#define P SZ_4K
#define S (4 * P)

/* iommufd's uAPI (include/uapi/linux/iommufd.h), absent from Debian 12's
 * headers; spelled with our own names. */
struct raw_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t reserved;
	uint64_t user_va;
	uint64_t length;
	uint64_t iova;
};
struct raw_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	uint64_t iova;
	uint64_t length;
};
#define RAW_IOMMUFD_TYPE ';'
#define RAW_IOMMU_IOAS_MAP _IO(RAW_IOMMUFD_TYPE, 0x85)
#define RAW_IOMMU_IOAS_UNMAP _IO(RAW_IOMMUFD_TYPE, 0x86)
#define RAW_MAP_FIXED_IOVA (1u << 0)
#define RAW_MAP_WRITEABLE (1u << 1)
#define RAW_MAP_READABLE (1u << 2)

static bool type1;

static int raw_map(struct iommufd_ioas *ioas, void *va, uint64_t len, uint64_t iova)
{
	int fd = iommufd_ioas_get_fd(ioas);

	if (type1) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)va,
			.iova = iova,
			.size = len,
		};

		return ioctl(fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
	}
	struct raw_ioas_map m = {
		.size = sizeof(m),
		.flags = RAW_MAP_FIXED_IOVA | RAW_MAP_WRITEABLE | RAW_MAP_READABLE,
		.ioas_id = (uint32_t)iommufd_ioas_get_id(ioas),
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return ioctl(fd, RAW_IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

/* Raw unmap of [iova, iova+len): bytes the kernel unmapped, or -errno. */
static long long raw_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len)
{
	int fd = iommufd_ioas_get_fd(ioas);

	if (type1) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };

		return ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : (long long)u.size;
	}
	struct raw_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = (uint32_t)iommufd_ioas_get_id(ioas), .iova = iova, .length = len
	};

	return ioctl(fd, RAW_IOMMU_IOAS_UNMAP, &u) ? -errno : (long long)u.length;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	uint8_t *probe, *f, *bufs[10], *v, *small;
	uint64_t low, iova, v_iova, si;
	char hex[32];
	int rc;

	itest_start("foreign_map");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	type1 = iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_TYPE1;
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");
	REQUIRE(iommufd_ioas_get_fd(ioas) >= 0, "iommufd_ioas_get_fd gives an fd (%d)", iommufd_ioas_get_fd(ioas));

	/* The IOVA the library picks next for this size. */
	probe = itest_alloc(S, P);
	low = itest_map(ioas, probe, S, EDU_IOVA_MAX, "probe");
	itest_unmap(ioas, low, S, "probe");

	f = itest_alloc(S, P);
	itest_fill(f, S, 110);
	REQUIRE_RET(raw_map(ioas, f, S, low), 0, "raw %s of 16 KiB at IOVA 0x%" PRIx64 " behind the library's back",
		    type1 ? "VFIO_IOMMU_MAP_DMA" : "IOMMU_IOAS_MAP", low);
	v = itest_alloc(P, P);

	/* Ten library maps of that size, one after another. */
	itest_log_clear();
	for (int i = 0; i < 10; i++) {
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };

		bufs[i] = itest_alloc(S, P);
		iova = 0;
		rc = iommufd_ioas_map(ioas, bufs[i], S, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova);
		if (!CHECK_RET(rc, 0, "library map %d of 16 KiB with a foreign mapping at the lowest IOVA", i))
			continue;
		CHECK(!overlaps(iova, S, low, S) && iova + S - 1 <= EDU_IOVA_MAX,
		      "map %d landed at 0x%" PRIx64 ", clear of the foreign range and under the limit", i, iova);
		if (i == 0 || i == 9)
			itest_edu_roundtrip(&x, bufs[i] + P, iova + P, EDU_BUF_SIZE, 111 + (unsigned int)i,
					    i ? "the tenth map" : "the first map");
		itest_unmap(ioas, iova, S, "that map");
	}
	snprintf(hex, sizeof(hex), "0x%" PRIx64, low);
	CHECK(itest_log_has(hex, NULL), "the library logged the foreign range at %s", hex);

	/* A smaller map and a fixed one. */
	small = itest_alloc(P, P);
	{
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
		struct iommufd_map_opts fo = { .sz = sizeof(o), .iova = low + P };

		si = 0;
		CHECK_RET(iommufd_ioas_map(ioas, small, P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &si), 0,
			  "a 4 KiB library map");
		CHECK(!overlaps(si, P, low, S), "it lands at 0x%" PRIx64 ", clear of the foreign range", si);
		iova = 0;
		CHECK_RET(iommufd_ioas_map(ioas, v, P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &fo,
					   &iova),
			  -EEXIST, "a fixed library map inside the foreign range");
	}
	v_iova = itest_map(ioas, v, P, EDU_IOVA_MAX, "verification buffer V");
	CHECK(!overlaps(v_iova, P, low, S), "V lands clear of the foreign range too");

	/* The foreign mapping is real: the device reads F through it. */
	memset(v, 0, P);
	if (itest_is_noiommu(ctx)) {
		struct iommufd_dma_segment seg;
		int n = iommufd_ioas_get_bus_addrs(ioas, low + 2 * P, P, &seg, 1);

		/* Without an IOMMU a device gets only addresses the library
		 * gave, and it gives them for its own mappings only. */
		CHECK(n < 0, "no IOMMU: the library gives no bus address for the foreign mapping (%d), so the "
		      "device is not pointed at it", n);
	} else if (itest_dma_copy(&x, low + 2 * P, v_iova, EDU_BUF_SIZE))
		CHECK(!memcmp(v, f + 2 * P, P),
		      "the device reads the foreign mapping's memory at 0x%" PRIx64, (uint64_t)(low + 2 * P));

	/* unmap_all removes it too, and counts only the library's two. */
	CHECK_RET(iommufd_ioas_unmap_all(ioas), 2, "unmap_all returns the library's mappings (the 4 KiB map and V)");
	{
		long long r = raw_unmap(ioas, low, S);

		if (type1)
			CHECK(r == 0, "a raw unmap of the foreign range then unmaps 0 bytes (got %lld)", r);
		else
			CHECK(r == -ENOENT, "a raw unmap of the foreign range then finds nothing (got %lld)", r);
	}
	{
		uint8_t *w = itest_alloc(P, P);
		uint64_t wi = itest_map(ioas, w, P, EDU_IOVA_MAX, "W after unmap_all");

		if (!overlaps(wi, P, low, S)) {
			itest_fill(w, P, 120);
			memset(f, 0x3c, S);
			if (!itest_no_isolation(ctx, ioas, low, "the old foreign IOVA") &&
			    itest_dma(&x, wi, 0, EDU_BUF_SIZE, 0)) {
				CHECK(itest_dma(&x, low, 0, EDU_BUF_SIZE, 1), "a DMA write to the old foreign IOVA "
				      "completes on the device side");
				CHECK(itest_byte_diff(f, S, 0x3c) < 0, "and is blocked: the foreign memory is unchanged");
			}
		} else {
			itest_note("W landed in the old foreign range at 0x%" PRIx64 ": the blocked-write check is moot",
				   wi);
		}
		itest_edu_roundtrip(&x, w, wi, EDU_BUF_SIZE, 121, "W after unmap_all");
		itest_unmap(ioas, wi, P, "W");
		itest_free(w, P);
	}

	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	for (int i = 0; i < 10; i++)
		itest_free(bufs[i], S);
	itest_free(probe, S);
	itest_free(f, S);
	itest_free(v, P);
	itest_free(small, P);
	return itest_finish();
}
