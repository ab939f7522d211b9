/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The fake kernel's KVM: VM fds and their KVM VFIO device, modelled on the
 * rules of Linux 7.3 (include/uapi/linux/kvm.h, the kvm-vfio pseudo-device):
 * one VFIO device per VM at a time, a list of VFIO files each held by a
 * reference, EEXIST on a second ADD of one file (whatever fd names it),
 * ENOENT on a DEL of a file not in the list; closing the device fd drops
 * every file it holds, and the device keeps its VM alive.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "fake-kernel.h"

struct fk_vm {
	int refs;         /* the VM fd, its KVM VFIO device */
	bool has_vfio;    /* a KVM VFIO device is open */
	int *live;        /* the fake kernel's count of live VMs */
};

struct fk_kvm_vfio {
	struct fk_vm *vm;
	void **files;
	size_t n, cap;
};

static int vm_ioctl(struct fake_kernel *fk, void *obj, unsigned long req, void *arg);
static void vm_release(struct fake_kernel *fk, void *obj);
static int kv_ioctl(struct fake_kernel *fk, void *obj, unsigned long req, void *arg);
static void kv_release(struct fake_kernel *fk, void *obj);

static const struct fk_ext_ops vm_ops = { .ioctl = vm_ioctl, .release = vm_release };
static const struct fk_ext_ops kv_ops = { .ioctl = kv_ioctl, .release = kv_release };

/* VMs alive, for fake_kernel_kvm_vms(); only touched under the fake's lock. */
static int vms_alive;

static void vm_put(struct fk_vm *vm)
{
	if (--vm->refs == 0) {
		(*vm->live)--;
		free(vm);
	}
}

static int vm_ioctl(struct fake_kernel *fk, void *obj, unsigned long req, void *arg)
{
	struct fk_vm *vm = obj;
	struct kvm_create_device *cd = arg;
	struct fk_kvm_vfio *kv;

	if (req != KVM_CREATE_DEVICE)
		return -ENOTTY;
	if (!cd)
		return -EFAULT;
	if (cd->type != KVM_DEV_TYPE_VFIO)
		return -ENODEV;
	if (cd->flags & KVM_CREATE_DEVICE_TEST)
		return 0;
	if (vm->has_vfio)
		return -EBUSY;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->vm = vm;
	vm->refs++;
	vm->has_vfio = true;
	cd->fd = (uint32_t)fk_ext_install(fk, &kv_ops, kv, "kvm-vfio");
	return 0;
}

static void vm_release(struct fake_kernel *fk, void *obj)
{
	(void)fk;
	vm_put(obj);
}

static long kv_find(const struct fk_kvm_vfio *kv, const void *file)
{
	for (size_t i = 0; i < kv->n; i++)
		if (kv->files[i] == file)
			return (long)i;
	return -1;
}

static int kv_ioctl(struct fake_kernel *fk, void *obj, unsigned long req, void *arg)
{
	struct fk_kvm_vfio *kv = obj;
	const struct kvm_device_attr *a = arg;
	void *file;
	int32_t fd;
	long i;

	if (req != KVM_SET_DEVICE_ATTR)
		return -ENOTTY;
	if (!a)
		return -EFAULT;
	if (a->group != KVM_DEV_VFIO_GROUP ||
	    (a->attr != KVM_DEV_VFIO_GROUP_ADD && a->attr != KVM_DEV_VFIO_GROUP_DEL))
		return -ENXIO;
	if (!a->addr)
		return -EFAULT;
	memcpy(&fd, (const void *)(uintptr_t)a->addr, sizeof(fd));
	file = fk_file_peek(fk, fd);
	if (!file)
		return -EBADF;
	i = kv_find(kv, file);
	if (a->attr == KVM_DEV_VFIO_GROUP_DEL) {
		if (i < 0)
			return -ENOENT;
		kv->files[i] = kv->files[--kv->n];
		fk_file_unref(fk, file);
		return 0;
	}
	if (!fk_file_is_vfio(file))
		return -EINVAL;
	if (i >= 0)
		return -EEXIST;
	if (kv->n == kv->cap) {
		void **p = realloc(kv->files, (kv->cap + 4) * sizeof(*p));

		if (!p)
			return -ENOMEM;
		kv->files = p;
		kv->cap += 4;
	}
	fk_file_ref(file);
	kv->files[kv->n++] = file;
	return 0;
}

static void kv_release(struct fake_kernel *fk, void *obj)
{
	struct fk_kvm_vfio *kv = obj;

	while (kv->n)
		fk_file_unref(fk, kv->files[--kv->n]);
	free(kv->files);
	kv->vm->has_vfio = false;
	vm_put(kv->vm);
	free(kv);
}

const char *fk_kvm_attr_name(const void *arg)
{
	const struct kvm_device_attr *a = arg;

	if (a && a->group == KVM_DEV_VFIO_GROUP && a->attr == KVM_DEV_VFIO_GROUP_ADD)
		return "KVM_SET_DEVICE_ATTR FILE_ADD";
	if (a && a->group == KVM_DEV_VFIO_GROUP && a->attr == KVM_DEV_VFIO_GROUP_DEL)
		return "KVM_SET_DEVICE_ATTR FILE_DEL";
	return "KVM_SET_DEVICE_ATTR";
}

int fake_kernel_kvm_create_vm(struct fake_kernel *fk)
{
	struct fk_vm *vm = calloc(1, sizeof(*vm));
	int fd;

	if (!vm)
		return -ENOMEM;
	fk = fk_enter();
	vm->refs = 1;
	vm->live = &vms_alive;
	vms_alive++;
	fd = fk_ext_install(fk, &vm_ops, vm, "kvm-vm");
	fk_leave();
	return fd;
}

int fake_kernel_kvm_vfio_files(struct fake_kernel *fk, int kvm_fd)
{
	struct fk_kvm_vfio *kv;
	int n;

	fk = fk_enter();
	kv = fk_ext_get(fk, kvm_fd, &kv_ops);
	n = kv ? (int)kv->n : -1;
	fk_leave();
	return n;
}

bool fake_kernel_kvm_vfio_holds(struct fake_kernel *fk, int kvm_fd, int vfio_fd)
{
	struct fk_kvm_vfio *kv;
	void *file;
	bool r;

	fk = fk_enter();
	kv = fk_ext_get(fk, kvm_fd, &kv_ops);
	file = fk_file_peek(fk, vfio_fd);
	r = kv && file && kv_find(kv, file) >= 0;
	fk_leave();
	return r;
}

int fake_kernel_kvm_vms(struct fake_kernel *fk)
{
	int n;

	(void)fk;
	fk_enter();
	n = vms_alive;
	fk_leave();
	return n;
}
