/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * A fake Linux kernel for the unit tests: a struct ifd_sys whose calls land
 * in a model of /dev/iommu (iommufd), the VFIO container, VFIO groups, VFIO
 * device cdevs, sysfs and /proc/devices, so every backend of the library can
 * run unprivileged, deterministically, with fault injection and a call log.
 *
 * One fake kernel exists at a time: fake_kernel_create() makes it "current"
 * (the ifd_sys entry points take no context argument) and
 * fake_kernel_destroy() clears it.  Everything is guarded by one mutex, so
 * the library may call in from many threads.
 *
 * What is modelled (semantics from include/uapi/linux/iommufd.h and
 * include/uapi/linux/vfio.h of Linux 7.3, and the drivers behind them):
 *  - files with reference counts: a device fd keeps its group file alive, a
 *    group keeps its container or iommufd alive, an mmap keeps its device
 *    file alive; the release of the last reference tears down what the real
 *    kernel tears down (unbind, detach, container losing its IOMMU, ...).
 *  - fds are numbered from FK_FD_BASE (lowest free first) so they never
 *    collide with real fds.
 *  - iommufd: IOMMU_DESTROY, IOAS_ALLOC, IOAS_IOVA_RANGES (EMSGSIZE,
 *    out_iova_alignment), IOAS_MAP (kernel-chosen or FIXED_IOVA, -EEXIST on
 *    overlap, -EINVAL on reserved IOVA), IOAS_UNMAP (whole mappings in the
 *    range, -ENOENT when none or at a split after unmapping those before;
 *    0..~0 = all), IOAS_COPY (the source range wholly covered, one mapping
 *    per source piece, no new pin), ALLOW_IOVAS (-EADDRINUSE against
 *    reserved ranges, and attach refused when a device's reserved ranges hit
 *    the allowed ones), IOMMU_OPTION (RLIMIT_MODE, HUGE_PAGES), IOMMU_VFIO_IOAS;
 *    attaching a device narrows the IOAS (aperture, reserved windows) and may
 *    fail with -EADDRINUSE; one auto HWPT per IOAS with devices.
 *  - VFIO container (type1 v1/v2): API version, extensions, SET_IOMMU only
 *    after a group joined, GET_INFO with an argsz-growing capability chain
 *    (migration, DMA avail, IOVA ranges: in that order), MAP_DMA/UNMAP_DMA;
 *    the container loses its IOMMU and mappings with its last group.
 *  - VFIO groups: one open at a time, viability from the drivers of the
 *    group's devices, SET_CONTAINER with a container or an iommufd fd,
 *    UNSET_CONTAINER, GET_DEVICE_FD (attaches to the compat IOAS with
 *    iommufd).  As in the kernel, a device may be opened several times
 *    through its group unless it is marked exclusive (then -EBUSY).
 *  - VFIO device cdevs: BIND_IOMMUFD (one bind per device, -EBUSY on a
 *    non-viable group), ATTACH_IOMMUFD_PT (replace allowed), DETACH.
 *  - device fds: GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS (eventfds,
 *    unmask), RESET; pread/pwrite on memory-backed regions (a config space
 *    with a writable command register); mmap of BAR0 (memfd-backed, so the
 *    mmap and pread/pwrite see the same bytes).
 *  - pinned-page accounting against a configurable memlock limit (-ENOMEM).
 *
 * dup() gives a second fd on the same open file, as F_DUPFD_CLOEXEC does.
 *
 * Fault injection counts the "counted" calls: every ifd_sys call except
 * getenv and page_size (which cannot fail).  A failed close still closes the
 * fd, as on Linux.  getenv passes through to the process environment (tests
 * setenv()/unsetenv()), page_size returns the configured page size.
 */
#ifndef FAKE_KERNEL_H
#define FAKE_KERNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

#define FK_FD_BASE 1000

enum fk_flavour {
	FK_LINUX_7_3 = 0,      /* iommufd + VFIO cdev + VFIO group + container */
	FK_LINUX_NOCDEV,       /* iommufd + VFIO group + container, no cdev */
	FK_LINUX_6_12,         /* legacy VFIO container and groups only */
	FK_LINUX_IOMMUFD_ONLY, /* /dev/iommu, but no VFIO module loaded */
	FK_LINUX_NONE,         /* neither iommufd nor VFIO */
};

