/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * lib/kabi.h - libiommufd's private description of the kernel ABI it speaks.
 *
 * Why this file exists
 * --------------------
 * libiommufd must build on systems whose kernel uAPI headers are older than
 * the kernel it runs on.  Debian 12 ships linux-libc-dev 6.1: it has
 * <linux/vfio.h> (groups, containers, type1, regions, irqs) but has no
 * <linux/iommufd.h> at all and none of the VFIO "cdev" ioctls.  So the library
 * describes every iommufd ioctl, and every VFIO ioctl that 6.1 lacks, here,
 * from the documented uAPI layout, under names of its own:
 *
 *   struct ifd_k_<name>    the argument block of a kernel ioctl, where <name>
 *                          is the kernel's struct name without its leading
 *                          "iommu_" / "iommufd_" (struct ifd_k_ioas_map
 *                          describes the kernel's struct iommu_ioas_map).
 *                          VFIO structs keep their "vfio_" part
 *                          (struct ifd_k_vfio_device_bind_iommufd).
 *   IFD_K_<KERNEL_NAME>    an ioctl request number, flag, type id or other
 *                          constant; <KERNEL_NAME> is the kernel's own
 *                          spelling (IFD_K_IOMMU_IOAS_MAP,
 *                          IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA).
 *   IFD_K_<STRUCT>_SIZE_<STEP>
 *                          byte sizes of the historical layouts of the
 *                          structs that grew (see "Sizes" below).
 *
 * Because nothing here is spelled like the kernel's identifiers, this header
 * can be included together with any version of <linux/iommufd.h> and
 * <linux/vfio.h>, in C and in C++ (tests/abi/clash-check.c{,c} prove it), and
 * tests/abi/abi-check.c proves, field by field, that every layout and value
 * matches the reference kernel headers (Linux 7.3).
 *
 * What is deliberately NOT here: anything Debian 12's <linux/vfio.h> (6.1)
 * already defines.  The library includes <linux/vfio.h> for the legacy
 * group/container/type1 API and the device region/irq API.
 *
 * Conventions of the iommufd ABI (from the iommufd documentation)
 * ----------------------------------------------------------------
 *  - Every iommufd ioctl is _IO(';', 0x80 + index): the argument block is not
 *    encoded in the request number.  Its first u32 is "size", the number of
 *    bytes user space passes.
 *  - Structs are extensible: the kernel reads min(size, what it knows) bytes
 *    and requires any byte past what it knows to be zero (else E2BIG).  It
 *    refuses a size below a per-ioctl minimum (the size of the struct when
 *    the ioctl was introduced).  Newer fields are only ever appended.
 *    => pass the SMALLEST size that carries every field you set or read, so
 *       an older kernel that does not know a later field is not asked for it.
 *  - Unknown ioctls give ENOTTY; a known ioctl with an unsupported value in a
 *    known field gives EOPNOTSUPP.
 *  - Every 64-bit field is 8-byte aligned on every architecture (the kernel
 *    uses an explicitly aligned u64); ifd_k_aligned_u64 reproduces that, so
 *    the layouts below are identical for 32-bit and 64-bit user space.
 *  - Fields named "reserved" must be zero on input.
 *  - "*_uptr" / pointer-carrying fields are user addresses stored in a u64:
 *    (uint64_t)(uintptr_t)ptr.
 *  - Object IDs are u32; 0 is never a valid object ID.
 *
 * VFIO cdev ioctls are _IO(';', 100 + index) and use "argsz" instead of
 * "size", with the same grow-by-appending rule (minimum = original size).
 *
 * Sizes
 * -----
 * For the structs that grew over time, IFD_K_*_SIZE_* macros give the size of
 * each historical layout (= offset of the end of the last field that layout
 * had).  The first step is also the minimum size today's kernels accept.
 * Kernel versions named next to them are indicative: they were checked
 * against the Debian 12 6.1 headers, the Debian 6.12 kernel headers, and the
 * 7.2 / 7.3 uAPI headers; versions in between are from the upstream
 * changelog and may be off by one release ("after 6.12" means: absent from
 * the 6.12 headers, present in 7.2).  Code must never rely on a version
 * number: it must rely on ENOTTY / EOPNOTSUPP / EINVAL from the running
 * kernel.
 */
#ifndef LIBIOMMUFD_LIB_KABI_H
#define LIBIOMMUFD_LIB_KABI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* ---------------------------------------------------------------------------
 * Helpers usable from C11 and C++11 alike.
 * ------------------------------------------------------------------------- */

#ifdef __cplusplus
#define IFD_K_STATIC_ASSERT(expr, msg) static_assert(expr, msg)
#else
#define IFD_K_STATIC_ASSERT(expr, msg) _Static_assert(expr, msg)
#endif

/* Bytes from the start of TYPE up to and including MEMBER. */
#define IFD_K_OFFSETOFEND(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))

/*
 * A u64 that is 8-byte aligned even where the ABI (i386) would align a plain
 * uint64_t to 4.  All 64-bit iommufd fields are of this kind.
 */
typedef uint64_t ifd_k_aligned_u64 __attribute__((aligned(8)));

/* ===========================================================================
 * Part 1: iommufd  (/dev/iommu; include/uapi/linux/iommufd.h)
 * ========================================================================= */

/* ioctl "type" byte shared by iommufd and VFIO. */
#define IFD_K_IOMMUFD_TYPE ';'

/*
 * Command indexes (the low byte of each request number).  The table is dense:
 * a kernel that knows index N knows every index below it, except that an
 * ioctl may be compiled out of a given kernel (then ENOTTY).
 */
#define IFD_K_IOMMUFD_CMD_BASE                 0x80
#define IFD_K_IOMMUFD_CMD_DESTROY              0x80 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_ALLOC           0x81 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_ALLOW_IOVAS     0x82 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_COPY            0x83 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_IOVA_RANGES     0x84 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_MAP             0x85 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_IOAS_UNMAP           0x86 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_OPTION               0x87 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_VFIO_IOAS            0x88 /* 6.2 */
#define IFD_K_IOMMUFD_CMD_HWPT_ALLOC           0x89 /* 6.6 */
#define IFD_K_IOMMUFD_CMD_GET_HW_INFO          0x8a /* 6.6 */
#define IFD_K_IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING 0x8b /* 6.7 */
#define IFD_K_IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP 0x8c /* 6.7 */
#define IFD_K_IOMMUFD_CMD_HWPT_INVALIDATE      0x8d /* 6.8 */
#define IFD_K_IOMMUFD_CMD_FAULT_QUEUE_ALLOC    0x8e /* 6.11 */
#define IFD_K_IOMMUFD_CMD_IOAS_MAP_FILE        0x8f /* 6.13 */
#define IFD_K_IOMMUFD_CMD_VIOMMU_ALLOC         0x90 /* 6.13 */
#define IFD_K_IOMMUFD_CMD_VDEVICE_ALLOC        0x91 /* 6.13 */
#define IFD_K_IOMMUFD_CMD_IOAS_CHANGE_PROCESS  0x92 /* 6.14 */
#define IFD_K_IOMMUFD_CMD_VEVENTQ_ALLOC        0x93 /* 6.15 */
#define IFD_K_IOMMUFD_CMD_HW_QUEUE_ALLOC       0x94 /* ~6.17 */
#define IFD_K_IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA  0x95 /* 7.3 (not in 7.2) */

/* ioctl request numbers, one per command index above. */
#define IFD_K_IOMMU_DESTROY \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_DESTROY)
#define IFD_K_IOMMU_IOAS_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_ALLOC)
#define IFD_K_IOMMU_IOAS_ALLOW_IOVAS \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_ALLOW_IOVAS)
#define IFD_K_IOMMU_IOAS_COPY \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_COPY)
#define IFD_K_IOMMU_IOAS_IOVA_RANGES \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_IOVA_RANGES)
#define IFD_K_IOMMU_IOAS_MAP \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_MAP)
#define IFD_K_IOMMU_IOAS_UNMAP \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_UNMAP)
#define IFD_K_IOMMU_OPTION \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_OPTION)
#define IFD_K_IOMMU_VFIO_IOAS \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_VFIO_IOAS)
#define IFD_K_IOMMU_HWPT_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_HWPT_ALLOC)
#define IFD_K_IOMMU_GET_HW_INFO \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_GET_HW_INFO)
#define IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)
#define IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)
#define IFD_K_IOMMU_HWPT_INVALIDATE \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_HWPT_INVALIDATE)
#define IFD_K_IOMMU_FAULT_QUEUE_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_FAULT_QUEUE_ALLOC)
#define IFD_K_IOMMU_IOAS_MAP_FILE \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_MAP_FILE)
#define IFD_K_IOMMU_VIOMMU_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_VIOMMU_ALLOC)
#define IFD_K_IOMMU_VDEVICE_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_VDEVICE_ALLOC)
#define IFD_K_IOMMU_IOAS_CHANGE_PROCESS \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_CHANGE_PROCESS)
#define IFD_K_IOMMU_VEVENTQ_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_VEVENTQ_ALLOC)
#define IFD_K_IOMMU_HW_QUEUE_ALLOC \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_HW_QUEUE_ALLOC)
#define IFD_K_IOMMU_IOAS_NOIOMMU_GET_PA \
	_IO(IFD_K_IOMMUFD_TYPE, IFD_K_IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA)

/* ---------------------------------------------------------------------------
 * Objects and IO address spaces (IOAS)
 * ------------------------------------------------------------------------- */

/*
 * IOMMU_DESTROY, include/uapi/linux/iommufd.h.  8 bytes, never grew.
 * Frees any destroyable object (IOAS, HWPT, fault queue, vIOMMU, ...).
 */
struct ifd_k_destroy {
	uint32_t size;		/* sizeof(struct ifd_k_destroy) */
	uint32_t id;		/* object ID to free */
};

/*
 * IOMMU_IOAS_ALLOC, include/uapi/linux/iommufd.h.  12 bytes, never grew
 * (no 64-bit member, so no tail padding: the size really is 12).
 */
struct ifd_k_ioas_alloc {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_alloc) */
	uint32_t flags;		/* no flags defined: 0 */
	uint32_t out_ioas_id;	/* out: new IOAS ID */
};

