/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * map_handles: DMA maps as handles (iommufd_map_create / get_* / destroy).
 *
 * A handle reports the IOVA, length, address, flags and IOAS of its mapping,
 * the same as a lookup finds; the device does DMA through the handle's IOVA;
 * after iommufd_map_destroy() the IOVA no longer finds, and a device write
 * there is blocked.  A read-only handle lets the device read but not write.
 * The getters' answers on NULL are the documented ones.  Then 1,000 handles
 * are created and destroyed, three times: every one is found at its IOVA
 * while it lives and none afterwards, the allocator hands out the lowest
 * IOVA again, the kernel's pin count (VmPin/VmLck) returns to where it was,
 * and the library's heap does not grow from one round to the next.
 */
#include <malloc.h>

#include "itest.h"

#define P SZ_4K
#define NH 1000
#define SENTINEL 0xc3

static struct iommufd_map *h[NH];

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* One round of NH handles over @pool (NH pages). */
static bool round_of_handles(struct itest_edu *x, struct iommufd_ioas *ioas, uint8_t *pool, int round)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	unsigned int bad_info = 0, not_found = 0, still_found = 0, bad_destroy = 0;
	struct iommufd_map_info info;
	int made = 0, rc = 0;

	for (; made < NH; made++) {
		rc = iommufd_map_create(ioas, pool + (size_t)made * P, P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o,
					&h[made]);
		if (rc)
			break;
	}
	if (!CHECK_RET(rc, 0, "round %d: %d handles created (stopped at %d)", round, NH, made)) {
		while (made-- > 0)
			iommufd_map_destroy(h[made]);
		return false;
	}
	for (int i = 0; i < NH; i++) {
		uint64_t iova = iommufd_map_get_iova(h[i]);

		if (iommufd_ioas_find_iova(ioas, iova, &info) != 0)
			not_found++;
		else if (info.iova != iova || info.len != P || info.vaddr != pool + (size_t)i * P)
			bad_info++;
	}
	CHECK(!not_found && !bad_info, "round %d: all %d mappings are found at their handles' IOVAs (%u missing, %u"
	      " with other details)", round, NH, not_found, bad_info);
	if (round == 0) {
		itest_edu_roundtrip(x, pool, iommufd_map_get_iova(h[0]), EDU_BUF_SIZE, 60, "handle 0 of 1000");
		itest_edu_roundtrip(x, pool + (size_t)(NH / 2) * P, iommufd_map_get_iova(h[NH / 2]), EDU_BUF_SIZE, 61,
				    "handle 500 of 1000");
		itest_edu_roundtrip(x, pool + (size_t)(NH - 1) * P, iommufd_map_get_iova(h[NH - 1]), EDU_BUF_SIZE, 62,
				    "handle 999 of 1000");
	}
	{
		uint64_t iovas[NH];

		for (int i = 0; i < NH; i++)
			iovas[i] = iommufd_map_get_iova(h[i]);
		/* Destroy in an order that is neither LIFO nor FIFO. */
		for (int k = 0; k < NH; k++) {
			int i = (k * 7) % NH;

			bad_destroy += iommufd_map_destroy(h[i]) != 0;
			h[i] = NULL;
		}
		for (int i = 0; i < NH; i++)
			still_found += iommufd_ioas_find_iova(ioas, iovas[i], NULL) != -ENOENT;
	}
	CHECK(!bad_destroy, "round %d: all %d destroys return 0 (%u failed)", round, NH, bad_destroy);
	CHECK(!still_found, "round %d: no mapping is left at the %d IOVAs (%u still found)", round, NH, still_found);
	return true;
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_map *m = NULL, *ro = NULL, *bad = (struct iommufd_map *)1;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	struct iommufd_map_info info;
	uint8_t *buf, *rbuf, *v, *pool;
	uint64_t iova, t, v_iova, lowest;
	long pin0, lck0;

	itest_start("map_handles");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");
	lowest = itest_lowest_iova(ioas);

	/* ---- argument checks: -EINVAL, *out untouched */
	buf = itest_alloc(4 * P, P);
	CHECK_RET(iommufd_map_create(ioas, buf, 0, IOMMUFD_MAP_READ, &o, &bad), -EINVAL, "map_create of length 0");
	CHECK_RET(iommufd_map_create(ioas, buf, P, 0, &o, &bad), -EINVAL, "map_create without READ or WRITE");
	CHECK_RET(iommufd_map_create(ioas, buf + 1, P, IOMMUFD_MAP_READ, &o, &bad), -EINVAL,
		  "map_create of an unaligned address");
	CHECK_RET(iommufd_map_create(ioas, buf, P, IOMMUFD_MAP_READ, &o, NULL), -EINVAL, "map_create with out NULL");
	CHECK(bad == (struct iommufd_map *)1, "failed creates leave *out untouched");

	/* ---- one handle */
	REQUIRE_RET(iommufd_map_create(ioas, buf, 4 * P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &m), 0,
		    "iommufd_map_create of 16 KiB");
	iova = iommufd_map_get_iova(m);
	CHECK(iova != 0 && iova != UINT64_MAX && iova + 4 * P - 1 <= EDU_IOVA_MAX,
	      "handle IOVA 0x%" PRIx64 " is nonzero and under iova_max", iova);
	CHECK(iommufd_map_get_len(m) == 4 * P, "handle length 0x%" PRIx64, iommufd_map_get_len(m));
	CHECK(iommufd_map_get_vaddr(m) == buf, "handle vaddr is the buffer");
	CHECK(iommufd_map_get_flags(m) == (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE), "handle flags 0x%x",
	      iommufd_map_get_flags(m));
	CHECK(iommufd_map_get_ioas(m) == ioas, "handle IOAS is the IOAS");
	CHECK(iommufd_ioas_find_iova(ioas, iova + 3 * P + 5, &info) == 0 && info.iova == iova &&
		      info.len == 4 * P && info.vaddr == buf && info.flags == (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE),
	      "find_iova inside the handle's mapping reports the same mapping");
	CHECK(iommufd_ioas_translate(ioas, buf + 2 * P, P, &t) == 0 && t == iova + 2 * P,
	      "translate of the buffer's third page gives the handle IOVA + 2 pages");
	itest_edu_roundtrip(&x, buf, iova, EDU_BUF_SIZE, 50, "through the handle's IOVA");
	itest_edu_roundtrip(&x, buf + 3 * P, iova + 3 * P, EDU_BUF_SIZE, 51, "through the handle's last page");
	CHECK_RET(iommufd_ioas_unmap(ioas, iova, P, NULL), -EINVAL, "a range unmap of part of the handle's mapping");

	/* ---- destroy: gone, and device writes there are blocked */
	v = itest_alloc(P, P);
	v_iova = itest_map(ioas, v, P, EDU_IOVA_MAX, "verification buffer V");
	CHECK_RET(iommufd_map_destroy(m), 0, "iommufd_map_destroy");
	m = NULL;
	CHECK_RET(iommufd_ioas_find_iova(ioas, iova, NULL), -ENOENT, "after destroy the IOVA finds nothing");
	CHECK_RET(iommufd_ioas_translate(ioas, buf, P, &t), -ENOENT, "after destroy the buffer translates to nothing");
	memset(buf, SENTINEL, 4 * P);
	itest_fill(v, P, 52);
	if (!itest_no_isolation(ctx, ioas, iova, "destroyed handle") && itest_dma(&x, v_iova, 0, EDU_BUF_SIZE, 0)) {
		CHECK(itest_dma(&x, iova, 0, EDU_BUF_SIZE, 1), "a DMA write to the destroyed handle's IOVA completes"
		      " on the device side");
		CHECK(itest_byte_diff(buf, 4 * P, SENTINEL) < 0, "that write was blocked: the buffer is unchanged");
	}

	/* ---- a read-only handle: the device reads, its writes are blocked */
	rbuf = itest_alloc(P, P);
	REQUIRE_RET(iommufd_map_create(ioas, rbuf, P, IOMMUFD_MAP_READ, &o, &ro), 0, "read-only handle");
	CHECK(iommufd_map_get_flags(ro) == IOMMUFD_MAP_READ, "its flags are READ only");
	itest_fill(rbuf, P, 53);
	memset(v, 0, P);
	if (itest_dma_copy(&x, iommufd_map_get_iova(ro), v_iova, EDU_BUF_SIZE))
		CHECK(itest_pat_diff(v, P, 53) < 0, "the device reads through the read-only handle");
	itest_fill(v, P, 54);
	/* No IOMMU: the read-only flag binds nothing; the device is not
	 * made to write through it. */
	if (!itest_no_isolation(ctx, NULL, 0, "read-only handle") &&
	    itest_dma_copy(&x, v_iova, iommufd_map_get_iova(ro), EDU_BUF_SIZE))
		CHECK(itest_pat_diff(rbuf, P, 53) < 0, "a device write through the read-only handle is blocked");
	CHECK_RET(iommufd_map_destroy(ro), 0, "destroy the read-only handle");

	/* ---- getters on NULL */
	errno = 0;
	CHECK(iommufd_map_get_iova(NULL) == UINT64_MAX && errno == EINVAL, "get_iova(NULL) = UINT64_MAX, EINVAL");
	errno = 0;
	CHECK(iommufd_map_get_len(NULL) == 0 && errno == EINVAL, "get_len(NULL) = 0, EINVAL");
	errno = 0;
	CHECK(iommufd_map_get_vaddr(NULL) == NULL && errno == EINVAL, "get_vaddr(NULL) = NULL, EINVAL");
	errno = 0;
	CHECK(iommufd_map_get_flags(NULL) == 0 && errno == EINVAL, "get_flags(NULL) = 0, EINVAL");
	errno = 0;
	CHECK(iommufd_map_get_ioas(NULL) == NULL && errno == EINVAL, "get_ioas(NULL) = NULL, EINVAL");
	CHECK_RET(iommufd_map_destroy(NULL), 0, "destroy(NULL) = 0");

	/* ---- 1,000 handles, three rounds */
	pool = itest_alloc((size_t)NH * P, P);
	pin0 = itest_status_kb("VmPin");
	lck0 = itest_status_kb("VmLck");
	itest_note("before: VmPin %ld kB, VmLck %ld kB", pin0, lck0);
	if (round_of_handles(&x, ioas, pool, 0)) {
		size_t heap1 = heap_used(), heap3;

		round_of_handles(&x, ioas, pool, 1);
		round_of_handles(&x, ioas, pool, 2);
		heap3 = heap_used();
		itest_note("heap in use after rounds 1 and 3: %zu, %zu bytes", heap1, heap3);
		CHECK(heap3 <= heap1 + 4096, "the heap does not grow over two more rounds of 1000 handles (%zu -> %zu)",
		      heap1, heap3);
	}
	CHECK(itest_status_kb("VmPin") == pin0 && itest_status_kb("VmLck") == lck0,
	      "pinned memory is back where it was (VmPin %ld kB, VmLck %ld kB)", itest_status_kb("VmPin"),
	      itest_status_kb("VmLck"));

	/* Everything is free again: a new 256 KiB map gets the lowest IOVA
	 * aligned to its size (the library's default from 64 KiB up) that V
	 * leaves free, i.e. the 1000 IOVAs all went back to the allocator. */
	CHECK_RET(iommufd_map_create(ioas, pool, 64 * P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &m), 0,
		  "a 256 KiB handle after the rounds");
	if (m) {
		uint64_t got = iommufd_map_get_iova(m);

		uint64_t a = 64 * P, want = (lowest + a - 1) & ~(a - 1);

		/* V is the only mapping: the lowest fit is the first aligned
		 * slot, or the next one if V lies in it. */
		if (!want)
			want = a;
		if (v_iova >= want && v_iova < want + a)
			want += a;
		CHECK(got == want, "it lands at the lowest fit 0x%" PRIx64 " (got 0x%" PRIx64 "; V at 0x%" PRIx64
		      "): the 1000 IOVAs were all freed", want, got, v_iova);
		itest_edu_roundtrip(&x, pool + 63 * P, got + 63 * P, EDU_BUF_SIZE, 63, "the 256 KiB handle");
		CHECK_RET(iommufd_map_destroy(m), 0, "destroy it");
	}

	itest_unmap(ioas, v_iova, P, "V");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	itest_free(pool, (size_t)NH * P);
	itest_free(buf, 4 * P);
	itest_free(rbuf, P);
	itest_free(v, P);
	return itest_finish();
}
