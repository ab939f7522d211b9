/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Devices on the fake kernel: every name form, adopted fds, the errors a
 * user meets first (and what the log tells them), group sharing, moving
 * between IOAS, regions, config space, interrupts and reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

struct t {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev; /* FK_DEV_A, with setup_dev */
	struct fk_logcap cap;
};

static int setup_common(void **state, bool with_dev)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->b = *(const enum iommufd_backend *)*state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fk_ctx_create(t->fk, t->b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	if (with_dev)
		assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dev), 0);
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	*state = t;
	return 0;
}

static int setup_dev(void **state)
{
	return setup_common(state, true);
}

static int setup_nodev(void **state)
{
	return setup_common(state, false);
}

static int teardown(void **state)
{
	struct t *t = *state;

	int fds, files, mmaps;

	iommufd_ctx_destroy(t->ctx);
	fds = fake_kernel_open_fds(t->fk);
	files = fake_kernel_live_files(t->fk);
	mmaps = fake_kernel_live_mmaps(t->fk);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	/* everything closed with the context (checked after cleaning up, so a
	 * failure here does not leak into the next test) */
	assert_int_equal(fds, 0);
	assert_int_equal(files, 0);
	assert_int_equal(mmaps, 0);
	return 0;
}

static int fk_teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

static int fake_open(struct t *t, const char *path)
{
	int fd = fake_kernel_sys(t->fk)->open(path, O_RDWR | O_CLOEXEC, 0);

	assert_true(fd >= FK_FD_BASE);
	return fd;
}

static void fake_close(struct t *t, int fd)
{
	assert_int_equal(fake_kernel_sys(t->fk)->close(fd), 0);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

static void expect_open(struct t *t, const char *name, const char *expect_name, int group)
{
	struct iommufd_device *dev = NULL;
	int r = iommufd_device_open(t->ioas, name, NULL, &dev);

	if (r)
		print_error("open \"%s\": %d\nlog:\n%s", name, r, t->cap.text ? t->cap.text : "");
	assert_int_equal(r, 0);
	assert_string_equal(iommufd_device_get_name(dev), expect_name);
	assert_int_equal(iommufd_device_get_group(dev), group);
	assert_ptr_equal(iommufd_device_get_ioas(dev), t->ioas);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, expect_name), 1);
	if (t->b != IOMMUFD_BACKEND_TYPE1)
		assert_int_equal(fake_kernel_dev_ioas(t->fk, expect_name), (uint32_t)iommufd_ioas_get_id(t->ioas));
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, expect_name), 0);
}

static void test_name_forms(void **state)
{
	struct t *t = *state;

	expect_open(t, FK_DEV_A, FK_DEV_A, FK_GROUP_A);
	expect_open(t, "00:04.0", FK_DEV_A, FK_GROUP_A);
	expect_open(t, "/sys/bus/pci/devices/0000:00:04.0", FK_DEV_A, FK_GROUP_A);
	expect_open(t, "/sys/bus/pci/devices/0000:00:04.0/", FK_DEV_A, FK_GROUP_A);
	expect_open(t, "/sys/devices/pci0000:00/0000:00:04.0", FK_DEV_A, FK_GROUP_A);
	expect_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_A), FK_DEV_A, FK_GROUP_A);
	expect_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_B2), FK_DEV_B2, FK_GROUP_B);
	expect_open(t, FK_MDEV, FK_MDEV, 11);
	expect_open(t, "/sys/bus/mdev/devices/" FK_MDEV, FK_MDEV, 11);
	expect_open(t, fake_kernel_cdev_path(t->fk, FK_MDEV), FK_MDEV, 11);
}

/* Hex digits of a PCI address in either case (iommufd_device_open(3)). */
static void test_name_upper_case_bdf(void **state)
{
	struct t *t = *state;

	fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = "0000:0a:1f.0", .group = 30 });
	expect_open(t, "0000:0A:1F.0", "0000:0a:1f.0", 30);
	expect_open(t, "0A:1f.0", "0000:0a:1f.0", 30);
}

/*
 * BUG (minor): lib/sysfs.c:186/:201 ifd_resolve_device() folds a PCI address to
 * lower case (as sysfs spells it) but not an mdev UUID, which sysfs also
 * lists in lower case while UUIDs are case-insensitive on input (RFC 4122;
 * the kernel's and mdevctl's parsers accept both): "C0FFEE00-..." gives
 * -ENODEV for a device that exists.  Fix: lower-case a UUID name (and the
 * UUID component of an mdev sysfs path) the same way.
 */
static void test_name_upper_case_uuid(void **state)
{
	struct t *t = *state;
	char up[64];

	snprintf(up, sizeof(up), "%s", FK_MDEV);
	for (char *p = up; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	expect_open(t, up, FK_MDEV, 11);
}

static void expect_enodev(struct t *t, const char *name, const char *log)
{
	struct iommufd_device *dev = (void *)0x1;

	fk_logcap_clear(&t->cap);
	errno = 0;
	assert_int_equal(iommufd_device_open(t->ioas, name, NULL, &dev), -ENODEV);
	assert_int_equal(errno, ENODEV);
	assert_ptr_equal(dev, (void *)0x1);
	if (log && !fk_logcap_has(&t->cap, log))
		fail_msg("open \"%s\": log lacks \"%s\":\n%s", name, log, t->cap.text ? t->cap.text : "");
	assert_true(t->cap.errors >= 1);
}

static void test_not_vfio_devices(void **state)
{
	struct t *t = *state;

	expect_enodev(t, "eth0", "not a VFIO device name");
	expect_enodev(t, "0000:00:04", "not a VFIO device name");
	expect_enodev(t, "0000:00:04.8", "not a VFIO device name");
	expect_enodev(t, "zz:zz.z", "not a VFIO device name");
	expect_enodev(t, "/dev/sda", "not a VFIO device name");
	expect_enodev(t, "/sys/class/net/eth0", "not a VFIO device name");
	expect_enodev(t, "0000:00:1f.0", "0000:00:1f.0");
	expect_enodev(t, "/dev/vfio/devices/vfio99", "vfio99");
	expect_enodev(t, "c0ffee00-0000-4000-8000-0000000000ff", "no such device");
	/* bound to a host driver, or to none: the log says how to fix it */
	expect_enodev(t, FK_DEV_HOST, "vfio-pci");
	assert_true(fk_logcap_has(&t->cap, "driver_override"));
	assert_true(fk_logcap_has(&t->cap, "e1000e"));
	expect_enodev(t, FK_DEV_UNBOUND, "vfio-pci");
	assert_true(fk_logcap_has(&t->cap, "driver_override"));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
}

/*
 * Defect 1: a crafted tree outside sysfs that looks like a PCI device (a
 * driver link, an iommu_group link, a vfio-dev entry naming another
 * device's cdev) reached through "/sys/.." is refused, on every backend;
 * the device behind the borrowed cdev stays closed.
 */
static void test_name_crafted_tree(void **state)
{
	struct t *t = *state;

	fake_kernel_add_link(t->fk, "/tmp/x/0000:00:03.0/driver", "/sys/bus/pci/drivers/vfio-pci");
	fake_kernel_add_link(t->fk, "/tmp/x/0000:00:03.0/iommu_group", "/sys/kernel/iommu_groups/6");
	fake_kernel_add_file(t->fk, "/tmp/x/0000:00:03.0/vfio-dev/vfio1/dev", "241:1");
	expect_enodev(t, "/sys/../tmp/x/0000:00:03.0", "/tmp/x/0000:00:03.0");
	expect_enodev(t, "/sys/bus/pci/devices/../../../../tmp/x/0000:00:03.0", "not to a PCI device or an mdev");
	/* a real device directory under a name the PCI bus does not list */
	fake_kernel_add_link(t->fk, "/sys/devices/pci0000:00/0000:00:0f.0/driver", "../../../bus/pci/drivers/vfio-pci");
	fake_kernel_add_link(t->fk, "/sys/devices/pci0000:00/0000:00:0f.0/iommu_group", "/sys/kernel/iommu_groups/6");
	fake_kernel_add_file(t->fk, "/sys/devices/pci0000:00/0000:00:0f.0/vfio-dev/vfio1/dev", "241:1");
	expect_enodev(t, "/sys/devices/pci0000:00/0000:00:0f.0/", "not a device of the PCI bus");
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 0);
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
}

