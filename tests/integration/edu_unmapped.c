/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * edu_unmapped: a device write to an IOVA with no mapping must be blocked
 * by the IOMMU and reported.
 *
 * Two cases, each a DMA edu -> RAM while the edu buffer holds a known
 * pattern:
 *   1. an IOVA that was never mapped (inside the usable ranges and under
 *      the edu's 28-bit limit, reserved so nothing is mapped there meanwhile);
 *   2. an IOVA that was mapped, used by the device (so the IOTLB held it),
 *      then unmapped: the old memory must not receive the write.
 * Each time: sentinel-filled memory (mapped at another IOVA, and the old
 * buffer) is unchanged, and the guest kernel logs a DMAR fault naming the
 * device, read from /dev/kmsg with a bounded poll (the fault is reported
 * asynchronously).  Afterwards DMA through a mapped IOVA still works.
 */
#include <poll.h>

#include "itest.h"

#define SENTINEL 0xa5
#define FAULT_DEADLINE_S 20.0

/* /dev/kmsg positioned at its end: only records logged after this count. */
static int kmsg_open_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (!CHECK(fd >= 0, "open /dev/kmsg (%s)", fd >= 0 ? "ok" : strerror(errno)))
		return -1;
	if (!CHECK(lseek(fd, 0, SEEK_END) >= 0, "lseek /dev/kmsg to its end")) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool is_fault_record(const char *msg, const char *bdf)
{
	char short_form[32];

	/* 7.3 prints the domain ("[0000:00:03.0]"); older kernels did not. */
	snprintf(short_form, sizeof(short_form), "[%s]", itest_short_bdf(bdf));
	if (strstr(msg, "DMAR") && strstr(msg, "fault") && (strstr(msg, bdf) || strstr(msg, short_form)))
		return true;
	/* virtio-iommu names the endpoint by its ID, the PCI requester ID
	 * (bus << 8 | devfn): "mapping fault from EP 24 at 0x..." */
	{
		unsigned int dom, bus, dev, fn;
		char ep[48];

		if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
			return false;
		snprintf(ep, sizeof(ep), "fault from EP %u ", bus << 8 | dev << 3 | fn);
		return strstr(msg, ep) != NULL;
	}
}

/*
 * Read records until one is a DMAR fault for @bdf or the deadline passes.
 * Prints the DMAR lines it sees (as comments).
 */
static bool wait_fault(int fd, const char *bdf, char *found, size_t found_len)
{
	double deadline = itest_now() + FAULT_DEADLINE_S;
	char rec[2048];

	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);

		if (n > 0) {
			char *msg = memchr(rec, ';', (size_t)n);

			rec[n] = '\0';
			msg = msg ? msg + 1 : rec;
			msg[strcspn(msg, "\n")] = '\0';
			/* Echo only the IOMMU's lines: the rig scans the
			 * console for kernel warnings, and re-printing other
			 * records would fake or duplicate them. */
			if (strstr(msg, "DMAR") || strstr(msg, "fault from EP"))
				itest_note("  kmsg: %s", msg);
			if (is_fault_record(msg, bdf)) {
				snprintf(found, found_len, "%s", msg);
				return true;
			}
			continue;
		}
		if (n < 0 && errno == EPIPE)
			continue; /* records were overwritten; keep reading */
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			CHECK(false, "read /dev/kmsg: %s", strerror(errno));
			return false;
		}
		double left = deadline - itest_now();

		if (left <= 0)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		poll(&p, 1, (int)(left * 1000) + 1);
	}
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_iova_range r[32];
	uint8_t *src, *sent, *old;
	uint64_t src_iova, sent_iova, hole, old_iova;
	char fault[2048];
	int kfd, n;

	itest_start("edu_unmapped");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS");

	/* src loads the edu buffer with a pattern; sent is sentinel memory
	 * mapped at its own IOVA. */
	src = itest_alloc(SZ_4K, SZ_4K);
	sent = itest_alloc(SZ_4K, SZ_4K);
	src_iova = itest_map(ioas, src, SZ_4K, EDU_IOVA_MAX, "pattern source");
	sent_iova = itest_map(ioas, sent, SZ_4K, EDU_IOVA_MAX, "sentinel buffer");
	itest_edu_roundtrip(&x, src, src_iova, EDU_BUF_SIZE, 7, "pattern source works");

	/* ---- 1. never mapped */
	hole = itest_free_iova(ioas, 0x04000000, EDU_IOVA_MAX, SZ_4K, SZ_4K);
	n = itest_ranges(ioas, r, 32);
	REQUIRE(hole && itest_in_ranges(r, n, hole, SZ_4K) && hole + SZ_4K - 1 <= EDU_IOVA_MAX,
		"IOVA 0x%" PRIx64 " is unmapped, inside the usable ranges and under the edu limit", hole);
	CHECK_RET(iommufd_ioas_reserve(ioas, hole, SZ_4K), 0, "reserve the hole so nothing gets mapped there");
	CHECK_RET(iommufd_ioas_find_iova(ioas, hole, NULL), -ENOENT, "nothing is mapped at the hole");

	itest_fill(src, SZ_4K, 8);
	memset(sent, SENTINEL, SZ_4K);
	itest_dma(&x, src_iova, 0, EDU_BUF_SIZE, 0); /* edu buffer = pattern 8 */
	kfd = itest_no_isolation(ctx, ioas, hole, "never mapped") ? -1 : kmsg_open_end();
	if (kfd >= 0) {
		CHECK(itest_dma(&x, hole, 0, EDU_BUF_SIZE, 1), "DMA edu -> unmapped IOVA 0x%" PRIx64
		      " completes on the device side", hole);
		bool got = wait_fault(kfd, edu_bdf, fault, sizeof(fault));

		CHECK(got, "kernel logs a DMAR fault for %s within %.0f s", edu_bdf, FAULT_DEADLINE_S);
		if (got)
			itest_note("fault record: %s", fault);
		close(kfd);
	}
	CHECK(itest_byte_diff(sent, SZ_4K, SENTINEL) < 0, "sentinel memory mapped at 0x%" PRIx64 " is unchanged",
	      sent_iova);
	CHECK(itest_pat_diff(src, SZ_4K, 8) < 0, "the pattern source is unchanged");
	CHECK_RET(iommufd_ioas_unreserve(ioas, hole, SZ_4K), 0, "unreserve the hole");

	/* ---- 2. mapped, used, unmapped */
	old = itest_alloc(SZ_4K, SZ_4K);
	old_iova = itest_map(ioas, old, SZ_4K, EDU_IOVA_MAX, "buffer to be unmapped");
	itest_edu_roundtrip(&x, old, old_iova, EDU_BUF_SIZE, 9, "before unmap");
	itest_unmap(ioas, old_iova, SZ_4K, "that buffer");
	memset(old, SENTINEL, SZ_4K);
	memset(sent, SENTINEL, SZ_4K);
	itest_fill(src, SZ_4K, 10);
	itest_dma(&x, src_iova, 0, EDU_BUF_SIZE, 0); /* edu buffer = pattern 10 */
	CHECK_RET(iommufd_ioas_find_iova(ioas, old_iova, NULL), -ENOENT, "IOVA 0x%" PRIx64 " is unmapped", old_iova);
	CHECK_RET(iommufd_ioas_reserve(ioas, old_iova, SZ_4K), 0, "reserve the old IOVA");
	kfd = itest_no_isolation(ctx, ioas, old_iova, "recently unmapped") ? -1 : kmsg_open_end();
	if (kfd >= 0) {
		CHECK(itest_dma(&x, old_iova, 0, EDU_BUF_SIZE, 1), "DMA edu -> unmapped IOVA 0x%" PRIx64
		      " completes on the device side", old_iova);
		bool got = wait_fault(kfd, edu_bdf, fault, sizeof(fault));

		/* QEMU's virtio-iommu drops fault reports once the guest's
		 * event buffers are used up by the first DMA's fault storm
		 * ("no buffer available in event queue"): there the log is
		 * best effort, and what proves the block is the unchanged
		 * buffer checked below. */
		if (!got && itest_env("IFD_IOMMU") && !strcmp(itest_env("IFD_IOMMU"), "virtio"))
			itest_note("no fault logged for the second DMA: virtio-iommu's event queue drops reports");
		else
			CHECK(got, "kernel logs a DMAR fault for %s within %.0f s (recently unmapped IOVA)", edu_bdf,
			      FAULT_DEADLINE_S);
		if (got)
			itest_note("fault record: %s", fault);
		close(kfd);
	}
	CHECK(itest_byte_diff(old, SZ_4K, SENTINEL) < 0, "the unmapped buffer did not receive the write");
	CHECK(itest_byte_diff(sent, SZ_4K, SENTINEL) < 0, "sentinel memory is unchanged");
	CHECK_RET(iommufd_ioas_unreserve(ioas, old_iova, SZ_4K), 0, "unreserve the old IOVA");

	/* ---- after the faults the device still works */
	itest_edu_roundtrip(&x, sent, sent_iova, EDU_BUF_SIZE, 11, "after the faults, mapped IOVA");
	{
		uint64_t again = itest_map(ioas, old, SZ_4K, EDU_IOVA_MAX, "the old buffer, mapped again");

		itest_edu_roundtrip(&x, old, again, EDU_BUF_SIZE, 12, "after the faults, a new mapping");
		itest_unmap(ioas, again, SZ_4K, "old buffer");
	}

	itest_unmap(ioas, src_iova, SZ_4K, "pattern source");
	itest_unmap(ioas, sent_iova, SZ_4K, "sentinel buffer");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
