/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The mdma mediated device (kernel/drivers/vfio-mdma/mdma.c): its register
 * layout, mirrored from the comment and the MDMA_* definitions at the top of
 * mdma.c (kernel/mkpatches.sh --check compares the two), and the helpers the
 * mdma_* integration tests share.
 *
 * An mdma instance is a DMA engine done in software: it reaches memory only
 * through the IOVAs of the IOAS it is attached to (vfio_dma_rw() and
 * vfio_pin_pages() in the kernel).  The rig loads mdma.ko and creates two
 * instances whose UUIDs it exports as IFD_MDMA="uuid1 uuid2".
 */
#ifndef IFD_MDMA_H
#define IFD_MDMA_H

#include <endian.h>
#include <signal.h>
#include <sys/wait.h>

#include "itest.h"

/* Region 0: 4 KiB of 64-bit little-endian registers, read/write, no mmap. */
#define MDMA_REGION		0u
#define MDMA_REGION_SIZE	0x1000

#define MDMA_REG_ID		0x00
#define MDMA_REG_VERSION	0x08
#define MDMA_REG_SRC		0x10
#define MDMA_REG_DST		0x18
#define MDMA_REG_LEN		0x20
#define MDMA_REG_CMD		0x28
#define MDMA_REG_STATUS		0x30
#define MDMA_REG_ERROR		0x38
#define MDMA_REG_FILL		0x40
#define MDMA_REG_DELAY_US	0x48
#define MDMA_REG_PINNED_PAGES	0x50
#define MDMA_REG_PIN_RANGES	0x58
#define MDMA_REG_UNMAP_CALLS	0x60
#define MDMA_REG_UNMAP_PAGES	0x68
#define MDMA_REG_UNMAP_IOVA	0x70
#define MDMA_REG_UNMAP_LEN	0x78
#define MDMA_REG_COPIES		0x80
#define MDMA_REG_FAULTS		0x88
#define MDMA_REG_BYTES		0x90
#define MDMA_REG_ABORTS		0x98
#define MDMA_REG_OPENS		0xa0

#define MDMA_ID			0x414d444dULL
#define MDMA_VERSION		1

#define MDMA_CMD_COPY		1
#define MDMA_CMD_PIN		2
#define MDMA_CMD_UNPIN		3
#define MDMA_CMD_UNPIN_ALL	4
#define MDMA_CMD_FILL		5
#define MDMA_CMD_CLEAR		6

#define MDMA_STATUS_DONE	(1ull << 0)
#define MDMA_STATUS_ERROR	(1ull << 1)
#define MDMA_STATUS_FAULT	(1ull << 2)
#define MDMA_STATUS_ABORTED	(1ull << 3)
#define MDMA_STATUS_INVALID	(1ull << 4)
#define MDMA_STATUS_UNMAPPED	(1ull << 8)

#define MDMA_MAX_COPY		0x100000ull /* bytes per COPY */
#define MDMA_MAX_DELAY_US	20000
#define MDMA_MAX_PIN_PAGES	512 /* pages per PIN */
#define MDMA_MAX_PINS		16  /* ranges held at once */

/* The type directory under the parent's mdev_supported_types/. */
#define MDMA_PARENT_SYSFS	"/sys/class/mdev_bus/mdma"
#define MDMA_TYPE		"mdma-dma"

/* ------------------------------------------------------------ registers */

/* A register; a failed read ends the test (nothing after it makes sense). */
static inline uint64_t mdma_rd(struct iommufd_device *dev, unsigned int reg)
{
	uint64_t v = 0;
	int r = iommufd_device_region_read(dev, MDMA_REGION, reg, &v, sizeof(v));

	if (r < 0) {
		printf("not ok - read of mdma register 0x%x: %s\n", reg, strerror(-r));
		itest_nfailed++;
		itest_bail();
	}
	return le64toh(v);
}

static inline void mdma_wr(struct iommufd_device *dev, unsigned int reg, uint64_t val)
{
	uint64_t v = htole64(val);
	int r = iommufd_device_region_write(dev, MDMA_REGION, reg, &v, sizeof(v));

	if (r < 0) {
		printf("not ok - write of mdma register 0x%x: %s\n", reg, strerror(-r));
		itest_nfailed++;
		itest_bail();
	}
}

/* Run one command; returns STATUS. */
static inline uint64_t mdma_cmd(struct iommufd_device *dev, uint64_t cmd, uint64_t src, uint64_t dst, uint64_t len)
{
	mdma_wr(dev, MDMA_REG_SRC, src);
	mdma_wr(dev, MDMA_REG_DST, dst);
	mdma_wr(dev, MDMA_REG_LEN, len);
	mdma_wr(dev, MDMA_REG_CMD, cmd);
	return mdma_rd(dev, MDMA_REG_STATUS);
}

static inline uint64_t mdma_copy(struct iommufd_device *dev, uint64_t src, uint64_t dst, uint64_t len)
{
	return mdma_cmd(dev, MDMA_CMD_COPY, src, dst, len);
}

static inline uint64_t mdma_pin(struct iommufd_device *dev, uint64_t iova, uint64_t len)
{
	return mdma_cmd(dev, MDMA_CMD_PIN, iova, 0, len);
}

static inline uint64_t mdma_fill(struct iommufd_device *dev, uint64_t iova, uint64_t len, uint8_t byte)
{
	mdma_wr(dev, MDMA_REG_FILL, byte);
	return mdma_cmd(dev, MDMA_CMD_FILL, 0, iova, len);
}

