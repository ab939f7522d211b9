/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mdma_dma: DMA through an mdma mediated device opened by its UUID.
 *
 * The mdev path end to end on every backend: the instance opens by UUID,
 * looks like what VFIO says it is (one 4 KiB register region, no mmap, no
 * interrupts), and its engine copies between IOVAs of the IOAS (the kernel's
 * vfio_dma_rw()), including across pages and mappings, from a mapping made
 * before the device attached (TYPE1 replays those), and from hugetlbfs
 * memory.  Copies that touch an IOVA that is not mapped, or not mapped
 * writable, fail with the FAULT status and write nothing.  PIN/FILL write
 * through pinned pages (vfio_pin_pages()); reset and close release the pins.
 */
#include "mdma.h"

#define SZ_64K 0x10000ull

static void check_device(struct iommufd_device *dev, const char *uuid)
{
	struct iommufd_region_info ri;
	char path[128], target[PATH_MAX];
	void *addr = NULL;
	size_t len = 0;
	uint64_t v = 0;
	ssize_t n;
	int grp = -1;

	CHECK(!strcmp(iommufd_device_get_name(dev) ? iommufd_device_get_name(dev) : "", uuid),
	      "device name is the UUID %s", uuid);
	CHECK_RET(iommufd_device_get_num_regions(dev), 1, "one region");
	CHECK_RET(iommufd_device_get_region_info(dev, 0, &ri), 0, "region 0 info");
	CHECK(!(ri.flags & IOMMUFD_REGION_F_MMAP), "region 0 cannot be mmapped");
	CHECK_RET(iommufd_device_get_region_info(dev, 1, &ri), -EINVAL, "region 1 does not exist");
	CHECK_RET(iommufd_device_map_region(dev, 0, &addr, &len), -EOPNOTSUPP,
		  "mapping region 0 is refused (use region read/write)");
	CHECK_RET(iommufd_device_get_irq_count(dev, IOMMUFD_IRQ_INTX), 0, "no interrupts");
	CHECK_RET(iommufd_device_region_read(dev, 0, MDMA_REGION_SIZE - 4, &v, 8), -EINVAL,
		  "a read past the end of the region");
	/* Reads of any width: the ID register byte by byte. */
	{
		uint8_t b[4] = { 0 };

		CHECK(iommufd_device_region_read(dev, 0, MDMA_REG_ID, b, 4) == 0 && b[0] == 'M' && b[1] == 'D' &&
			      b[2] == 'M' && b[3] == 'A',
		      "the ID register's bytes read \"MDMA\"");
	}

	/* The group: what sysfs says the instance's (emulated) IOMMU group is. */
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		grp = atoi(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
	}
	itest_note("%s: sysfs iommu_group %d, library reports %d", uuid, grp, iommufd_device_get_group(dev));
	CHECK(grp >= 0 ? iommufd_device_get_group(dev) == grp : iommufd_device_get_group(dev) == -ENOENT,
	      "the device's group (%d) matches sysfs (%d)", iommufd_device_get_group(dev), grp);
}

/* Open @name (another spelling of instance @uuid), copy a page, close. */
static void open_form(struct iommufd_ioas *ioas, const char *uuid, const char *name, const char *what, uint8_t *buf,
		      uint64_t iova, unsigned int seed)
{
	struct iommufd_device *dev = NULL;
	uint64_t st;

	if (!CHECK_RET(iommufd_device_open(ioas, name, NULL, &dev), 0, "open by %s: %s", what, name))
		return;
	CHECK(!strcmp(iommufd_device_get_name(dev) ? iommufd_device_get_name(dev) : "", uuid),
	      "%s: the device's name is the UUID (%s)", what, iommufd_device_get_name(dev));
	itest_fill(buf, SZ_4K, seed);
	st = mdma_copy(dev, iova, iova + SZ_4K, SZ_4K);
	CHECK(mdma_ok(st) && itest_pat_diff(buf + SZ_4K, SZ_4K, seed) < 0, "%s: COPY works (status %s)", what,
	      mdma_status_str(st));
	CHECK_RET(iommufd_device_destroy(dev), 0, "%s: destroy", what);
}