struct fk_config {
	enum fk_flavour flavour;
	uint64_t memlock;              /* bytes the user may pin; 0 = unlimited */
	long page_size;                /* CPU page size; 0 = 4096 */
	unsigned int dma_entry_limit;  /* type1 dma_entry_limit; 0 = 65535 */
	bool type1_v1_only;            /* the container offers no TYPE1v2 */
	bool api_version_bad;          /* VFIO_GET_API_VERSION returns 1 */
	bool no_compat_ioctls;         /* /dev/iommu refuses VFIO ioctls */
	bool cap_sys_resource;         /* the process may SET IOMMU_OPTION_RLIMIT_MODE */
	/* iommufd ioctls above this command number answer -ENOTTY, as on an
	 * older kernel (0 = all of 7.3; 0x88 = 6.2, 0x8a = 6.6, 0x8d = 6.8,
	 * 0x8e = 6.11). */
	unsigned int iommufd_max_cmd;
	bool no_type1_dirty;           /* the container lacks VFIO_IOMMU_DIRTY_PAGES */
	/* No-IOMMU (fake-noiommu.c): vfio.enable_unsafe_noiommu_mode=Y;
	 * iommufd's no-IOMMU mode (noiommu-vfioN cdevs, IOMMU_IOAS_NOIOMMU_GET_PA);
	 * the process lacks CAP_SYS_RAWIO / CAP_SYS_ADMIN. */
	bool noiommu_mode;
	bool noiommu_iommufd;
	bool no_cap_rawio;
	bool no_cap_sys_admin;
	bool no_dmabuf;                /* VFIO_DEVICE_FEATURE_DMA_BUF absent (as before 7.0) */
	/* VFIO_DEVICE_BIND_IOMMUFD before 6.17: no flags (so no
	 * VFIO_DEVICE_BIND_FLAG_TOKEN), and no VF token checked on a cdev. */
	bool cdev_no_token;
	/* The container is iommufd's compat one (IOMMUFD_VFIO_CONTAINER): its
	 * IOAS and mappings outlive its last group, SET_IOMMU may run again,
	 * and a device's reserved windows count only once it is open (the
	 * attach is at GET_DEVICE_FD, -EADDRINUSE on a clash). */
	bool compat_container;
};

/* Malformed kernel answers, to test that the library bounds its reads. */
enum fk_malform {
	FK_MALFORM_NONE = 0,
	FK_MALFORM_CAP_PAST_ARGSZ,  /* GET_INFO: the IOVA-range cap's header fits, its body does not */
	FK_MALFORM_CAP_MISALIGNED,  /* GET_INFO: cap_offset not 8-byte aligned */
	FK_MALFORM_NR_IOVAS_HUGE,   /* GET_INFO: nr_iovas far beyond the buffer */
	FK_MALFORM_CAP_LOOP,        /* GET_INFO: a capability's next points back at itself */
	FK_MALFORM_NUM_IOVAS_OVER,  /* IOAS_IOVA_RANGES: success with num_iovas > what was given */
};

struct fk_range {
	uint64_t start, last; /* inclusive */
};

#define FK_MAX_RESV 16

#define FK_MAX_EXTRA_REGIONS 24
#define FK_EXTRA_REGION_TYPE 0x80001234u /* VFIO_REGION_TYPE_PCI_VENDOR_TYPE | vendor */

/* Malformed capability chains in BAR0's VFIO_DEVICE_GET_REGION_INFO. */
enum fk_bad_caps {
	FK_CAPS_OK = 0,
	FK_CAPS_PAST_END,       /* cap_offset beyond the buffer */
	FK_CAPS_MISALIGNED,     /* cap_offset not 8-byte aligned */
	FK_CAPS_LOOP,           /* a capability whose next is itself */
	FK_CAPS_AREAS_PAST_END, /* sparse mmap nr_areas beyond the buffer (needs a hole) */
};

