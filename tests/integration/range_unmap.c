/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * range_unmap: iommufd_ioas_unmap() removes every mapping wholly inside a
 * range, as the kernel's IOMMU_IOAS_UNMAP and type1v2 do, and nothing else.
 *
 * Layout (P = 4 KiB, fixed IOVAs from a free window B), mixing the two map
 * calls so that both share one bookkeeping:
 *     M0 [B+0P,  B+1P)  iommufd_ioas_map
 *     M1 [B+1P,  B+3P)  iommufd_map_create      (adjacent to M0 and M2)
 *     M2 [B+3P,  B+4P)  iommufd_ioas_map
 *        [B+4P,  B+6P)  hole
 *     M3 [B+6P,  B+8P)  iommufd_map_create
 *        [B+8P,  B+10P) hole
 *     M4 [B+10P, B+11P) iommufd_ioas_map
 * Checked: a range that would split M1 (either end) -> -EINVAL, the log
 * names M1, and nothing changed (M0 still there, DMA still works: the
 * kernel's iommufd would have unmapped M0 before finding the split); a
 * range over the holes only -> -ENOENT; [B+1P, B+8P) removes M1, M2, M3
 * and reports exactly 5 pages: their IOVAs no longer find or translate and
 * a device write there is blocked, while M0 and M4 still do DMA; a range
 * with unaligned ends removes exactly the mapping inside it; a new mapping
 * at M1's old IOVA survives the destroy of M1's stale handle (which returns
 * 0 and only frees it); iommufd_ioas_unmap_all() removes everything left,
 * returns the count, and blocks DMA.
 */
#include "itest.h"

#define P SZ_4K
#define SENTINEL 0x5a

struct m {
	const char *name;
	uint64_t off, len;     /* in the window, bytes */
	bool handle;           /* made with iommufd_map_create() */
	uint8_t *buf;
	struct iommufd_map *map;
};

static struct m ms[] = {
	{ "M0", 0 * P, 1 * P, false },	{ "M1", 1 * P, 2 * P, true },  { "M2", 3 * P, 1 * P, false },
	{ "M3", 6 * P, 2 * P, true },	{ "M4", 10 * P, 1 * P, false },
};
#define NM (sizeof(ms) / sizeof(ms[0]))

static bool mapped_at(struct iommufd_ioas *ioas, uint64_t iova, const void *vaddr)
{
	uint64_t t = 0;

	return iommufd_ioas_find_iova(ioas, iova, NULL) == 0 && iommufd_ioas_translate(ioas, vaddr, 1, &t) == 0 &&
	       t == iova;
}

static bool gone_at(struct iommufd_ioas *ioas, uint64_t iova, const void *vaddr)
{
	uint64_t t = 0;

	return iommufd_ioas_find_iova(ioas, iova, NULL) == -ENOENT &&
	       iommufd_ioas_translate(ioas, vaddr, 1, &t) == -ENOENT;
}

/*
 * A device write of @seed's pattern (loaded into the edu from V) to @iova
 * must not reach @buf, which holds SENTINEL.
 */
static void check_blocked(struct itest_edu *x, uint8_t *v, uint64_t v_iova, uint64_t iova, uint8_t *buf,
			  size_t len, unsigned int seed, const char *what)
{
	struct iommufd_ioas *ioas = iommufd_device_get_ioas(x->dev);

	if (itest_no_isolation(iommufd_ioas_get_ctx(ioas), ioas, iova, what))
		return;
	itest_fill(v, EDU_BUF_SIZE, seed);
	memset(buf, SENTINEL, len);
	if (!itest_dma(x, v_iova, 0, EDU_BUF_SIZE, 0))
		return;
	CHECK(itest_dma(x, iova, 0, EDU_BUF_SIZE, 1), "%s: a DMA write to unmapped IOVA 0x%" PRIx64
	      " completes on the device side", what, iova);
	CHECK(itest_byte_diff(buf, len, SENTINEL) < 0, "%s: the write to IOVA 0x%" PRIx64
	      " was blocked (memory that was mapped there is unchanged)", what, iova);
}

static void map_all(struct iommufd_ioas *ioas, uint64_t base, const char *what)
{
	for (size_t i = 0; i < NM; i++) {
		struct m *m = &ms[i];
		uint64_t iova = base + m->off;

		if (m->handle) {
			struct iommufd_map_opts o = { .sz = sizeof(o), .iova = iova };

			m->map = NULL;
			REQUIRE_RET(iommufd_map_create(ioas, m->buf, m->len,
						       IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &o,
						       &m->map),
				    0, "%s: iommufd_map_create %s at 0x%" PRIx64, what, m->name, iova);
			CHECK(iommufd_map_get_iova(m->map) == iova && iommufd_map_get_len(m->map) == m->len,
			      "%s: handle of %s says IOVA 0x%" PRIx64 ", 0x%" PRIx64 " bytes", what, m->name,
			      iommufd_map_get_iova(m->map), iommufd_map_get_len(m->map));
		} else {
			itest_map_fixed(ioas, m->buf, m->len, iova, m->name);
		}
	}
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	uint8_t *v, *n;
	uint64_t v_iova, base, got, t;
	int rc;

	itest_start("range_unmap");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");
	REQUIRE(iommufd_ioas_get_alignment(ioas) == (int64_t)P, "the IOAS alignment is 4 KiB (the layout needs it)");

	v = itest_alloc(P, P);
	v_iova = itest_map(ioas, v, P, EDU_IOVA_MAX, "verification buffer V");
	base = itest_free_iova(ioas, 0x01000000, EDU_IOVA_MAX, 16 * P, 16 * P);
	REQUIRE(base != 0, "a free 64 KiB window under the edu limit: 0x%" PRIx64, base);
	for (size_t i = 0; i < NM; i++)
		ms[i].buf = itest_alloc(ms[i].len, P);
	map_all(ioas, base, "first layout");
	for (size_t i = 0; i < NM; i++)
		itest_edu_roundtrip(&x, ms[i].buf, base + ms[i].off, EDU_BUF_SIZE, 20 + (unsigned int)i, ms[i].name);

	/* ---- a range that splits M1: refused, nothing changes */
	itest_log_clear();
	got = 12345;
	CHECK_RET(iommufd_ioas_unmap(ioas, base, 2 * P, &got), -EINVAL,
		  "unmap [B, B+2P): covers M0, splits M1 at its middle");
	{
		char hex[32];

		snprintf(hex, sizeof(hex), "0x%" PRIx64, base + ms[1].off);
		CHECK(itest_log_has(hex, NULL), "the log names the split mapping M1 (%s)", hex);
	}
	CHECK(mapped_at(ioas, base, ms[0].buf), "M0 is still mapped after the refused unmap");
	CHECK(mapped_at(ioas, base + ms[1].off, ms[1].buf), "M1 is still mapped after the refused unmap");
	itest_edu_roundtrip(&x, ms[0].buf, base, EDU_BUF_SIZE, 30, "M0 after the refused unmap");
	itest_edu_roundtrip(&x, ms[1].buf, base + ms[1].off, EDU_BUF_SIZE, 31, "M1 after the refused unmap");

	CHECK_RET(iommufd_ioas_unmap(ioas, base + 2 * P, 2 * P, NULL), -EINVAL,
		  "unmap [B+2P, B+4P): splits M1 at its start side, covers M2");
	CHECK(mapped_at(ioas, base + ms[2].off, ms[2].buf), "M2 is still mapped after the refused unmap");
	itest_edu_roundtrip(&x, ms[2].buf, base + ms[2].off, EDU_BUF_SIZE, 32, "M2 after the refused unmap");

	/* ---- a range holding nothing */
	CHECK_RET(iommufd_ioas_unmap(ioas, base + 4 * P, 2 * P, NULL), -ENOENT, "unmap [B+4P, B+6P): a hole");
	CHECK_RET(iommufd_ioas_unmap(ioas, base + 8 * P, 2 * P, NULL), -ENOENT, "unmap [B+8P, B+10P): a hole");
	CHECK_RET(iommufd_ioas_unmap(ioas, base, 0, NULL), -EINVAL, "unmap of length 0");
	CHECK_RET(iommufd_ioas_unmap(ioas, UINT64_MAX - P + 1, 2 * P, NULL), -EINVAL, "unmap of a range that wraps");

	/* ---- M1, M2, M3 wholly inside [B+1P, B+8P) */
	got = 0;
	CHECK_RET(iommufd_ioas_unmap(ioas, base + 1 * P, 7 * P, &got), 0, "unmap [B+1P, B+8P): M1, M2, M3 and a hole");
	CHECK(got == 5 * P, "it reports 0x%" PRIx64 " bytes unmapped (want 0x%llx: M1 + M2 + M3)", got, 5 * P);
	for (size_t i = 1; i <= 3; i++)
		for (uint64_t o = 0; o < ms[i].len; o += P)
			CHECK(gone_at(ioas, base + ms[i].off + o, ms[i].buf + o),
			      "%s page 0x%" PRIx64 " no longer finds or translates", ms[i].name, o);
	CHECK(mapped_at(ioas, base, ms[0].buf) && mapped_at(ioas, base + ms[4].off, ms[4].buf),
	      "M0 and M4 are still mapped");
	check_blocked(&x, v, v_iova, base + ms[1].off, ms[1].buf, ms[1].len, 40, "M1 unmapped");
	check_blocked(&x, v, v_iova, base + ms[3].off + P, ms[3].buf, ms[3].len, 41, "M3 unmapped");
	itest_edu_roundtrip(&x, ms[0].buf, base, EDU_BUF_SIZE, 42, "M0 beside the unmapped range");
	itest_edu_roundtrip(&x, ms[4].buf, base + ms[4].off, EDU_BUF_SIZE, 43, "M4 beside the unmapped range");

	/* ---- unaligned ends: exactly M4 lies inside */
	got = 0;
	CHECK_RET(iommufd_ioas_unmap(ioas, base + ms[4].off - 100, P + 300, &got), 0,
		  "unmap [B+10P-100, B+11P+200): unaligned ends around M4");
	CHECK(got == P, "it reports 0x%" PRIx64 " bytes (M4 only)", got);
	CHECK(gone_at(ioas, base + ms[4].off, ms[4].buf), "M4 is gone");
	CHECK(mapped_at(ioas, base, ms[0].buf), "M0 is still mapped");

	/* ---- a stale handle's destroy leaves a new mapping at its IOVA alone */
	n = itest_alloc(2 * P, P);
	itest_map_fixed(ioas, n, 2 * P, base + ms[1].off, "N at M1's old IOVA");
	CHECK_RET(iommufd_map_destroy(ms[1].map), 0, "destroy M1's handle (its mapping was range-unmapped)");
	ms[1].map = NULL;
	CHECK(mapped_at(ioas, base + ms[1].off, n), "N is still mapped after M1's handle is destroyed");
	itest_edu_roundtrip(&x, n, base + ms[1].off, EDU_BUF_SIZE, 44, "N at M1's old IOVA");
	CHECK_RET(iommufd_map_destroy(ms[3].map), 0, "destroy M3's handle (its mapping was range-unmapped)");
	ms[3].map = NULL;

	/* ---- the IOVAs went back to the allocator: the layout maps again */
	{
		struct m *m = &ms[3];
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova = base + m->off };

		REQUIRE_RET(iommufd_map_create(ioas, m->buf, m->len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE |
					       IOMMUFD_MAP_FIXED, &o, &m->map),
			    0, "M3 maps again at its old IOVA");
		itest_edu_roundtrip(&x, m->buf, base + m->off, EDU_BUF_SIZE, 45, "M3 mapped again");
	}
	itest_map_fixed(ioas, ms[2].buf, P, base + ms[2].off, "M2 again");

	/* ---- unmap_all: V, M0, N, M2, M3 */
	CHECK(mapped_at(ioas, v_iova, v), "V is mapped before unmap_all");
	rc = iommufd_ioas_unmap_all(ioas);
	CHECK_RET(rc, 5, "iommufd_ioas_unmap_all returns the number of mappings (V, M0, N, M2, M3)");
	CHECK(gone_at(ioas, v_iova, v) && gone_at(ioas, base, ms[0].buf) && gone_at(ioas, base + ms[1].off, n) &&
		      gone_at(ioas, base + ms[2].off, ms[2].buf) && gone_at(ioas, base + ms[3].off, ms[3].buf),
	      "after unmap_all nothing finds or translates");
	CHECK_RET(iommufd_ioas_unmap(ioas, 0, UINT64_MAX, NULL), -ENOENT, "a range unmap of everything finds nothing");
	CHECK_RET(iommufd_ioas_unmap_all(ioas), 0, "unmap_all of an empty IOAS returns 0");
	CHECK_RET(iommufd_map_destroy(ms[3].map), 0, "destroy M3's handle after unmap_all");
	ms[3].map = NULL;
	CHECK_RET(iommufd_map_destroy(NULL), 0, "iommufd_map_destroy(NULL)");

	/* The device: V's IOVA is gone too, so load the edu from a fresh map,
	 * then write to old M0 and old V: both blocked. */
	{
		uint8_t *w = itest_alloc(P, P);
		uint64_t w_iova = itest_map(ioas, w, P, EDU_IOVA_MAX, "W after unmap_all");

		check_blocked(&x, w, w_iova, base, ms[0].buf, ms[0].len, 46, "M0 after unmap_all");
		if (w_iova != v_iova)
			check_blocked(&x, w, w_iova, v_iova, v, P, 47, "V after unmap_all");
		itest_edu_roundtrip(&x, w, w_iova, EDU_BUF_SIZE, 48, "a new mapping after unmap_all");
		CHECK(iommufd_ioas_translate(ioas, w, P, &t) == 0 && t == w_iova, "W translates to 0x%" PRIx64,
		      w_iova);
		itest_unmap(ioas, w_iova, P, "W");
		itest_free(w, P);
	}

	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	for (size_t i = 0; i < NM; i++)
		itest_free(ms[i].buf, ms[i].len);
	itest_free(n, 2 * P);
	itest_free(v, P);
	return itest_finish();
}
