/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * hot_unplug: the library tells its caller when a device it holds is being
 * removed, the caller lets go, the removal completes, and a rescan brings
 * the device back.
 *
 * The second edu of IFD_EDU_PAIR (behind the bridge, so its IOMMU group is
 * the bridge's and survives the removal):
 *   - iommufd_device_list() lists it: bound to vfio-pci, its group, its cdev
 *     on 7.3.
 *   - open it with the event fd armed, map a buffer, DMA round trip;
 *   - a child writes 1 to /sys/bus/pci/devices/BDF/remove, which blocks in
 *     the kernel while the device is open;
 *   - the event fd polls readable; the event is REMOVE_REQUESTED for our
 *     handle; we unmap and destroy the device; the event fd then reports
 *     REMOVED (the kernel's uevent) and the child's write returns;
 *   - nothing leaks: the fd count and the pinned pages are back to what
 *     they were before the open, the IOVA is unmapped;
 *   - echo 1 > /sys/bus/pci/rescan brings it back; bound to vfio-pci again
 *     (driver_override + drivers_probe, as the rig does) it opens in the
 *     same context (armed at open) and DMA works.
 * Later tests use the pair: the device is left bound to vfio-pci, in its
 * group, as the rig set it up.  Under virtio-iommu (IFD_IOMMU=virtio) the
 * pair is a multifunction slot whose function, once removed and rescanned,
 * gets a group of its own: there the standalone edu (IFD_EDU) is removed
 * instead, and it comes back in a new group (virtio-iommu numbers groups
 * as devices probe), which is what is checked.
 */
#include <poll.h>

#include "itest.h"

#define EVENT_TIMEOUT_MS 60000

static int count_all_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	e = errno;
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -(n < 0 ? e : EIO);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Wait for one event; 1, or 0 on timeout. */
static int wait_event(struct iommufd_ctx *ctx, int efd, struct iommufd_event *ev)
{
	double end = itest_now() + EVENT_TIMEOUT_MS / 1000.0;

	while (itest_now() < end) {
		struct pollfd p = { .fd = efd, .events = POLLIN };
		int r = poll(&p, 1, 1000);

		if (r < 0 && errno != EINTR)
			return 0;
		if (r > 0 && iommufd_ctx_read_events(ctx, ev, 1) == 1)
			return 1;
	}
	return 0;
}

static void driver_of(const char *bdf, char *out, size_t len)
{
	char path[128], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	out[0] = '\0';
	if (n > 0) {
		target[n] = '\0';
		snprintf(out, len, "%.63s", strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
	}
}

static long pinned_kb(void)
{
	long pin = itest_status_kb("VmPin"), lck = itest_status_kb("VmLck");

	return (pin > 0 ? pin : 0) + (lck > 0 ? lck : 0);
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_device_entry ents[64];
	const struct iommufd_device_entry *me = NULL;
	struct iommufd_event ev;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_map_info info;
	char pa[32], pb[32], path[160], drv[64];
	int efd, grp, n, fds0, fds1, st = 0;
	long pin0;
	uint64_t iova;
	uint8_t *buf;
	pid_t child;
	bool got, virtio;

	itest_start("hot_unplug");
	itest_pair(pa, pb);
	virtio = !strcmp(itest_env_req("IFD_IOMMU"), "virtio");
	if (virtio)
		snprintf(pb, sizeof(pb), "%s", itest_env_req("IFD_EDU"));
	fds0 = count_all_fds();
	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "create IOAS");
	efd = iommufd_ctx_get_event_fd(ctx);
	REQUIRE(efd >= 0, "iommufd_ctx_get_event_fd: %d", efd);
	grp = itest_sysfs_group(pb);

	/* Discovery. */
	n = iommufd_device_list(ctx, ents, 64);
	CHECK(n > 0 && n <= 64, "iommufd_device_list: %d devices", n);
	for (int i = 0; i < n && i < 64; i++)
		if (!strcmp(ents[i].name, pb))
			me = &ents[i];
	if (CHECK(me != NULL, "the list has %s", pb)) {
		CHECK(me->flags & IOMMUFD_DEVICE_ENTRY_VFIO, "%s: flagged as bound to VFIO", pb);
		CHECK(!strcmp(me->driver, "vfio-pci"), "%s: driver %s", pb, me->driver);
		CHECK(me->group == grp, "%s: group %d (sysfs: %d)", pb, me->group, grp);
		CHECK(me->vendor == 0x1234 && me->device == 0x11e8, "%s: edu IDs %04x:%04x", pb, me->vendor,
		      me->device);
		if (!itest_stock_kernel())
			CHECK(!strncmp(me->cdev, itest_is_noiommu(ctx) ? "/dev/vfio/devices/noiommu-vfio" :
					   "/dev/vfio/devices/vfio", itest_is_noiommu(ctx) ? 30 : 22),
			      "%s: cdev %s", pb, me->cdev);
		else
			CHECK(me->cdev[0] == '\0', "%s: no cdev on a kernel without them", pb);
	}

	/* Open, map, DMA. */
	fds1 = count_all_fds();
	pin0 = pinned_kb();
	itest_edu_open(&x, ioas, pb);
	buf = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas, buf, SZ_4K, EDU_IOVA_MAX, "buffer");
	itest_edu_roundtrip(&x, buf, iova, EDU_BUF_SIZE, 7, "before the removal");
	CHECK_RET(iommufd_ctx_read_events(ctx, &ev, 1), -EAGAIN, "no event before the removal");

	/* Someone removes it: blocks until we let go.  Through exec, so the
	 * child holds none of our fds (all O_CLOEXEC): a forked copy of the
	 * device fd would keep the device busy, and the child would wait for
	 * itself. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", pb);
	fflush(NULL);
	child = fork();
	if (child == 0) {
		execl("/bin/sh", "sh", "-c", "echo 1 > \"$0\"", path, (char *)NULL);
		_exit(127);
	}
	REQUIRE(child > 0, "fork");

	got = wait_event(ctx, efd, &ev);
	CHECK(got, "the event fd reports an event within %d s", EVENT_TIMEOUT_MS / 1000);
	if (got) {
		CHECK(ev.kind == IOMMUFD_EVENT_REMOVE_REQUESTED, "the event is REMOVE_REQUESTED (kind %u)", ev.kind);
		CHECK(ev.dev == x.dev, "for our handle of %s", pb);
		CHECK(!strcmp(ev.name, pb), "named %s (%s)", pb, ev.name);
	}
	/* Obey (also after a failure: the child waits for it). */
	itest_unmap(ioas, iova, SZ_4K, "buffer, on REMOVE_REQUESTED");
	CHECK_RET(iommufd_ioas_find_iova(ioas, iova, &info), -ENOENT, "the IOAS holds nothing at 0x%" PRIx64, iova);
	itest_edu_close(&x);

	got = wait_event(ctx, efd, &ev);
	CHECK(got && ev.kind == IOMMUFD_EVENT_REMOVED && !ev.dev && !strcmp(ev.name, pb),
	      "then REMOVED for %s, no handle (got %d, kind %u, name %s)", pb, got, got ? ev.kind : 0,
	      got ? ev.name : "-");
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the removal completed (status 0x%x)", st);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", pb);
	CHECK(!exists(path), "%s is gone", path);
	CHECK_RET(count_all_fds(), fds1, "fds back to the count before the open");
	CHECK_RET(pinned_kb(), pin0, "pinned memory back to before the open (kB)");

	/* Rescan, rebind, reopen. */
	CHECK_RET(write_file("/sys/bus/pci/rescan", "1"), 0, "echo 1 > /sys/bus/pci/rescan");
	REQUIRE(exists(path), "%s is back", path);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", pb);
	CHECK_RET(write_file(path, "vfio-pci"), 0, "driver_override of %s", pb);
	CHECK_RET(write_file("/sys/bus/pci/drivers_probe", pb), 0, "drivers_probe %s", pb);
	driver_of(pb, drv, sizeof(drv));
	REQUIRE(!strcmp(drv, "vfio-pci"), "%s is bound to vfio-pci again (%s)", pb, drv);
	if (virtio)
		CHECK(itest_sysfs_group(pb) >= 0, "%s has an IOMMU group again (%d, was %d)", pb, itest_sysfs_group(pb),
		      grp);
	else
		CHECK_RET(itest_sysfs_group(pb), grp, "%s is in its group again", pb);
	itest_edu_open(&x, ioas, pb);
	iova = itest_map(ioas, buf, SZ_4K, EDU_IOVA_MAX, "buffer again");
	itest_edu_roundtrip(&x, buf, iova, EDU_BUF_SIZE, 8, "after the rescan");
	CHECK_RET(iommufd_ctx_read_events(ctx, &ev, 1), -EAGAIN, "no event meanwhile");
	itest_unmap(ioas, iova, SZ_4K, "buffer again");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "destroy IOAS");
	iommufd_ctx_destroy(ctx);
	CHECK_RET(count_all_fds(), fds0, "fds back to the count before the context");
	return itest_finish();
}