/* "DONE" / "ERROR|FAULT" ... for messages. */
static inline const char *mdma_status_str(uint64_t st)
{
	static __thread char buf[96];
	static const char *const names[] = { "DONE", "ERROR", "FAULT", "ABORTED", "INVALID", NULL, NULL, NULL,
					     "UNMAPPED" };

	buf[0] = '\0';
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((st & (1ull << i)) && names[i])
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? "|" : "", names[i]);
	if (!buf[0])
		snprintf(buf, sizeof(buf), "0");
	return buf;
}

/* The status of a command that worked: DONE, no error bits (sticky bits allowed). */
static inline bool mdma_ok(uint64_t st)
{
	return (st & MDMA_STATUS_DONE) &&
	       !(st & (MDMA_STATUS_ERROR | MDMA_STATUS_FAULT | MDMA_STATUS_ABORTED | MDMA_STATUS_INVALID));
}

/* The status of a command stopped by an IOVA fault. */
static inline bool mdma_faulted(uint64_t st)
{
	return !(st & MDMA_STATUS_DONE) && (st & MDMA_STATUS_ERROR) && (st & MDMA_STATUS_FAULT) &&
	       !(st & (MDMA_STATUS_INVALID | MDMA_STATUS_ABORTED));
}

#define CHECK_MDMA_OK(st, ...) CHECK(mdma_ok(st), __VA_ARGS__)
#define CHECK_MDMA_FAULT(st, ...) CHECK(mdma_faulted(st), __VA_ARGS__)

/* ---------------------------------------------------------------- sysfs */

/* A counter file of instance @uuid (its mdma/ dir), or of the parent when
 * @uuid is NULL (the sums of all instances); -1 if unreadable. */
static inline long long mdma_sysfs(const char *uuid, const char *name)
{
	char path[256], buf[64];
	ssize_t n;
	int fd;

	if (uuid)
		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/mdma/%s", uuid, name);
	else
		snprintf(path, sizeof(path), "%s/%s", MDMA_PARENT_SYSFS, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* ---------------------------------------------------------- environment */

/* The two instances of IFD_MDMA ("uuid1 uuid2"). */
static inline void mdma_uuids(char a[40], char b[40])
{
	const char *p = itest_env_req("IFD_MDMA");

	if (sscanf(p, "%39s %39s", a, b) != 2) {
		printf("not ok - IFD_MDMA='%s' holds two mdev UUIDs\n", p);
		itest_nfailed++;
		itest_bail();
	}
}

/*
 * Open instance @uuid into @ioas and check that it is an mdma: one region of
 * 4 KiB, readable and writable, and the ID register.  A failure ends the test.
 */
static inline struct iommufd_device *mdma_open(struct iommufd_ioas *ioas, const char *uuid)
{
	struct iommufd_device *dev = NULL;
	struct iommufd_region_info ri;
	uint64_t id;

	REQUIRE_RET(iommufd_device_open(ioas, uuid, NULL, &dev), 0, "open mdma instance %s", uuid);
	REQUIRE_RET(iommufd_device_get_region_info(dev, MDMA_REGION, &ri), 0, "%s: region 0 info", uuid);
	REQUIRE(ri.size == MDMA_REGION_SIZE && (ri.flags & IOMMUFD_REGION_F_READ) && (ri.flags & IOMMUFD_REGION_F_WRITE),
		"%s: region 0 is %#llx bytes, readable and writable (size %#" PRIx64 ", flags %#x)", uuid,
		(unsigned long long)MDMA_REGION_SIZE, ri.size, ri.flags);
	id = mdma_rd(dev, MDMA_REG_ID);
	REQUIRE(id == MDMA_ID && mdma_rd(dev, MDMA_REG_VERSION) == MDMA_VERSION,
		"%s: ID register reads %#llx (got %#" PRIx64 "), version %d", uuid, MDMA_ID, id, MDMA_VERSION);
	return dev;
}

/* Memory size, pinned (VmPin) + locked (VmLck) of this process, in kB:
 * iommufd accounts pins in VmPin, type1 in VmLck. */
static inline long long mdma_vm_pinned_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long long total = 0, v;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %lld", &v) == 1 || sscanf(line, "VmLck: %lld", &v) == 1)
			total += v;
	fclose(f);
	return total;
}

/*
 * Without an IOMMU an mdev is refused cleanly: it has no no-IOMMU cdev
 * (it pins pages through an IOAS that an IOMMU backend translates), so
 * the open fails with -ENODEV, hands out nothing, names the instance in
 * the log and leaves the driver idle.  True on such a context: the
 * caller's mdma part ends there.
 */
static inline bool mdma_refused_without_iommu(struct iommufd_ctx *ctx, const char *uuid)
{
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;

	if (!itest_is_noiommu(ctx))
		return false;
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_log_clear();
	CHECK_RET(iommufd_device_open(ioas, uuid, NULL, &dev), -ENODEV, "no IOMMU: opening mdma instance %s is refused",
		  uuid);
	CHECK(dev == NULL, "no device handle is returned");
	CHECK(itest_log_has(uuid, NULL), "the log names %s", uuid);
	CHECK(mdma_sysfs(NULL, "open_instances") == 0, "the driver has no instance open");
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	return true;
}

#endif
