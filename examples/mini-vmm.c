/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mini-vmm: the VMM use case end to end, as small as it gets.
 *
 *   mini-vmm [BDF]        (default: $IFD_EDU, else 0000:00:03.0)
 *
 * A KVM guest with one vCPU in flat 32-bit protected mode, whose RAM is a
 * memfd mapped into the VMM and into an IOAS at IOVA = guest-physical
 * address.  QEMU's edu device is assigned to it: given to KVM
 * (iommufd_device_kvm_add()) and its BAR0 mapped into the guest as a KVM
 * memory slot over the VFIO BAR mmap, so the guest's MMIO goes straight to
 * the device.  A few bytes of guest code program edu's DMA with
 * guest-physical addresses: RAM -> edu, then edu -> RAM at another
 * address, then HLT.  The VMM checks that the device wrote into guest
 * memory through the IOMMU.  Should KVM ever exit on a BAR access instead
 * (no slot: --trap-mmio), the access is forwarded to the BAR mmap and
 * counted.
 *
 * Exit status: 0 the guest's DMA landed; 1 anything else (including no
 * /dev/kvm: this example exists to prove the path).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <libiommufd/libiommufd.h>

#include "edu.h"

#define RAM_SIZE  0x200000ull    /* 2 MiB of guest RAM at GPA 0 */
#define CODE_GPA  0x1000u
#define SRC_GPA   0x10000u       /* the pattern the VMM writes */
#define DST_GPA   0x20000u       /* where edu must write it back */
#define XFER      EDU_BUF_SIZE
#define BAR_GPA   0x80000000u    /* edu's BAR0 in the guest */
#define RUN_LIMIT 100000         /* KVM_RUN exits before giving up */

struct vmm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_len;
	uint8_t *ram;
	int ram_fd;
	volatile uint8_t *bar;
	size_t bar_len;
	unsigned long mmio_exits;
};

/* ---- the guest's code, 32-bit, assembled by hand --------------------- */

struct code {
	uint8_t b[256];
	size_t n;
};

static void emit(struct code *c, const void *p, size_t n)
{
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static void emit32(struct code *c, uint32_t v)
{
	emit(c, &v, 4);
}

/* mov ebx, imm32 */
static void mov_ebx(struct code *c, uint32_t v)
{
	emit(c, "\xbb", 1);
	emit32(c, v);
}

/* mov dword [ebx + disp32], imm32: one 4-byte MMIO write to edu */
static void store(struct code *c, uint32_t disp, uint32_t v)
{
	emit(c, "\xc7\x83", 2);
	emit32(c, disp);
	emit32(c, v);
}

/* 1: test dword [ebx + disp32], 1; jnz 1b -- poll until the DMA is done */
static void wait_clear(struct code *c, uint32_t disp)
{
	emit(c, "\xf7\x83", 2);
	emit32(c, disp);
	emit32(c, EDU_DMA_START);
	emit(c, "\x75\xf4", 2); /* back over the 10-byte test and itself */
}

static void guest_dma(struct code *c, uint32_t src, uint32_t dst, uint32_t cmd)
{
	store(c, EDU_REG_DMA_SRC, src);
	store(c, EDU_REG_DMA_DST, dst);
	store(c, EDU_REG_DMA_COUNT, XFER);
	store(c, EDU_REG_DMA_CMD, cmd);
	wait_clear(c, EDU_REG_DMA_CMD);
}

static void build_guest(struct code *c)
{
	c->n = 0;
	mov_ebx(c, BAR_GPA);
	guest_dma(c, SRC_GPA, EDU_BUF_ADDR, EDU_DMA_START);                  /* RAM -> edu */
	guest_dma(c, EDU_BUF_ADDR, DST_GPA, EDU_DMA_START | EDU_DMA_TO_RAM); /* edu -> RAM */
	emit(c, "\xf4", 1);                                                  /* hlt */
}

/* ---- KVM --------------------------------------------------------------- */

static int fail(const char *what)
{
	fprintf(stderr, "mini-vmm: %s: %s\n", what, strerror(errno));
	return -1;
}

static int set_slot(struct vmm *v, uint32_t slot, uint64_t gpa, uint64_t len, void *hva)
{
	struct kvm_userspace_memory_region mr = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = len, .userspace_addr = (uintptr_t)hva,
	};

	return ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &mr);
}

static int kvm_open(struct vmm *v)
{
	int n;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0) {
		fprintf(stderr, "mini-vmm: /dev/kvm: %s: this machine has no usable KVM (load kvm_amd or kvm_intel; "
			"the CPU needs SVM or VMX)\n", strerror(errno));
		return -1;
	}
	if (ioctl(v->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "mini-vmm: /dev/kvm: unexpected KVM API version\n");
		return -1;
	}
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		return fail("KVM_CREATE_VM");
	n = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	v->run_len = (size_t)n;
	return 0;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
				   .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
}