/*
 * struct iommu_iova_range, include/uapi/linux/iommufd.h.  16 bytes.
 * One closed interval of IOVA space: [start, last], both in bytes, "last"
 * inclusive (so a range covering all of a 64-bit space is 0..UINT64_MAX).
 * Element type of the arrays of IOMMU_IOAS_IOVA_RANGES / ALLOW_IOVAS.
 */
struct ifd_k_iova_range {
	ifd_k_aligned_u64 start;
	ifd_k_aligned_u64 last;
};

/*
 * IOMMU_IOAS_IOVA_RANGES, include/uapi/linux/iommufd.h.  32 bytes, never
 * grew.  num_iovas is in: capacity (elements) of the array at allowed_iovas,
 * out: total number of ranges; EMSGSIZE when the array was too small (retry
 * with a bigger one).  out_iova_alignment (bytes, >= 1, at most the CPU page
 * size): map/copy IOVA and length must be multiples of it.
 */
struct ifd_k_ioas_iova_ranges {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_iova_ranges) */
	uint32_t ioas_id;
	uint32_t num_iovas;
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 allowed_iovas; /* user ptr to struct ifd_k_iova_range[] */
	ifd_k_aligned_u64 out_iova_alignment;
};

/*
 * IOMMU_IOAS_ALLOW_IOVAS, include/uapi/linux/iommufd.h.  24 bytes, never
 * grew.  Replaces the IOAS's list of IOVA ranges that must stay usable
 * (attaching a device that would narrow them then fails).
 */
struct ifd_k_ioas_allow_iovas {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_allow_iovas) */
	uint32_t ioas_id;
	uint32_t num_iovas;	/* elements at allowed_iovas */
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 allowed_iovas; /* user ptr to struct ifd_k_iova_range[] */
};

/* Flags of IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_COPY. */
#define IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA (1U << 0) /* iova is an input */
#define IFD_K_IOMMU_IOAS_MAP_WRITEABLE  (1U << 1) /* device may write */
#define IFD_K_IOMMU_IOAS_MAP_READABLE   (1U << 2) /* device may read */

/*
 * IOMMU_IOAS_MAP, include/uapi/linux/iommufd.h.  40 bytes, never grew.
 * Maps [user_va, user_va + length) of the caller's memory (bytes; aligned to
 * the IOAS's out_iova_alignment) at iova.  Without FIXED_IOVA the kernel
 * picks the IOVA and returns it in iova; with it, iova must be unused.
 */
struct ifd_k_ioas_map {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_map) */
	uint32_t flags;		/* IFD_K_IOMMU_IOAS_MAP_* */
	uint32_t ioas_id;
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 user_va;
	ifd_k_aligned_u64 length;
	ifd_k_aligned_u64 iova;	/* in with FIXED_IOVA, else out */
};

/*
 * IOMMU_IOAS_NOIOMMU_GET_PA, include/uapi/linux/iommufd.h.  40 bytes.
 * New in 7.3 (absent from 7.2).  Only for no-IOMMU (unsafe DMA) setups:
 * returns the physical address behind iova.  length is in: maximum bytes to
 * look at (non-zero), out: bytes physically contiguous from out_phys.
 */