/* A device; zero fields take the defaults in brackets. */
struct fk_dev_desc {
	const char *name;       /* "0000:00:04.0" or an mdev UUID */
	int group;              /* IOMMU group number */
	bool no_group;          /* no iommu_group link (IOMMU off) */
	const char *driver;     /* [vfio-pci]; "" = bound to no driver */
	bool mdev;              /* lives under /sys/bus/mdev */
	bool no_cdev;           /* no vfio-dev/vfioN even on a cdev kernel */
	bool noiommu;           /* behind no IOMMU: group /dev/vfio/noiommu-N, cdev noiommu-vfioN
				 * (with cfg.noiommu_iommufd), no reserved ranges, full aperture */
	bool no_reset;          /* VFIO_DEVICE_FLAGS_RESET clear */
	bool exclusive;         /* refuses a second GET_DEVICE_FD: -EBUSY */
	uint64_t bar0_size;     /* [0x1000] mmappable, read/write */
	uint64_t bar2_size;     /* [0x4000] read/write, not mmappable */
	uint64_t bar0_hole_off; /* BAR0 offers VFIO_REGION_INFO_CAP_SPARSE_MMAP with */
	uint64_t bar0_hole_len; /* this hole (an MSI-X table) if bar0_hole_len != 0 */
	unsigned int extra_regions; /* device-specific regions 9.. (0x1000 bytes, mmappable,
				     * VFIO_REGION_INFO_CAP_TYPE FK_EXTRA_REGION_TYPE/index) */
	enum fk_bad_caps bad_caps;
	unsigned int msix;      /* [8] MSI-X vectors */
	uint64_t aperture_last; /* [2^39 - 1] highest IOVA of the IOMMU */
	uint64_t pgsize;        /* [4096] smallest IOMMU page */
	struct fk_range resv[FK_MAX_RESV]; /* [the MSI window 0xfee00000-0xfeefffff] */
	unsigned int nresv;
	bool no_resv;           /* no reserved window at all */
	/* The IOMMU behind it (IOMMU_GET_HW_INFO, IOMMU_HWPT_ALLOC):
	 * [IOMMU_HW_INFO_TYPE_INTEL_VTD with cap_reg FK_VTD_CAP, ecap_reg
	 * FK_VTD_ECAP; capabilities IOMMU_HW_CAP_DIRTY_TRACKING unless
	 * no_dirty; max_pasid_log2 0; nesting and page faults supported]. */
	uint32_t hw_type;       /* 0 = VTD; FK_HW_TYPE_NONE for "no info" */
	bool no_dirty;          /* the IOMMU cannot track dirty pages */
	bool no_nest;           /* cannot be a nesting parent */
	bool no_iopf;           /* cannot deliver page faults (FAULT_ID_VALID: -EOPNOTSUPP) */
	uint8_t max_pasid_log2; /* 0 = no PASID */
};

#define FK_HW_TYPE_NONE 0xffffffffu
#define FK_VTD_CAP  0x00d2008c40660462ULL
#define FK_VTD_ECAP 0x0000000000f050daULL

#define FK_MSI_START 0xfee00000ULL
#define FK_MSI_LAST  0xfeefffffULL
#define FK_APERTURE_LAST ((1ULL << 39) - 1)

/* One mapping as the fake kernel holds it. */
struct fk_map {
	uint64_t iova, len, va;
	uint32_t prot; /* 1 read, 2 write */
	bool copied;   /* made by IOMMU_IOAS_COPY: shares the source's pins */
	bool file;     /* made by IOMMU_IOAS_MAP_FILE (@va is the file offset) */
};

/* One logged call. */
struct fk_call {
	char op[10];        /* open close dup ioctl mmap munmap read write pread pwrite readlink realpath stat fstat
			     * listdir */
	char target[80];    /* the path, or the label of the fd ("iommufd", "group/5", "cdev/0000:00:04.0") */
	char detail[80];    /* ioctl name and its key arguments ("IOMMU_IOAS_MAP 1 0x1000+0x4000 FRW"),
			     * or a region access "r7+0x4/2" */
	int fd;
	int err;            /* errno of a failure, 0 on success */
	bool injected;      /* failed by fake_kernel_fail_*() */
	bool significant;   /* shown by fake_kernel_trace() without FK_TRACE_ALL */
	uint64_t len;       /* pread/pwrite/mmap bytes */
	uint64_t off;       /* pread/pwrite offset inside the region */
	int region;         /* pread/pwrite/mmap region index, -1 otherwise */
};