/* One vCPU in flat 32-bit protected mode at CODE_GPA: no GDT needed as
 * long as the guest loads no segment register. */
static int vcpu_create(struct vmm *v)
{
	struct kvm_sregs sr;
	struct kvm_regs rg = { .rip = CODE_GPA, .rflags = 0x2 };

	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	v->run = mmap(NULL, v->run_len, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return fail("mmap of the vCPU");
	}
	if (ioctl(v->vcpu, KVM_GET_SREGS, &sr) < 0)
		return fail("KVM_GET_SREGS");
	flat_seg(&sr.cs, 0x08, 0xb);
	flat_seg(&sr.ds, 0x10, 0x3);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.cr0 |= 1; /* PE */
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sr) < 0)
		return fail("KVM_SET_SREGS");
	if (ioctl(v->vcpu, KVM_SET_REGS, &rg) < 0)
		return fail("KVM_SET_REGS");
	return 0;
}

/* A BAR access KVM handed back: do it on the VFIO mmap. */
static int forward_mmio(struct vmm *v)
{
	uint64_t off = v->run->mmio.phys_addr - BAR_GPA;
	uint32_t len = v->run->mmio.len;

	if (v->run->mmio.phys_addr < BAR_GPA || off >= v->bar_len || (len != 4 && len != 8) || len > v->bar_len - off) {
		fprintf(stderr, "mini-vmm: guest MMIO outside edu's BAR0: 0x%llx+%u\n",
			(unsigned long long)v->run->mmio.phys_addr, len);
		return -1;
	}
	v->mmio_exits++;
	if (v->run->mmio.is_write) {
		if (len == 4)
			*(volatile uint32_t *)(v->bar + off) = *(uint32_t *)v->run->mmio.data;
		else
			*(volatile uint64_t *)(v->bar + off) = *(uint64_t *)v->run->mmio.data;
	} else if (len == 4) {
		uint32_t x = *(volatile uint32_t *)(v->bar + off);

		memcpy(v->run->mmio.data, &x, 4);
	} else {
		uint64_t x = *(volatile uint64_t *)(v->bar + off);

		memcpy(v->run->mmio.data, &x, 8);
	}
	return 0;
}

static int run_guest(struct vmm *v)
{
	for (int i = 0; i < RUN_LIMIT; i++) {
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail("KVM_RUN");
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_MMIO:
			if (forward_mmio(v) < 0)
				return -1;
			break;
		default:
			fprintf(stderr, "mini-vmm: unexpected KVM exit %u (hardware reason 0x%llx)\n",
				v->run->exit_reason, (unsigned long long)v->run->hw.hardware_exit_reason);
			return -1;
		}
	}
	fprintf(stderr, "mini-vmm: the guest did not halt after %d exits\n", RUN_LIMIT);
	return -1;
}

/* ---- guest RAM into the IOAS ------------------------------------------- */

/*
 * The one place guest RAM enters the IOAS, at IOVA = GPA: by file, so that
 * where the kernel has IOMMU_IOAS_MAP_FILE it pins the memfd's pages (what
 * a live update needs), and where it does not (TYPE1, older iommufd) the
 * library maps its own shared mmap of the same pages: one call either way.
 */
static int map_guest_ram(struct iommufd_ioas *ioas, struct vmm *v)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0 };
	uint64_t iova;

	return iommufd_ioas_map_file(ioas, v->ram_fd, 0, RAM_SIZE,
				     IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &o, &iova);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + (i >> 8) + 0x3c);
}