/*
 * The cdev is the one whose class entry leads back to the device: an extra
 * vfio-dev entry planted in a device's directory (sorted first) naming
 * another device's cdev is skipped, for the PCI address and the UUID
 * forms.  Before, the library bound the other device under this name.
 */
static void test_name_cdev_leads_back(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	fake_kernel_add_file(t->fk, "/sys/devices/pci0000:00/" FK_DEV_B "/vfio-dev/vfio0/dev", "241:0");
	fake_kernel_add_file(t->fk, "/sys/devices/virtual/mdev/" FK_MDEV "/vfio-dev/vfio0/dev", "241:0");
	expect_open(t, FK_DEV_B, FK_DEV_B, FK_GROUP_B);
	expect_open(t, "/sys/bus/pci/devices/" FK_DEV_B, FK_DEV_B, FK_GROUP_B);
	expect_open(t, FK_MDEV, FK_MDEV, 11);
	assert_true(fk_logcap_has(&t->cap, "is not its cdev"));
	assert_int_equal(fake_kernel_log_find(t->fk, "open", fake_kernel_cdev_path(t->fk, FK_DEV_A)), 0);
	/* a device whose only vfio-dev entry is another's has no cdev */
	fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = "0000:00:0a.0", .group = 20, .no_cdev = true });
	fake_kernel_add_file(t->fk, "/sys/devices/pci0000:00/0000:00:0a.0/vfio-dev/vfio1/dev", "241:1");
	assert_int_equal(iommufd_device_open(t->ioas, "0000:00:0a.0", NULL, &dev), -ENODEV);
	assert_true(fk_logcap_has(&t->cap, "has no VFIO cdev"));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 0);
}

/*
 * The /dev/vfio/devices form names the device its node really is: a udev
 * symlink vfio9 -> vfio1 next to a crafted class entry vfio9 (leading to a
 * fake tree) opens FK_DEV_B under its own name.  Before, the handle was
 * named after the crafted tree.
 */
static void test_name_cdev_node_canonical(void **state)
{
	struct t *t = *state;

	fake_kernel_add_link(t->fk, "/dev/vfio/devices/vfio9", "vfio1");
	fake_kernel_add_link(t->fk, "/sys/class/vfio-dev/vfio9", "/tmp/y/0000:00:03.0/vfio-dev/vfio9");
	fake_kernel_add_link(t->fk, "/tmp/y/0000:00:03.0/vfio-dev/vfio9/device", "../../../0000:00:03.0");
	fake_kernel_add_file(t->fk, "/tmp/y/0000:00:03.0/vfio-dev/vfio9/dev", "241:1");
	fake_kernel_add_link(t->fk, "/tmp/y/0000:00:03.0/driver", "/sys/bus/pci/drivers/vfio-pci");
	fake_kernel_add_link(t->fk, "/tmp/y/0000:00:03.0/iommu_group", "/sys/kernel/iommu_groups/6");
	expect_open(t, "/dev/vfio/devices/vfio9", FK_DEV_B, FK_GROUP_B);
	/* a node that is not under /dev/vfio/devices once resolved */
	fake_kernel_add_link(t->fk, "/dev/vfio/devices/null", "/dev/null");
	expect_enodev(t, "/dev/vfio/devices/null", "not a VFIO device cdev");
}

static void test_bad_args(void **state)
{
	struct t *t = *state;
	struct iommufd_device_opts o = { .sz = sizeof(o), .flags = 1 };
	struct iommufd_device *dev = NULL;

	assert_int_equal(iommufd_device_open(NULL, FK_DEV_A, NULL, &dev), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, NULL, NULL, &dev), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, "", NULL, &dev), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, NULL), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, &o, &dev), -EINVAL);
	o = (struct iommufd_device_opts){ .sz = 1 };
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, &o, &dev), -EINVAL);
	assert_int_equal(fake_kernel_log_count(t->fk), 0);
	o = (struct iommufd_device_opts){ .sz = sizeof(o) };
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, &o, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
}

static void test_no_group(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fake_kernel_create(NULL);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;

	fk_logcap_init(&cap);
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .no_group = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_B, .group = 3, .no_cdev = true });
	assert_int_equal(fk_ctx_create(fk, b, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	if (b == IOMMUFD_BACKEND_CDEV) {
		/* no cdev: nothing to open on this backend */
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_B, NULL, &dev), -ENODEV);
		assert_true(fk_logcap_has(&cap, "has no VFIO cdev"));
	} else {
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -ENODEV);
		assert_true(fk_logcap_has(&cap, "no IOMMU group"));
	}
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

static void test_nonviable_group(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	errno = 0;
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NV, NULL, &dev), -EBUSY);
	assert_int_equal(errno, EBUSY);
	assert_null(dev);
	/* the log names the device holding the group and its driver */
	assert_true(fk_logcap_has(&t->cap, FK_DEV_NV_CULPRIT));
	assert_true(fk_logcap_has(&t->cap, "e1000e"));
	assert_true(fk_logcap_has(&t->cap, "not viable"));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_NV), 0);
	/* fixed by unbinding the culprit */
	assert_int_equal(fake_kernel_set_driver(t->fk, FK_DEV_NV_CULPRIT, ""), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NV, NULL, &dev), 0);
}

static void test_permission_denied(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	const char *node = t->b == IOMMUFD_BACKEND_CDEV ? fake_kernel_cdev_path(t->fk, FK_DEV_A) : "/dev/vfio/5";
	char path[64];

	snprintf(path, sizeof(path), "%s", node);
	fake_kernel_deny(t->fk, path);
	errno = 0;
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -EACCES);
	assert_int_equal(errno, EACCES);
	assert_null(dev);
	assert_true(fk_logcap_has(&t->cap, path));
	assert_true(fk_logcap_has(&t->cap, "permission denied"));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
}

/* Another process has the device (cdev) or its group open. */
static void test_busy_elsewhere_group(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	fake_kernel_hold_group(t->fk, FK_GROUP_A, true);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -EBUSY);
	assert_true(fk_logcap_has(&t->cap, "already open"));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	fake_kernel_hold_group(t->fk, FK_GROUP_A, false);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
}

/*
 * A device bound through its cdev by another process makes
 * VFIO_DEVICE_BIND_IOMMUFD fail with EINVAL (vfio_df_open(): the cdev path
 * opens a device once).  The library establishes that (the device is alone
 * in its group and the group node is busy) and reports -EBUSY.
 */
static void test_busy_elsewhere_device(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	fake_kernel_hold_device(t->fk, FK_DEV_A, true);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -EBUSY);
	assert_null(dev);
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	fake_kernel_hold_device(t->fk, FK_DEV_A, false);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
}

/*
 * Every other EINVAL of VFIO_DEVICE_BIND_IOMMUFD stays EINVAL (defect 7):
 * before, all of them were reported as -EBUSY "already open elsewhere".
 */
