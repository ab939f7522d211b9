/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * edu_remap: after unmap, the same IOVA mapped to different memory must
 * reach the new memory only.  A missed IOTLB invalidation (in the library's
 * unmap path, the kernel, or the VT-d model with caching-mode=on) shows up
 * here as the device still reading or writing the old pages.
 *
 * Each round: A is mapped at X and the device reads it (which loads the
 * translation X -> A into the IOTLB), X is unmapped, B is mapped at X with
 * IOMMUFD_MAP_FIXED, then
 *   - the device reads X: it must see B's content, not A's;
 *   - the device writes X: B must change and A must be untouched.
 * A verification buffer V at its own IOVA carries data in and out of the
 * edu buffer.  Rounds cover 4 KiB pages, 2 MiB (large-page) mappings, and a
 * 4 KiB mapping placed inside the IOVA range a 2 MiB mapping had; a mapping
 * made before the device attached (type1 replays it) remapped after; and a
 * remap done while the device is closed, seen after it is opened again.
 */
#include "itest.h"

struct round {
	const char *what;
	size_t a_len, b_len; /* mapping sizes of A and B */
	uint64_t b_off;      /* B is mapped at X + b_off */
	uint64_t probe;      /* offset into A's range the device uses; inside B's */
};

static void run_round(struct itest_edu *x, struct iommufd_ioas *ioas, const struct round *rd, uint8_t *v,
		      uint64_t v_iova, unsigned int seed)
{
	uint8_t *a = itest_alloc(rd->a_len, SZ_2M);
	uint8_t *b = itest_alloc(rd->b_len, SZ_2M);
	uint64_t x_iova, pa = rd->probe, pb = rd->probe - rd->b_off;
	long d;

	itest_note("round: %s", rd->what);
	itest_fill(a + pa, EDU_BUF_SIZE, seed);     /* PA */
	itest_fill(b + pb, EDU_BUF_SIZE, seed + 1); /* PB */

	x_iova = itest_map(ioas, a, rd->a_len, EDU_IOVA_MAX, "A");
	if (rd->a_len >= SZ_2M)
		CHECK(!(x_iova & (SZ_2M - 1)), "%s: A's IOVA 0x%" PRIx64 " is 2 MiB aligned", rd->what, x_iova);

	/* The device reads A through X (and caches the translation). */
	memset(v, 0, EDU_BUF_SIZE);
	if (itest_dma_copy(x, x_iova + pa, v_iova, EDU_BUF_SIZE)) {
		d = itest_pat_diff(v, EDU_BUF_SIZE, seed);
		CHECK(d < 0, "%s: device reads A through IOVA 0x%" PRIx64, rd->what, x_iova + pa);
	}

	itest_unmap(ioas, x_iova, rd->a_len, "A");
	itest_map_fixed(ioas, b, rd->b_len, x_iova + rd->b_off, "B");

	/* The device reads X again: B, never A. */
	memset(v, 0, EDU_BUF_SIZE);
	if (itest_dma_copy(x, x_iova + pa, v_iova, EDU_BUF_SIZE)) {
		d = itest_pat_diff(v, EDU_BUF_SIZE, seed + 1);
		if (!CHECK(d < 0, "%s: after the remap the device reads B through IOVA 0x%" PRIx64, rd->what,
			   x_iova + pa))
			itest_note("  read %s", itest_pat_diff(v, EDU_BUF_SIZE, seed) < 0 ? "A's content: stale translation"
											   : "neither A nor B");
	}

	/* The device writes X: B changes, A does not. */
	itest_fill(v, EDU_BUF_SIZE, seed + 2); /* PC */
	if (itest_dma_copy(x, v_iova, x_iova + pa, EDU_BUF_SIZE)) {
		CHECK(itest_pat_diff(b + pb, EDU_BUF_SIZE, seed + 2) < 0, "%s: a device write to IOVA 0x%" PRIx64
		      " lands in B", rd->what, x_iova + pa);
		CHECK(itest_pat_diff(a + pa, EDU_BUF_SIZE, seed) < 0, "%s: A is untouched by the write", rd->what);
		CHECK(itest_byte_diff(a, pa, 0) < 0 && itest_byte_diff(a + pa + EDU_BUF_SIZE,
								 rd->a_len - pa - EDU_BUF_SIZE, 0) < 0,
		      "%s: the rest of A is untouched too", rd->what);
	}

	itest_unmap(ioas, x_iova + rd->b_off, rd->b_len, "B");
	itest_free(a, rd->a_len);
	itest_free(b, rd->b_len);
}