/* Lifetime. */
struct fake_kernel *fake_kernel_create(const struct fk_config *cfg); /* NULL: 7.3 defaults */
void fake_kernel_destroy(struct fake_kernel *fk);
/* Destroy whatever fake kernel is current (a failed test's): for teardowns. */
void fake_kernel_destroy_current(void);
const struct ifd_sys *fake_kernel_sys(struct fake_kernel *fk);

/* World description. */
int fake_kernel_add_device(struct fake_kernel *fk, const struct fk_dev_desc *d);
/* The /dev/vfio/devices/vfioN node of a device ("" if none). */
const char *fake_kernel_cdev_path(struct fake_kernel *fk, const char *name);
/* Rebind a device to another driver ("" = unbind). */
int fake_kernel_set_driver(struct fake_kernel *fk, const char *name, const char *driver);
/* Extra filesystem entries a test crafts (anywhere, e.g. a fake device
 * tree under /tmp); directories are implied by their entries. */
void fake_kernel_add_file(struct fake_kernel *fk, const char *path, const char *contents);
void fake_kernel_add_link(struct fake_kernel *fk, const char *path, const char *target);
/* open() of this path (as given or canonical) fails with EACCES. */
void fake_kernel_deny(struct fake_kernel *fk, const char *path);
void fake_kernel_set_memlock(struct fake_kernel *fk, uint64_t bytes);
/* From now on, answer with this malformation (FK_MALFORM_NONE: correctly). */
void fake_kernel_set_malform(struct fake_kernel *fk, enum fk_malform what);
/* IOMMU_OPTION state of an iommufd fd: RLIMIT_MODE (0 user, 1 process), and
 * HUGE_PAGES of one IOAS (1 allowed, 0 not; -1 no such IOAS). */
int fake_kernel_rlimit_mode(struct fake_kernel *fk, int fd);
int fake_kernel_huge_pages(struct fake_kernel *fk, int fd, uint32_t ioas_id);
/* Another process holds the group open / the device bound through its cdev. */
void fake_kernel_hold_group(struct fake_kernel *fk, int group, bool hold);
void fake_kernel_hold_device(struct fake_kernel *fk, const char *name, bool hold);

/* State inspection. */
int fake_kernel_open_fds(struct fake_kernel *fk);     /* fds in the fd table */
int fake_kernel_live_files(struct fake_kernel *fk);   /* open file descriptions (fds, mmaps, group links) */
int fake_kernel_live_mmaps(struct fake_kernel *fk);
uint64_t fake_kernel_pinned(struct fake_kernel *fk);  /* bytes charged to memlock */
bool fake_kernel_fd_is_open(struct fake_kernel *fk, int fd);
/* Mappings of IOAS @ioas_id of iommufd @fd, or of container @fd; sorted. */
size_t fake_kernel_get_maps(struct fake_kernel *fk, int fd, uint32_t ioas_id, struct fk_map *out, size_t max);
/* Usable IOVA ranges of an IOAS (iommufd) or container, and whether the
 * container has its IOMMU set (-1: not a container). */
size_t fake_kernel_get_ranges(struct fake_kernel *fk, int fd, uint32_t ioas_id, struct fk_range *out, size_t max);
int fake_kernel_container_iommu(struct fake_kernel *fk, int fd);
/* A group fd: 0 free, 1 in a container, 2 joined to an iommufd (-1: not a
 * group fd).  A cdev fd: 1 bound, 0 not (-1: not a cdev fd). */
int fake_kernel_group_state(struct fake_kernel *fk, int fd);
int fake_kernel_cdev_bound(struct fake_kernel *fk, int fd);
/* Objects alive in an iommufd (IOAS, HWPT, devices). */
int fake_kernel_iommufd_objects(struct fake_kernel *fk, int fd);