static void test_bind_einval_stays_einval(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	/* the kernel refuses the request or the driver's open */
	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_BIND_IOMMUFD", 1, EINVAL);
	errno = 0;
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_null(dev);
	assert_false(fk_logcap_has(&t->cap, "already open elsewhere"));
	assert_true(fk_logcap_has(&t->cap, "refused the device (EINVAL)"));
	/* the probe closed what it opened */
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
}

/* An adopted cdev fd that its owner already bound: EINVAL, and said so. */
static void test_adopt_cdev_already_bound(void **state)
{
	struct t *t = *state;
	struct ifd_k_vfio_device_bind_iommufd bind = { .argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE };
	struct iommufd_device *dev = NULL;
	int ictx = fake_open(t, "/dev/iommu");
	int fd = fake_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_B));

	bind.iommufd = ictx;
	assert_int_equal(fake_kernel_sys(t->fk)->ioctl(fd, IFD_K_VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), -EINVAL);
	assert_null(dev);
	assert_true(fk_logcap_has(&t->cap, "already bound"));
	assert_false(fk_logcap_has(&t->cap, "already open elsewhere"));
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	fake_close(t, fd);
	fake_close(t, ictx);
}

/*
 * Bound elsewhere, but in a group of two: the group node being busy could
 * be the other device's doing, so nothing is established and EINVAL stays,
 * with a message that names both possibilities.
 */
static void test_busy_elsewhere_shared_group(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;

	fake_kernel_hold_device(t->fk, FK_DEV_B, true);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &dev), -EINVAL);
	assert_null(dev);
	assert_true(fk_logcap_has(&t->cap, "open through its cdev elsewhere"));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	fake_kernel_hold_device(t->fk, FK_DEV_B, false);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &dev), 0);
}

/* A driver that refuses a second open of its device (GROUP/TYPE1). */
static void test_exclusive_device(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fake_kernel_create(NULL);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *d1 = NULL, *d2 = NULL;
	struct fk_logcap cap;

	fk_logcap_init(&cap);
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5, .exclusive = true });
	assert_int_equal(fk_ctx_create(fk, b, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &d1), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &d2), -EBUSY);
	assert_true(fk_logcap_has(&cap, "already open"));
	assert_null(d2);
	/* the first handle is unharmed, and the group still shared */
	assert_int_equal(iommufd_device_reset(d1), 0);
	assert_int_equal(fake_kernel_open_fds(fk), 3);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

/* Destroy frees the handle at once (a second destroy is undefined, like
 * free(): iommufd_device_destroy(3)); NULL is a no-op. */
static void test_destroy(void **state)
{
	struct t *t = *state;

	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	t->dev = NULL;
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
	assert_int_equal(iommufd_device_destroy(NULL), 0);
	/* the IOAS is free */
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	t->ioas = NULL;
}

/*
 * A VMM that hot-plugs devices for ever: 1,000 open/destroy cycles leave
 * the heap where it was (a device handle is over 4 KiB, so keeping dead
 * handles until the context goes would show as megabytes).
 */
static void test_destroy_frees_memory(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	size_t before, after;

	/* the fake's call log and the captured debug messages grow by themselves */
	fake_kernel_log_enable(t->fk, false);
	assert_int_equal(iommufd_ctx_set_log(t->ctx, fk_logcap_fn, &t->cap, IOMMUFD_LOG_ERR), 0);
	for (int i = 0; i < 10; i++) { /* warm up the allocator and the fake */
		assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
		assert_int_equal(iommufd_device_destroy(dev), 0);
	}
	before = mallinfo2().uordblks;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
		assert_int_equal(iommufd_device_destroy(dev), 0);
	}
	after = mallinfo2().uordblks;
	if (after > before + 4096)
		fail_msg("heap grew by %zu bytes over 1000 open/destroy cycles", after - before);
	fake_kernel_log_enable(t->fk, true);
}

static void test_accessors(void **state)
{
	struct t *t = *state;
	struct iommufd_device *m = NULL;

	assert_true(iommufd_device_get_fd(t->dev) >= FK_FD_BASE);
	assert_true(fake_kernel_fd_is_open(t->fk, iommufd_device_get_fd(t->dev)));
	assert_string_equal(iommufd_device_get_name(t->dev), FK_DEV_A);
	assert_int_equal(iommufd_device_get_group(t->dev), FK_GROUP_A);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	if (t->b == IOMMUFD_BACKEND_CDEV)
		assert_true(iommufd_device_get_id(t->dev) > 0);
	else
		assert_int_equal(iommufd_device_get_id(t->dev), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_get_id(NULL), -EINVAL);
	assert_int_equal(iommufd_device_get_group(NULL), -EINVAL);
	assert_int_equal(iommufd_device_get_fd(NULL), -EINVAL);
	assert_null(iommufd_device_get_name(NULL));
	assert_int_equal(iommufd_device_open(t->ioas, FK_MDEV, NULL, &m), 0);
	assert_int_equal(iommufd_device_get_group(m), 11);
}

/* ------------------------------------------------------------------------ */
/* Adopted fds                                                              */

static void test_adopt_cdev(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_B));

	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), 0);
	assert_int_equal(iommufd_device_get_fd(dev), fd);
	assert_string_equal(iommufd_device_get_name(dev), FK_DEV_B);
	assert_int_equal(iommufd_device_get_group(dev), FK_GROUP_B);
	assert_int_equal(fake_kernel_cdev_bound(t->fk, fd), 1);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_B), (uint32_t)iommufd_ioas_get_id(t->ioas));
	/* the library did not open the node itself, and holds no extra fd */
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/devices"), 1);
	assert_int_equal(fake_kernel_open_fds(t->fk), 2);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_false(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 0);
}

static void test_adopt_cdev_refused(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, "/dev/null");

	/* not a cdev: the fd stays the caller's, untouched */
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), -ENODEV);
	assert_null(dev);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	fake_close(t, fd);
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, FK_FD_BASE + 99, NULL, &dev), -EBADF);
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, -1, NULL, &dev), -EINVAL);
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
}

/*
 * A failure after VFIO_DEVICE_BIND_IOMMUFD (here the attach: the IOAS maps
 * the device's MSI window) leaves the caller's fd open and bound to the
 * context's iommufd: the kernel cannot unbind a cdev short of closing it
 * (iommufd_device_adopt_cdev_fd(3)).  Once the caller closes it, nothing of
 * the context stays alive (checked by the teardown).
 */
static void test_adopt_cdev_failure_after_bind(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = FK_MSI_START };
	static uint8_t buf[PG] __attribute__((aligned(PG)));
	struct iommufd_device *dev = NULL;
	uint64_t iova;
	int fd = fake_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_B));

	assert_int_equal(iommufd_ioas_map(t->ioas, buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), -ERANGE);
	assert_null(dev);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_cdev_bound(t->fk, fd), 1);
	assert_int_equal(fake_kernel_open_fds(t->fk), 2); /* /dev/iommu and the caller's fd */
	fake_close(t, fd);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 0);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, PG, NULL), 0);
	/* a failure before the bind leaves the descriptor exactly as it was */
	fd = fake_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_NV));
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), -EBUSY);
	assert_int_equal(fake_kernel_cdev_bound(t->fk, fd), 0);
	assert_int_equal(fake_kernel_set_driver(t->fk, FK_DEV_NV_CULPRIT, ""), 0);
	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), 0);
	assert_int_equal(iommufd_device_get_fd(dev), fd);
}