int main(int argc, char **argv)
{
	struct vmm v = { .kvm = -1, .vm = -1, .vcpu = -1, .ram_fd = -1 };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	bool trap = false;
	const char *bdf = NULL;
	struct code code;
	void *bar;
	int r, kv, rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--trap-mmio"))
			trap = true;
		else if (argv[i][0] != '-' && !bdf)
			bdf = argv[i];
		else {
			fprintf(stderr, "usage: mini-vmm [--trap-mmio] [BDF]   (default $IFD_EDU, else 0000:00:03.0)\n");
			return 1;
		}
	}
	if (!bdf)
		bdf = getenv("IFD_EDU");
	if (!bdf || !*bdf)
		bdf = "0000:00:03.0";
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (kvm_open(&v) < 0)
		goto out;
	v.ram_fd = memfd_create("mini-vmm-ram", MFD_CLOEXEC);
	if (v.ram_fd < 0 || ftruncate(v.ram_fd, RAM_SIZE) < 0) {
		fail("guest RAM memfd");
		goto out;
	}
	v.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v.ram_fd, 0);
	if (v.ram == MAP_FAILED) {
		v.ram = NULL;
		fail("mmap of guest RAM");
		goto out;
	}
	if (set_slot(&v, 0, 0, RAM_SIZE, v.ram) < 0) {
		fail("KVM_SET_USER_MEMORY_REGION (RAM)");
		goto out;
	}

	r = iommufd_ctx_create(NULL, &ctx);
	if (r == 0)
		r = iommufd_ioas_create(ctx, &ioas);
	if (r < 0) {
		fprintf(stderr, "mini-vmm: no IOMMU context: %s\n", strerror(-r));
		goto out;
	}
	printf("mini-vmm: backend %s\n", iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	r = map_guest_ram(ioas, &v);
	if (r < 0) {
		fprintf(stderr, "mini-vmm: mapping guest RAM at IOVA 0: %s\n", strerror(-r));
		goto out;
	}
	r = iommufd_device_open(ioas, bdf, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "mini-vmm: iommufd_device_open(%s): %s\n", bdf, strerror(-r));
		goto out;
	}
	/* KVM learns of the device; the library keeps its own fd for the DEL. */
	kv = iommufd_kvm_vfio_create(ctx, v.vm);
	if (kv < 0) {
		fprintf(stderr, "mini-vmm: KVM VFIO device: %s\n", strerror(-kv));
		goto out;
	}
	r = iommufd_device_kvm_add(dev, kv);
	close(kv);
	if (r == -EOPNOTSUPP && iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_NOIOMMU) {
		/* The guest would program the edu with guest-physical
		 * addresses, which without an IOMMU are host memory. */
		printf("mini-vmm: no IOMMU: the library refuses to give %s to KVM (%s), so no guest runs with it\n",
		       bdf, strerror(-r));
		printf("mini-vmm: PASS (noiommu: device assignment refused as it must be)\n");
		rc = 0;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "mini-vmm: iommufd_device_kvm_add: %s\n", strerror(-r));
		goto out;
	}
	printf("mini-vmm: %s assigned, given to KVM\n", bdf);

	r = iommufd_device_map_region(dev, IOMMUFD_REGION_BAR0, &bar, &v.bar_len);
	if (r == 0)
		r = iommufd_device_set_bus_master(dev, true);
	if (r < 0) {
		fprintf(stderr, "mini-vmm: edu BAR0: %s\n", strerror(-r));
		goto out;
	}
	v.bar = bar;
	if (*(volatile uint32_t *)v.bar != EDU_ID_VALUE) {
		fprintf(stderr, "mini-vmm: %s is not an edu device\n", bdf);
		goto out;
	}
	if (!trap && set_slot(&v, 1, BAR_GPA, v.bar_len, bar) < 0) {
		fail("KVM_SET_USER_MEMORY_REGION (edu BAR0)");
		goto out;
	}

	build_guest(&code);
	memcpy(v.ram + CODE_GPA, code.b, code.n);
	fill(v.ram + SRC_GPA, XFER);
	memset(v.ram + DST_GPA, 0, XFER);
	if (vcpu_create(&v) < 0 || run_guest(&v) < 0)
		goto out;
	printf("mini-vmm: guest halted; BAR0 %s (%lu MMIO exits)\n",
	       trap ? "trapped and forwarded" : "mapped as a memory slot", v.mmio_exits);
	if (!trap && v.mmio_exits) {
		fprintf(stderr, "mini-vmm: the BAR's memory slot did not take the guest's accesses\n");
		goto out;
	}
	if (memcmp(v.ram + DST_GPA, v.ram + SRC_GPA, XFER)) {
		size_t i = 0;

		while (v.ram[DST_GPA + i] == v.ram[SRC_GPA + i])
			i++;
		fprintf(stderr, "mini-vmm: guest RAM at GPA 0x%x differs from 0x%x at byte %zu (0x%02x, want 0x%02x)\n",
			DST_GPA, SRC_GPA, i, v.ram[DST_GPA + i], v.ram[SRC_GPA + i]);
		goto out;
	}
	printf("mini-vmm: edu DMA'd %u bytes GPA 0x%x -> edu -> GPA 0x%x through the IOMMU: OK\n", XFER, SRC_GPA,
	       DST_GPA);
	rc = 0;
out:
	/* Destroy deletes the device from KVM before closing it. */
	iommufd_device_destroy(dev);
	iommufd_ctx_destroy(ctx);
	if (v.run)
		munmap(v.run, v.run_len);
	if (v.vcpu >= 0)
		close(v.vcpu);
	if (v.vm >= 0)
		close(v.vm);
	if (v.kvm >= 0)
		close(v.kvm);
	if (v.ram)
		munmap(v.ram, RAM_SIZE);
	if (v.ram_fd >= 0)
		close(v.ram_fd);
	return rc;
}