/* Devices. */
int fake_kernel_dev_open_count(struct fake_kernel *fk, const char *name);
uint32_t fake_kernel_dev_ioas(struct fake_kernel *fk, const char *name); /* attached IOAS id, 0 */
uint8_t *fake_kernel_dev_config(struct fake_kernel *fk, const char *name); /* 256 bytes */
uint8_t *fake_kernel_dev_region_mem(struct fake_kernel *fk, const char *name, unsigned int index);
int fake_kernel_dev_resets(struct fake_kernel *fk, const char *name);
/* The eventfd behind vector @vec of irq type @type, or -1. */
int fake_kernel_dev_irq_fd(struct fake_kernel *fk, const char *name, unsigned int type, unsigned int vec);
int fake_kernel_dev_irq_unmasks(struct fake_kernel *fk, const char *name, unsigned int type);
/* Signal the vector's eventfd as the hardware would: 0, or -ENOENT. */
int fake_kernel_fire_irq(struct fake_kernel *fk, const char *name, unsigned int type, unsigned int vec);

/* HWPTs, PASIDs, page faults, dirty tracking (issue 8).  @fd is the
 * iommufd fd; IDs are the iommufd object IDs. */
/* The explicit HWPT (or, 0 = attached to an IOAS / detached) of a device's
 * RID, and of one of its PASIDs (0 = none). */
uint32_t fake_kernel_dev_hwpt(struct fake_kernel *fk, const char *name);
uint32_t fake_kernel_dev_pasid_hwpt(struct fake_kernel *fk, const char *name, uint32_t pasid);
/* Whether HWPT @hwpt_id of iommufd @fd exists (1), tracks dirty pages (2
 * = exists and tracking on), or not (0). */
int fake_kernel_hwpt_state(struct fake_kernel *fk, int fd, uint32_t hwpt_id);
/* The selftest vendor data (IOMMUFD_HWPT_DATA_SELFTEST, 4 or 8 bytes) the
 * paging HWPT was allocated with, copied to @buf: its length (0 = none),
 * or -ENOENT. */
int fake_kernel_hwpt_vendor(struct fake_kernel *fk, int fd, uint32_t hwpt_id, void *buf, size_t len);
/* Mark [@iova, @iova+@len) dirty in HWPT @hwpt_id (as if a device wrote;
 * only mapped pages of a tracking HWPT take the mark): pages marked. */
int fake_kernel_set_dirty(struct fake_kernel *fk, int fd, uint32_t hwpt_id, uint64_t iova, uint64_t len);
/* A device raises a page request.  It must be attached (RID, or @pasid
 * when @pasid_valid) to an HWPT with a fault queue, else -EINVAL (the
 * kernel answers the device itself).  Not @last: held until the group's
 * last request arrives, as the IOMMU core does. */
int fake_kernel_trigger_iopf(struct fake_kernel *fk, const char *name, bool pasid_valid, uint32_t pasid,
			     uint32_t grpid, uint32_t perm, uint64_t addr, bool last);
/* Responses the device received, oldest first. */
struct fk_iopf_resp {
	uint32_t grpid, pasid, code; /* code: 0 success, 1 invalid */
	bool automatic;              /* the kernel answered (detach, replace, queue destroyed) */
};
size_t fake_kernel_iopf_responses(struct fake_kernel *fk, const char *name, struct fk_iopf_resp *out, size_t max);
/* Groups waiting in fault queue @fault_id to be read, and read but not answered. */
int fake_kernel_fault_pending(struct fake_kernel *fk, int fd, uint32_t fault_id, unsigned int *unread,
			      unsigned int *unanswered);
/* TYPE1 container @fd: dirty tracking on (1), off (0), not a container (-1). */
int fake_kernel_type1_dirty(struct fake_kernel *fk, int fd);

/* Hot-unplug.  Eventfds, epoll sets and uevent sockets the library makes
 * through the fake are real fds; how many are open: */
int fake_kernel_real_fds(struct fake_kernel *fk);
/* Deliver one datagram to every bound uevent socket, as if port @sender
 * sent it (0 = the kernel): the count delivered. */
int fake_kernel_uevent(struct fake_kernel *fk, const void *msg, size_t len, uint32_t sender);
/* The kernel's message "ACTION@DEVPATH\0ACTION=..\0DEVPATH=..\0SUBSYSTEM=..\0SEQNUM=..\0". */
int fake_kernel_uevent_kv(struct fake_kernel *fk, const char *action, const char *devpath, const char *subsystem,
			  uint64_t seqnum);