static void test_adopt_cdev_wrong_backend(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, fake_kernel_cdev_path(t->fk, FK_DEV_B));

	assert_int_equal(iommufd_device_adopt_cdev_fd(t->ioas, fd, NULL, &dev), -EOPNOTSUPP);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_cdev_bound(t->fk, fd), 0);
	fake_close(t, fd);
}

static void test_adopt_group(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b = NULL, *b2 = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &b), 0);
	assert_string_equal(iommufd_device_get_name(b), FK_DEV_B);
	assert_int_equal(fake_kernel_group_state(t->fk, fd), t->b == IOMMUFD_BACKEND_TYPE1 ? 1 : 2);
	/* the second device of the group shares the adopted fd */
	assert_int_equal(iommufd_device_open(t->ioas, "00:05.1", NULL, &b2), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/6"), 1);
	assert_int_equal(iommufd_device_destroy(b), 0);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(iommufd_device_destroy(b2), 0);
	/* closed with the last device */
	assert_false(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
}

static void test_adopt_group_refused(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	/* a device of another group */
	assert_int_not_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_A, NULL, &dev), 0);
	assert_null(dev);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_group_state(t->fk, fd), 0);
	/* a group fd its owner already put in a container of its own */
	{
		int ct = fake_open(t, "/dev/vfio/vfio");

		assert_int_equal(fake_kernel_sys(t->fk)->ioctl(fd, VFIO_GROUP_SET_CONTAINER, &ct), 0);
		assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &dev), -EBUSY);
		assert_null(dev);
		assert_int_equal(fake_kernel_group_state(t->fk, fd), 1);
		assert_int_equal(fake_kernel_sys(t->fk)->ioctl(fd, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
		fake_close(t, ct);
	}
	/* the same group adopted twice */
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &dev), 0);
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B2, NULL, &dev), -EBUSY);
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, -1, FK_DEV_B2, NULL, &dev), -EINVAL);
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, NULL, NULL, &dev), -EINVAL);
}

/*
 * A failed iommufd_device_adopt_group_fd() leaves the caller's fd open and
 * out of any container (iommufd_device_adopt_group_fd(3)), even after the
 * library joined the group through its duplicate of the same open file;
 * the caller can try again.  (test-faults.c sweeps every failure point.)
 */
static void test_adopt_group_failure_leaves_fd_untouched(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	fake_kernel_fail_match(t->fk, "VFIO_GROUP_GET_DEVICE_FD", 1, EIO);
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &dev), -EIO);
	assert_null(dev);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_group_state(t->fk, fd), 0);
	/* and the caller can try again */
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &dev), 0);
}

/*
 * Defect 3: on success the group must hold the caller's fd before any other
 * thread can reach it.  Just after the library closes its duplicate, a
 * concurrent iommufd_device_open() of the other device of the group
 * arrives: if ctx->lock is free it runs to completion there and then (the
 * old code: its VFIO_GROUP_GET_DEVICE_FD hit the closed duplicate, EBADF);
 * if the lock is held it waits for it, as a real thread would.
 */
struct race {
	struct t *t;
	pthread_t th;
	bool joined;
	int r;
	struct iommufd_device *dev;
};

static void *open_sibling(void *arg)
{
	struct race *rc = arg;

	rc->r = iommufd_device_open(rc->t->ioas, FK_DEV_B2, NULL, &rc->dev);
	return NULL;
}

static void sibling_arrives(void *arg)
{
	struct race *rc = arg;
	bool lock_free = pthread_mutex_trylock(&rc->t->ctx->lock) == 0;

	if (lock_free)
		pthread_mutex_unlock(&rc->t->ctx->lock);
	assert_int_equal(pthread_create(&rc->th, NULL, open_sibling, rc), 0);
	if (lock_free) {
		pthread_join(rc->th, NULL);
		rc->joined = true;
	}
}

static void test_adopt_group_concurrent_open(void **state)
{
	struct t *t = *state;
	struct race rc = { .t = t, .r = 1 };
	struct iommufd_device *b = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	fake_kernel_after_close(t->fk, "group/6", sibling_arrives, &rc);
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &b), 0);
	if (!rc.joined)
		pthread_join(rc.th, NULL);
	if (rc.r)
		fail_msg("the concurrent open failed: %d\n%s", rc.r, t->cap.text ? t->cap.text : "");
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B2), 1);
	/* both devices live on the caller's group fd, opened once */
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/6"), 1);
	assert_int_equal(iommufd_device_destroy(b), 0);
	assert_int_equal(iommufd_device_destroy(rc.dev), 0);
	assert_false(fake_kernel_fd_is_open(t->fk, fd));
}

/* Defect 11: an empty device name is a bad argument, checked first. */
static void test_adopt_group_empty_name(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	errno = 0;
	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, "", NULL, &dev), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_null(dev);
	assert_int_equal(fake_kernel_log_count(t->fk), 1); /* only the test's own open */
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	fake_close(t, fd);
}

static void test_adopt_group_wrong_backend(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	int fd = fake_open(t, "/dev/vfio/6");

	assert_int_equal(iommufd_device_adopt_group_fd(t->ioas, fd, FK_DEV_B, NULL, &dev), -EOPNOTSUPP);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	fake_close(t, fd);
}

/* ------------------------------------------------------------------------ */
/* Groups and IOAS                                                          */

static void test_group_shared(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b = NULL, *b2 = NULL;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
	/* one open of the group node for both */
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/6"), 1);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_GROUP_SET_CONTAINER"), 1);
	assert_int_equal(fake_kernel_log_find(t->fk, "close", "group/6"), 0);
	assert_int_equal(iommufd_device_destroy(b), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "close", "group/6"), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B2), 1);
	assert_int_equal(iommufd_device_reset(b2), 0);
	assert_int_equal(iommufd_device_destroy(b2), 0);
	/* closes with the last */
	assert_int_equal(fake_kernel_log_find(t->fk, "close", "group/6"), 1);
	/* and a later open starts over */
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/6"), 2);
}

static void test_cdev_group_members(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b = NULL, *b2 = NULL;

	/* cdevs: no group fd at all, each device its own node */
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/6"), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "open", "/dev/vfio/devices/"), 2);
}

/*
 * All devices of an IOMMU group share one IOAS: GROUP and TYPE1 refuse a
 * second IOAS with -EEXIST, on CDEV the kernel's ATTACH_IOMMUFD_PT answers
 * EINVAL (iommufd_device_open(3) ERRORS).  The first device is unharmed.
 */
static void test_group_one_ioas(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *other = NULL;
	struct iommufd_device *b = NULL, *b2 = NULL;
	uint64_t iova;
	static uint8_t buf[PG] __attribute__((aligned(PG)));

	assert_int_equal(iommufd_ioas_create(t->ctx, &other), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	fk_logcap_clear(&t->cap);
	errno = 0;
	if (t->b == IOMMUFD_BACKEND_CDEV) {
		assert_int_equal(iommufd_device_open(other, FK_DEV_B2, NULL, &b2), -EINVAL);
		assert_int_equal(errno, EINVAL);
		assert_true(fk_logcap_has(&t->cap, "must share one IOAS"));
	} else {
		assert_int_equal(iommufd_device_open(other, FK_DEV_B2, NULL, &b2), -EEXIST);
		assert_int_equal(errno, EEXIST);
	}
	assert_null(b2);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B2), 0);
	assert_true(fk_logcap_has(&t->cap, FK_DEV_B2));
	/* the first device is untouched */
	assert_ptr_equal(iommufd_device_get_ioas(b), t->ioas);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 1);
	assert_int_equal(iommufd_ioas_map(t->ioas, buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_device_reset(b), 0);
	assert_int_equal(iommufd_ioas_destroy(other), 0);
	/* the same IOAS is fine */
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
}

