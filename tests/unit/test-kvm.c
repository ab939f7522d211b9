/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Telling KVM about devices, on the fake kernel's KVM: the file each
 * backend hands over, the books the library keeps (one registration per
 * group, counted), the DEL on destroy, and the failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

struct t {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	const struct ifd_sys *sys;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct fk_logcap cap;
	int vm, kv; /* a VM fd and its KVM VFIO device */
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->b = *(const enum iommufd_backend *)*state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(FK_LINUX_7_3);
	t->sys = fake_kernel_sys(t->fk);
	assert_int_equal(fk_ctx_create(t->fk, t->b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	t->vm = fake_kernel_kvm_create_vm(t->fk);
	assert_true(t->vm >= FK_FD_BASE);
	t->kv = iommufd_kvm_vfio_create(t->ctx, t->vm);
	assert_true(t->kv >= FK_FD_BASE);
	fk_logcap_clear(&t->cap);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	iommufd_ctx_destroy(t->ctx);
	if (t->kv >= 0)
		t->sys->close(t->kv);
	if (t->vm >= 0)
		t->sys->close(t->vm);
	assert_int_equal(fake_kernel_open_fds(t->fk), 0);
	assert_int_equal(fake_kernel_kvm_vms(t->fk), 0);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	return 0;
}

/* The fd KVM must hold for @dev on this backend. */
static int kvm_file_of(struct t *t, struct iommufd_device *dev)
{
	return t->b == IOMMUFD_BACKEND_CDEV ? dev->fd : dev->group->fd;
}

static int attr(struct t *t, int kv, uint64_t what, int fd)
{
	int32_t f = fd;
	struct kvm_device_attr a = { .group = KVM_DEV_VFIO_GROUP, .attr = what, .addr = (uintptr_t)&f };

	return t->sys->ioctl(kv, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static void test_create(void **state)
{
	struct t *t = *state;
	int fds = fake_kernel_open_fds(t->fk);

	/* One KVM VFIO device per VM. */
	assert_int_equal(iommufd_kvm_vfio_create(t->ctx, t->vm), -EBUSY);
	assert_int_equal(errno, EBUSY);
	assert_true(fk_logcap_has(&t->cap, "already has its KVM VFIO device"));
	assert_int_equal(iommufd_kvm_vfio_create(NULL, t->vm), -EINVAL);
	assert_int_equal(iommufd_kvm_vfio_create(t->ctx, -1), -EINVAL);
	/* Not a VM: the KVM VFIO device itself. */
	assert_int_equal(iommufd_kvm_vfio_create(t->ctx, t->kv), -ENOTTY);
	assert_true(fk_logcap_has(&t->cap, "pass a VM fd"));
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	/* Once the first is closed, the VM takes another. */
	assert_int_equal(t->sys->close(t->kv), 0);
	t->kv = iommufd_kvm_vfio_create(t->ctx, t->vm);
	assert_true(t->kv >= FK_FD_BASE);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
}

static void test_add_del(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	/* The backend's file: the cdev, or the group. */
	assert_true(fake_kernel_kvm_vfio_holds(t->fk, t->kv, kvm_file_of(t, dev)));
	if (t->b == IOMMUFD_BACKEND_CDEV)
		assert_int_equal(fake_kernel_cdev_bound(t->fk, kvm_file_of(t, dev)), 1);
	else
		assert_true(fake_kernel_group_state(t->fk, kvm_file_of(t, dev)) > 0);

	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), -EEXIST);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);

	assert_int_equal(iommufd_device_kvm_del(dev), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	assert_int_equal(iommufd_device_kvm_del(dev), -ENOENT);
	assert_int_equal(errno, ENOENT);
	/* And again: nothing of the first registration is left over. */
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	assert_int_equal(iommufd_device_kvm_del(dev), 0);

	assert_int_equal(iommufd_device_kvm_add(NULL, t->kv), -EINVAL);
	assert_int_equal(iommufd_device_kvm_add(dev, -1), -EINVAL);
	assert_int_equal(iommufd_device_kvm_del(NULL), -EINVAL);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	iommufd_device_destroy(dev);
}

/*
 * KVM holds a reference to the file: a device destroyed while added would
 * stay open in the kernel, and the VM with it.  Destroy deletes it, also
 * after the caller closed its KVM fds.
 */
static void test_destroy_deletes(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;
	int fds = fake_kernel_open_fds(t->fk);

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	assert_int_equal(t->sys->close(t->vm), 0);
	t->vm = -1;
	assert_int_equal(fake_kernel_kvm_vms(t->fk), 1);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
	/* The library's duplicate of the KVM VFIO fd is gone: only ours keeps the VM. */
	assert_int_equal(t->sys->close(t->kv), 0);
	t->kv = -1;
	assert_int_equal(fake_kernel_kvm_vms(t->fk), 0);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds - 2);
}

/* The caller may close its KVM VFIO fd at once: the library deletes through its own. */
static void test_caller_closes(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	assert_int_equal(t->sys->close(t->kv), 0);
	t->kv = -1;
	assert_int_equal(t->sys->close(t->vm), 0);
	t->vm = -1;
	assert_int_equal(fake_kernel_kvm_vms(t->fk), 1);
	assert_int_equal(iommufd_device_kvm_del(dev), 0);
	assert_int_equal(fake_kernel_kvm_vms(t->fk), 0);
	iommufd_device_destroy(dev);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
}

/* Two devices of one group: one registration on GROUP/TYPE1, two on CDEV. */
static void test_group_shared(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b, *b2;
	int shared = t->b != IOMMUFD_BACKEND_CDEV;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
	assert_int_equal(iommufd_device_kvm_add(b, t->kv), 0);
	assert_int_equal(iommufd_device_kvm_add(b2, t->kv), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), shared ? 1 : 2);
	assert_int_equal(iommufd_device_kvm_del(b), 0);
	/* The group stays given to KVM while b2 is. */
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	assert_true(fake_kernel_kvm_vfio_holds(t->fk, t->kv, kvm_file_of(t, b2)));
	assert_int_equal(iommufd_device_kvm_add(b, t->kv), 0);
	/* Destroy drops a reference too. */
	iommufd_device_destroy(b2);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	assert_true(fake_kernel_kvm_vfio_holds(t->fk, t->kv, kvm_file_of(t, b)));
	iommufd_device_destroy(b);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
}