/* Fault injection.  After this call, the @n-th counted call (1 = the next
 * one) fails with @err.  fake_kernel_fail_match() counts only calls whose
 * op or detail begins with @what (e.g. "IOMMU_IOAS_MAP", "open"). */
void fake_kernel_fail_nth(struct fake_kernel *fk, unsigned long n, int err);
void fake_kernel_fail_match(struct fake_kernel *fk, const char *what, unsigned long n, int err);
void fake_kernel_fail_clear(struct fake_kernel *fk);
bool fake_kernel_fault_fired(struct fake_kernel *fk);
unsigned long fake_kernel_calls(struct fake_kernel *fk); /* counted calls so far */

/* Interleavings: run @fn(@arg) once, unlocked and on the calling thread,
 * just before the next ioctl whose name begins with @what is carried out --
 * as if another thread's call had landed at that moment. */
void fake_kernel_before_ioctl(struct fake_kernel *fk, const char *what, void (*fn)(void *arg), void *arg);
/* The same, just after the next close() of an fd whose label begins with
 * @what ("group/6", "cdev/0000:00:04.0") has freed the fd number. */
void fake_kernel_after_close(struct fake_kernel *fk, const char *what, void (*fn)(void *arg), void *arg);

/* fake-filemap.c: IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS on
 * iommufd file @file (a struct file *), called entered.  The files are the
 * test's real ones (a memfd): fds below FK_FD_BASE pass through dup, close
 * and mmap to the real kernel, logged with target "user". */
int fk_filemap_ioctl(struct fake_kernel *fk, void *file, unsigned long req, void *arg);
/* For it, from fake-kernel.c: IOMMU_IOAS_MAP's rules, the mapping marked
 * as a file's; and whether every mapping of every IOAS of @file is one. */
int fk_iommufd_map_file_pages(struct fake_kernel *fk, void *file, void *ioas_map_arg);
bool fk_iommufd_all_maps_file(struct fake_kernel *fk, void *file);
void fk_note_change_process(struct fake_kernel *fk);
/* IOMMU_IOAS_CHANGE_PROCESS calls that succeeded. */
unsigned int fake_kernel_change_process_calls(struct fake_kernel *fk);

/* Call log. */
size_t fake_kernel_log_count(struct fake_kernel *fk);
bool fake_kernel_log_get(struct fake_kernel *fk, size_t i, struct fk_call *out);
void fake_kernel_log_clear(struct fake_kernel *fk);
void fake_kernel_log_enable(struct fake_kernel *fk, bool on);
/* Calls whose op is @op (NULL: any) and whose target or detail begins with
 * @what (NULL: any), since the last clear. */
size_t fake_kernel_log_find(struct fake_kernel *fk, const char *op, const char *what);
/* Index of the first logged call at or after @from matching op/what, or -1. */
long fake_kernel_log_index(struct fake_kernel *fk, size_t from, const char *op, const char *what);

#define FK_TRACE_ALL 1u /* include sysfs and /proc accesses */
/* The log as "op target detail[ = ERRNO]" lines joined with '\n' (malloc'ed). */
char *fake_kernel_trace(struct fake_kernel *fk, unsigned int flags);
/* Assert that the significant calls since the last clear are exactly @expect
 * (NULL-terminated), then clear the log. */
#define fk_expect_trace(fk, ...) fk_expect_trace_(fk, __FILE__, __LINE__, (const char *[]){ __VA_ARGS__, NULL })
void fk_expect_trace_(struct fake_kernel *fk, const char *file, int line, const char *const *expect);

/* SR-IOV (fake-vf.c): declare @vf (already added) a VF of PF @pf: the
 * sysfs links virtfnN/physfn, sriov_totalvfs, and the VF-token rules. */
int fake_kernel_add_vf(struct fake_kernel *fk, const char *pf, const char *vf);

/* For the fake-<area>.c models, called with the fake kernel's lock held
 * (fk_model_lock() takes it for a model's own entry points). */