/* GROUP: devices land in the IOAS asked for, whatever the compat IOAS was. */
static void test_group_compat_switching(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *b = NULL;
	struct iommufd_device *a = NULL, *db = NULL, *db2 = NULL;

	assert_int_equal(iommufd_ioas_create(t->ctx, &b), 0);
	assert_int_equal(iommufd_device_open(b, FK_DEV_B, NULL, &db), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_int_equal(iommufd_device_open(b, FK_DEV_B2, NULL, &db2), 0);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_B), (uint32_t)iommufd_ioas_get_id(b));
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), (uint32_t)iommufd_ioas_get_id(t->ioas));
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_B2), (uint32_t)iommufd_ioas_get_id(b));
	assert_ptr_equal(iommufd_device_get_ioas(db2), b);
}

/*
 * BUG (GROUP, minor): VFIO_GROUP_SET_CONTAINER with an iommufd creates a
 * "compat" IOAS in the kernel when none is selected
 * (iommufd_vfio_compat_ioas_create()); lib/backend_group.c group_dev_open()
 * joins at :28 and selects its own IOAS with IOMMU_VFIO_IOAS only at :38, so
 * every such join (the first, and the first after the selected IOAS was
 * destroyed) leaves an unused IOAS object in the iommufd until the context
 * is destroyed.  Fix: issue IOMMU_VFIO_IOAS SET before VFIO_GROUP_SET_CONTAINER.
 */
static void test_group_no_stray_ioas(void **state)
{
	struct t *t = *state;
	int fd = iommufd_ctx_get_fd(t->ctx);

	/* one IOAS (ours) + its HWPT + the device object */
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), 3);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	t->ioas = NULL;
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), 0);
}

static void test_move(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *b = NULL;
	struct iommufd_iova_range r[4];

	assert_int_equal(iommufd_ioas_create(t->ctx, &b), 0);
	assert_int_equal(iommufd_ioas_get_ranges(b, r, 4), 1);
	assert_int_equal(iommufd_device_attach(t->dev, b), 0);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), b);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), (uint32_t)iommufd_ioas_get_id(b));
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_DEVICE_ATTACH_IOMMUFD_PT"), 1);
	/* the new IOAS narrowed, the old one widened */
	assert_int_equal(iommufd_ioas_get_ranges(b, r, 4), 2);
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, r, 4), 1);
	/* the old IOAS is free now, the new one busy */
	assert_int_equal(iommufd_ioas_destroy(b), -EBUSY);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	t->ioas = b;
	/* attaching where it already is: nothing to do */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_attach(t->dev, b), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", NULL), 0);
	assert_int_equal(iommufd_device_attach(t->dev, NULL), -EINVAL);
	assert_int_equal(iommufd_device_attach(NULL, b), -EINVAL);
}

static void test_move_foreign_ioas(void **state)
{
	struct t *t = *state;
	struct iommufd_ctx *ctx2 = NULL;
	struct iommufd_ioas *foreign = NULL;

	assert_int_equal(fk_ctx_create(t->fk, t->b, NULL, &ctx2), 0);
	assert_int_equal(iommufd_ioas_create(ctx2, &foreign), 0);
	assert_int_equal(iommufd_device_attach(t->dev, foreign), -EINVAL);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	iommufd_ctx_destroy(ctx2);
}

static void test_move_conflict(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *b = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = FK_MSI_START };
	static uint8_t buf[PG] __attribute__((aligned(PG)));
	uint64_t iova;

	assert_int_equal(iommufd_ioas_create(t->ctx, &b), 0);
	assert_int_equal(iommufd_ioas_map(b, buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iommufd_device_attach(t->dev, b), -EADDRINUSE);
	/* still where it was, in the kernel and in the library */
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), (uint32_t)iommufd_ioas_get_id(t->ioas));
	assert_int_equal(iommufd_ioas_destroy(b), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), -EBUSY);
}

static void test_move_unsupported(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *b = NULL;

	assert_int_equal(iommufd_ioas_create(t->ctx, &b), 0);
	fk_logcap_clear(&t->cap);
	errno = 0;
	assert_int_equal(iommufd_device_attach(t->dev, b), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "cannot move"));
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 1);
	assert_int_equal(iommufd_ioas_destroy(b), 0);
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
}

/* ------------------------------------------------------------------------ */
/* Regions                                                                  */

static void test_region_info(void **state)
{
	struct t *t = *state;
	struct iommufd_region_info ri;

	assert_int_equal(iommufd_device_get_num_regions(t->dev), 9);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 0, &ri), 0);
	assert_int_equal(ri.size, 0x1000);
	assert_int_equal(ri.flags, IOMMUFD_REGION_F_READ | IOMMUFD_REGION_F_WRITE | IOMMUFD_REGION_F_MMAP);
	assert_int_equal(ri.offset, 0);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 2, &ri), 0);
	assert_int_equal(ri.size, 0x4000);
	assert_int_equal(ri.flags, IOMMUFD_REGION_F_READ | IOMMUFD_REGION_F_WRITE);
	assert_int_equal(ri.offset, 2ULL << 40);
	assert_int_equal(iommufd_device_get_region_info(t->dev, IOMMUFD_REGION_CONFIG, &ri), 0);
	assert_int_equal(ri.size, 256);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 1, &ri), 0);
	assert_int_equal(ri.size, 0);
	assert_int_equal(ri.flags, 0);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 9, &ri), -EINVAL);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 0, NULL), -EINVAL);
	assert_int_equal(iommufd_device_get_region_info(NULL, 0, &ri), -EINVAL);
	assert_int_equal(fake_kernel_log_count(t->fk), 0);
}

static void test_region_mmap(void **state)
{
	struct t *t = *state;
	uint8_t *mem = fake_kernel_dev_region_mem(t->fk, FK_DEV_A, 0);
	void *p = NULL, *q = NULL;
	size_t len = 0, len2 = 0;
	uint32_t v = 0;

	assert_int_equal(iommufd_device_map_region(t->dev, 0, &p, &len), 0);
	assert_non_null(p);
	assert_int_equal(len, 0x1000);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 1);
	/* the mapping is the device's memory */
	((volatile uint32_t *)p)[4] = 0x12345678;
	assert_int_equal(mem[16], 0x78);
	assert_int_equal(iommufd_device_region_read(t->dev, 0, 16, &v, 4), 0);
	assert_int_equal(v, 0x12345678);
	/* mapped once: the same mapping again */
	assert_int_equal(iommufd_device_map_region(t->dev, 0, &q, &len2), 0);
	assert_ptr_equal(p, q);
	assert_int_equal(fake_kernel_log_find(t->fk, "mmap", NULL), 1);
	assert_int_equal(iommufd_device_unmap_region(t->dev, 0), 0);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 0);
	assert_int_equal(iommufd_device_unmap_region(t->dev, 0), -ENOENT);
	/* what cannot be mmapped */
	assert_int_equal(iommufd_device_map_region(t->dev, 2, &p, &len), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_map_region(t->dev, 1, &p, &len), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_map_region(t->dev, IOMMUFD_REGION_CONFIG, &p, &len), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_map_region(t->dev, 9, &p, &len), -EINVAL);
	assert_int_equal(iommufd_device_map_region(t->dev, 99, &p, &len), -EINVAL);
	assert_int_equal(iommufd_device_map_region(t->dev, 0, NULL, &len), -EINVAL);
	assert_int_equal(iommufd_device_unmap_region(t->dev, 99), -EINVAL);
	/* destroy unmaps what is still mapped */
	assert_int_equal(iommufd_device_map_region(t->dev, 0, &p, &len), 0);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
}