/* A group cannot go to two VMs; on CDEV each device goes where it is told. */
static void test_group_two_vms(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b, *b2;
	int vm2 = fake_kernel_kvm_create_vm(t->fk);
	int kv2 = iommufd_kvm_vfio_create(t->ctx, vm2);

	assert_true(kv2 >= FK_FD_BASE);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B2, NULL, &b2), 0);
	assert_int_equal(iommufd_device_kvm_add(b, t->kv), 0);
	if (t->b == IOMMUFD_BACKEND_CDEV) {
		assert_int_equal(iommufd_device_kvm_add(b2, kv2), 0);
		assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, kv2), 1);
	} else {
		assert_int_equal(iommufd_device_kvm_add(b2, kv2), -EBUSY);
		assert_true(fk_logcap_has(&t->cap, "another KVM VFIO device"));
		assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, kv2), 0);
		/* b2's refusal left b's registration alone. */
		assert_int_equal(iommufd_device_kvm_del(b2), -ENOENT);
	}
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	iommufd_device_destroy(b);
	iommufd_device_destroy(b2);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, kv2), 0);
	t->sys->close(kv2);
	t->sys->close(vm2);
}

static void test_add_errors(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;
	int fds;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	fds = fake_kernel_open_fds(t->fk);
	/* Not a KVM VFIO device. */
	assert_int_equal(iommufd_device_kvm_add(dev, t->vm), -ENOTTY);
	assert_true(fk_logcap_has(&t->cap, "is not a KVM VFIO device"));
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	/* The duplicate fails, then the ADD: nothing is kept either time. */
	fake_kernel_fail_match(t->fk, "dup", 1, EMFILE);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), -EMFILE);
	fake_kernel_fail_match(t->fk, "KVM_SET_DEVICE_ATTR FILE_ADD", 1, ENOMEM);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), -ENOMEM);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	assert_int_equal(iommufd_device_kvm_del(dev), -ENOENT);
	/* KVM already holds the file (the caller added it itself). */
	assert_int_equal(attr(t, t->kv, KVM_DEV_VFIO_GROUP_ADD, kvm_file_of(t, dev)), 0);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), -EEXIST);
	assert_true(fk_logcap_has(&t->cap, "already holds"));
	assert_int_equal(attr(t, t->kv, KVM_DEV_VFIO_GROUP_DEL, kvm_file_of(t, dev)), 0);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	iommufd_device_destroy(dev);
}

static void test_del_errors(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	/* A failed DEL keeps the books: a second try works. */
	fake_kernel_fail_match(t->fk, "KVM_SET_DEVICE_ATTR FILE_DEL", 1, EIO);
	assert_int_equal(iommufd_device_kvm_del(dev), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
	assert_int_equal(iommufd_device_kvm_del(dev), 0);
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 0);
	/* Deleted behind the library's back: the del still succeeds, warned. */
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	assert_int_equal(attr(t, t->kv, KVM_DEV_VFIO_GROUP_DEL, kvm_file_of(t, dev)), 0);
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_device_kvm_del(dev), 0);
	assert_true(fk_logcap_has(&t->cap, "deleted outside the library"));
	/* A destroy whose DEL fails still frees the library's duplicate. */
	assert_int_equal(iommufd_device_kvm_add(dev, t->kv), 0);
	fake_kernel_fail_match(t->fk, "KVM_SET_DEVICE_ATTR FILE_DEL", 1, EIO);
	iommufd_device_destroy(dev);
	fake_kernel_fail_clear(t->fk);
	assert_true(fk_logcap_has(&t->cap, "KVM_DEV_VFIO_FILE_DEL failed"));
	/* KVM keeps the file, as the real one would: only the VM's end frees it. */
	assert_int_equal(fake_kernel_kvm_vfio_files(t->fk, t->kv), 1);
}

#define ALL3(f)                                                                           \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_CDEV),    \
		cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_GROUP), \
		cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_TYPE1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL3(test_create),
		ALL3(test_add_del),
		ALL3(test_destroy_deletes),
		ALL3(test_caller_closes),
		ALL3(test_group_shared),
		ALL3(test_group_two_vms),
		ALL3(test_add_errors),
		ALL3(test_del_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