void fk_model_lock(bool on);
const char *fk_model_dev_driver(struct fake_kernel *fk, const char *name); /* "" if none */
int fk_model_dev_open_count(struct fake_kernel *fk, const char *name);    /* -1: no such device */
struct fk_vf_state;
struct fk_vf_state **fk_vf_state(struct fake_kernel *fk);
void fk_vf_free(struct fk_vf_state *st);
/* The token check of a device's open (@uuid NULL: none shown): 0 or -errno. */
int fk_vf_match(struct fake_kernel *fk, const char *name, const uint8_t *uuid);
/* VFIO_DEVICE_FEATURE on device @name. */
int fk_vf_feature(struct fake_kernel *fk, const char *name, void *arg);
/* GET_DEVICE_FD's "NAME[ vf_token=UUID]": @name and the token, or -errno. */
int fk_vf_split_name(const char *req, char *name, size_t len, uint8_t uuid[16], bool *has_uuid);
/* KVM (fake-kvm.c): a VM fd, as KVM_CREATE_VM gives it.  Its only ioctl is
 * KVM_CREATE_DEVICE of KVM_DEV_TYPE_VFIO (one per VM: -EBUSY; others
 * -ENODEV), whose device takes KVM_SET_DEVICE_ATTR KVM_DEV_VFIO_FILE
 * ADD/DEL of group and device files (-EBADF, -EINVAL not VFIO, -EEXIST,
 * -ENOENT, -ENXIO) and holds a reference on each added file, as KVM does. */
int fake_kernel_kvm_create_vm(struct fake_kernel *fk);
/* Files held by KVM VFIO device @kvm_fd (-1: not one); whether it holds
 * the file behind @vfio_fd; VMs alive (a KVM VFIO device keeps its VM). */
int fake_kernel_kvm_vfio_files(struct fake_kernel *fk, int kvm_fd);
bool fake_kernel_kvm_vfio_holds(struct fake_kernel *fk, int kvm_fd, int vfio_fd);
int fake_kernel_kvm_vms(struct fake_kernel *fk);

/* For the fake-<area>.c models: a file of their own kind, whose ioctls
 * and last release go to @ops (called with the fake kernel locked). */
struct fk_ext_ops {
	int (*ioctl)(struct fake_kernel *fk, void *obj, unsigned long req, void *arg);
	void (*release)(struct fake_kernel *fk, void *obj);
};
struct fake_kernel *fk_enter(void); /* lock the current fake kernel */
void fk_leave(void);
int fk_ext_install(struct fake_kernel *fk, const struct fk_ext_ops *ops, void *obj, const char *label);
void *fk_ext_get(struct fake_kernel *fk, int fd, const struct fk_ext_ops *ops); /* NULL: not @ops' */
void *fk_file_peek(struct fake_kernel *fk, int fd); /* the open file behind @fd, or NULL */
bool fk_file_is_vfio(const void *file);              /* a VFIO group or device file */
void fk_file_ref(void *file);
void fk_file_unref(struct fake_kernel *fk, void *file);
const char *fk_kvm_attr_name(const void *arg);       /* the call log's name of KVM_SET_DEVICE_ATTR */

/* ------------------------------------------------------------------------ */
/* Log capture for the library's log_fn.                                    */

struct fk_logcap {
	pthread_mutex_t lock;
	char *text;     /* every message, one per line */
	size_t len;
	unsigned int count;
	unsigned int errors; /* messages at IOMMUFD_LOG_ERR */
};

void fk_logcap_init(struct fk_logcap *c);
void fk_logcap_free(struct fk_logcap *c);
void fk_logcap_clear(struct fk_logcap *c);
void fk_logcap_fn(void *data, int level, const char *msg);
bool fk_logcap_has(struct fk_logcap *c, const char *needle);

/* ------------------------------------------------------------------------ */
/* Conveniences shared by the test programs.                                */

/* A context on the fake kernel; cap may be NULL (then the default log). */
static inline int fk_ctx_create(struct fake_kernel *fk, enum iommufd_backend backend, struct fk_logcap *cap,
				struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o = {
		.sz = sizeof(o),
		.backend = backend,
		.log_fn = cap ? fk_logcap_fn : NULL,
		.log_data = cap,
		.log_level = cap ? IOMMUFD_LOG_DEBUG : 0,
	};

	return ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, out);
}