/* Every way the API names an mdev: sysfs path, upper-case UUID, cdev node,
 * and the adopt functions of the backend. */
static void open_forms(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, const char *uuid)
{
	uint8_t *buf = itest_alloc(2 * SZ_4K, SZ_4K);
	uint64_t iova = itest_map(ioas, buf, 2 * SZ_4K, 0, "2 pages for the open forms");
	char name[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
	struct iommufd_device *dev = NULL;
	ssize_t n;
	int fd, r;

	snprintf(name, sizeof(name), "/sys/bus/mdev/devices/%s", uuid);
	open_form(ioas, uuid, name, "sysfs path", buf, iova, 20);
	snprintf(name, sizeof(name), "/sys/bus/mdev/devices/%s/", uuid);
	open_form(ioas, uuid, name, "sysfs path with a trailing slash", buf, iova, 21);
	snprintf(name, sizeof(name), "%s", uuid);
	for (char *p = name; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	open_form(ioas, uuid, name, "upper-case UUID", buf, iova, 22);

	if (itest_is_cdev(ctx)) {
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/vfio-dev", uuid);
		name[0] = '\0';
		d = opendir(path);
		while (d && (de = readdir(d)))
			if (!strncmp(de->d_name, "vfio", 4))
				snprintf(name, sizeof(name), "/dev/vfio/devices/%.64s", de->d_name);
		if (d)
			closedir(d);
		if (CHECK(name[0], "cdev: the instance has a cdev (%s)", name)) {
			open_form(ioas, uuid, name, "cdev node", buf, iova, 23);
			fd = open(name, O_RDWR | O_CLOEXEC);
			r = fd < 0 ? -errno : iommufd_device_adopt_cdev_fd(ioas, fd, NULL, &dev);
			if (CHECK_RET(r, 0, "cdev: adopt an open %s", name)) {
				CHECK(!strcmp(iommufd_device_get_name(dev), uuid), "cdev: adopted device is named %s", uuid);
				CHECK(mdma_ok(mdma_copy(dev, iova, iova + SZ_4K, SZ_4K)), "cdev: the adopted device copies");
				CHECK_RET(iommufd_device_destroy(dev), 0, "cdev: destroy the adopted device");
			} else if (fd >= 0) {
				close(fd);
			}
		}
	} else {
		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
		n = readlink(path, target, sizeof(target) - 1);
		if (CHECK(n > 0, "%s: the instance has an IOMMU group", iommufd_backend_name(iommufd_ctx_get_backend(ctx)))) {
			target[n] = '\0';
			snprintf(name, sizeof(name), "/dev/vfio/%s", strrchr(target, '/') + 1);
			fd = open(name, O_RDWR | O_CLOEXEC);
			r = fd < 0 ? -errno : iommufd_device_adopt_group_fd(ioas, fd, uuid, NULL, &dev);
			if (CHECK_RET(r, 0, "adopt an open %s for %s", name, uuid)) {
				CHECK(mdma_ok(mdma_copy(dev, iova, iova + SZ_4K, SZ_4K)), "the device of the adopted group copies");
				CHECK_RET(iommufd_device_destroy(dev), 0, "destroy it");
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	itest_unmap(ioas, iova, 2 * SZ_4K, "the open-forms pages");
	itest_free(buf, 2 * SZ_4K);
}

int main(void)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev;
	char a[40], b[40];
	uint8_t *early, *src, *dst, *ro, *half, *big_s, *big_d, *huge = NULL;
	uint64_t early_iova, src_iova, dst_iova, ro_iova, half_iova, hole, big_s_iova, big_d_iova, st;
	uint64_t copies0, bytes0, faults0, opens0;
	long long sys_pinned0;
	long d;

	itest_start("mdma_dma");
	mdma_uuids(a, b);
	ctx = itest_ctx();
	if (mdma_refused_without_iommu(ctx, a)) {
		iommufd_ctx_destroy(ctx);
		return itest_finish();
	}
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");

	/* A mapping made before any device: TYPE1 records it and makes it
	 * when the first device attaches; the others map it at once. */
	early = itest_alloc(SZ_64K, SZ_4K);
	early_iova = itest_map(ioas, early, SZ_64K, 0, "64 KiB mapped before the device opens");

	dev = mdma_open(ioas, a);
	check_device(dev, a);
	itest_print_ranges(ioas, "IOAS with an mdma attached");
	sys_pinned0 = mdma_sysfs(NULL, "pinned_pages");
	CHECK(sys_pinned0 == 0, "no pinned pages in any instance at the start (parent pinned_pages %lld)", sys_pinned0);
	copies0 = mdma_rd(dev, MDMA_REG_COPIES);
	bytes0 = mdma_rd(dev, MDMA_REG_BYTES);
	faults0 = mdma_rd(dev, MDMA_REG_FAULTS);
	opens0 = mdma_rd(dev, MDMA_REG_OPENS);
	CHECK(opens0 >= 1 && (long long)opens0 == mdma_sysfs(a, "opens"), "OPENS register (%" PRIu64
	      ") matches sysfs", opens0);
	CHECK(mdma_rd(dev, MDMA_REG_STATUS) == 0 && mdma_rd(dev, MDMA_REG_SRC) == 0, "registers start cleared");

	/* 1. A 64 KiB copy between two mappings. */
	src = itest_alloc(SZ_64K, SZ_4K);
	dst = itest_alloc(SZ_64K, SZ_4K);
	src_iova = itest_map(ioas, src, SZ_64K, 0, "64 KiB source");
	dst_iova = itest_map(ioas, dst, SZ_64K, 0, "64 KiB destination");
	itest_fill(src, SZ_64K, 1);
	st = mdma_copy(dev, src_iova, dst_iova, SZ_64K);
	CHECK_MDMA_OK(st, "COPY 64 KiB IOVA 0x%" PRIx64 " -> 0x%" PRIx64 " (status %s)", src_iova, dst_iova,
		      mdma_status_str(st));
	d = itest_pat_diff(dst, SZ_64K, 1);
	CHECK(d < 0, "the destination holds the source's bytes (first difference at %ld)", d);
	CHECK(mdma_rd(dev, MDMA_REG_COPIES) == copies0 + 1 && mdma_rd(dev, MDMA_REG_BYTES) == bytes0 + SZ_64K,
	      "COPIES +1, BYTES +64 KiB");
	CHECK(mdma_rd(dev, MDMA_REG_ERROR) == 0, "ERROR is 0 after a good copy");

	/* 2. Unaligned, crossing pages on both sides, into the middle of
	 * the destination: exactly those bytes change. */
	memset(dst, 0xee, SZ_64K);
	st = mdma_copy(dev, src_iova + 123, dst_iova + 4000, 9000);
	CHECK_MDMA_OK(st, "unaligned COPY of 9000 bytes across pages (status %s)", mdma_status_str(st));
	CHECK(!memcmp(dst + 4000, src + 123, 9000) && itest_byte_diff(dst, 4000, 0xee) < 0 &&
		      itest_byte_diff(dst + 13000, SZ_64K - 13000, 0xee) < 0,
	      "bytes 4000..12999 of the destination are the source's 123..9122, the rest untouched");

	/* 3. Overlapping source and destination inside one mapping: memmove. */
	itest_fill(src, SZ_64K, 2);
	{
		uint8_t *want = malloc(SZ_64K);

		REQUIRE(want != NULL, "malloc");
		memcpy(want, src, SZ_64K);
		memmove(want + 100, want, 20000);
		st = mdma_copy(dev, src_iova, src_iova + 100, 20000);
		CHECK(mdma_ok(st) && !memcmp(src, want, SZ_64K), "an overlapping COPY moves like memmove (status %s)",
		      mdma_status_str(st));
		free(want);
	}

	/* 4. From the mapping made before the device attached. */
	itest_fill(early, SZ_64K, 3);
	st = mdma_copy(dev, early_iova, dst_iova, SZ_64K);
	CHECK(mdma_ok(st) && itest_pat_diff(dst, SZ_64K, 3) < 0,
	      "COPY from the mapping made before the device opened (status %s)", mdma_status_str(st));

	/* 5. The largest copy, 1 MiB, between 2 MiB-aligned buffers. */
	big_s = itest_alloc(MDMA_MAX_COPY, SZ_2M);
	big_d = itest_alloc(MDMA_MAX_COPY, SZ_2M);
	big_s_iova = itest_map(ioas, big_s, MDMA_MAX_COPY, 0, "1 MiB source");
	big_d_iova = itest_map(ioas, big_d, MDMA_MAX_COPY, 0, "1 MiB destination");
	itest_fill(big_s, MDMA_MAX_COPY, 4);
	st = mdma_copy(dev, big_s_iova, big_d_iova, MDMA_MAX_COPY);
	CHECK(mdma_ok(st) && itest_pat_diff(big_d, MDMA_MAX_COPY, 4) < 0, "COPY of 1 MiB (status %s)",
	      mdma_status_str(st));
	st = mdma_copy(dev, big_s_iova, big_d_iova, MDMA_MAX_COPY + 1);
	CHECK((st & MDMA_STATUS_INVALID) && (st & MDMA_STATUS_ERROR) && !(st & MDMA_STATUS_DONE),
	      "COPY of 1 MiB + 1 is INVALID (status %s)", mdma_status_str(st));
	st = mdma_copy(dev, src_iova, dst_iova, 0);
	CHECK((st & MDMA_STATUS_INVALID), "COPY of 0 bytes is INVALID (status %s)", mdma_status_str(st));
	st = mdma_cmd(dev, 0x77, 0, 0, 0);
	CHECK((st & MDMA_STATUS_INVALID) && mdma_rd(dev, MDMA_REG_CMD) == 0x77, "an unknown command is INVALID");

	/* 6. hugetlbfs memory as the source. */
	huge = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (CHECK(huge != MAP_FAILED, "a 2 MiB hugetlbfs page (mmap MAP_HUGETLB: %s)",
		  huge == MAP_FAILED ? strerror(errno) : "ok")) {
		uint64_t huge_iova = itest_map(ioas, huge, SZ_2M, 0, "2 MiB hugetlbfs page");

		itest_fill(huge, SZ_2M, 5);
		st = mdma_copy(dev, huge_iova + SZ_2M - SZ_64K, dst_iova, SZ_64K);
		CHECK(mdma_ok(st) && !memcmp(dst, huge + SZ_2M - SZ_64K, SZ_64K),
		      "COPY from the end of a hugetlbfs page (status %s)", mdma_status_str(st));
		itest_unmap(ioas, huge_iova, SZ_2M, "hugetlbfs page");
		munmap(huge, SZ_2M);
	}

	/* 7. Faults: nothing is written.  An unmapped destination; an
	 * unmapped source; a destination half mapped, half not. */
	hole = itest_free_iova(ioas, 0x40000000, ~0ull, 4 * SZ_4K, SZ_64K);
	REQUIRE(hole != 0, "found 4 free pages of IOVA for the fault cases");
	memset(dst, 0x11, SZ_64K);
	itest_fill(src, SZ_64K, 6);
	st = mdma_copy(dev, src_iova, hole, SZ_4K);
	CHECK_MDMA_FAULT(st, "COPY to unmapped IOVA 0x%" PRIx64 " faults (status %s)", hole, mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_ERROR) != 0, "ERROR holds an errno (%" PRIu64 ")", mdma_rd(dev, MDMA_REG_ERROR));
	st = mdma_copy(dev, hole, dst_iova, SZ_4K);
	CHECK(mdma_faulted(st) && itest_byte_diff(dst, SZ_64K, 0x11) < 0,
	      "COPY from an unmapped IOVA faults and leaves the destination alone (status %s)", mdma_status_str(st));
	half = itest_alloc(2 * SZ_4K, SZ_4K);
	half_iova = itest_map_fixed(ioas, half, 2 * SZ_4K, hole, "2 pages before 2 unmapped ones");
	memset(half, 0x22, 2 * SZ_4K);
	st = mdma_copy(dev, src_iova, half_iova + SZ_4K, 2 * SZ_4K);
	CHECK(mdma_faulted(st) && itest_byte_diff(half, 2 * SZ_4K, 0x22) < 0,
	      "COPY into a half-mapped range faults and writes nothing, not even the mapped half (status %s)",
	      mdma_status_str(st));
	st = mdma_copy(dev, src_iova, half_iova + 2 * SZ_4K - 10, 10);
	CHECK(mdma_ok(st) && !memcmp(half + 2 * SZ_4K - 10, src, 10), "COPY ending exactly at the mapping's end works");

	/* A read-only mapping: a fine source, a faulting destination. */
	ro = itest_alloc(SZ_4K, SZ_4K);
	memset(ro, 0x33, SZ_4K);
	{
		struct iommufd_map_opts o = { .sz = sizeof(o) };

		REQUIRE_RET(iommufd_ioas_map(ioas, ro, SZ_4K, IOMMUFD_MAP_READ, &o, &ro_iova), 0,
			    "map a page read-only");
	}
	st = mdma_copy(dev, src_iova, ro_iova, 64);
	CHECK(mdma_faulted(st) && itest_byte_diff(ro, SZ_4K, 0x33) < 0,
	      "COPY into a read-only mapping faults and writes nothing (status %s)", mdma_status_str(st));
	st = mdma_copy(dev, ro_iova, dst_iova, 64);
	CHECK(mdma_ok(st) && itest_byte_diff(dst, 64, 0x33) < 0, "COPY from a read-only mapping works (status %s)",
	      mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_FAULTS) == faults0 + 4, "FAULTS counted the 4 faulting copies (%" PRIu64 ")",
	      mdma_rd(dev, MDMA_REG_FAULTS) - faults0);

	/* 8. PIN and FILL through the pinned pages. */
	memset(dst, 0, SZ_64K);
	st = mdma_pin(dev, dst_iova + 100, SZ_4K);
	CHECK_MDMA_OK(st, "PIN 4 KiB at an unaligned IOVA: 2 pages (status %s)", mdma_status_str(st));
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 2 && mdma_rd(dev, MDMA_REG_PIN_RANGES) == 1 &&
		      mdma_sysfs(a, "pinned_pages") == 2 && mdma_sysfs(NULL, "pinned_pages") == sys_pinned0 + 2,
	      "2 pages pinned in 1 range (registers, instance and parent sysfs)");
	st = mdma_fill(dev, dst_iova + 50, 2 * SZ_4K - 60, 0x5a);
	CHECK(mdma_ok(st) && itest_byte_diff(dst + 50, 2 * SZ_4K - 60, 0x5a) < 0 && itest_byte_diff(dst, 50, 0) < 0 &&
		      itest_byte_diff(dst + 2 * SZ_4K - 10, 10, 0) < 0,
	      "FILL through the pinned pages writes exactly its range (status %s)", mdma_status_str(st));
	st = mdma_fill(dev, dst_iova + 2 * SZ_4K, 16, 0x5b);
	CHECK(mdma_faulted(st) && itest_byte_diff(dst + 2 * SZ_4K, 16, 0) < 0,
	      "FILL outside the pinned pages faults (status %s)", mdma_status_str(st));
	st = mdma_pin(dev, src_iova, 513 * SZ_4K);
	CHECK(st & MDMA_STATUS_INVALID, "PIN of 513 pages is INVALID (status %s)", mdma_status_str(st));
	st = mdma_pin(dev, hole + 2 * SZ_4K, SZ_4K);
	CHECK_MDMA_FAULT(st, "PIN of an unmapped IOVA faults (status %s)", mdma_status_str(st));
	st = mdma_pin(dev, ro_iova, SZ_4K);
	CHECK_MDMA_FAULT(st, "PIN (for writing) of a read-only mapping faults (status %s)", mdma_status_str(st));
	st = mdma_cmd(dev, MDMA_CMD_UNPIN, dst_iova + SZ_4K, 0, 0);
	CHECK(mdma_ok(st) && mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0, "UNPIN by an IOVA inside the range");
	st = mdma_cmd(dev, MDMA_CMD_UNPIN, dst_iova, 0, 0);
	CHECK(st & MDMA_STATUS_INVALID, "UNPIN with nothing pinned there is INVALID");
	for (int i = 0; i < MDMA_MAX_PINS; i++)
		mdma_pin(dev, src_iova + (uint64_t)(i % 16) * SZ_4K, SZ_4K);
	CHECK(mdma_rd(dev, MDMA_REG_PIN_RANGES) == MDMA_MAX_PINS, "%d ranges held", MDMA_MAX_PINS);
	st = mdma_pin(dev, src_iova, SZ_4K);
	CHECK(st & MDMA_STATUS_INVALID, "one more PIN is refused (status %s)", mdma_status_str(st));
	/* Pins are released by a reset too. */
	CHECK_RET(iommufd_device_reset(dev), 0, "iommufd_device_reset");
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0 && mdma_rd(dev, MDMA_REG_PIN_RANGES) == 0 &&
		      mdma_rd(dev, MDMA_REG_STATUS) == 0 && mdma_rd(dev, MDMA_REG_LEN) == 0,
	      "reset released the pins and cleared the registers");
	CHECK(mdma_sysfs(NULL, "pinned_pages") == sys_pinned0, "parent pinned_pages back to %lld", sys_pinned0);

	/* Pins held at close are released by the close. */
	st = mdma_pin(dev, dst_iova, 4 * SZ_4K);
	CHECK(mdma_ok(st) && mdma_sysfs(a, "pinned_pages") == 4, "4 pages pinned before close");
	CHECK_RET(iommufd_device_destroy(dev), 0, "destroy the device with pages pinned");
	CHECK(mdma_sysfs(a, "pinned_pages") == 0 && mdma_sysfs(NULL, "pinned_pages") == sys_pinned0,
	      "the close released them (instance %lld, parent %lld)", mdma_sysfs(a, "pinned_pages"),
	      mdma_sysfs(NULL, "pinned_pages"));

	/* Reopen: a fresh open, counters kept. */
	dev = mdma_open(ioas, a);
	CHECK(mdma_rd(dev, MDMA_REG_OPENS) == opens0 + 1, "OPENS counts the reopen");
	itest_fill(src, SZ_4K, 7);
	st = mdma_copy(dev, src_iova, dst_iova, SZ_4K);
	CHECK(mdma_ok(st) && itest_pat_diff(dst, SZ_4K, 7) < 0, "COPY after the reopen");

	CHECK_RET(iommufd_device_destroy(dev), 0, "destroy %s before the open forms", a);
	open_forms(ctx, ioas, a);
	dev = mdma_open(ioas, a);

	/* The second instance works the same in the same IOAS. */
	{
		struct iommufd_device *dev_b = mdma_open(ioas, b);

		itest_fill(src, SZ_4K, 8);
		st = mdma_copy(dev_b, src_iova, dst_iova + SZ_4K, SZ_4K);
		CHECK(mdma_ok(st) && itest_pat_diff(dst + SZ_4K, SZ_4K, 8) < 0, "instance %s copies in the same IOAS", b);
		CHECK_RET(iommufd_device_destroy(dev_b), 0, "destroy %s", b);
	}

	CHECK_RET(iommufd_device_destroy(dev), 0, "destroy %s", a);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	CHECK(mdma_sysfs(NULL, "pinned_pages") == 0 && mdma_sysfs(NULL, "open_instances") == 0,
	      "at the end: nothing pinned, no instance open");
	itest_free(early, SZ_64K);
	itest_free(src, SZ_64K);
	itest_free(dst, SZ_64K);
	itest_free(big_s, MDMA_MAX_COPY);
	itest_free(big_d, MDMA_MAX_COPY);
	itest_free(half, 2 * SZ_4K);
	itest_free(ro, SZ_4K);
	return itest_finish();
}