struct ifd_k_ioas_noiommu_get_pa {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_noiommu_get_pa) */
	uint32_t flags;		/* 0 */
	uint32_t ioas_id;
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 iova;
	ifd_k_aligned_u64 length;
	ifd_k_aligned_u64 out_phys;
};

/*
 * IOMMU_IOAS_MAP_FILE, include/uapi/linux/iommufd.h.  40 bytes, never grew
 * (6.13).  Like IOMMU_IOAS_MAP but the memory is [start, start + length)
 * bytes of a memfd (or, on newer kernels, some dma-buf fds).
 */
struct ifd_k_ioas_map_file {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_map_file) */
	uint32_t flags;		/* IFD_K_IOMMU_IOAS_MAP_* */
	uint32_t ioas_id;
	int32_t fd;
	ifd_k_aligned_u64 start; /* byte offset into the file */
	ifd_k_aligned_u64 length;
	ifd_k_aligned_u64 iova;	/* in with FIXED_IOVA, else out */
};

/*
 * IOMMU_IOAS_COPY, include/uapi/linux/iommufd.h.  40 bytes, never grew.
 * Re-maps an existing mapping of src_ioas_id into dst_ioas_id without
 * pinning again.  [src_iova, +length) must exactly match an earlier map.
 */
struct ifd_k_ioas_copy {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_copy) */
	uint32_t flags;		/* IFD_K_IOMMU_IOAS_MAP_* */
	uint32_t dst_ioas_id;
	uint32_t src_ioas_id;
	ifd_k_aligned_u64 length;
	ifd_k_aligned_u64 dst_iova; /* in with FIXED_IOVA, else out */
	ifd_k_aligned_u64 src_iova;
};

/*
 * IOMMU_IOAS_UNMAP, include/uapi/linux/iommufd.h.  24 bytes, never grew.
 * The range must cover whole earlier mappings; iova 0 with length
 * UINT64_MAX unmaps everything.  length is out: bytes actually unmapped.
 */
struct ifd_k_ioas_unmap {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_unmap) */
	uint32_t ioas_id;
	ifd_k_aligned_u64 iova;
	ifd_k_aligned_u64 length;
};

/* IOMMU_OPTION option ids. */
#define IFD_K_IOMMU_OPTION_RLIMIT_MODE 0 /* global; 0 = per user, 1 = per process
					    accounting (needs privilege) */
#define IFD_K_IOMMU_OPTION_HUGE_PAGES  1 /* per IOAS; 1 (default) = may use
					    large IOPTEs, 0 = PAGE_SIZE only */
/* IOMMU_OPTION operations. */
#define IFD_K_IOMMU_OPTION_OP_SET 0
#define IFD_K_IOMMU_OPTION_OP_GET 1

/*
 * IOMMU_OPTION, include/uapi/linux/iommufd.h.  24 bytes, never grew.
 * object_id: 0 for global options, the IOAS ID for per-IOAS ones.
 */
struct ifd_k_option {
	uint32_t size;		/* sizeof(struct ifd_k_option) */
	uint32_t option_id;	/* IFD_K_IOMMU_OPTION_RLIMIT_MODE / _HUGE_PAGES */
	uint16_t op;		/* IFD_K_IOMMU_OPTION_OP_SET / _GET */
	uint16_t reserved;	/* 0 */
	uint32_t object_id;
	ifd_k_aligned_u64 val64; /* in for SET, out for GET */
};

/* IOMMU_VFIO_IOAS operations. */
#define IFD_K_IOMMU_VFIO_IOAS_GET   0 /* out: current compatibility IOAS */
#define IFD_K_IOMMU_VFIO_IOAS_SET   1 /* in: IOAS to use for VFIO compat */
#define IFD_K_IOMMU_VFIO_IOAS_CLEAR 2 /* turn VFIO compatibility off */

/*
 * IOMMU_VFIO_IOAS, include/uapi/linux/iommufd.h.  12 bytes, never grew.
 * Selects the IOAS that the legacy VFIO container API (type1 emulation on
 * an iommufd) operates on.
 */
struct ifd_k_vfio_ioas {
	uint32_t size;		/* sizeof(struct ifd_k_vfio_ioas) */
	uint32_t ioas_id;
	uint16_t op;		/* IFD_K_IOMMU_VFIO_IOAS_* */
	uint16_t reserved;	/* 0 */
};

/* ---------------------------------------------------------------------------
 * Hardware page tables (HWPT)
 * ------------------------------------------------------------------------- */

/* IOMMU_HWPT_ALLOC flags. */
#define IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT     (1U << 0) /* 6.7: may be a
							    nesting parent */
#define IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING  (1U << 1) /* 6.7: require dirty
							    tracking */
#define IFD_K_IOMMU_HWPT_FAULT_ID_VALID        (1U << 2) /* 6.11: fault_id set */
#define IFD_K_IOMMU_HWPT_ALLOC_PASID           (1U << 3) /* after 6.12: usable
							    on a PASID */

/* Intel VT-d stage-1 page table attribute flags (ifd_k_hwpt_vtd_s1.flags). */
#define IFD_K_IOMMU_VTD_S1_SRE  (1U << 0) /* supervisor requests */
#define IFD_K_IOMMU_VTD_S1_EAFE (1U << 1) /* extended access flag */
#define IFD_K_IOMMU_VTD_S1_WPE  (1U << 2) /* write protect */

/*
 * struct iommu_hwpt_vtd_s1, include/uapi/linux/iommufd.h.  24 bytes.
 * data_type IOMMU_HWPT_DATA_VTD_S1 payload of IOMMU_HWPT_ALLOC.
 */
struct ifd_k_hwpt_vtd_s1 {
	ifd_k_aligned_u64 flags;	/* IFD_K_IOMMU_VTD_S1_* */
	ifd_k_aligned_u64 pgtbl_addr;	/* guest stage-1 table base address */
	uint32_t addr_width;		/* bits */
	uint32_t reserved;		/* 0 */
};

/*
 * struct iommu_hwpt_arm_smmuv3, include/uapi/linux/iommufd.h.  16 bytes.
 * data_type IOMMU_HWPT_DATA_ARM_SMMUV3 payload: the first two 64-bit words of
 * a guest Stream Table Entry, little-endian.
 */
struct ifd_k_hwpt_arm_smmuv3 {
	ifd_k_aligned_u64 ste[2];	/* little-endian */
};

/*
 * struct iommu_hwpt_amd_guest, include/uapi/linux/iommufd.h.  32 bytes.
 * data_type IOMMU_HWPT_DATA_AMD_GUEST payload: a 256-bit guest Device Table
 * Entry.
 */
struct ifd_k_hwpt_amd_guest {
	ifd_k_aligned_u64 dte[4];
};

