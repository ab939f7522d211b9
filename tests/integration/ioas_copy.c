/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * ioas_copy: iommufd_ioas_copy() puts memory mapped in IOAS A into IOAS B.
 *
 * IFD_EDU is in A, the first edu of IFD_EDU_PAIR in B.  A 2 MiB buffer is
 * mapped in A; all of it, and then one 8 KiB piece of its middle, are copied
 * into B.  The B device's DMA through the copies' IOVAs reads and writes
 * the buffer (and A's device sees what B's wrote).  Pinning: CDEV/GROUP
 * share the pages A pinned (VmPin does not grow by the copy); TYPE1 has no
 * copy and maps the memory into B's container again, which the header
 * documents as a second charge (VmLck grows by the copy's size).  The copy
 * is an ordinary mapping in B: find_iova, a range unmap, and afterwards
 * B's device is blocked there while A's still works.  On CDEV the A device
 * then moves to B and DMAs through the copy too.  Errors: same IOAS ->
 * -EINVAL; a source range with a hole -> -ENOENT; WRITE from a read-only
 * source -> -EPERM.
 */
#include "itest.h"

#define P SZ_4K
#define LEN SZ_2M
#define PIECE_OFF 0x100000ull
#define PIECE_LEN (2 * P)

int main(void)
{
	struct itest_edu ea = { 0 }, eb = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *A = NULL, *B = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	struct iommufd_map_info info;
	struct iommufd_iova_range r[32];
	uint8_t *buf, *va, *vb, *ro;
	uint64_t a_iova, b_iova = 0, p_iova = 0, va_iova, vb_iova, ro_iova, d = 0, got;
	long pin0, pin1, pin2, lck0, lck1, lck2;
	char pa[32], pb[32];
	bool type1;
	const char *lck = "VmLck"; /* the counter TYPE1 charges */
	int n;

	itest_start("ioas_copy");
	const char *edu_bdf = itest_env_req("IFD_EDU");
	itest_pair(pa, pb);

	ctx = itest_ctx();
	type1 = iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_TYPE1;
	/* The legacy type1 driver charges locked_vm (VmLck); iommufd's compat
	 * container (7.3-compat) charges pinned_vm (VmPin), the same way. */
	if (type1 && !strcmp(itest_env_req("IFD_KERNEL_BUILD"), "compat"))
		lck = "VmPin";
	REQUIRE_RET(iommufd_ioas_create(ctx, &A), 0, "create IOAS A");
	REQUIRE_RET(iommufd_ioas_create(ctx, &B), 0, "create IOAS B");
	itest_edu_open(&ea, A, edu_bdf);
	itest_edu_open(&eb, B, pa);
	itest_print_ranges(A, "IOAS A");
	itest_print_ranges(B, "IOAS B");

	va = itest_alloc(P, P);
	vb = itest_alloc(P, P);
	va_iova = itest_map(A, va, P, EDU_IOVA_MAX, "verification buffer in A");
	vb_iova = itest_map(B, vb, P, EDU_IOVA_MAX, "verification buffer in B");

	buf = itest_alloc(LEN, SZ_2M);
	pin0 = itest_status_kb("VmPin");
	lck0 = itest_status_kb(lck);
	a_iova = itest_map(A, buf, LEN, EDU_IOVA_MAX, "2 MiB buffer in A");
	pin1 = itest_status_kb("VmPin");
	lck1 = itest_status_kb(lck);
	itest_note("map in A: VmPin %ld -> %ld kB, VmLck %ld -> %ld kB", pin0, pin1, lck0, lck1);

	/* ---- errors first: nothing may land in B */
	CHECK_RET(iommufd_ioas_copy(A, A, a_iova, LEN, IOMMUFD_MAP_READ, &o, &d), -EINVAL, "copy into the same IOAS");
	CHECK_RET(iommufd_ioas_copy(B, A, a_iova + LEN - P, 2 * P, IOMMUFD_MAP_READ, &o, &d), -ENOENT,
		  "copy of a range that runs past the source mapping");
	CHECK_RET(iommufd_ioas_copy(B, A, a_iova, LEN, 0, &o, &d), -EINVAL, "copy without READ or WRITE");
	ro = itest_alloc(P, P);
	{
		struct iommufd_map_opts ro_o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };

		REQUIRE_RET(iommufd_ioas_map(A, ro, P, IOMMUFD_MAP_READ, &ro_o, &ro_iova), 0, "read-only map in A");
	}
	CHECK_RET(iommufd_ioas_copy(B, A, ro_iova, P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &d), -EPERM,
		  "a writable copy of a read-only mapping");
	CHECK_RET(iommufd_ioas_copy(B, A, ro_iova, P, IOMMUFD_MAP_READ, &o, &d), 0, "a read-only copy of it");
	if (d) {
		itest_fill(ro, P, 70);
		memset(vb, 0, P);
		if (itest_dma_copy(&eb, d, vb_iova, EDU_BUF_SIZE))
			CHECK(itest_pat_diff(vb, P, 70) < 0, "B's device reads the read-only copy");
		itest_unmap(B, d, P, "the read-only copy");
	}

	/* ---- the whole buffer (the read-only page above is pinned too: measure from here) */
	pin1 = itest_status_kb("VmPin");
	lck1 = itest_status_kb(lck);
	CHECK_RET(iommufd_ioas_copy(B, A, a_iova, LEN, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &b_iova), 0,
		  "copy the 2 MiB buffer from A into B");
	pin2 = itest_status_kb("VmPin");
	lck2 = itest_status_kb(lck);
	itest_note("copy into B at 0x%" PRIx64 ": VmPin %ld -> %ld kB, VmLck %ld -> %ld kB", b_iova, pin1, pin2, lck1,
		   lck2);
	n = itest_ranges(B, r, 32);
	CHECK(b_iova + LEN - 1 <= EDU_IOVA_MAX && itest_in_ranges(r, n, b_iova, LEN),
	      "the copy lies in B's usable ranges and under iova_max");
	CHECK(iommufd_ioas_find_iova(B, b_iova + LEN - 1, &info) == 0 && info.iova == b_iova && info.len == LEN &&
		      info.vaddr == buf,
	      "B finds the copy as one mapping of the buffer");
	if (type1) {
		CHECK(lck1 - lck0 >= (long)(LEN >> 10) && lck2 - lck1 == (long)(LEN >> 10),
		      "TYPE1: the map and the copy each charge 2048 kB to VmLck (%ld, %ld): the documented second pin",
		      lck1 - lck0, lck2 - lck1);
	} else if (pin1 - pin0 >= (long)(LEN >> 10)) {
		CHECK(pin2 == pin1, "CDEV/GROUP: the copy pins nothing more (VmPin %ld -> %ld kB)", pin1, pin2);
		CHECK(lck2 == lck1, "CDEV/GROUP: nor charges VmLck (%ld -> %ld kB)", lck1, lck2);
	} else {
		itest_note("VmPin did not show the map's 2048 kB (%ld -> %ld): the pin check is skipped", pin0, pin1);
	}

	itest_edu_roundtrip(&eb, buf, b_iova, EDU_BUF_SIZE, 71, "B's device through the copy's first page");
	itest_edu_roundtrip(&eb, buf + LEN - P, b_iova + LEN - P, EDU_BUF_SIZE, 72,
			    "B's device through the copy's last page");
	/* B's device writes, A's device reads the same memory. */
	itest_fill(vb, P, 73);
	memset(va, 0, P);
	if (itest_dma_copy(&eb, vb_iova, b_iova + 5 * P, EDU_BUF_SIZE) &&
	    itest_dma_copy(&ea, a_iova + 5 * P, va_iova, EDU_BUF_SIZE))
		CHECK(itest_pat_diff(va, P, 73) < 0 && itest_pat_diff(buf + 5 * P, P, 73) < 0,
		      "B's device wrote the buffer through the copy; A's device reads it through A");

	/* ---- a piece of the middle */
	CHECK_RET(iommufd_ioas_copy(B, A, a_iova + PIECE_OFF, PIECE_LEN, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o,
				    &p_iova),
		  0, "copy 8 KiB from the middle of the buffer into B");
	CHECK(p_iova + PIECE_LEN <= b_iova || p_iova >= b_iova + LEN, "the piece lies beside the first copy");
	CHECK(iommufd_ioas_find_iova(B, p_iova, &info) == 0 && info.vaddr == buf + PIECE_OFF && info.len == PIECE_LEN,
	      "B finds the piece with the address of the buffer's middle");
	itest_edu_roundtrip(&eb, buf + PIECE_OFF + P, p_iova + P, EDU_BUF_SIZE, 74, "B's device through the piece");
	if (!type1)
		CHECK(itest_status_kb("VmPin") == pin2, "the piece pins nothing more either");

	/* ---- CDEV: move A's device to B, DMA through the copy */
	if (itest_can_move(ctx, ea.dev)) {
		CHECK_RET(iommufd_device_attach(ea.dev, B), 0, "%s: move %s to IOAS B",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)), edu_bdf);
		itest_edu_roundtrip(&ea, buf + 7 * P, b_iova + 7 * P, EDU_BUF_SIZE, 75, "moved device through the copy");
		CHECK_RET(iommufd_device_attach(ea.dev, A), 0, "move %s back to IOAS A", edu_bdf);
	} else {
		CHECK_RET(iommufd_device_attach(ea.dev, B), -EOPNOTSUPP, "%s: moving an open device is refused",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	}

	/* ---- unmapping in B leaves A alone */
	lck1 = itest_status_kb(lck); /* TYPE1: the piece above was charged too */
	got = 0;
	CHECK_RET(iommufd_ioas_unmap(B, b_iova, LEN, &got), 0, "range unmap of the copy in B");
	CHECK(got == LEN, "it unmapped 0x%" PRIx64 " bytes", got);
	CHECK_RET(iommufd_ioas_find_iova(B, b_iova, NULL), -ENOENT, "B no longer finds the copy");
	CHECK(iommufd_ioas_find_iova(A, a_iova, &info) == 0 && info.len == LEN, "A still has the buffer");
	if (!type1 && pin1 - pin0 >= (long)(LEN >> 10))
		CHECK(itest_status_kb("VmPin") == pin2, "A still pins it (VmPin %ld kB)", itest_status_kb("VmPin"));
	if (type1)
		CHECK(itest_status_kb(lck) == lck1 - (long)(LEN >> 10),
		      "TYPE1: B's unmap returns B's charge (VmLck %ld kB)", itest_status_kb(lck));
	memset(buf + 9 * P, 0xee, P);
	itest_fill(vb, P, 76);
	if (!itest_no_isolation(ctx, B, b_iova + 9 * P, "the old copy in B") &&
	    itest_dma(&eb, vb_iova, 0, EDU_BUF_SIZE, 0)) {
		CHECK(itest_dma(&eb, b_iova + 9 * P, 0, EDU_BUF_SIZE, 1), "B's device writes to the old copy IOVA");
		CHECK(itest_byte_diff(buf + 9 * P, P, 0xee) < 0, "that write was blocked");
	}
	itest_edu_roundtrip(&ea, buf + 9 * P, a_iova + 9 * P, EDU_BUF_SIZE, 77, "A's device after B's unmap");
	itest_edu_roundtrip(&eb, buf + PIECE_OFF, p_iova, EDU_BUF_SIZE, 78, "the piece in B after the big copy went");

	/* ---- unmapping the source leaves the piece in B working */
	itest_unmap(A, a_iova, LEN, "the buffer in A");
	itest_edu_roundtrip(&eb, buf + PIECE_OFF, p_iova, EDU_BUF_SIZE, 79, "the piece in B after A unmapped the source");
	itest_unmap(B, p_iova, PIECE_LEN, "the piece in B");
	itest_unmap(A, ro_iova, P, "read-only map");
	if (!type1 && pin1 - pin0 >= (long)(LEN >> 10))
		CHECK(itest_status_kb("VmPin") == pin0, "all pins of the buffer are released (VmPin %ld kB, was %ld)",
		      itest_status_kb("VmPin"), pin0);
	if (type1)
		CHECK(itest_status_kb(lck) == lck0, "TYPE1: all charges are returned (VmLck %ld kB, was %ld)",
		      itest_status_kb(lck), lck0);
	itest_unmap(A, va_iova, P, "verification buffer in A");
	itest_unmap(B, vb_iova, P, "verification buffer in B");
	itest_edu_close(&ea);
	itest_edu_close(&eb);
	CHECK_RET(iommufd_ioas_destroy(A), 0, "destroy IOAS A");
	CHECK_RET(iommufd_ioas_destroy(B), 0, "destroy IOAS B");
	iommufd_ctx_destroy(ctx);
	itest_free(buf, LEN);
	itest_free(va, P);
	itest_free(vb, P);
	itest_free(ro, P);
	return itest_finish();
}