int main(void)
{
	static const struct round rounds[] = {
		{ "4 KiB A, 4 KiB B", SZ_4K, SZ_4K, 0, 0 },
		{ "2 MiB A, 2 MiB B (large pages)", SZ_2M, SZ_2M, 0, 0x155000 },
		{ "2 MiB A, 4 KiB B inside its old range", SZ_2M, SZ_4K, 0x100000, 0x100000 },
		{ "4 KiB A, 4 KiB B, again", SZ_4K, SZ_4K, 0, 0 },
	};
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	uint8_t *v, *a0, *b0;
	uint64_t v_iova, a0_iova;

	itest_start("edu_remap");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");

	/* V and A0 are mapped before the device attaches (on type1 the
	 * library replays them into the container at the attach). */
	v = itest_alloc(SZ_4K, SZ_4K);
	v_iova = itest_map(ioas, v, SZ_4K, EDU_IOVA_MAX, "verification buffer V, before the device");
	a0 = itest_alloc(SZ_4K, SZ_4K);
	b0 = itest_alloc(SZ_4K, SZ_4K);
	itest_fill(a0, SZ_4K, 90);
	itest_fill(b0, SZ_4K, 91);
	a0_iova = itest_map(ioas, a0, SZ_4K, EDU_IOVA_MAX, "A0, before the device");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");
	itest_edu_roundtrip(&x, v, v_iova, EDU_BUF_SIZE, 100, "V");

	itest_note("round: A0 mapped before the device attached, B0 after");
	memset(v, 0, SZ_4K);
	if (itest_dma_copy(&x, a0_iova, v_iova, EDU_BUF_SIZE))
		CHECK(itest_pat_diff(v, SZ_4K, 90) < 0, "the device reads A0, mapped before it attached");
	itest_unmap(ioas, a0_iova, SZ_4K, "A0");
	itest_map_fixed(ioas, b0, SZ_4K, a0_iova, "B0");
	memset(v, 0, SZ_4K);
	if (itest_dma_copy(&x, a0_iova, v_iova, EDU_BUF_SIZE))
		CHECK(itest_pat_diff(v, SZ_4K, 91) < 0, "after the remap the device reads B0, not A0");
	itest_unmap(ioas, a0_iova, SZ_4K, "B0");

	for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++)
		run_round(&x, ioas, &rounds[i], v, v_iova, 10 + 3 * (unsigned int)i);

	/* Many quick remaps of one IOVA, each checked by a device read. */
	{
		enum { N = 8 };
		uint8_t *bufs[N];
		uint64_t at = 0;

		for (int i = 0; i < N; i++) {
			bufs[i] = itest_alloc(SZ_4K, SZ_4K);
			itest_fill(bufs[i], SZ_4K, 200 + (unsigned int)i);
		}
		for (int i = 0; i < N; i++) {
			if (i == 0)
				at = itest_map(ioas, bufs[0], SZ_4K, EDU_IOVA_MAX, "buffer 0");
			else
				itest_map_fixed(ioas, bufs[i], SZ_4K, at, "next buffer");
			memset(v, 0, EDU_BUF_SIZE);
			if (itest_dma_copy(&x, at, v_iova, EDU_BUF_SIZE))
				CHECK(itest_pat_diff(v, EDU_BUF_SIZE, 200 + (unsigned int)i) < 0,
				      "remap %d of IOVA 0x%" PRIx64 ": the device reads buffer %d", i, at, i);
			itest_unmap(ioas, at, SZ_4K, "buffer");
		}
		for (int i = 0; i < N; i++)
			itest_free(bufs[i], SZ_4K);
	}

	/* Remap while no device is attached: A1 at X, device closed, A1
	 * unmapped and B1 mapped at X, device opened again.  The IOAS keeps
	 * its mappings across (type1: recorded, replayed at the next attach);
	 * the device must reach B1 only. */
	{
		uint8_t *a1 = itest_alloc(SZ_4K, SZ_4K), *b1 = itest_alloc(SZ_4K, SZ_4K);
		uint64_t xi;

		itest_note("round: remap while the device is closed");
		itest_fill(a1, SZ_4K, 92);
		itest_fill(b1, SZ_4K, 93);
		xi = itest_map(ioas, a1, SZ_4K, EDU_IOVA_MAX, "A1");
		memset(v, 0, SZ_4K);
		if (itest_dma_copy(&x, xi, v_iova, EDU_BUF_SIZE))
			CHECK(itest_pat_diff(v, SZ_4K, 92) < 0, "the device reads A1");
		itest_edu_close(&x);
		itest_unmap(ioas, xi, SZ_4K, "A1, no device attached");
		itest_map_fixed(ioas, b1, SZ_4K, xi, "B1, no device attached");
		itest_edu_open(&x, ioas, edu_bdf);
		memset(v, 0, SZ_4K);
		if (itest_dma_copy(&x, xi, v_iova, EDU_BUF_SIZE))
			CHECK(itest_pat_diff(v, SZ_4K, 93) < 0, "after reopening, the device reads B1, not A1");
		itest_fill(v, SZ_4K, 94);
		if (itest_dma_copy(&x, v_iova, xi, EDU_BUF_SIZE)) {
			CHECK(itest_pat_diff(b1, SZ_4K, 94) < 0, "a device write to X lands in B1");
			CHECK(itest_pat_diff(a1, SZ_4K, 92) < 0, "A1 is untouched");
		}
		itest_unmap(ioas, xi, SZ_4K, "B1");
		itest_free(a1, SZ_4K);
		itest_free(b1, SZ_4K);
	}

	itest_unmap(ioas, v_iova, SZ_4K, "V");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	itest_free(v, SZ_4K);
	itest_free(a0, SZ_4K);
	itest_free(b0, SZ_4K);
	return itest_finish();
}