static void test_region_mmap_fails(void **state)
{
	struct t *t = *state;
	void *p = (void *)0x1;
	size_t len = 7;

	fake_kernel_fail_match(t->fk, "mmap", 1, ENOMEM);
	assert_int_equal(iommufd_device_map_region(t->dev, 0, &p, &len), -ENOMEM);
	assert_ptr_equal(p, (void *)0x1);
	assert_true(fk_logcap_has(&t->cap, "mmap of region 0"));
	assert_int_equal(iommufd_device_map_region(t->dev, 0, &p, &len), 0);
	assert_int_equal(len, 0x1000);
}

/*
 * Defect 9: region descriptions are read once, at open; a register access
 * is one system call (before: VFIO_DEVICE_GET_REGION_INFO, then the
 * access).
 */
static void test_region_access_one_syscall(void **state)
{
	struct t *t = *state;
	struct iommufd_region_info ri;
	uint16_t cmd;
	uint32_t v = 7;

	assert_int_equal(iommufd_device_config_read(t->dev, 4, &cmd, 2), 0);
	assert_int_equal(fake_kernel_log_count(t->fk), 1);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_write(t->dev, 2, 8, &v, 4), 0);
	assert_int_equal(fake_kernel_log_count(t->fk), 1);
	assert_int_equal(fake_kernel_log_find(t->fk, "pwrite", NULL), 1);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_get_region_info(t->dev, 2, &ri), 0);
	assert_int_equal(iommufd_device_set_bus_master(t->dev, true), 0);
	assert_int_equal(fake_kernel_log_count(t->fk), 2); /* one pread, one pwrite */
}

/* The permissions of the page holding @p in /proc/self/maps ("rw-s"...). */
static void page_perms(const void *p, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && (uintptr_t)p >= lo && (uintptr_t)p < hi) {
			memcpy(out, perms, 5);
			found = true;
		}
	}
	fclose(f);
	assert_true(found);
}

/*
 * A BAR whose MSI-X table vfio-pci leaves out (VFIO_REGION_INFO_CAP_SPARSE_MMAP):
 * the areas are reported, mapped at their offsets in one reservation of the
 * region's size, and the hole stays PROT_NONE.  Before, the library mmapped
 * the whole BAR, which the kernel refuses.
 */
static void test_region_sparse_mmap(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fake_kernel_create(NULL);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_region_area a[4];
	uint8_t *mem, *p = NULL;
	size_t len = 0;
	char perms[5];

	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5, .bar0_size = 0x4000,
							  .bar0_hole_off = 0x1000, .bar0_hole_len = 0x1000 });
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_get_region_areas(dev, 0, a, 4), 2);
	assert_int_equal(a[0].offset, 0);
	assert_int_equal(a[0].size, 0x1000);
	assert_int_equal(a[1].offset, 0x2000);
	assert_int_equal(a[1].size, 0x2000);
	assert_int_equal(iommufd_device_get_region_areas(dev, 0, NULL, 0), 2);
	assert_int_equal(iommufd_device_get_region_areas(dev, 0, NULL, 1), -EINVAL);
	/* not mmappable: no area; mmappable as a whole: one */
	assert_int_equal(iommufd_device_get_region_areas(dev, 2, a, 4), 0);
	assert_int_equal(iommufd_device_get_region_areas(dev, 9, a, 4), -EINVAL);

	assert_int_equal(iommufd_device_map_region(dev, 0, (void **)&p, &len), 0);
	assert_int_equal(len, 0x4000);
	assert_int_equal(fake_kernel_live_mmaps(fk), 2);
	mem = fake_kernel_dev_region_mem(fk, FK_DEV_A, 0);
	p[0x10] = 0xa5;
	p[0x2010] = 0x5a;
	assert_int_equal(mem[0x10], 0xa5);
	assert_int_equal(mem[0x2010], 0x5a);
	page_perms(p, perms);
	assert_string_equal(perms, "rw-s");
	page_perms(p + 0x1000, perms);
	assert_string_equal(perms, "---p");
	page_perms(p + 0x3fff, perms);
	assert_string_equal(perms, "rw-s");
	/* the hole is still reachable through the fd */
	mem[0x1004] = 0x42;
	assert_int_equal(iommufd_device_region_read(dev, 0, 0x1004, &mem[0x20], 1), 0);
	assert_int_equal(mem[0x20], 0x42);
	assert_int_equal(iommufd_device_unmap_region(dev, 0), 0);
	assert_int_equal(fake_kernel_live_mmaps(fk), 0);
	/* destroy unmaps it too */
	assert_int_equal(iommufd_device_map_region(dev, 0, (void **)&p, &len), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_live_mmaps(fk), 0);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

/*
 * More than 16 regions (before, regions 16 and above could not be mapped),
 * and device-specific regions report their VFIO_REGION_INFO_CAP_TYPE.
 */
static void test_region_many_typed(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fake_kernel_create(NULL);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	uint32_t type = 0, subtype = 0, v = 0xfeedf00d, w = 0;
	void *p = NULL;
	size_t len = 0;

	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5, .extra_regions = 20 });
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_get_num_regions(dev), 29);
	assert_int_equal(iommufd_device_get_region_type(dev, 25, &type, &subtype), 0);
	assert_int_equal(type, FK_EXTRA_REGION_TYPE);
	assert_int_equal(subtype, 25);
	assert_int_equal(iommufd_device_get_region_type(dev, 0, &type, &subtype), -ENOENT);
	assert_int_equal(iommufd_device_get_region_type(dev, 29, &type, &subtype), -EINVAL);
	assert_int_equal(iommufd_device_get_region_type(dev, 25, NULL, &subtype), -EINVAL);
	assert_int_equal(iommufd_device_map_region(dev, 28, &p, &len), 0);
	assert_int_equal(len, 0x1000);
	((volatile uint32_t *)p)[1] = v;
	assert_int_equal(iommufd_device_region_read(dev, 28, 4, &w, 4), 0);
	assert_int_equal(w, v);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_live_mmaps(fk), 0);
	fake_kernel_destroy(fk);
}

/*
 * Malformed capability chains (offset past the buffer, misaligned, a loop,
 * a sparse capability claiming more areas than the answer holds) are
 * refused without reading past the answer (ASan/valgrind runs check that):
 * the open fails with -EIO and leaves nothing open.
 */
static void test_region_bad_caps(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	static const struct {
		enum fk_bad_caps bad;
		const char *log;
	} cases[] = {
		{ FK_CAPS_PAST_END, "malformed capability chain" },
		{ FK_CAPS_MISALIGNED, "malformed capability chain" },
		{ FK_CAPS_LOOP, "malformed capability chain" },
		{ FK_CAPS_AREAS_PAST_END, "more than its answer holds" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_kernel *fk = fake_kernel_create(NULL);
		struct iommufd_ctx *ctx = NULL;
		struct iommufd_ioas *ioas = NULL;
		struct iommufd_device *dev = NULL;
		struct fk_logcap cap;

		fk_logcap_init(&cap);
		fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5, .bar0_size = 0x4000,
								  .bar0_hole_off = 0x1000, .bar0_hole_len = 0x1000,
								  .bad_caps = cases[i].bad });
		assert_int_equal(fk_ctx_create(fk, b, &cap, &ctx), 0);
		assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -EIO);
		assert_null(dev);
		if (!fk_logcap_has(&cap, cases[i].log))
			fail_msg("case %zu: log lacks \"%s\":\n%s", i, cases[i].log, cap.text ? cap.text : "");
		assert_int_equal(fake_kernel_dev_open_count(fk, FK_DEV_A), 0);
		iommufd_ctx_destroy(ctx);
		assert_int_equal(fake_kernel_open_fds(fk), 0);
		fk_logcap_free(&cap);
		fake_kernel_destroy(fk);
	}
}