/* IOMMU_HWPT_ALLOC data_type values. */
#define IFD_K_IOMMU_HWPT_DATA_NONE       0 /* kernel-managed, no payload */
#define IFD_K_IOMMU_HWPT_DATA_VTD_S1     1 /* struct ifd_k_hwpt_vtd_s1 */
#define IFD_K_IOMMU_HWPT_DATA_ARM_SMMUV3 2 /* struct ifd_k_hwpt_arm_smmuv3 */
#define IFD_K_IOMMU_HWPT_DATA_AMD_GUEST  3 /* struct ifd_k_hwpt_amd_guest */

/*
 * IOMMU_HWPT_ALLOC, include/uapi/linux/iommufd.h.  48 bytes in 7.3.
 * Grew twice (sizes in bytes; the first is the kernel's minimum):
 *   24  6.6:  size .. reserved           (kernel-managed HWPT from an IOAS)
 *   40  6.7:  + data_type, data_len, data_uptr (nested / user-managed HWPT)
 *   48  6.11: + fault_id, reserved2      (needs IFD_K_IOMMU_HWPT_FAULT_ID_VALID)
 * pt_id names an IOAS, a nesting-parent HWPT or a vIOMMU.
 */
struct ifd_k_hwpt_alloc {
	uint32_t size;		/* one of IFD_K_HWPT_ALLOC_SIZE_* */
	uint32_t flags;		/* IFD_K_IOMMU_HWPT_ALLOC_* / _FAULT_ID_VALID */
	uint32_t dev_id;
	uint32_t pt_id;
	uint32_t out_hwpt_id;
	uint32_t reserved;	/* 0 */
	uint32_t data_type;	/* IFD_K_IOMMU_HWPT_DATA_* */
	uint32_t data_len;	/* bytes at data_uptr */
	ifd_k_aligned_u64 data_uptr;
	uint32_t fault_id;	/* fault queue object ID */
	uint32_t reserved2;	/* 0 */
};
#define IFD_K_HWPT_ALLOC_SIZE_BASE  24 /* through reserved */
#define IFD_K_HWPT_ALLOC_SIZE_DATA  40 /* through data_uptr */
#define IFD_K_HWPT_ALLOC_SIZE_FAULT 48 /* through reserved2 */

/* ---------------------------------------------------------------------------
 * IOMMU_GET_HW_INFO and its per-driver payloads
 * ------------------------------------------------------------------------- */

/* struct ifd_k_hw_info_vtd.flags bits. */
#define IFD_K_IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 (1U << 0) /* no read-only
				mappings on a nesting parent (Intel erratum) */

/*
 * struct iommu_hw_info_vtd, include/uapi/linux/iommufd.h.  24 bytes.
 * IOMMU_HW_INFO_TYPE_INTEL_VTD payload: raw VT-d capability registers.
 */
struct ifd_k_hw_info_vtd {
	uint32_t flags;		/* IFD_K_IOMMU_HW_INFO_VTD_* */
	uint32_t reserved;
	ifd_k_aligned_u64 cap_reg;	/* VT-d Capability Register */
	ifd_k_aligned_u64 ecap_reg;	/* VT-d Extended Capability Register */
};

/* struct ifd_k_hw_info_arm_smmuv3.flags bits (new in 7.3). */
#define IFD_K_IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI (1U << 0) /*
				issue TLBI/CFGI + SYNC twice (erratum) */

/*
 * struct iommu_hw_info_arm_smmuv3, include/uapi/linux/iommufd.h.  40 bytes.
 * IOMMU_HW_INFO_TYPE_ARM_SMMUV3 payload: raw SMMUv3 ID registers; only the
 * documented subset of bits is meaningful to user space.
 */
struct ifd_k_hw_info_arm_smmuv3 {
	uint32_t flags;		/* IFD_K_IOMMU_HW_INFO_ARM_SMMUV3_* */
	uint32_t reserved;
	uint32_t idr[6];	/* SMMU_IDR0..5 */
	uint32_t iidr;		/* SMMU_IIDR */
	uint32_t aidr;		/* SMMU_AIDR */
};

/*
 * struct iommu_hw_info_tegra241_cmdqv, include/uapi/linux/iommufd.h.
 * 8 bytes.  IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV payload.
 */
struct ifd_k_hw_info_tegra241_cmdqv {
	uint32_t flags;		/* 0 */
	uint8_t version;	/* PARAM[3:0] */
	uint8_t log2vcmdqs;	/* PARAM[7:4] */
	uint8_t log2vsids;	/* PARAM[15:12] */
	uint8_t reserved;
};

/*
 * struct iommu_hw_info_amd, include/uapi/linux/iommufd.h.  16 bytes.
 * IOMMU_HW_INFO_TYPE_AMD payload: raw Extended Feature Registers.
 */
struct ifd_k_hw_info_amd {
	ifd_k_aligned_u64 efr;	/* EFR */
	ifd_k_aligned_u64 efr2;	/* EFR2 */
};

/* Hardware info types (ifd_k_hw_info.in_data_type / out_data_type). */
#define IFD_K_IOMMU_HW_INFO_TYPE_NONE            0 /* out: driver reports none */
#define IFD_K_IOMMU_HW_INFO_TYPE_DEFAULT         0 /* in: driver's default */
#define IFD_K_IOMMU_HW_INFO_TYPE_INTEL_VTD       1 /* ifd_k_hw_info_vtd */
#define IFD_K_IOMMU_HW_INFO_TYPE_ARM_SMMUV3      2 /* ifd_k_hw_info_arm_smmuv3 */
#define IFD_K_IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV  3 /* ifd_k_hw_info_tegra241_cmdqv */
#define IFD_K_IOMMU_HW_INFO_TYPE_AMD             4 /* ifd_k_hw_info_amd */

/* Generic capability bits (ifd_k_hw_info.out_capabilities). */
#define IFD_K_IOMMU_HW_CAP_DIRTY_TRACKING        (1U << 0) /* dirty-tracking
				ioctls work for HWPTs of this device */
#define IFD_K_IOMMU_HW_CAP_PCI_PASID_EXEC        (1U << 1) /* meaningful only if
				out_max_pasid_log2 != 0 */
#define IFD_K_IOMMU_HW_CAP_PCI_PASID_PRIV        (1U << 2) /* idem */
#define IFD_K_IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED (1U << 3) /* ATS unusable */

/* ifd_k_hw_info.flags bits. */
#define IFD_K_IOMMU_HW_INFO_FLAG_INPUT_TYPE (1U << 0) /* in_data_type is valid
				(older kernels: flags must be 0) */