/* The standard test machine: a 7.3-style kernel (or @flavour) with
 *   0000:00:04.0  group 5, vfio-pci, vfio0 (cdev)
 *   0000:00:05.0  group 6, vfio-pci, vfio1
 *   0000:00:05.1  group 6, vfio-pci, vfio2   (shares group 6)
 *   0000:00:06.0  group 7, vfio-pci, vfio3, no reset
 *   0000:00:07.0  group 8, e1000e            (not bound to VFIO)
 *   0000:00:08.0  group 9, vfio-pci, vfio4
 *   0000:00:08.1  group 9, e1000e            (makes group 9 non-viable)
 *   0000:00:09.0  group 10, unbound
 *   c0ffee00-0000-4000-8000-000000000001  mdev, group 11, vfio5
 */
#define FK_DEV_A      "0000:00:04.0"
#define FK_DEV_B      "0000:00:05.0"
#define FK_DEV_B2     "0000:00:05.1"
#define FK_DEV_NORESET "0000:00:06.0"
#define FK_DEV_HOST   "0000:00:07.0"
#define FK_DEV_NV     "0000:00:08.0"
#define FK_DEV_NV_CULPRIT "0000:00:08.1"
#define FK_DEV_UNBOUND "0000:00:09.0"
#define FK_MDEV       "c0ffee00-0000-4000-8000-000000000001"
#define FK_GROUP_A 5
#define FK_GROUP_B 6
struct fake_kernel *fk_standard(enum fk_flavour flavour);
/* fk_standard()'s devices on a kernel configured by @cfg. */
struct fake_kernel *fk_standard_cfg(const struct fk_config *cfg);

/* ------------------------------------------------------------------------ */
/* No-IOMMU (fake-noiommu.c)                                                */

/* A page's physical frame: VA frame + FK_NIO_PFN_BASE, plus one more frame
 * per FK_NIO_RUN pages before it, so physically contiguous runs end at
 * every FK_NIO_RUN-page boundary of the virtual address. */
#define FK_NIO_PFN_BASE 0x100000ULL
#define FK_NIO_RUN 8
#define FK_PAGEMAP "/proc/self/pagemap"
uint64_t fake_kernel_phys(struct fake_kernel *fk, uint64_t va);
/* Is [va, va + len) wholly mlock()ed? */
bool fake_kernel_mlocked(struct fake_kernel *fk, uint64_t va, uint64_t len);

/* Hooks fake-kernel.c calls (fk_lock held), and what it gives back. */
struct file;
struct fk_nio;
void fk_nio_fs(struct fake_kernel *fk);
int fk_nio_get_pa(struct fake_kernel *fk, struct file *f, void *arg);
ssize_t fk_nio_pagemap(struct fake_kernel *fk, void *buf, size_t len, off_t off);
int fk_nio_mlock(const void *addr, size_t len);
int fk_nio_munlock(const void *addr, size_t len);
void fk_nio_free(struct fake_kernel *fk);
int fk_ioas_area(struct fake_kernel *fk, struct file *f, uint32_t id, uint64_t iova, struct fk_map *out,
		 unsigned int *ndev);
bool fk_nio_container(struct fake_kernel *fk, struct file *ct);
/* fake-kernel.c internals fake-noiommu.c needs. */
const struct fk_config *fk_cfg(struct fake_kernel *fk);
long fk_nio_page_size(struct fake_kernel *fk);
struct fake_kernel *fk_enter_current(void);
void fk_leave_current(void);
void fk_node_file(struct fake_kernel *fk, const char *path, const char *contents);
struct fk_nio **fk_nio_slot(struct fake_kernel *fk);
/* fake-p2p.c: VFIO_DEVICE_FEATURE (DMA_BUF) of a device, given its facts. */
struct fk_p2p_dev {
	const char *name;
	bool mdev;
	bool has_dmabuf; /* the kernel has the feature */
	unsigned int nregions;
	uint64_t region_size[8];
};
int fake_p2p_device_feature(struct fake_kernel *fk, const struct fk_p2p_dev *d, void *arg);

#endif