/* The pread/pwrite calls the fake saw since the log was cleared. */
static size_t accesses(struct t *t, const char *op, struct fk_call *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < fake_kernel_log_count(t->fk); i++) {
		struct fk_call c;

		assert_true(fake_kernel_log_get(t->fk, i, &c));
		if (strcmp(c.op, op))
			continue;
		if (n < max)
			out[n] = c;
		n++;
	}
	return n;
}

static void expect_access(const struct fk_call *c, int region, uint64_t off, uint64_t len)
{
	assert_int_equal(c->region, region);
	assert_int_equal(c->off, off);
	assert_int_equal(c->len, len);
}

static void test_region_rw_widths(void **state)
{
	struct t *t = *state;
	uint8_t *bar2 = fake_kernel_dev_region_mem(t->fk, FK_DEV_A, 2);
	struct fk_call c[8];
	uint8_t buf[32];
	uint64_t q = 0x1122334455667788ULL;

	for (int i = 0; i < 0x100; i++)
		bar2[i] = (uint8_t)i;
	/* aligned 4 bytes: one 4-byte access */
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x10, buf, 4), 0);
	assert_int_equal(accesses(t, "pread", c, 8), 1);
	expect_access(&c[0], 2, 0x10, 4);
	assert_memory_equal(buf, bar2 + 0x10, 4);
	/* aligned 8, 2, 1 */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x18, buf, 8), 0);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x22, buf, 2), 0);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x23, buf, 1), 0);
	assert_int_equal(accesses(t, "pread", c, 8), 3);
	expect_access(&c[0], 2, 0x18, 8);
	expect_access(&c[1], 2, 0x22, 2);
	expect_access(&c[2], 2, 0x23, 1);
	/* unaligned and odd: split into naturally aligned pieces */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x21, buf, 7), 0);
	assert_int_equal(accesses(t, "pread", c, 8), 3);
	expect_access(&c[0], 2, 0x21, 1);
	expect_access(&c[1], 2, 0x22, 2);
	expect_access(&c[2], 2, 0x24, 4);
	assert_memory_equal(buf, bar2 + 0x21, 7);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x40, buf, 20), 0);
	assert_int_equal(accesses(t, "pread", c, 8), 3);
	expect_access(&c[0], 2, 0x40, 8);
	expect_access(&c[1], 2, 0x48, 8);
	expect_access(&c[2], 2, 0x50, 4);
	/* a 4-byte access at 2 mod 4 is two 2-byte ones */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x6, buf, 4), 0);
	assert_int_equal(accesses(t, "pread", c, 8), 2);
	expect_access(&c[0], 2, 0x6, 2);
	expect_access(&c[1], 2, 0x8, 2);
	/* writes too */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_write(t->dev, 2, 0x100, &q, 8), 0);
	assert_int_equal(iommufd_device_region_write(t->dev, 2, 0x10c, &q, 4), 0);
	assert_int_equal(accesses(t, "pwrite", c, 8), 2);
	expect_access(&c[0], 2, 0x100, 8);
	expect_access(&c[1], 2, 0x10c, 4);
	assert_memory_equal(bar2 + 0x100, &q, 8);
	assert_memory_equal(bar2 + 0x10c, &q, 4);
	/* the end of the region, and past it */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x3ff8, buf, 8), 0);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x3ffc, buf, 8), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x4000, buf, 1), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, UINT64_MAX, buf, 1), -EINVAL);
	assert_int_equal(iommufd_device_region_write(t->dev, 2, 0x3fff, buf, 2), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0, buf, 0), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0, NULL, 4), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 9, 0, buf, 4), -EINVAL);
	assert_int_equal(iommufd_device_region_read(t->dev, 1, 0, buf, 4), -EINVAL);
	assert_int_equal(accesses(t, "pread", c, 8), 1);
	assert_int_equal(accesses(t, "pwrite", c, 8), 0);
}

static void test_region_rw_error(void **state)
{
	struct t *t = *state;
	uint32_t v;

	fake_kernel_fail_match(t->fk, "pread", 2, EIO);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x0, &v, 4), 0);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x0, &v, 4), -EIO);
	assert_int_equal(iommufd_device_region_read(t->dev, 2, 0x0, &v, 4), 0);
}

static void test_config(void **state)
{
	struct t *t = *state;
	uint8_t *cfg = fake_kernel_dev_config(t->fk, FK_DEV_A);
	struct fk_call c[4];
	uint32_t id = 0;
	uint16_t cmd = 0, vendor = 0xffff;

	assert_int_equal(iommufd_device_config_read(t->dev, 0, &id, 4), 0);
	assert_int_equal(id, 0x11e81234);
	/* the virtualized read-only vendor ID stays */
	assert_int_equal(iommufd_device_config_write(t->dev, 0, &vendor, 2), 0);
	assert_int_equal(iommufd_device_config_read(t->dev, 0, &vendor, 2), 0);
	assert_int_equal(vendor, 0x1234);
	assert_int_equal(iommufd_device_config_read(t->dev, 256, &id, 1), -EINVAL);
	assert_int_equal(iommufd_device_config_read(t->dev, 254, &id, 4), -EINVAL);

	assert_int_equal(cfg[4] & 0x06, 0x02); /* memory on, bus master off */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_set_bus_master(t->dev, true), 0);
	assert_int_equal(cfg[4] & 0x06, 0x06);
	/* a read-modify-write of the 16-bit command register */
	assert_int_equal(accesses(t, "pread", c, 4), 1);
	expect_access(&c[0], IOMMUFD_REGION_CONFIG, 4, 2);
	assert_int_equal(accesses(t, "pwrite", c, 4), 1);
	expect_access(&c[0], IOMMUFD_REGION_CONFIG, 4, 2);
	assert_int_equal(iommufd_device_config_read(t->dev, 4, &cmd, 2), 0);
	assert_int_equal(cmd & 0x4, 0x4);
	assert_int_equal(iommufd_device_set_bus_master(t->dev, true), 0);
	assert_int_equal(cfg[4] & 0x06, 0x06);
	assert_int_equal(iommufd_device_set_bus_master(t->dev, false), 0);
	assert_int_equal(cfg[4] & 0x06, 0x02);
	assert_int_equal(iommufd_device_set_bus_master(NULL, true), -EINVAL);
}