/*
 * IOMMU_GET_HW_INFO, include/uapi/linux/iommufd.h.  40 bytes in 7.3.
 *   32  6.6: size .. data_uptr, out_data_type, 4 reserved bytes (minimum)
 *   40  6.7: + out_capabilities
 * Later kernels carved fields out of the existing bytes without growing:
 * out_max_pasid_log2 (first reserved byte; PASID support; already in
 * Debian's 6.12 headers) and in_data_type (aliases out_data_type, read only
 * with IFD_K_IOMMU_HW_INFO_FLAG_INPUT_TYPE).  data_len: in = bytes at data_uptr,
 * out = bytes the kernel has for that type; a bigger buffer is zero-filled.
 */
struct ifd_k_hw_info {
	uint32_t size;		/* one of IFD_K_HW_INFO_SIZE_* */
	uint32_t flags;		/* IFD_K_IOMMU_HW_INFO_FLAG_* */
	uint32_t dev_id;
	uint32_t data_len;
	ifd_k_aligned_u64 data_uptr;
	union {
		uint32_t in_data_type;	/* IFD_K_IOMMU_HW_INFO_TYPE_* */
		uint32_t out_data_type;	/* IFD_K_IOMMU_HW_INFO_TYPE_* */
	};
	uint8_t out_max_pasid_log2; /* PASID width in bits, 0 = no PASID */
	uint8_t reserved[3];
	ifd_k_aligned_u64 out_capabilities; /* IFD_K_IOMMU_HW_CAP_* */
};
#define IFD_K_HW_INFO_SIZE_BASE 32 /* through reserved[] */
#define IFD_K_HW_INFO_SIZE_CAPS 40 /* through out_capabilities */

/* ---------------------------------------------------------------------------
 * Dirty tracking (6.7)
 * ------------------------------------------------------------------------- */

#define IFD_K_IOMMU_HWPT_DIRTY_TRACKING_ENABLE 1U /* flags: on (0 = off) */

/*
 * IOMMU_HWPT_SET_DIRTY_TRACKING, include/uapi/linux/iommufd.h.  16 bytes,
 * never grew.
 */
struct ifd_k_hwpt_set_dirty_tracking {
	uint32_t size;		/* sizeof(struct ifd_k_hwpt_set_dirty_tracking) */
	uint32_t flags;		/* IFD_K_IOMMU_HWPT_DIRTY_TRACKING_ENABLE or 0 */
	uint32_t hwpt_id;
	uint32_t reserved;	/* 0 */
};

#define IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR 1U /* read without clearing
				(e.g. right before an unmap) */

/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP, include/uapi/linux/iommufd.h.  48 bytes,
 * never grew.  Bit n of the u64 array at data stands for the page_size bytes
 * at iova + n * page_size: page (i) is bit (i % 64) of word (i / 64).
 * iova, length and page_size are in bytes.
 */
struct ifd_k_hwpt_get_dirty_bitmap {
	uint32_t size;		/* sizeof(struct ifd_k_hwpt_get_dirty_bitmap) */
	uint32_t hwpt_id;
	uint32_t flags;		/* IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP_* */
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 iova;
	ifd_k_aligned_u64 length;
	ifd_k_aligned_u64 page_size;
	ifd_k_aligned_u64 data;	/* user ptr to uint64_t[] bitmap */
};

/* ---------------------------------------------------------------------------
 * Cache invalidation for user-managed page tables / vIOMMUs (6.8)
 * ------------------------------------------------------------------------- */

/* IOMMU_HWPT_INVALIDATE data_type values. */
#define IFD_K_IOMMU_HWPT_INVALIDATE_DATA_VTD_S1       0
#define IFD_K_IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 1

#define IFD_K_IOMMU_VTD_INV_FLAGS_LEAF (1U << 0) /* leaf PTE caches only */

/*
 * struct iommu_hwpt_vtd_s1_invalidate, include/uapi/linux/iommufd.h.
 * 24 bytes.  One request: npages 4 KiB pages from addr (4 KiB aligned);
 * addr 0 with npages UINT64_MAX means everything.
 */
struct ifd_k_hwpt_vtd_s1_invalidate {
	ifd_k_aligned_u64 addr;
	ifd_k_aligned_u64 npages;
	uint32_t flags;		/* IFD_K_IOMMU_VTD_INV_FLAGS_* */
	uint32_t reserved;	/* 0 */
};

/*
 * struct iommu_viommu_arm_smmuv3_invalidate, include/uapi/linux/iommufd.h.
 * 16 bytes.  One raw 128-bit SMMUv3 command-queue entry, little-endian.
 */
struct ifd_k_viommu_arm_smmuv3_invalidate {
	ifd_k_aligned_u64 cmd[2];	/* little-endian */
};

/*
 * IOMMU_HWPT_INVALIDATE, include/uapi/linux/iommufd.h.  32 bytes, never
 * grew.  data_uptr points to entry_num entries of entry_len bytes each.
 * entry_num is out: entries handled.  entry_num 0 probes data_type support.
 */
struct ifd_k_hwpt_invalidate {
	uint32_t size;		/* sizeof(struct ifd_k_hwpt_invalidate) */
	uint32_t hwpt_id;	/* nested HWPT or vIOMMU */
	ifd_k_aligned_u64 data_uptr;
	uint32_t data_type;	/* IFD_K_IOMMU_*_INVALIDATE_DATA_* */
	uint32_t entry_len;	/* bytes per entry */
	uint32_t entry_num;
	uint32_t reserved;	/* 0 */
};

/* ---------------------------------------------------------------------------
 * I/O page faults (6.11): read() records from the fault queue fd, write()
 * responses back to it.
 * ------------------------------------------------------------------------- */

/* struct ifd_k_hwpt_pgfault.flags bits. */
#define IFD_K_IOMMU_PGFAULT_FLAGS_PASID_VALID (1U << 0) /* pasid is valid */
#define IFD_K_IOMMU_PGFAULT_FLAGS_LAST_PAGE   (1U << 1) /* last of its group */

/* struct ifd_k_hwpt_pgfault.perm bits. */
#define IFD_K_IOMMU_PGFAULT_PERM_READ  (1U << 0)
#define IFD_K_IOMMU_PGFAULT_PERM_WRITE (1U << 1)
#define IFD_K_IOMMU_PGFAULT_PERM_EXEC  (1U << 2) /* PCIe "execute requested" */
#define IFD_K_IOMMU_PGFAULT_PERM_PRIV  (1U << 3) /* PCIe "privileged mode" */

/*
 * struct iommu_hwpt_pgfault, include/uapi/linux/iommufd.h.  40 bytes.
 * One fault record as read() from a fault queue fd.
 */
struct ifd_k_hwpt_pgfault {
	uint32_t flags;		/* IFD_K_IOMMU_PGFAULT_FLAGS_* */
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;		/* PCIe page request group index */
	uint32_t perm;		/* IFD_K_IOMMU_PGFAULT_PERM_* */
	uint32_t reserved;
	ifd_k_aligned_u64 addr;	/* faulting address */
	uint32_t length;	/* bytes the device expects to touch; 0 = no hint */
	uint32_t cookie;	/* echo the group's last cookie in the response */
};

/* struct ifd_k_hwpt_page_response.code values (PCIe response codes). */
#define IFD_K_IOMMUFD_PAGE_RESP_SUCCESS 0 /* handled: retry the access */
#define IFD_K_IOMMUFD_PAGE_RESP_INVALID 1 /* not handled: do not retry */

/*
 * struct iommu_hwpt_page_response, include/uapi/linux/iommufd.h.  8 bytes.
 * One response as write() to a fault queue fd.
 */
struct ifd_k_hwpt_page_response {
	uint32_t cookie;
	uint32_t code;		/* IFD_K_IOMMUFD_PAGE_RESP_* */
};

/*
 * IOMMU_FAULT_QUEUE_ALLOC, include/uapi/linux/iommufd.h.  16 bytes, never
 * grew.  The caller owns out_fault_fd and must close it.
 */
struct ifd_k_fault_alloc {
	uint32_t size;		/* sizeof(struct ifd_k_fault_alloc) */
	uint32_t flags;		/* 0 */
	uint32_t out_fault_id;
	uint32_t out_fault_fd;
};

/* ---------------------------------------------------------------------------
 * Virtual IOMMUs, virtual devices, event queues, HW queues (6.13+)
 * ------------------------------------------------------------------------- */

/* IOMMU_VIOMMU_ALLOC type values. */
#define IFD_K_IOMMU_VIOMMU_TYPE_DEFAULT         0 /* reserved */
#define IFD_K_IOMMU_VIOMMU_TYPE_ARM_SMMUV3      1
#define IFD_K_IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV  2

/*
 * struct iommu_viommu_tegra241_cmdqv, include/uapi/linux/iommufd.h.
 * 16 bytes.  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV output data: the mmap() offset
 * and length (bytes) of the VINTF page0.
 */
struct ifd_k_viommu_tegra241_cmdqv {
	ifd_k_aligned_u64 out_vintf_mmap_offset;
	ifd_k_aligned_u64 out_vintf_mmap_length;
};

/*
 * IOMMU_VIOMMU_ALLOC, include/uapi/linux/iommufd.h.  40 bytes in 7.3.
 *   24  6.13: size .. out_viommu_id (minimum)
 *   40  ~6.17: + data_len, reserved, data_uptr (driver-specific data)
 */
struct ifd_k_viommu_alloc {
	uint32_t size;		/* one of IFD_K_VIOMMU_ALLOC_SIZE_* */
	uint32_t flags;		/* 0 */
	uint32_t type;		/* IFD_K_IOMMU_VIOMMU_TYPE_* */
	uint32_t dev_id;
	uint32_t hwpt_id;	/* nesting-parent HWPT */
	uint32_t out_viommu_id;
	uint32_t data_len;	/* bytes at data_uptr */
	uint32_t reserved;	/* 0 */
	ifd_k_aligned_u64 data_uptr;
};
#define IFD_K_VIOMMU_ALLOC_SIZE_BASE 24 /* through out_viommu_id */
#define IFD_K_VIOMMU_ALLOC_SIZE_DATA 40 /* through data_uptr */

/*
 * IOMMU_VDEVICE_ALLOC, include/uapi/linux/iommufd.h.  24 bytes, never grew.
 * virt_id is the device's ID as the guest sees it (vSID, vDeviceID, vRID).
 * Destroy the vDEVICE before closing the VFIO device fd.
 */
struct ifd_k_vdevice_alloc {
	uint32_t size;		/* sizeof(struct ifd_k_vdevice_alloc) */
	uint32_t viommu_id;
	uint32_t dev_id;
	uint32_t out_vdevice_id;
	ifd_k_aligned_u64 virt_id;
};

/*
 * IOMMU_IOAS_CHANGE_PROCESS, include/uapi/linux/iommufd.h.  8 bytes, never
 * grew (6.14).  Moves the pinned-page accounting of every mapping of this
 * iommufd to the calling process; only IOMMU_IOAS_MAP_FILE mappings allowed.
 */
struct ifd_k_ioas_change_process {
	uint32_t size;		/* sizeof(struct ifd_k_ioas_change_process) */
	uint32_t reserved;	/* 0 */
};

/* struct ifd_k_vevent_header.flags bits. */
#define IFD_K_IOMMU_VEVENTQ_FLAG_LOST_EVENTS (1U << 0) /* events were dropped;
				no payload follows this header */

/*
 * struct iommufd_vevent_header, include/uapi/linux/iommufd.h.  8 bytes.
 * Precedes each event read() from a vEVENTQ fd.  sequence runs 0..INT32_MAX
 * then wraps to 0; a gap means lost events.
 */
struct ifd_k_vevent_header {
	uint32_t flags;		/* IFD_K_IOMMU_VEVENTQ_FLAG_* */
	uint32_t sequence;
};

/* IOMMU_VEVENTQ_ALLOC type values. */
#define IFD_K_IOMMU_VEVENTQ_TYPE_DEFAULT         0 /* reserved */
#define IFD_K_IOMMU_VEVENTQ_TYPE_ARM_SMMUV3      1 /* ifd_k_vevent_arm_smmuv3 */
#define IFD_K_IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV  2 /* ifd_k_vevent_tegra241_cmdqv */

/*
 * struct iommu_vevent_arm_smmuv3, include/uapi/linux/iommufd.h.  32 bytes.
 * A raw 256-bit SMMUv3 event record, little-endian.
 */
struct ifd_k_vevent_arm_smmuv3 {
	ifd_k_aligned_u64 evt[4];	/* little-endian */
};

/*
 * struct iommu_vevent_tegra241_cmdqv, include/uapi/linux/iommufd.h.
 * 16 bytes.  128-bit logical VCMDQ error map, little-endian.
 */
struct ifd_k_vevent_tegra241_cmdqv {
	ifd_k_aligned_u64 lvcmdq_err_map[2];	/* little-endian */
};

/*
 * IOMMU_VEVENTQ_ALLOC, include/uapi/linux/iommufd.h.  32 bytes, never grew
 * (6.15).  One queue per (vIOMMU, type).  The caller owns out_veventq_fd.
 */
struct ifd_k_veventq_alloc {
	uint32_t size;		/* sizeof(struct ifd_k_veventq_alloc) */
	uint32_t flags;		/* 0 */
	uint32_t viommu_id;
	uint32_t type;		/* IFD_K_IOMMU_VEVENTQ_TYPE_* */
	uint32_t veventq_depth;	/* max queued events before loss */
	uint32_t out_veventq_id;
	uint32_t out_veventq_fd;
	uint32_t reserved;	/* 0 */
};