static void test_irqs(void **state)
{
	struct t *t = *state;
	int efd[3];
	eventfd_t v = 0;

	for (int i = 0; i < 3; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(efd[i] >= 0);
	}
	assert_int_equal(iommufd_device_get_irq_count(t->dev, IOMMUFD_IRQ_INTX), 1);
	assert_int_equal(iommufd_device_get_irq_count(t->dev, IOMMUFD_IRQ_MSI), 1);
	assert_int_equal(iommufd_device_get_irq_count(t->dev, IOMMUFD_IRQ_MSIX), 8);
	assert_int_equal(iommufd_device_get_irq_count(t->dev, IOMMUFD_IRQ_REQ), 1);
	assert_int_equal(iommufd_device_get_irq_count(t->dev, 7), 0);
	assert_int_equal(iommufd_device_get_irq_count(NULL, 0), -EINVAL);

	/* MSI-X vectors 2 and 3 (and 4 left unassigned) */
	int fds[3] = { efd[0], efd[1], -1 };
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_MSIX, 2, 3, fds), 0);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), efd[0]);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), efd[1]);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 4), -1);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 0), -1);
	/* an interrupt reaches the right eventfd */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), 0);
	assert_int_equal(eventfd_read(efd[1], &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(eventfd_read(efd[0], &v), -1);

	/* refused before reaching the kernel */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_MSIX, 7, 2, fds), -EINVAL);
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_MSIX, 8, 1, fds), -EINVAL);
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_MSIX, 0, 0, fds), -EINVAL);
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_MSIX, 0, 1, NULL), -EINVAL);
	assert_int_equal(iommufd_device_irq_enable(t->dev, 7, 0, 1, fds), -EINVAL);
	assert_int_equal(iommufd_device_irq_disable(t->dev, 7), -EINVAL);
	assert_int_equal(iommufd_device_irq_unmask(t->dev, 7, 0), -EINVAL);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_DEVICE_SET_IRQS"), 0);
	/* the kernel refuses INTx while MSI-X is on */
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_INTX, 0, 1, &efd[2]), -EINVAL);
	assert_true(fk_logcap_has(&t->cap, "VFIO_DEVICE_SET_IRQS"));

	assert_int_equal(iommufd_device_irq_disable(t->dev, IOMMUFD_IRQ_MSIX), 0);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), -1);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), -ENOENT);

	/* INTx with unmask */
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_INTX, 0, 1, &efd[2]), 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), 0);
	assert_int_equal(eventfd_read(efd[2], &v), 0);
	assert_int_equal(iommufd_device_irq_unmask(t->dev, IOMMUFD_IRQ_INTX, 0), 0);
	assert_int_equal(iommufd_device_irq_unmask(t->dev, IOMMUFD_IRQ_INTX, 0), 0);
	assert_int_equal(fake_kernel_dev_irq_unmasks(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX), 2);
	/* MSI-X cannot be unmasked through VFIO */
	assert_true(iommufd_device_irq_unmask(t->dev, IOMMUFD_IRQ_MSIX, 0) < 0);
	/* the error and request interrupts are independent of INTx/MSI */
	assert_int_equal(iommufd_device_irq_enable(t->dev, IOMMUFD_IRQ_REQ, 0, 1, &efd[0]), 0);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), efd[0]);
	/* a closed device stops signalling */
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), -1);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), -1);
	for (int i = 0; i < 3; i++)
		close(efd[i]);
}

static void test_reset(void **state)
{
	struct t *t = *state;
	struct iommufd_device *nr = NULL;
	uint8_t *cfg = fake_kernel_dev_config(t->fk, FK_DEV_A);

	assert_int_equal(iommufd_device_set_bus_master(t->dev, true), 0);
	assert_int_equal(iommufd_device_reset(t->dev), 0);
	assert_int_equal(fake_kernel_dev_resets(t->fk, FK_DEV_A), 1);
	assert_int_equal(cfg[4] & 0x04, 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NORESET, NULL, &nr), 0);
	fake_kernel_log_clear(t->fk);
	fk_logcap_clear(&t->cap);
	errno = 0;
	assert_int_equal(iommufd_device_reset(nr), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "no reset"));
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_DEVICE_RESET"), 0);
	assert_int_equal(fake_kernel_dev_resets(t->fk, FK_DEV_NORESET), 0);
	assert_int_equal(iommufd_device_reset(NULL), -EINVAL);
}

#define ALL3(f, s)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_CDEV),                   \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_GROUP),          \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_TYPE1)
#define ONE(f, s, b) cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&(b))
#define GT(f, s) ONE(f, s, B_GROUP), ONE(f, s, B_TYPE1)
#define PLAIN(f, b) cmocka_unit_test_prestate_setup_teardown(f, NULL, fk_teardown, (void *)&(b))

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL3(test_name_forms, setup_nodev),
		ALL3(test_name_upper_case_bdf, setup_nodev),
		ALL3(test_name_upper_case_uuid, setup_nodev),
		ALL3(test_not_vfio_devices, setup_nodev),
		ALL3(test_name_crafted_tree, setup_nodev),
		ONE(test_name_cdev_leads_back, setup_nodev, B_CDEV),
		ONE(test_name_cdev_node_canonical, setup_nodev, B_CDEV),
		ALL3(test_bad_args, setup_nodev),
		PLAIN(test_no_group, B_CDEV),
		PLAIN(test_no_group, B_GROUP),
		PLAIN(test_no_group, B_TYPE1),
		ALL3(test_nonviable_group, setup_nodev),
		ALL3(test_permission_denied, setup_nodev),
		GT(test_busy_elsewhere_group, setup_nodev),
		ALL3(test_busy_elsewhere_device, setup_nodev),
		ONE(test_bind_einval_stays_einval, setup_nodev, B_CDEV),
		ONE(test_adopt_cdev_already_bound, setup_nodev, B_CDEV),
		ONE(test_busy_elsewhere_shared_group, setup_nodev, B_CDEV),
		PLAIN(test_exclusive_device, B_GROUP),
		PLAIN(test_exclusive_device, B_TYPE1),
		ALL3(test_destroy, setup_dev),
		ALL3(test_destroy_frees_memory, setup_nodev),
		ALL3(test_accessors, setup_dev),
		ONE(test_adopt_cdev, setup_nodev, B_CDEV),
		ONE(test_adopt_cdev_refused, setup_nodev, B_CDEV),
		ONE(test_adopt_cdev_failure_after_bind, setup_nodev, B_CDEV),
		GT(test_adopt_cdev_wrong_backend, setup_nodev),
		GT(test_adopt_group, setup_nodev),
		GT(test_adopt_group_refused, setup_nodev),
		GT(test_adopt_group_failure_leaves_fd_untouched, setup_nodev),
		ONE(test_adopt_group_wrong_backend, setup_nodev, B_CDEV),
		ONE(test_adopt_group_concurrent_open, setup_nodev, B_GROUP),
		ONE(test_adopt_group_concurrent_open, setup_nodev, B_TYPE1),
		ALL3(test_adopt_group_empty_name, setup_nodev),
		GT(test_group_shared, setup_nodev),
		ONE(test_cdev_group_members, setup_nodev, B_CDEV),
		ALL3(test_group_one_ioas, setup_nodev),
		ONE(test_group_compat_switching, setup_nodev, B_GROUP),
		ONE(test_group_no_stray_ioas, setup_dev, B_GROUP),
		ONE(test_move, setup_dev, B_CDEV),
		ONE(test_move_foreign_ioas, setup_dev, B_CDEV),
		ONE(test_move_conflict, setup_dev, B_CDEV),
		GT(test_move_unsupported, setup_dev),
		ALL3(test_region_info, setup_dev),
		ALL3(test_region_mmap, setup_dev),
		ONE(test_region_mmap_fails, setup_dev, B_CDEV),
		ALL3(test_region_access_one_syscall, setup_dev),
		PLAIN(test_region_sparse_mmap, B_CDEV),
		PLAIN(test_region_sparse_mmap, B_GROUP),
		PLAIN(test_region_sparse_mmap, B_TYPE1),
		PLAIN(test_region_many_typed, B_CDEV),
		PLAIN(test_region_many_typed, B_TYPE1),
		PLAIN(test_region_bad_caps, B_CDEV),
		PLAIN(test_region_bad_caps, B_GROUP),
		ALL3(test_region_rw_widths, setup_dev),
		ONE(test_region_rw_error, setup_dev, B_GROUP),
		ALL3(test_config, setup_dev),
		ALL3(test_irqs, setup_dev),
		ALL3(test_reset, setup_dev),
	};

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