/* IOMMU_HW_QUEUE_ALLOC type values. */
#define IFD_K_IOMMU_HW_QUEUE_TYPE_DEFAULT         0 /* reserved */
#define IFD_K_IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV  1

/*
 * IOMMU_HW_QUEUE_ALLOC, include/uapi/linux/iommufd.h.  40 bytes, never grew
 * (~6.17).  Gives the hardware direct access to a guest queue at
 * [nesting_parent_iova, +length) bytes (guest physical addresses).
 */
struct ifd_k_hw_queue_alloc {
	uint32_t size;		/* sizeof(struct ifd_k_hw_queue_alloc) */
	uint32_t flags;		/* 0 */
	uint32_t viommu_id;
	uint32_t type;		/* IFD_K_IOMMU_HW_QUEUE_TYPE_* */
	uint32_t index;		/* queue index within (vIOMMU, type) */
	uint32_t out_hw_queue_id;
	ifd_k_aligned_u64 nesting_parent_iova;
	ifd_k_aligned_u64 length;
};

/* ===========================================================================
 * Part 2: VFIO device cdev ioctls (include/uapi/linux/vfio.h), absent from
 * Linux 6.1's <linux/vfio.h>.  All of these are issued on a VFIO device fd
 * opened from /dev/vfio/devices/vfioN.
 * ========================================================================= */

#define IFD_K_VFIO_TYPE ';'
#define IFD_K_VFIO_BASE 100

/* Flag of struct ifd_k_vfio_device_bind_iommufd.flags. */
#define IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN (1U << 0) /* token_uuid_ptr valid */

/*
 * VFIO_DEVICE_BIND_IOMMUFD, include/uapi/linux/vfio.h.  24 bytes in 7.3.
 *   16  6.6:  argsz, flags, iommufd, out_devid (minimum; flags had to be 0)
 *   24  ~6.17: + token_uuid_ptr (with IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN)
 * token_uuid_ptr: user pointer to a 16-byte UUID, the same token the PF was
 * given with VFIO_DEVICE_FEATURE_PCI_VF_TOKEN (needed to bind some VFs).
 * out_devid is the device's object ID inside the iommufd.
 */
struct ifd_k_vfio_device_bind_iommufd {
	uint32_t argsz;		/* one of IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_* */
	uint32_t flags;		/* IFD_K_VFIO_DEVICE_BIND_FLAG_* */
	int32_t iommufd;
	uint32_t out_devid;
	ifd_k_aligned_u64 token_uuid_ptr;
};
#define IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE  16 /* through out_devid */
#define IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_TOKEN 24 /* through token_uuid_ptr */
#define IFD_K_VFIO_DEVICE_BIND_IOMMUFD \
	_IO(IFD_K_VFIO_TYPE, IFD_K_VFIO_BASE + 18)

/* Flag of struct ifd_k_vfio_device_attach_iommufd_pt.flags. */
#define IFD_K_VFIO_DEVICE_ATTACH_PASID (1U << 0) /* attach pasid, not the RID */

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT, include/uapi/linux/vfio.h.  16 bytes in 7.3.
 *   12  6.6:  argsz, flags, pt_id (minimum; flags had to be 0)
 *   16  after 6.12: + pasid (read only with IFD_K_VFIO_DEVICE_ATTACH_PASID)
 * pt_id: in = IOAS or HWPT ID; out = the HWPT actually attached (may be one
 * the kernel created for an IOAS).  Attaching again replaces the HWPT.
 */
struct ifd_k_vfio_device_attach_iommufd_pt {
	uint32_t argsz;		/* one of IFD_K_..._ATTACH_IOMMUFD_PT_SIZE_* */
	uint32_t flags;		/* IFD_K_VFIO_DEVICE_ATTACH_PASID or 0 */
	uint32_t pt_id;
	uint32_t pasid;
};
#define IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE  12 /* through pt_id */
#define IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_PASID 16 /* through pasid */
#define IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT \
	_IO(IFD_K_VFIO_TYPE, IFD_K_VFIO_BASE + 19)

/* Flag of struct ifd_k_vfio_device_detach_iommufd_pt.flags. */
#define IFD_K_VFIO_DEVICE_DETACH_PASID (1U << 0) /* detach pasid, not the RID */

/*
 * VFIO_DEVICE_DETACH_IOMMUFD_PT, include/uapi/linux/vfio.h.  12 bytes in 7.3.
 *    8  6.6:  argsz, flags (minimum; flags had to be 0)
 *   12  after 6.12: + pasid (read only with IFD_K_VFIO_DEVICE_DETACH_PASID)
 * Afterwards the device (or pasid) blocks all DMA.
 */
struct ifd_k_vfio_device_detach_iommufd_pt {
	uint32_t argsz;		/* one of IFD_K_..._DETACH_IOMMUFD_PT_SIZE_* */
	uint32_t flags;		/* IFD_K_VFIO_DEVICE_DETACH_PASID or 0 */
	uint32_t pasid;
};
#define IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_BASE  8  /* through flags */
#define IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_PASID 12 /* through pasid */
#define IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT \
	_IO(IFD_K_VFIO_TYPE, IFD_K_VFIO_BASE + 20)

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF (7.0), include/uapi/linux/vfio.h: with
 * VFIO_DEVICE_FEATURE_GET, export ranges of one BAR as a dma-buf; the
 * ioctl returns the new fd.  VFIO_DEVICE_FEATURE itself and its GET/PROBE
 * flags are in 6.1's <linux/vfio.h>.  Offsets and lengths are bytes inside
 * the BAR, page aligned, length > 0; flags must be 0; open_flags are
 * open(2)'s (O_CLOEXEC, O_RDWR).  The kernel's struct ends in a flexible
 * array of nr_ranges ranges; here the ranges follow the 16-byte header in
 * the caller's buffer, so both structs keep a fixed, checkable size.
 */
#define IFD_K_VFIO_DEVICE_FEATURE_DMA_BUF 11
struct ifd_k_vfio_region_dma_range {
	ifd_k_aligned_u64 offset;
	ifd_k_aligned_u64 length;
};
struct ifd_k_vfio_device_feature_dma_buf {
	uint32_t region_index;
	uint32_t open_flags;
	uint32_t flags;
	uint32_t nr_ranges;
};

/*
 * PCI hot reset of cdev-opened devices (6.5), include/uapi/linux/vfio.h.
 * The structs (struct vfio_pci_hot_reset_info, vfio_pci_dependent_device,
 * vfio_pci_hot_reset) are in 6.1 with the same layout; only these values are
 * new.  With a cdev device fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO sets
 * FLAG_DEV_ID and reports a devid (not a group_id) per affected device, and
 * VFIO_DEVICE_PCI_HOT_RESET is then called with an empty group_fds array.
 */
#define IFD_K_VFIO_PCI_HOT_RESET_FLAG_DEV_ID       (1U << 0) /* devid reported */
#define IFD_K_VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED (1U << 1) /* caller owns all */
#define IFD_K_VFIO_PCI_DEVID_OWNED     0U          /* owned, but no devid here */
#define IFD_K_VFIO_PCI_DEVID_NOT_OWNED 0xFFFFFFFFU /* -1 as the u32 field holds
						      it: not owned */

/* ===========================================================================
 * Layout self-checks (valid in C11 and C++11).  tests/abi/abi-check.c does
 * the complete field-by-field comparison against the kernel's headers.
 * ========================================================================= */

IFD_K_STATIC_ASSERT(sizeof(ifd_k_aligned_u64) == 8 &&
			    __alignof__(ifd_k_aligned_u64) == 8,
		    "ifd_k_aligned_u64 must be 8 bytes, 8-aligned");

IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_destroy) == 8, "iommu_destroy");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_alloc) == 12, "iommu_ioas_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_iova_range) == 16, "iommu_iova_range");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_iova_ranges) == 32,
		    "iommu_ioas_iova_ranges");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_allow_iovas) == 24,
		    "iommu_ioas_allow_iovas");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_map) == 40, "iommu_ioas_map");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_noiommu_get_pa) == 40,
		    "iommu_ioas_noiommu_get_pa");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_map_file) == 40,
		    "iommu_ioas_map_file");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_copy) == 40, "iommu_ioas_copy");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_unmap) == 24, "iommu_ioas_unmap");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_option) == 24, "iommu_option");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vfio_ioas) == 12, "iommu_vfio_ioas");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_vtd_s1) == 24, "iommu_hwpt_vtd_s1");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_arm_smmuv3) == 16,
		    "iommu_hwpt_arm_smmuv3");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_amd_guest) == 32,
		    "iommu_hwpt_amd_guest");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_alloc) == 48, "iommu_hwpt_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_info_vtd) == 24, "iommu_hw_info_vtd");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_info_arm_smmuv3) == 40,
		    "iommu_hw_info_arm_smmuv3");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_info_tegra241_cmdqv) == 8,
		    "iommu_hw_info_tegra241_cmdqv");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_info_amd) == 16, "iommu_hw_info_amd");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_info) == 40, "iommu_hw_info");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_set_dirty_tracking) == 16,
		    "iommu_hwpt_set_dirty_tracking");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_get_dirty_bitmap) == 48,
		    "iommu_hwpt_get_dirty_bitmap");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_vtd_s1_invalidate) == 24,
		    "iommu_hwpt_vtd_s1_invalidate");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_viommu_arm_smmuv3_invalidate) == 16,
		    "iommu_viommu_arm_smmuv3_invalidate");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_invalidate) == 32,
		    "iommu_hwpt_invalidate");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_pgfault) == 40,
		    "iommu_hwpt_pgfault");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hwpt_page_response) == 8,
		    "iommu_hwpt_page_response");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_fault_alloc) == 16, "iommu_fault_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_viommu_tegra241_cmdqv) == 16,
		    "iommu_viommu_tegra241_cmdqv");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_viommu_alloc) == 40,
		    "iommu_viommu_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vdevice_alloc) == 24,
		    "iommu_vdevice_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_ioas_change_process) == 8,
		    "iommu_ioas_change_process");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vevent_header) == 8,
		    "iommufd_vevent_header");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vevent_arm_smmuv3) == 32,
		    "iommu_vevent_arm_smmuv3");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vevent_tegra241_cmdqv) == 16,
		    "iommu_vevent_tegra241_cmdqv");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_veventq_alloc) == 32,
		    "iommu_veventq_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_hw_queue_alloc) == 40,
		    "iommu_hw_queue_alloc");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vfio_device_bind_iommufd) == 24,
		    "vfio_device_bind_iommufd");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vfio_device_attach_iommufd_pt) == 16,
		    "vfio_device_attach_iommufd_pt");
IFD_K_STATIC_ASSERT(sizeof(struct ifd_k_vfio_device_detach_iommufd_pt) == 12,
		    "vfio_device_detach_iommufd_pt");

/* The historical sizes are where the named fields end. */
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_hwpt_alloc, reserved) ==
			    IFD_K_HWPT_ALLOC_SIZE_BASE, "hwpt_alloc base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_hwpt_alloc, data_uptr) ==
			    IFD_K_HWPT_ALLOC_SIZE_DATA, "hwpt_alloc data size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_hwpt_alloc, reserved2) ==
			    IFD_K_HWPT_ALLOC_SIZE_FAULT, "hwpt_alloc fault size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_hw_info, reserved) ==
			    IFD_K_HW_INFO_SIZE_BASE, "hw_info base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_hw_info, out_capabilities) ==
			    IFD_K_HW_INFO_SIZE_CAPS, "hw_info caps size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_viommu_alloc, out_viommu_id) ==
			    IFD_K_VIOMMU_ALLOC_SIZE_BASE, "viommu_alloc base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_viommu_alloc, data_uptr) ==
			    IFD_K_VIOMMU_ALLOC_SIZE_DATA, "viommu_alloc data size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_bind_iommufd,
				      out_devid) ==
			    IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE,
		    "bind base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_bind_iommufd,
				      token_uuid_ptr) ==
			    IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_TOKEN,
		    "bind token size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_attach_iommufd_pt,
				      pt_id) ==
			    IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE,
		    "attach base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_attach_iommufd_pt,
				      pasid) ==
			    IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_PASID,
		    "attach pasid size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_detach_iommufd_pt,
				      flags) ==
			    IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_BASE,
		    "detach base size");
IFD_K_STATIC_ASSERT(IFD_K_OFFSETOFEND(struct ifd_k_vfio_device_detach_iommufd_pt,
				      pasid) ==
			    IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_PASID,
		    "detach pasid size");

/* Request numbers carry no size or direction bits: type ';' and the index. */
IFD_K_STATIC_ASSERT(IFD_K_IOMMU_IOAS_MAP == ((';' << 8) | 0x85),
		    "iommufd ioctls are _IO(';', 0x80 + n)");
IFD_K_STATIC_ASSERT(IFD_K_VFIO_DEVICE_BIND_IOMMUFD == ((';' << 8) | 118),
		    "VFIO cdev ioctls are _IO(';', 100 + n)");

#endif /* LIBIOMMUFD_LIB_KABI_H */
