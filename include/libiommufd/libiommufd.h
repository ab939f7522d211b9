/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * libiommufd: one C API over the Linux IOMMU uAPIs a userspace driver or VMM
 * needs: iommufd with VFIO device cdevs, iommufd with VFIO groups, and the
 * legacy VFIO type1 container.  The library probes the running kernel and
 * picks the best of them; callers write the same code for all three.
 *
 * Conventions (every function):
 *  - Returns 0 (or a count) on success, a negative errno on failure, and sets
 *    errno to the positive value as well.  A bad argument gets -EINVAL and
 *    changes nothing.
 *  - Constructors take an out-parameter, set only on success.
 *  - Each object has one destroy function, which accepts NULL.
 *  - Option structs start with their size (sz): set it to sizeof(the struct)
 *    so that later versions of the library can grow them.  A NULL options
 *    pointer means all defaults.
 *  - Sizes and addresses are in bytes.  "Page" means the CPU page size
 *    (sysconf(_SC_PAGESIZE)) unless said otherwise.
 *  - Objects of one context may be used from several threads; each man page
 *    states the function's rule (THREAD SAFETY).
 *  - fork(): a child inherits the handles, but the kernel objects behind
 *    them (IOAS, mappings, bound devices) stay the parent's.  In the child,
 *    every call that would reach the kernel through an inherited handle
 *    fails with -ECHILD and changes nothing; the destroy functions close the
 *    child's copies of the fds and free memory, and nothing else (no unmap,
 *    no IOMMU_DESTROY, no detach), so the parent's DMA keeps working.  A
 *    child that needs DMA creates its own context.  See libiommufd(7).
 *  - Errors are the kernel's errno where its meaning is the documented one;
 *    libiommufd(7) lists every case where the library reports another.
 *
 * This header never includes kernel headers and defines no name that
 * <linux/iommufd.h> or <linux/vfio.h> define, so all three can be included
 * together, from C and C++.
 */
#ifndef LIBIOMMUFD_LIBIOMMUFD_H
#define LIBIOMMUFD_LIBIOMMUFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBIOMMUFD_VERSION_MAJOR 1
#define LIBIOMMUFD_VERSION_MINOR 0
#define LIBIOMMUFD_VERSION_PATCH 0
/* One number per version, comparable with < and >. */
#define LIBIOMMUFD_VERSION_CODE(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define LIBIOMMUFD_VERSION \
	LIBIOMMUFD_VERSION_CODE(LIBIOMMUFD_VERSION_MAJOR, LIBIOMMUFD_VERSION_MINOR, LIBIOMMUFD_VERSION_PATCH)

/* Opaque handles. */
struct iommufd_ctx;
struct iommufd_ioas;
struct iommufd_device;
struct iommufd_map;
struct iommufd_hwpt;
struct iommufd_fault_queue;

/**
 * iommufd_version() - the version of the library loaded at run time, as
 * LIBIOMMUFD_VERSION_CODE(major, minor, patch): compare it with
 * LIBIOMMUFD_VERSION (the header compiled against) to detect an older
 * library than the program was built for.  Never fails.
 */
uint32_t iommufd_version(void);

/* ------------------------------------------------------------------------ */
/* Backends                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * enum iommufd_backend - the kernel path a context drives.
 * @IOMMUFD_BACKEND_AUTO:  choose at context creation: CDEV if /dev/iommu
 *                         opens and the kernel registered VFIO device cdevs
 *                         ("vfio-dev" in /proc/devices), else GROUP if it
 *                         registered VFIO groups ("vfio"), else TYPE1.
 * @IOMMUFD_BACKEND_CDEV:  /dev/iommu + /dev/vfio/devices/vfioN
 *                         (VFIO_DEVICE_BIND_IOMMUFD, Linux 6.6+).
 * @IOMMUFD_BACKEND_GROUP: /dev/iommu + /dev/vfio/N: the group is joined to
 *                         the iommufd (VFIO_GROUP_SET_CONTAINER, Linux 6.2+).
 * @IOMMUFD_BACKEND_TYPE1: legacy VFIO container /dev/vfio/vfio with the type1
 *                         (v2 when offered) IOMMU driver; one container per
 *                         IOAS.  Also works on iommufd's compat container.
 * @IOMMUFD_BACKEND_NOIOMMU: UNSAFE: devices without any IOMMU (VFIO's
 *                         no-IOMMU mode): no isolation, the device can DMA
 *                         anywhere.  Never chosen by AUTO; only when asked
 *                         for by name.  See "No-IOMMU mode" below.
 *
 * The environment variable LIBIOMMUFD_BACKEND (auto, cdev, group, type1,
 * noiommu) overrides an AUTO request, so a test suite can force every path.
 */
enum iommufd_backend {
	IOMMUFD_BACKEND_AUTO = 0,
	IOMMUFD_BACKEND_CDEV = 1,
	IOMMUFD_BACKEND_GROUP = 2,
	IOMMUFD_BACKEND_TYPE1 = 3,
	IOMMUFD_BACKEND_NOIOMMU = 4,
};

/**
 * iommufd_backend_name() - short name of a backend.
 * Returns "auto", "cdev", "group", "type1", "noiommu", or "unknown".  Never
 * NULL.
 */
const char *iommufd_backend_name(enum iommufd_backend backend);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

/* Syslog-compatible levels. */
enum iommufd_log_level {
	IOMMUFD_LOG_ERR = 3,
	IOMMUFD_LOG_WARNING = 4,
	IOMMUFD_LOG_INFO = 6,
	IOMMUFD_LOG_DEBUG = 7,
};

/**
 * typedef iommufd_log_fn - receives one message of a context.
 * @data:  the pointer given with the callback.
 * @level: an enum iommufd_log_level.
 * @msg:   one line without a trailing newline, naming the path or device
 *         concerned and, for errors, the fix.  Valid only during the call.
 *
 * Called from whichever thread made the call that logs (errors, and at
 * higher levels progress of calls that succeed); must not call back into
 * the library on the same context.
 */
typedef void (*iommufd_log_fn)(void *data, int level, const char *msg);

/* ------------------------------------------------------------------------ */
/* Context                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * enum iommufd_pin_accounting - whose RLIMIT_MEMLOCK pinned pages count
 * against.
 * @IOMMUFD_PIN_ACCOUNT_DEFAULT: what the backend does by default: per user
 *                               on CDEV/GROUP, per process on TYPE1.
 * @IOMMUFD_PIN_ACCOUNT_USER:    the user's limit, shared by every process
 *                               (every VM) of that user: iommufd's default.
 * @IOMMUFD_PIN_ACCOUNT_PROCESS: this process's limit (its mm), as type1
 *                               always does.  On iommufd this needs
 *                               CAP_SYS_RESOURCE (IOMMU_OPTION_RLIMIT_MODE).
 */
enum iommufd_pin_accounting {
	IOMMUFD_PIN_ACCOUNT_DEFAULT = 0,
	IOMMUFD_PIN_ACCOUNT_USER = 1,
	IOMMUFD_PIN_ACCOUNT_PROCESS = 2,
};

/**
 * struct iommufd_ctx_opts - options for iommufd_ctx_create().
 * @sz:        sizeof(struct iommufd_ctx_opts).
 * @backend:   which path to use; IOMMUFD_BACKEND_AUTO (0) picks the best.
 * @log_fn:    message callback; NULL: messages go to stderr if the
 *             environment variable LIBIOMMUFD_DEBUG is set, else nowhere.
 * @log_data:  passed to @log_fn.
 * @log_level: most verbose level delivered; 0 means IOMMUFD_LOG_ERR, or
 *             IOMMUFD_LOG_DEBUG when LIBIOMMUFD_DEBUG is set.
 * @pin_accounting: whose RLIMIT_MEMLOCK pinned pages count against.  The
 *             kernel accepts a change only before the first IOAS exists, so
 *             it is a context option.  CDEV/GROUP: USER or PROCESS
 *             (IOMMU_OPTION_RLIMIT_MODE; PROCESS needs CAP_SYS_RESOURCE,
 *             else -EPERM).  TYPE1: PROCESS (or DEFAULT) only; USER gets
 *             -EOPNOTSUPP.
 * @noiommu_path: which kernel path a NOIOMMU context takes, an enum
 *             iommufd_noiommu_path (see "No-IOMMU mode"); ignored by the
 *             other backends, but -EINVAL when non-zero with a @backend
 *             other than AUTO or NOIOMMU.
 */
struct iommufd_ctx_opts {
	size_t sz;
	enum iommufd_backend backend;
	iommufd_log_fn log_fn;
	void *log_data;
	int log_level;
	enum iommufd_pin_accounting pin_accounting;
	uint32_t noiommu_path;
};

/**
 * iommufd_ctx_create() - open a context on the best (or the requested) path.
 * @opts: options, or NULL for defaults.
 * @out:  receives the context.
 *
 * Opens /dev/iommu (CDEV, GROUP), or (TYPE1) opens and checks one
 * /dev/vfio/vfio container, which becomes the first IOAS's; every further
 * TYPE1 IOAS opens its own.
 *
 * Errors: -EINVAL bad argument or bad LIBIOMMUFD_BACKEND; -ENODEV the
 * requested path (or, for AUTO, any path) does not exist on this kernel (the
 * log says which module or option is missing); -EACCES/-EPERM the node is
 * not accessible (the log names it); -ENOMEM; other open(2) errors.
 * Source: /proc/devices, VFIO_GET_API_VERSION and VFIO_CHECK_EXTENSION,
 * include/uapi/linux/vfio.h.
 */
int iommufd_ctx_create(const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out);

/**
 * iommufd_ctx_adopt_fd() - make a context from an already-open fd.
 * @fd:   an open /dev/iommu fd (gives a CDEV or GROUP context) or an open
 *        legacy /dev/vfio/vfio container fd (gives a TYPE1 context whose
 *        first IOAS uses it).  An fd of iommufd's compat /dev/vfio/vfio is an
 *        iommufd and gives a CDEV or GROUP context.
 *
 * Ownership of adopted fds (this and the two device adopt functions): the
 * library works on a duplicate, so on failure the caller's fd is still open
 * and the caller's; on success the library owns it and closes it when the
 * object is destroyed (a TYPE1 container: with the first IOAS).  The
 * duplicate shares the caller's open file, so what the kernel did to it
 * stays done unless the library can undo it: see each adopt function.
 * @opts: options, or NULL; opts->backend must be AUTO or match the fd.
 * @out:  receives the context.
 *
 * For a VMM handed /dev/iommu by its management layer.  Errors: -EBADF not an
 * open fd; -ENOTTY the fd is neither iommufd nor a VFIO container; -EINVAL
 * bad options, or the backend requested does not match the fd; -ENODEV an
 * iommufd on a kernel whose VFIO has neither cdevs nor groups; -ENOMEM;
 * -EMFILE/-ENFILE no descriptor left for the working duplicate.
 */
int iommufd_ctx_adopt_fd(int fd, const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out);

/**
 * iommufd_ctx_destroy() - close a context and everything still open on it.
 * @ctx: the context, or NULL.
 *
 * Devices still open are detached and closed, mappings unmapped, IOAS
 * destroyed.  No call on the context or its objects may run concurrently or
 * follow.  Destroying a context twice is undefined, like free().
 */
void iommufd_ctx_destroy(struct iommufd_ctx *ctx);

/**
 * iommufd_ctx_get_backend() - the path this context drives (never AUTO).
 */
enum iommufd_backend iommufd_ctx_get_backend(const struct iommufd_ctx *ctx);

/**
 * iommufd_ctx_get_fd() - the /dev/iommu fd of a CDEV or GROUP context.
 *
 * Still owned by the context.  Returns the fd, or -EOPNOTSUPP on TYPE1 (each
 * IOAS has its own container fd: iommufd_ioas_get_fd()), -EINVAL on NULL.
 */
int iommufd_ctx_get_fd(const struct iommufd_ctx *ctx);

/**
 * iommufd_ctx_set_log() - replace the message callback and level.
 * @fn: the callback, or NULL for the default (stderr if LIBIOMMUFD_DEBUG).
 *
 * Waits for calls of the old callback still running in other threads, so
 * once it returns the old callback is never called again and @data of the
 * old one may be freed.  A callback must therefore not call it.
 */
int iommufd_ctx_set_log(struct iommufd_ctx *ctx, iommufd_log_fn fn, void *data, int level);

/**
 * iommufd_ctx_get_pin_accounting() - the accounting in force for this
 * context: IOMMUFD_PIN_ACCOUNT_USER or IOMMUFD_PIN_ACCOUNT_PROCESS (never
 * DEFAULT), or -EINVAL.  Source: IOMMU_OPTION_RLIMIT_MODE (GET).
 */
int iommufd_ctx_get_pin_accounting(const struct iommufd_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* IOAS: I/O address spaces                                                 */
/* ------------------------------------------------------------------------ */

/**
 * struct iommufd_iova_range - a usable IOVA range, both ends inclusive.
 */
struct iommufd_iova_range {
	uint64_t start;
	uint64_t last;
};

/**
 * iommufd_ioas_create() - create an I/O address space.
 * @ctx: the context.
 * @out: receives the IOAS.
 *
 * CDEV/GROUP: IOMMU_IOAS_ALLOC.  TYPE1: opens a new container
 * (/dev/vfio/vfio); its IOMMU type is set when the first device attaches,
 * and mappings made before that are replayed then.
 */
int iommufd_ioas_create(struct iommufd_ctx *ctx, struct iommufd_ioas **out);

/**
 * iommufd_ioas_destroy() - unmap everything and free the IOAS.
 * @ioas: the IOAS, or NULL (returns 0).
 *
 * Errors: -EBUSY devices are still attached (nothing changes; destroy or
 * move them first).  A second destroy of the same IOAS returns -EINVAL and
 * is logged (the handle memory is kept until the context is destroyed).
 */
int iommufd_ioas_destroy(struct iommufd_ioas *ioas);

/** iommufd_ioas_get_ctx() - the context the IOAS belongs to. */
struct iommufd_ctx *iommufd_ioas_get_ctx(const struct iommufd_ioas *ioas);

/**
 * iommufd_ioas_get_id() - the iommufd object ID of the IOAS (CDEV, GROUP):
 * what IOMMU_* ioctls and VFIO_DEVICE_ATTACH_IOMMUFD_PT take.  Returns the
 * ID, or -EOPNOTSUPP on TYPE1.
 */
int64_t iommufd_ioas_get_id(const struct iommufd_ioas *ioas);

/**
 * iommufd_ioas_get_fd() - the fd to issue raw ioctls on: the context's
 * /dev/iommu fd, or (TYPE1) this IOAS's container fd.  Owned by the library.
 */
int iommufd_ioas_get_fd(const struct iommufd_ioas *ioas);

/**
 * iommufd_ioas_get_ranges() - the usable IOVA ranges, sorted.
 * @ranges: array to fill, may be NULL when @max is 0.
 * @max:    entries in @ranges.
 *
 * Returns the total number of ranges (which may exceed @max: call again with
 * a larger array).  Ranges narrow as devices attach: the kernel reports the
 * intersection of every attached IOMMU's aperture minus reserved regions
 * (MSI windows).  Before a TYPE1 IOAS has a device, the whole 64-bit space.
 * Source: IOMMU_IOAS_IOVA_RANGES; VFIO_IOMMU_GET_INFO with
 * VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE.
 */
int iommufd_ioas_get_ranges(struct iommufd_ioas *ioas, struct iommufd_iova_range *ranges, size_t max);

/**
 * iommufd_ioas_get_alignment() - the IOVA alignment every mapping needs, in
 * bytes (a power of two, at least the CPU page size).
 * Source: out_iova_alignment of IOMMU_IOAS_IOVA_RANGES; the smallest page
 * size of VFIO_IOMMU_GET_INFO's iova_pgsizes.
 */
int64_t iommufd_ioas_get_alignment(struct iommufd_ioas *ioas);

/**
 * iommufd_ioas_reserve() - keep the library's allocator away from an IOVA
 * range (for example a window the guest owns or a device's magic
 * addresses).  Fixed mappings there fail with -EEXIST too.  @iova and @len
 * must be page aligned; -EEXIST if a mapping or another reservation
 * overlaps; -ERANGE outside the usable ranges.  Undone by
 * iommufd_ioas_unreserve() with exactly the same bounds (-ENOENT if there
 * is no such reservation).
 */
int iommufd_ioas_reserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len);
int iommufd_ioas_unreserve(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len);

/**
 * iommufd_ioas_allow_iovas() - promise that these IOVA ranges stay usable.
 * @ranges: inclusive ranges, page aligned (start) and ending one byte
 *          before a page boundary (last); @n of them, or none (@n == 0)
 *          to withdraw the promise.
 *
 * Afterwards a device whose reserved regions or aperture would take any of
 * these ranges away cannot attach (iommufd_device_open() fails with -ERANGE
 * and nothing changes), and the library's allocator hands out IOVAs only
 * inside these ranges (fixed mappings may still go anywhere usable).  For a
 * VMM: allow the guest's physical address space before assigning devices.
 *
 * Errors: -EINVAL bad ranges; -ERANGE the usable ranges are already
 * narrower than @ranges (a device attached that excludes part of them);
 * -ENOMEM.  TYPE1 has no such ioctl: the library applies the same rules
 * itself (allocation inside, and the attach is undone when the container's
 * ranges do not cover them).
 * Source: IOMMU_IOAS_ALLOW_IOVAS, include/uapi/linux/iommufd.h.
 */
int iommufd_ioas_allow_iovas(struct iommufd_ioas *ioas, const struct iommufd_iova_range *ranges, size_t n);

/**
 * iommufd_ioas_set_huge_pages() - allow (the default) or forbid the IOMMU
 * to map this IOAS with pages larger than the CPU page size.
 *
 * Forbidding costs IOTLB reach; it exists for testing and for devices that
 * mishandle large IOMMU pages.  Only while the IOAS has no mapping and no
 * device (-EBUSY otherwise).  -EOPNOTSUPP on TYPE1.
 * Source: IOMMU_OPTION_HUGE_PAGES, include/uapi/linux/iommufd.h.
 */
int iommufd_ioas_set_huge_pages(struct iommufd_ioas *ioas, bool enable);

/* ------------------------------------------------------------------------ */
/* DMA mappings                                                             */
/* ------------------------------------------------------------------------ */

/* Access the device gets to the memory; at least one is required. */
#define IOMMUFD_MAP_READ  (1u << 0) /* the device may read the memory */
#define IOMMUFD_MAP_WRITE (1u << 1) /* the device may write the memory */
/* Map at opts->iova exactly instead of letting the library choose. */
#define IOMMUFD_MAP_FIXED (1u << 2)

/**
 * struct iommufd_map_opts - options for iommufd_ioas_map().
 * @sz:        sizeof(struct iommufd_map_opts).
 * @iova:      with IOMMUFD_MAP_FIXED: the IOVA to map at.
 * @iova_max:  highest IOVA the mapping's last byte may have; 0 = no limit.
 *             A device with 28-bit DMA passes 0x0fffffff.  Applies to
 *             chosen IOVAs; a fixed IOVA above it gets -ERANGE.
 * @align:     minimum IOVA alignment in bytes (power of two); 0 = default
 *             (the IOAS alignment; from 64 KiB up, @len's largest power
 *             of two up to 2 MiB, and 1 GiB when @len and the virtual
 *             address allow: fewer, aligned IOTLB invalidations and large
 *             IOMMU pages).
 */
struct iommufd_map_opts {
	size_t sz;
	uint64_t iova;
	uint64_t iova_max;
	uint64_t align;
};

/**
 * iommufd_ioas_map() - map user memory for device DMA.
 * @ioas:  the IOAS.
 * @vaddr: start of the memory, page aligned.  Any memory the process can
 *         pin: anonymous, THP, hugetlbfs, memfd, file-backed shared.
 * @len:   bytes, a non-zero multiple of the page size.
 * @flags: IOMMUFD_MAP_READ and/or IOMMUFD_MAP_WRITE, optionally
 *         IOMMUFD_MAP_FIXED.
 * @opts:  options, or NULL.
 * @iova:  receives the IOVA the memory is mapped at.
 *
 * When the pages are pinned (and RLIMIT_MEMLOCK charged) depends on the
 * backend: CDEV/GROUP pin at map time once the IOAS has a device behind an
 * IOMMU, and pin everything already mapped when the first such device
 * attaches (iommufd_device_open() then fails with -ENOMEM); TYPE1 pins at
 * map time once the container has its first device, and a map made before
 * is recorded and pinned at that attach.  With no device, or only mdevs,
 * the kernel pins on the device's access instead, so a bad @vaddr shows up
 * then.  The library chooses the IOVA unless IOMMUFD_MAP_FIXED: lowest fit
 * inside the usable ranges (and the ranges of iommufd_ioas_allow_iovas(),
 * if any), the alignment, and @opts->iova_max, never IOVA 0.  O(log n) in
 * the mappings when the alignment is the page size; a larger alignment can
 * visit more free ranges whose starts are misaligned.  If the kernel
 * already has a mapping the library did not make at the chosen IOVA (a raw
 * IOMMU_IOAS_MAP on iommufd_ioas_get_fd(), or a forked child's), the
 * library marks that range used, logs it, and tries the next fit (a few
 * times at most, then -EEXIST).  A fixed @iova and @len must be multiples
 * of iommufd_ioas_get_alignment().
 *
 * Errors: -EINVAL bad flags, zero or unaligned length or address, overflow,
 * iova_max below the alignment; -ERANGE a fixed IOVA outside the usable
 * ranges or above iova_max; -EEXIST a fixed IOVA overlaps a mapping or a
 * reservation; -ENOSPC no free IOVA range fits; -ENOMEM pinning would
 * exceed RLIMIT_MEMLOCK under the accounting in force (the log says whose
 * limit: the user's, shared by all its processes, or this process's), or no
 * memory; -EFAULT @vaddr is not mapped in the process, or (IOMMUFD_MAP_WRITE)
 * is mapped read-only; -EOVERFLOW @vaddr lies in the kernel half of the
 * address space (iommufd's answer).
 * Source: IOMMU_IOAS_MAP, VFIO_IOMMU_MAP_DMA.
 */
int iommufd_ioas_map(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
		     const struct iommufd_map_opts *opts, uint64_t *iova);

/**
 * iommufd_ioas_unmap() - unmap every mapping that lies wholly inside
 * [@iova, @iova + @len).
 * @iova, @len: the range, in bytes (no alignment needed; @len >= 1).
 * @unmapped:  receives the bytes unmapped (may be NULL).
 *
 * The kernel's range semantics (IOMMU_IOAS_UNMAP, type1v2): any union of
 * whole mappings goes in one call, so a VMM removes a RAM region, however
 * it was mapped, with one call.  Mappings made through map handles
 * (iommufd_map_create()) in the range are unmapped too; their handles stay
 * valid until iommufd_map_destroy(), which then only frees them.  The IOVAs
 * return to the allocator.
 *
 * Errors: -EINVAL @len is 0 or the range overflows; -EINVAL the range
 * would split a mapping (nothing changes; the log names the mapping: the
 * kernel's iommufd says -ENOENT after unmapping what came before it, see
 * libiommufd(7)); -ENOENT no mapping lies in the range; -EBUSY a mapping in
 * the range is still being made or removed by another thread.
 * Source: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA.
 */
int iommufd_ioas_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped);

/**
 * iommufd_ioas_unmap_all() - remove every mapping of the IOAS, with one
 * ioctl where the kernel offers it (IOMMU_IOAS_UNMAP of 0..~0;
 * VFIO_DMA_UNMAP_FLAG_ALL when the container has VFIO_UNMAP_ALL; else one
 * VFIO_IOMMU_UNMAP_DMA per run of adjacent mappings).  Also removes
 * mappings the library did not make.  Returns the number of the library's
 * mappings removed; on failure the error, with nothing removed.
 */
int iommufd_ioas_unmap_all(struct iommufd_ioas *ioas);

/**
 * iommufd_map_create() - map user memory for device DMA and return a handle
 * for the mapping.  Arguments, rules and errors as iommufd_ioas_map(): the
 * two calls share one bookkeeping, so iommufd_ioas_translate(),
 * iommufd_ioas_find_iova() and range unmaps see both.
 * @out: receives the handle.  Its IOVA, length, address and flags are read
 *       with iommufd_map_get_*() without a lookup or a lock.
 */
int iommufd_map_create(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
		       const struct iommufd_map_opts *opts, struct iommufd_map **out);

/**
 * iommufd_map_destroy() - unmap the mapping (no lookup: the handle is the
 * bookkeeping) and free the handle.
 * @map: the handle, or NULL (returns 0).
 *
 * If a range unmap or iommufd_ioas_unmap_all() already removed the mapping,
 * this only frees the handle.  On a kernel error the mapping and the handle
 * stay (the error is returned and logged): call again or destroy the IOAS.
 * Source: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA.
 */
int iommufd_map_destroy(struct iommufd_map *map);

/**
 * iommufd_map_get_iova() / _len() / _vaddr() / _flags() / _ioas() - the
 * mapping's first IOVA, its length in bytes, the first byte of the mapped
 * memory, its IOMMUFD_MAP_READ/WRITE flags, and its IOAS.  Constant for
 * the handle's life; safe from any thread.  On NULL: UINT64_MAX, 0, NULL,
 * 0, NULL respectively (values no mapping has), errno EINVAL.
 */
uint64_t iommufd_map_get_iova(const struct iommufd_map *map);
uint64_t iommufd_map_get_len(const struct iommufd_map *map);
void *iommufd_map_get_vaddr(const struct iommufd_map *map);
uint32_t iommufd_map_get_flags(const struct iommufd_map *map);
struct iommufd_ioas *iommufd_map_get_ioas(const struct iommufd_map *map);

/**
 * iommufd_ioas_copy() - map memory already mapped in @src into @dst without
 * pinning it again: for per-device address spaces and vIOMMU shadowing.
 * @dst, @src:  two IOAS of one context (-EINVAL otherwise, or if the same).
 * @src_iova:   start of the range in @src; with @len (bytes, both multiples
 *              of the alignment of both IOAS) it must be wholly covered by
 *              @src's mappings, with no hole (-ENOENT), and may be part of
 *              a mapping or span several.
 * @flags:      IOMMUFD_MAP_READ and/or IOMMUFD_MAP_WRITE (no more than the
 *              source mappings allow: -EPERM), optionally IOMMUFD_MAP_FIXED
 *              with @opts->iova.
 * @opts:       as for iommufd_ioas_map() (iova, iova_max, align), or NULL.
 * @dst_iova:   receives where the range landed in @dst.
 *
 * In @dst the copy is one mapping per source mapping it covers, each with
 * its own virtual address, so translate and range unmap work on @dst as on
 * any mapping.  TYPE1 has no copy: the library maps the same memory into
 * @dst's container again, which pins it again and charges RLIMIT_MEMLOCK a
 * second time; the result for the device is the same.
 * Errors: those of iommufd_ioas_map(), -ENOENT, -EPERM.
 * Source: IOMMU_IOAS_COPY, include/uapi/linux/iommufd.h.
 */
int iommufd_ioas_copy(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
		      uint32_t flags, const struct iommufd_map_opts *opts, uint64_t *dst_iova);

/**
 * struct iommufd_map_info - one mapping, as found by a lookup.
 */
struct iommufd_map_info {
	uint64_t iova;  /* first IOVA of the mapping */
	uint64_t len;   /* bytes */
	void *vaddr;    /* first byte of the mapped memory */
	uint32_t flags; /* IOMMUFD_MAP_READ / IOMMUFD_MAP_WRITE */
};

/**
 * iommufd_ioas_find_iova() - the mapping that contains an IOVA.
 * @info: receives it (may be NULL just to test).
 * Returns 0, or -ENOENT.  O(log n); takes a read lock only.
 */
int iommufd_ioas_find_iova(struct iommufd_ioas *ioas, uint64_t iova, struct iommufd_map_info *info);

/**
 * iommufd_ioas_translate() - the IOVA of a buffer inside mapped memory: what
 * a driver calls on each I/O to turn a pointer into a DMA address.
 * @vaddr: first byte of the buffer.
 * @len:   bytes in the buffer (>= 1); the whole buffer must lie in one
 *         mapping.
 * @iova:  receives the IOVA of @vaddr.
 * Returns 0, or -ENOENT (not inside one mapping).  O(log n), no lock.  The
 * first call on an IOAS builds its index by process address under the map
 * lock (O(n log n), ~1,000 instructions per live mapping); maps and unmaps
 * keep it from then on.  Call it once on an empty IOAS to never pay the
 * build.  No kernel call.
 */
int iommufd_ioas_translate(struct iommufd_ioas *ioas, const void *vaddr, size_t len, uint64_t *iova);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * struct iommufd_device_opts - options for opening a device.
 * @sz:    sizeof(struct iommufd_device_opts) (an older caller's smaller
 *         size still works: the fields past it are taken as 0/NULL).
 * @flags: none defined yet; must be 0.
 * @vf_token: NULL, or the SR-IOV VF token to open the device with: a
 *         UUID string in its canonical 36-character form
 *         ("bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3", either case; anything
 *         else is -EINVAL).  Needed to open a VF whose PF vfio-pci drives,
 *         and a PF whose VFs are in use; see @section-vf below.  Not
 *         accepted by iommufd_device_adopt_id() (the device is bound
 *         already).
 */
struct iommufd_device_opts {
	size_t sz;
	uint32_t flags;
	const char *vf_token;
};

/**
 * iommufd_device_open() - open a VFIO device, bind it to the context and
 * attach it to @ioas.
 * @ioas: the IOAS its DMA goes through.
 * @name: any of: a PCI address "0000:00:04.0" (or "00:04.0"); a sysfs path
 *        "/sys/bus/pci/devices/0000:00:04.0"; a cdev path
 *        "/dev/vfio/devices/vfio0"; an mdev UUID; an mdev sysfs path
 *        "/sys/bus/mdev/devices/UUID".  Every form is canonicalised
 *        (realpath) and must be a directory under /sys/devices that
 *        /sys/bus/pci/devices (or /sys/bus/mdev/devices) lists under its
 *        last component; the cdev is the one whose
 *        /sys/class/vfio-dev/vfioN/device leads back to it (-ENODEV).
 * @opts: options, or NULL.
 * @out:  receives the device.
 *
 * CDEV: opens the cdev, VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT.
 * GROUP: opens (or shares) the group fd, VFIO_GROUP_SET_CONTAINER with the
 * iommufd, IOMMU_VFIO_IOAS, VFIO_GROUP_GET_DEVICE_FD.  TYPE1: opens (or
 * shares) the group fd, joins it to the IOAS's container (VFIO_SET_IOMMU on
 * the first), VFIO_GROUP_GET_DEVICE_FD.  All devices of one IOMMU group
 * share one group fd and must use the same IOAS.
 *
 * Errors: -EINVAL bad argument (on CDEV also the kernel's answer when the
 * device's group is attached to another IOAS, and VFIO_DEVICE_BIND_IOMMUFD's
 * EINVAL when the library cannot establish that the device is open
 * elsewhere: see the log); -ENODEV not a VFIO device,
 * or not bound to vfio-pci (the log says how to bind it); -EBUSY the IOMMU
 * group is not viable (the log names the device that holds it) or the
 * device is open elsewhere or already in this context; -EACCES/-EPERM no permission (the log names the
 * node and the fix); -EEXIST (GROUP, TYPE1) the group already uses another
 * IOAS of this context; -ERANGE mappings or reservations of @ioas lie
 * outside the IOVA ranges this device allows; -ENOMEM/-EFAULT (TYPE1)
 * replaying mappings made before the first device failed (see
 * iommufd_ioas_map()); -EIO the kernel's description of the regions
 * (VFIO_DEVICE_GET_REGION_INFO of each, read at open) is malformed;
 * -ENAMETOOLONG; other errors of open(2) and the ioctls named above.
 */
int iommufd_device_open(struct iommufd_ioas *ioas, const char *name, const struct iommufd_device_opts *opts,
			struct iommufd_device **out);

/**
 * iommufd_device_adopt_cdev_fd() - like iommufd_device_open() for an already
 * open /dev/vfio/devices/vfioN fd, not yet bound (-EINVAL if it is).  CDEV
 * only (-EOPNOTSUPP elsewhere).  Ownership as for iommufd_ctx_adopt_fd():
 * on success the fd is the library's; on failure it stays open and the
 * caller's, unchanged if the call failed before VFIO_DEVICE_BIND_IOMMUFD
 * succeeded, but bound to this context's iommufd if it failed after it
 * (the attach, or reading the device's info): the kernel has no unbind
 * other than close(), so the caller can then only close it.
 */
int iommufd_device_adopt_cdev_fd(struct iommufd_ioas *ioas, int fd, const struct iommufd_device_opts *opts,
				 struct iommufd_device **out);

/**
 * iommufd_device_adopt_group_fd() - like iommufd_device_open() for device
 * @name ("0000:00:04.0", or an mdev UUID) of an already open /dev/vfio/N
 * group fd that is not in a container yet (-EBUSY if it is; -EINVAL if it is
 * not @name's group, or @name is NULL or empty).  GROUP and TYPE1 only
 * (-EOPNOTSUPP on CDEV and NOIOMMU).  Ownership as for iommufd_ctx_adopt_fd(): on
 * failure @group_fd is the caller's and out of any container (the library
 * undoes its VFIO_GROUP_SET_CONTAINER); on success the context owns it
 * (shared by later devices of the group, closed with the last of them).
 */
int iommufd_device_adopt_group_fd(struct iommufd_ioas *ioas, int group_fd, const char *name,
				  const struct iommufd_device_opts *opts, struct iommufd_device **out);

/**
 * iommufd_device_destroy() - detach, close and free a device.
 * @dev: the device, or NULL (returns 0).
 *
 * A device given to KVM (iommufd_device_kvm_add()) is deleted from it
 * first.  Interrupts are disabled and BARs the library mapped are
 * unmapped.  The group fd closes with its last device.  The handle is freed at once:
 * using it afterwards, or destroying it twice, is undefined, like free().
 */
int iommufd_device_destroy(struct iommufd_device *dev);

/**
 * iommufd_device_attach() - move a device to another IOAS of the same
 * context while it keeps running (CDEV: VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * replaces the domain atomically).  GROUP and TYPE1 cannot move an open
 * device: -EOPNOTSUPP.  Attaching to the current IOAS returns 0.
 */
int iommufd_device_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas);

/** iommufd_device_get_ioas() - the IOAS the device is attached to. */
struct iommufd_ioas *iommufd_device_get_ioas(const struct iommufd_device *dev);

/** iommufd_device_get_fd() - the VFIO device fd (owned by the library). */
int iommufd_device_get_fd(const struct iommufd_device *dev);

/** iommufd_device_get_name() - the device name: "0000:00:04.0" or a UUID. */
const char *iommufd_device_get_name(const struct iommufd_device *dev);

/**
 * iommufd_device_get_id() - the iommufd device ID from
 * VFIO_DEVICE_BIND_IOMMUFD (CDEV); -EOPNOTSUPP on GROUP and TYPE1.
 */
int64_t iommufd_device_get_id(const struct iommufd_device *dev);

/**
 * iommufd_device_get_group() - the IOMMU group number (mdevs have an
 * emulated group), or -ENOENT if sysfs shows none.
 */
int iommufd_device_get_group(const struct iommufd_device *dev);

/* Region indexes of a PCI device (VFIO_PCI_*_REGION_INDEX). */
#define IOMMUFD_REGION_BAR0   0u
#define IOMMUFD_REGION_BAR5   5u
#define IOMMUFD_REGION_ROM    6u
#define IOMMUFD_REGION_CONFIG 7u
#define IOMMUFD_REGION_VGA    8u

/* Region flags. */
#define IOMMUFD_REGION_F_READ  (1u << 0)
#define IOMMUFD_REGION_F_WRITE (1u << 1)
#define IOMMUFD_REGION_F_MMAP  (1u << 2)

/**
 * struct iommufd_region_info - one device region.
 * @size:   bytes; 0 if the device does not implement it.
 * @offset: where the region starts in the device fd (for pread/mmap).
 * @flags:  IOMMUFD_REGION_F_*.
 */
struct iommufd_region_info {
	uint64_t size;
	uint64_t offset;
	uint32_t flags;
};

/**
 * iommufd_device_get_num_regions() - how many regions the device has.
 * Source: VFIO_DEVICE_GET_INFO.
 */
int iommufd_device_get_num_regions(struct iommufd_device *dev);

/**
 * iommufd_device_get_region_info() - describe region @index.
 * Errors: -EINVAL @index out of range.  Source: VFIO_DEVICE_GET_REGION_INFO.
 */
int iommufd_device_get_region_info(struct iommufd_device *dev, unsigned int index, struct iommufd_region_info *info);

/**
 * struct iommufd_region_area - a part of a region that can be mmapped.
 * @offset: bytes from the start of the region.
 * @size:   bytes.
 */
struct iommufd_region_area {
	uint64_t offset;
	uint64_t size;
};

/**
 * iommufd_device_get_region_areas() - the parts of region @index that
 * iommufd_device_map_region() maps: the whole region when it is mmappable
 * as a whole, the kernel's sparse areas when only parts are (a BAR holding
 * an MSI-X table: VFIO_REGION_INFO_CAP_SPARSE_MMAP), none when it cannot
 * be mmapped.
 * @areas: array to fill, may be NULL when @max is 0.
 * @max:   entries in @areas.
 * Returns the total number of areas (which may exceed @max), or -EINVAL
 * (bad argument, @index out of range).  No system call: the library reads
 * every region's description when it opens the device.
 * Source: VFIO_DEVICE_GET_REGION_INFO, include/uapi/linux/vfio.h.
 */
int iommufd_device_get_region_areas(struct iommufd_device *dev, unsigned int index, struct iommufd_region_area *areas,
				    size_t max);

/**
 * iommufd_device_get_region_type() - the type and subtype of a
 * device-specific region (VFIO_REGION_INFO_CAP_TYPE: for example
 * VFIO_REGION_TYPE_PCI_VENDOR_TYPE | vendor ID, or the graphics and
 * migration types of <linux/vfio.h>).
 * @type, @subtype: receive them.
 * Returns 0; -ENOENT the region has no type (the standard PCI regions);
 * -EINVAL bad argument or @index out of range.  No system call.
 * Source: VFIO_DEVICE_GET_REGION_INFO, include/uapi/linux/vfio.h.
 */
int iommufd_device_get_region_type(struct iommufd_device *dev, unsigned int index, uint32_t *type, uint32_t *subtype);

/**
 * iommufd_device_map_region() - mmap a region (a BAR) read/write, shared.
 * @addr receives the mapping, @len its size in bytes: the whole region's
 * size, with offsets as in the region.  When only parts of the region can
 * be mmapped (iommufd_device_get_region_areas()), the library reserves the
 * whole range and maps those parts into it; the rest stays inaccessible
 * (PROT_NONE: touching it faults), so use iommufd_device_region_read() and
 * write() there.  Mapping a region twice returns the same mapping.
 * Errors: -EOPNOTSUPP the region has no mmappable part (use
 * iommufd_device_region_read()/write()); -EINVAL bad index.
 */
int iommufd_device_map_region(struct iommufd_device *dev, unsigned int index, void **addr, size_t *len);

/**
 * iommufd_device_unmap_region() - undo iommufd_device_map_region().
 */
int iommufd_device_unmap_region(struct iommufd_device *dev, unsigned int index);

/**
 * iommufd_device_region_read() / iommufd_device_region_write() - access a
 * region through the device fd (pread/pwrite), for regions that cannot be
 * mmapped or where the access width matters.  @off and @len in bytes inside
 * the region; accesses of 1, 2, 4 or 8 aligned bytes are issued as one
 * access.  Returns 0 when all @len bytes moved; -EINVAL past the region end.
 */
int iommufd_device_region_read(struct iommufd_device *dev, unsigned int index, uint64_t off, void *buf, size_t len);
int iommufd_device_region_write(struct iommufd_device *dev, unsigned int index, uint64_t off, const void *buf,
				size_t len);

/**
 * iommufd_device_config_read() / iommufd_device_config_write() - PCI
 * configuration space, little-endian as on the bus (VFIO's config region).
 */
int iommufd_device_config_read(struct iommufd_device *dev, uint64_t off, void *buf, size_t len);
int iommufd_device_config_write(struct iommufd_device *dev, uint64_t off, const void *buf, size_t len);

/**
 * iommufd_device_set_bus_master() - set or clear the PCI command register's
 * bus-master bit: a PCI device does no DMA until it is set.  A
 * read-modify-write: do not race it with iommufd_device_config_write() of
 * the command register.
 */
int iommufd_device_set_bus_master(struct iommufd_device *dev, bool enable);

/* Interrupt types (VFIO_PCI_*_IRQ_INDEX). */
#define IOMMUFD_IRQ_INTX 0u
#define IOMMUFD_IRQ_MSI  1u
#define IOMMUFD_IRQ_MSIX 2u
#define IOMMUFD_IRQ_ERR  3u
#define IOMMUFD_IRQ_REQ  4u

/**
 * iommufd_device_get_irq_count() - vectors of interrupt type @type the
 * device has (0 if none).  Source: VFIO_DEVICE_GET_IRQ_INFO.
 */
int iommufd_device_get_irq_count(struct iommufd_device *dev, unsigned int type);

/**
 * iommufd_device_irq_enable() - deliver vectors @start .. @start+@count-1 of
 * @type to eventfds.  @eventfds[i] is the eventfd for vector @start+i, or -1
 * to detach that vector.  @count is at most 2048.  For MSI/MSI-X that are
 * already enabled, only the given vectors change (VFIO's rule).  VFIO masks
 * INTx when it fires; the caller unmasks it after handling it with
 * iommufd_device_irq_unmask().
 * Source: VFIO_DEVICE_SET_IRQS with VFIO_IRQ_SET_DATA_EVENTFD.
 */
int iommufd_device_irq_enable(struct iommufd_device *dev, unsigned int type, unsigned int start, unsigned int count,
			      const int *eventfds);

/** iommufd_device_irq_disable() - stop all vectors of @type. */
int iommufd_device_irq_disable(struct iommufd_device *dev, unsigned int type);

/** iommufd_device_irq_unmask() - unmask INTx after handling it. */
int iommufd_device_irq_unmask(struct iommufd_device *dev, unsigned int type, unsigned int index);

/**
 * iommufd_device_reset() - reset the device with whatever method the kernel
 * has for it (FLR, PM, bus reset...): VFIO_DEVICE_RESET.
 * -EOPNOTSUPP if the device has no reset method.
 */
int iommufd_device_reset(struct iommufd_device *dev);

/* ------------------------------------------------------------------------ */
/* Capabilities                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Features a caller can ask about before trying them.  Values are stable;
 * later versions add to the end.
 */
enum iommufd_feature {
	IOMMUFD_FEATURE_IOMMUFD = 1,      /* the context drives /dev/iommu (CDEV or GROUP) */
	IOMMUFD_FEATURE_HW_INFO,          /* iommufd_device_get_hw_info() */
	IOMMUFD_FEATURE_HWPT,             /* iommufd_hwpt_create() and attaching a device to it */
	IOMMUFD_FEATURE_HWPT_REPLACE,     /* moving a running device (iommufd_device_attach*()) */
	IOMMUFD_FEATURE_NEST_PARENT,      /* IOMMUFD_HWPT_NEST_PARENT */
	IOMMUFD_FEATURE_DIRTY_TRACKING,   /* iommufd_hwpt_*dirty* and iommufd_ioas_*dirty* */
	IOMMUFD_FEATURE_PASID,            /* iommufd_device_attach_pasid() */
	IOMMUFD_FEATURE_FAULT_QUEUE,      /* iommufd_fault_queue_create() (I/O page faults) */
	IOMMUFD_FEATURE_IOAS_COPY,        /* iommufd_ioas_copy() without re-pinning */
	IOMMUFD_FEATURE_DEVICE_ADOPT_ID,  /* iommufd_device_adopt_id() */
	/* Kernel calls of the VMM features (answered from the running kernel). */
	IOMMUFD_FEATURE_MAP_FILE,         /* IOMMU_IOAS_MAP_FILE (memfd, dma-buf) */
	IOMMUFD_FEATURE_HWPT_INVALIDATE,  /* IOMMU_HWPT_INVALIDATE (nested HWPTs) */
	IOMMUFD_FEATURE_VIOMMU,           /* IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC */
	IOMMUFD_FEATURE_VEVENTQ,          /* IOMMU_VEVENTQ_ALLOC */
	IOMMUFD_FEATURE_HW_QUEUE,         /* IOMMU_HW_QUEUE_ALLOC */
	IOMMUFD_FEATURE_CHANGE_PROCESS,   /* IOMMU_IOAS_CHANGE_PROCESS (live update) */
	IOMMUFD_FEATURE_P2P_DMABUF,       /* iommufd_ioas_map_bar() through a dma-buf (needs a device) */
};

/* Why a feature is missing. */
enum iommufd_feature_reason {
	IOMMUFD_REASON_NONE = 0,     /* supported */
	IOMMUFD_REASON_LIBRARY,      /* this library version does not know the feature */
	IOMMUFD_REASON_KERNEL,       /* the running kernel lacks the call (too old, or not built in) */
	IOMMUFD_REASON_BACKEND,      /* the context's backend cannot do it (GROUP, TYPE1) */
	IOMMUFD_REASON_IOMMU,        /* the IOMMU behind the device lacks it */
	IOMMUFD_REASON_DEVICE,       /* the device lacks it (no PASID capability, adopted without its fd) */
	IOMMUFD_REASON_NEED_DEVICE,  /* the answer depends on a device: pass one */
};

/**
 * struct iommufd_feature_status - why iommufd_feature_query() said no.
 * @sz:     sizeof(struct iommufd_feature_status), set by the caller.
 * @reason: enum iommufd_feature_reason.
 * @why:    one line for a human, naming the kernel option, backend or
 *          hardware that is missing; "" when supported.
 */
struct iommufd_feature_status {
	size_t sz;
	uint32_t reason;
	char why[160];
};

/**
 * iommufd_feature_query() - does this context (and @dev, when given) offer
 * @feature?
 * @ctx:     the context.
 * @dev:     a device of @ctx, or NULL for the context-wide answer.  Features
 *           that depend on the IOMMU or the device (NEST_PARENT,
 *           DIRTY_TRACKING, PASID) need one (else reason NEED_DEVICE).
 * @feature: enum iommufd_feature.
 * @st:      receives the reason, or NULL.
 *
 * Probed at run time and cached (per context, per device): kernel calls by
 * issuing them with an empty argument (-ENOTTY = missing), the IOMMU and
 * device by IOMMU_GET_HW_INFO, TYPE1 dirty tracking by the container's
 * VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION.  Never assumed from build headers.
 *
 * Returns 1 (supported), 0 (not: @st says why), or -EINVAL (@dev of another
 * context, bad @st->sz) / -ECHILD.
 */
int iommufd_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature feature,
			  struct iommufd_feature_status *st);

/* IOMMU types (IOMMU_GET_HW_INFO's out_data_type, the kernel's numbers). */
#define IOMMUFD_HW_TYPE_NONE     0u
#define IOMMUFD_HW_TYPE_VTD      1u /* Intel VT-d: vendor data is cap_reg, ecap_reg */
#define IOMMUFD_HW_TYPE_SMMUV3   2u
#define IOMMUFD_HW_TYPE_TEGRA241 3u
#define IOMMUFD_HW_TYPE_AMD      4u

/* Capability bits (IOMMU_GET_HW_INFO's out_capabilities, the kernel's bits). */
#define IOMMUFD_HW_CAP_DIRTY_TRACKING  (1ull << 0)
#define IOMMUFD_HW_CAP_PASID_EXEC      (1ull << 1)
#define IOMMUFD_HW_CAP_PASID_PRIV      (1ull << 2)
#define IOMMUFD_HW_CAP_NO_ATS          (1ull << 3) /* ATS cannot be used on this device */

/**
 * struct iommufd_hw_info - what the IOMMU behind a device offers.
 * @sz:             sizeof(struct iommufd_hw_info), set by the caller.
 * @type:           IOMMUFD_HW_TYPE_*; other values pass through unchanged.
 * @max_pasid_log2: PASID width in bits; 0 = the device cannot use PASIDs.
 * @capabilities:   IOMMUFD_HW_CAP_* (unknown bits pass through).
 * @vendor_len:     bytes of vendor data the kernel has (may exceed what
 *                  the caller's buffer took).
 */
struct iommufd_hw_info {
	size_t sz;
	uint32_t type;
	uint32_t max_pasid_log2;
	uint64_t capabilities;
	uint32_t vendor_len;
};

/**
 * iommufd_device_get_hw_info() - the IOMMU's hardware information for @dev.
 * @dev:        a device with an iommufd device ID (CDEV, or adopted by ID).
 * @info:       receives the information (@info->sz set by the caller).
 * @vendor:     buffer for the type-specific data (struct iommu_hw_info_vtd
 *              etc. of <linux/iommufd.h>), or NULL.
 * @vendor_len: bytes at @vendor; the rest of a longer answer is cut off,
 *              a shorter one is zero-filled.
 *
 * Read once per device (IOMMU_GET_HW_INFO, include/uapi/linux/iommufd.h)
 * and cached, vendor data up to 256 bytes.
 * Errors: -EINVAL bad argument; -EOPNOTSUPP GROUP/TYPE1 device, or a kernel
 * without IOMMU_GET_HW_INFO; -ECHILD; the ioctl's errors.
 */
int iommufd_device_get_hw_info(struct iommufd_device *dev, struct iommufd_hw_info *info, void *vendor,
			       size_t vendor_len);

/* ------------------------------------------------------------------------ */
/* HWPTs (hardware page tables)                                             */
/* ------------------------------------------------------------------------ */

/* struct iommufd_hwpt_opts.flags (IOMMU_HWPT_ALLOC flags). */
#define IOMMUFD_HWPT_NEST_PARENT     (1u << 0) /* may parent nested HWPTs */
#define IOMMUFD_HWPT_DIRTY_TRACKING  (1u << 1) /* devices attached must track dirty pages */
#define IOMMUFD_HWPT_PASID           (1u << 3) /* may be attached to PASIDs */

/**
 * struct iommufd_hwpt_opts - options for iommufd_hwpt_create().
 * @sz:    sizeof(struct iommufd_hwpt_opts).
 * @flags: IOMMUFD_HWPT_*.
 * @fault: a fault queue to receive the I/O page faults of devices and
 *         PASIDs attached to this HWPT (IOMMU_HWPT_FAULT_ID_VALID), or
 *         NULL.  The queue must outlive the HWPT.
 * @data_type: 0, or the IOMMU driver's own allocation parameters for a
 *         paging HWPT, IOMMUFD_HWPT_DATA_* (few drivers take any: the
 *         kernel's mock IOMMU takes IOMMUFD_HWPT_DATA_SELFTEST).
 * @data:  @data_len bytes of that data, passed to the kernel as is.
 * @data_len: 1 .. 65536 bytes with a @data_type, else 0.
 */
struct iommufd_hwpt_opts {
	size_t sz;
	uint32_t flags;
	struct iommufd_fault_queue *fault;
	uint32_t data_type;
	const void *data;
	uint32_t data_len;
};

/**
 * iommufd_hwpt_create() - allocate a paging HWPT that mirrors @ioas's
 * mappings, built for the IOMMU behind @dev.
 * @dev:  a device with an iommufd device ID (CDEV, or adopted by ID); the
 *        HWPT is not attached to it (iommufd_device_attach_hwpt()).
 * @ioas: the IOAS whose mappings the HWPT holds (same context).
 * @opts: options, or NULL.
 * @out:  receives the HWPT.
 *
 * Source: IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_NONE, or the caller's
 * data type and data.
 * Errors: -EINVAL bad argument (unknown flag, other context's object, a
 * data type without data or data without a type, @data_len over 65536);
 * -EOPNOTSUPP the backend has no HWPTs (GROUP, TYPE1), the kernel lacks
 * IOMMU_HWPT_ALLOC, or the IOMMU cannot do a requested flag (dirty
 * tracking, nesting, PASID: the log says which) or takes no data of that
 * type; -ECHILD; -ENOMEM; the ioctl's errors (bad vendor data: usually
 * -EINVAL).
 */
int iommufd_hwpt_create(struct iommufd_device *dev, struct iommufd_ioas *ioas, const struct iommufd_hwpt_opts *opts,
			struct iommufd_hwpt **out);

/**
 * iommufd_hwpt_destroy() - free an HWPT.
 * @hwpt: the HWPT, or NULL (returns 0).
 *
 * -EBUSY, and nothing changes, while a device or PASID the library
 * attached is attached to it (detach or move them first), or while the
 * kernel refuses (IOMMU_DESTROY: EBUSY, a device attached to it outside
 * the library).  Otherwise the handle is freed, even if IOMMU_DESTROY
 * fails for another reason (logged).  iommufd_ctx_destroy() frees every
 * HWPT handle whatever the kernel says (closing the iommufd frees them).
 */
int iommufd_hwpt_destroy(struct iommufd_hwpt *hwpt);

/** iommufd_hwpt_get_id() - the iommufd object ID (for raw ioctls). */
uint32_t iommufd_hwpt_get_id(const struct iommufd_hwpt *hwpt);
/** iommufd_hwpt_get_ioas() - the IOAS the HWPT mirrors. */
struct iommufd_ioas *iommufd_hwpt_get_ioas(const struct iommufd_hwpt *hwpt);
/** iommufd_hwpt_get_flags() - the IOMMUFD_HWPT_* it was created with. */
uint32_t iommufd_hwpt_get_flags(const struct iommufd_hwpt *hwpt);

/**
 * iommufd_device_attach_hwpt() - attach @dev to @hwpt, or, if @dev is
 * attached already (to an IOAS or an HWPT), replace its domain atomically:
 * DMA keeps running and lands in @hwpt's mappings from the switch on.
 * Source: VFIO_DEVICE_ATTACH_IOMMUFD_PT (include/uapi/linux/vfio.h).
 * iommufd_device_attach() moves it back to an IOAS (its implicit HWPT).
 * Errors: -EINVAL bad argument, other context; -EOPNOTSUPP GROUP/TYPE1, or
 * a device adopted by ID without its VFIO fd; -EBUSY the device is being
 * reset; -ECHILD; the ioctl's errors (-EINVAL from the kernel when the
 * HWPT was built for an incompatible IOMMU).
 */
int iommufd_device_attach_hwpt(struct iommufd_device *dev, struct iommufd_hwpt *hwpt);

/**
 * iommufd_device_detach() - detach @dev from its IOAS or HWPT: its DMA is
 * blocked until the next attach.  iommufd_device_get_ioas() and
 * iommufd_device_get_hwpt() return NULL meanwhile.
 * Source: VFIO_DEVICE_DETACH_IOMMUFD_PT.  CDEV only (-EOPNOTSUPP).
 */
int iommufd_device_detach(struct iommufd_device *dev);

/**
 * iommufd_device_get_hwpt() - the explicit HWPT @dev is attached to, or
 * NULL (attached to an IOAS through its implicit HWPT, or detached).
 */
struct iommufd_hwpt *iommufd_device_get_hwpt(const struct iommufd_device *dev);

/**
 * iommufd_device_adopt_id() - wrap a device someone else bound to @ctx's
 * iommufd: a VMM handed a pre-bound device, or a test's mock device.
 * @ctx:    an iommufd context (CDEV or GROUP; -EOPNOTSUPP on TYPE1).
 * @dev_id: the iommufd device ID VFIO_DEVICE_BIND_IOMMUFD returned.
 * @fd:     the bound VFIO device cdev fd, or -1 when the caller keeps the
 *          device (then the library cannot attach, detach or reach its
 *          regions: those calls return -EOPNOTSUPP).  On success the fd
 *          is the library's (closed, which unbinds, by destroy).
 * @opts:   options, or NULL.
 * @out:    receives the device; not attached as far as the library knows
 *          (iommufd_device_get_ioas() returns NULL until an attach).
 *
 * The ID is checked with IOMMU_GET_HW_INFO (-ENOENT: no such device
 * bound to this iommufd).  -EBUSY if the context already has a device
 * with this ID.
 */
int iommufd_device_adopt_id(struct iommufd_ctx *ctx, uint32_t dev_id, int fd, const struct iommufd_device_opts *opts,
			    struct iommufd_device **out);

/* ------------------------------------------------------------------------ */
/* PASIDs                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * iommufd_device_attach_pasid() - attach PASID @pasid of @dev to @hwpt,
 * or replace its HWPT atomically if it has one.
 * @hwpt must have been created with IOMMUFD_HWPT_PASID.  The device's
 * PASID width is probed first (IOMMU_GET_HW_INFO): -EOPNOTSUPP, with the
 * reason logged, if it has none or @pasid does not fit (-ERANGE).
 * Source: VFIO_DEVICE_ATTACH_IOMMUFD_PT with VFIO_DEVICE_ATTACH_PASID.
 * CDEV only (-EOPNOTSUPP).
 */
int iommufd_device_attach_pasid(struct iommufd_device *dev, uint32_t pasid, struct iommufd_hwpt *hwpt);

/**
 * iommufd_device_detach_pasid() - detach PASID @pasid (its DMA is blocked).
 * -ENOENT if the library has not attached it.
 * Source: VFIO_DEVICE_DETACH_IOMMUFD_PT with VFIO_DEVICE_DETACH_PASID.
 */
int iommufd_device_detach_pasid(struct iommufd_device *dev, uint32_t pasid);

/* ------------------------------------------------------------------------ */
/* I/O page-fault queues (IOPF)                                             */
/* ------------------------------------------------------------------------ */

/* struct iommufd_page_request.flags */
#define IOMMUFD_PRQ_PASID_VALID (1u << 0) /* @pasid is meaningful */
#define IOMMUFD_PRQ_LAST_PAGE   (1u << 1) /* the last request of its group */

/* struct iommufd_page_request.perm */
#define IOMMUFD_PRQ_READ  (1u << 0)
#define IOMMUFD_PRQ_WRITE (1u << 1)
#define IOMMUFD_PRQ_EXEC  (1u << 2)
#define IOMMUFD_PRQ_PRIV  (1u << 3)

/**
 * struct iommufd_page_request - one I/O page request from a device.
 * @addr:   the faulting IOVA (bytes; the start of a page).
 * @dev:    the library's handle of the device, or NULL if this context
 *          has none for @dev_id.
 * @dev_id: the iommufd device ID.
 * @pasid:  the PASID, if flags has IOMMUFD_PRQ_PASID_VALID.
 * @grpid:  the PRI page request group index.
 * @perm:   IOMMUFD_PRQ_READ/WRITE/EXEC/PRIV requested.
 * @flags:  IOMMUFD_PRQ_PASID_VALID, IOMMUFD_PRQ_LAST_PAGE.
 * @length: bytes the device expects to touch (a hint; 0 = unknown).
 * @cookie: names the request's group: answer it once per group.
 */
struct iommufd_page_request {
	uint64_t addr;
	struct iommufd_device *dev;
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t perm;
	uint32_t flags;
	uint32_t length;
	uint32_t cookie;
};

/* Response codes (PCIe page request responses). */
#define IOMMUFD_PAGE_RESPONSE_SUCCESS 0u /* the pages are mapped: retry */
#define IOMMUFD_PAGE_RESPONSE_INVALID 1u /* not handled: do not retry */

/** struct iommufd_page_response - the answer to one group. */
struct iommufd_page_response {
	uint32_t cookie;
	uint32_t code;
};

/**
 * struct iommufd_fault_queue_opts - options for iommufd_fault_queue_create().
 * @sz:              sizeof(struct iommufd_fault_queue_opts).
 * @max_outstanding: groups read but not answered before reads stop with
 *                   -ENOSPC (the queue is "full"); 0 = 1024; at most
 *                   1048576 (else -EINVAL).
 */
struct iommufd_fault_queue_opts {
	size_t sz;
	uint32_t max_outstanding;
};

/**
 * struct iommufd_fault_queue_stats - counters since creation.
 * @sz:          sizeof(struct iommufd_fault_queue_stats), set by the caller.
 * @requests:    records read from the kernel.
 * @groups:      groups read.
 * @responses:   groups answered by the caller and accepted by the kernel.
 * @outstanding: groups read and not answered yet.
 * @lost:        groups the kernel answered itself (INVALID) before the
 *               caller did: their device was detached or moved to another
 *               HWPT; the caller's later answer was dropped.
 * @full:        reads refused because @outstanding reached the limit.
 * @reads:       read(2) calls made on the kernel's queue.
 */
struct iommufd_fault_queue_stats {
	size_t sz;
	uint64_t requests, groups, responses, outstanding, lost, full, reads;
};

/**
 * iommufd_fault_queue_create() - allocate an I/O page-fault queue.
 * Give it to iommufd_hwpt_create() (opts->fault); requests of devices and
 * PASIDs attached to such an HWPT arrive here.
 * Source: IOMMU_FAULT_QUEUE_ALLOC.  -EOPNOTSUPP on TYPE1 or a kernel
 * without it.
 */
int iommufd_fault_queue_create(struct iommufd_ctx *ctx, const struct iommufd_fault_queue_opts *opts,
			       struct iommufd_fault_queue **out);

/**
 * iommufd_fault_queue_destroy() - free a queue.  -EBUSY, and nothing
 * changes, while an HWPT of the library uses it.  Requests not answered
 * yet, read or not, are answered INVALID (the kernel does so when the
 * queue object goes), so no device waits forever.
 */
int iommufd_fault_queue_destroy(struct iommufd_fault_queue *q);

/**
 * iommufd_fault_queue_get_fd() - an fd that polls readable (POLLIN) while
 * requests wait; for the caller's event loop.  Owned by the library: do
 * not read, write or close it.
 */
int iommufd_fault_queue_get_fd(const struct iommufd_fault_queue *q);

/** iommufd_fault_queue_get_id() - the iommufd object ID. */
uint32_t iommufd_fault_queue_get_id(const struct iommufd_fault_queue *q);

/**
 * iommufd_fault_queue_read() - take up to @max waiting requests, never
 * blocking.
 * Whole groups only, in arrival order; the records of a group are
 * consecutive and the last has IOMMUFD_PRQ_LAST_PAGE.  Many requests come
 * in one read(2) of the kernel's queue; what does not fit @max stays in
 * the library for the next call, and does not make the fd readable: after
 * POLLIN, call until -EAGAIN.
 * Returns the count (>= 1); -EAGAIN nothing waits; -ENOSPC the queue is
 * full (max_outstanding groups unanswered: answer some first; logged
 * once); -EMSGSIZE the next group has more records than @max; -EOVERFLOW
 * the next group exceeds 4096 records (unreadable, logged); -EIO a
 * malformed kernel answer; -EINVAL bad argument; -ECHILD; read(2)'s errors.
 * Source: read(2) of struct iommu_hwpt_pgfault (include/uapi/linux/iommufd.h).
 */
int iommufd_fault_queue_read(struct iommufd_fault_queue *q, struct iommufd_page_request *reqs, size_t max);

/**
 * iommufd_fault_queue_respond() - answer @n groups in one write(2).
 * Every cookie must be one read and not yet answered, and every code an
 * IOMMUFD_PAGE_RESPONSE_*: else -EINVAL and nothing is sent.  A group the
 * kernel already answered itself counts as lost (stats), not as an error.
 * Returns @n, or a negative errno (after a write(2) error the answers not
 * delivered stay outstanding).  Source: write(2) of struct
 * iommu_hwpt_page_response.
 */
int iommufd_fault_queue_respond(struct iommufd_fault_queue *q, const struct iommufd_page_response *resp, size_t n);

/** iommufd_fault_queue_get_stats() - the counters (see the struct). */
int iommufd_fault_queue_get_stats(struct iommufd_fault_queue *q, struct iommufd_fault_queue_stats *stats);

/* ------------------------------------------------------------------------ */
/* Dirty tracking (live migration)                                          */
/* ------------------------------------------------------------------------ */

/* Flags of the get_dirty_bitmap calls. */
#define IOMMUFD_DIRTY_NO_CLEAR (1u << 0) /* read without clearing (before an unmap) */

/*
 * The bitmap of every dirty call: bit i (of bitmap[i / 64], bit i % 64) is
 * the page at @iova + i * @page_size.  It holds (@len / @page_size + 63) / 64
 * uint64_t; the library sets every bit of the range (dirty) or clears it
 * (clean), so the caller need not zero it.  @page_size is a power of two,
 * @iova and @len multiples of it, @len > 0.
 */

/**
 * iommufd_hwpt_set_dirty_tracking() - start or stop dirty tracking on an
 * HWPT created with IOMMUFD_HWPT_DIRTY_TRACKING (-EINVAL otherwise).
 * Source: IOMMU_HWPT_SET_DIRTY_TRACKING.
 */
int iommufd_hwpt_set_dirty_tracking(struct iommufd_hwpt *hwpt, bool enable);

/**
 * iommufd_hwpt_get_dirty_bitmap() - which pages of [@iova, @iova+@len)
 * devices wrote since the last clearing read; clears them unless
 * IOMMUFD_DIRTY_NO_CLEAR.  Source: IOMMU_HWPT_GET_DIRTY_BITMAP.
 */
int iommufd_hwpt_get_dirty_bitmap(struct iommufd_hwpt *hwpt, uint64_t iova, uint64_t len, uint64_t page_size,
				  uint64_t *bitmap, uint32_t flags);

/**
 * iommufd_ioas_set_dirty_tracking() - the migration loop's form, the same
 * on every backend that has dirty tracking: start or stop it for all DMA
 * into @ioas.
 * CDEV: every device attached to @ioas must be on a library HWPT of @ioas
 * created with IOMMUFD_HWPT_DIRTY_TRACKING (else -EOPNOTSUPP naming the
 * device: its writes would go unseen); tracking is set on all such HWPTs.
 * TYPE1: VFIO_IOMMU_DIRTY_PAGES on the container, where the kernel offers
 * it (VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION).  GROUP: -EOPNOTSUPP.
 */
int iommufd_ioas_set_dirty_tracking(struct iommufd_ioas *ioas, bool enable);

/**
 * iommufd_ioas_get_dirty_bitmap() - like iommufd_hwpt_get_dirty_bitmap()
 * for all DMA into @ioas (CDEV: the union over its tracking HWPTs).
 * TYPE1: the range may not split a mapping (-EINVAL, the kernel's rule),
 * @page_size may be any multiple of the container's smallest IOMMU page
 * (the library folds), and IOMMUFD_DIRTY_NO_CLEAR is not offered
 * (-EOPNOTSUPP: type1 always clears).  Without an IOMMU that tracks writes,
 * type1 reports every mapped page dirty (the kernel's rule).
 * Tracking must be on (iommufd_ioas_set_dirty_tracking()): else -EINVAL,
 * type1's answer, which the library gives on CDEV too (an HWPT attached
 * since the last start would go unread).
 */
int iommufd_ioas_get_dirty_bitmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t page_size,
				  uint64_t *bitmap, uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Discovery and hot-unplug                                                 */
/* ------------------------------------------------------------------------ */

/* struct iommufd_device_entry.flags */
#define IOMMUFD_DEVICE_ENTRY_VFIO (1u << 0) /* bound to a VFIO driver: iommufd_device_open() may take it */
#define IOMMUFD_DEVICE_ENTRY_MDEV (1u << 1) /* a mediated device (named by UUID) */

/**
 * struct iommufd_device_entry - one device as iommufd_device_list() saw it.
 * @name:   "0000:00:04.0" (PCI) or an mdev UUID: what iommufd_device_open()
 *          takes.
 * @sysfs:  its canonical sysfs directory ("/sys/devices/...").
 * @driver: the driver bound to it ("vfio-pci", "nvme", ...), "" if none.
 * @cdev:   its VFIO device cdev ("/dev/vfio/devices/vfioN", or
 *          ".../noiommu-vfioN" for a device VFIO drives without an IOMMU),
 *          "" if none (not bound to VFIO, or a kernel without cdevs).
 * @group:  its IOMMU group number (the group node is /dev/vfio/@group while
 *          bound to VFIO), or -1 if it has none (the IOMMU is off).
 * @flags:  IOMMUFD_DEVICE_ENTRY_*.
 * @vendor: PCI vendor ID, 0 for an mdev.
 * @device: PCI device ID, 0 for an mdev.
 *
 * Strings are NUL-terminated; a device whose name or path does not fit is
 * left out of the list (logged).
 */
struct iommufd_device_entry {
	char name[64];
	char sysfs[1024];
	char driver[64];
	char cdev[64];
	int32_t group;
	uint32_t flags;
	uint16_t vendor;
	uint16_t device;
};

/**
 * iommufd_device_list() - every PCI device and mdev of the machine, PCI
 * devices first, each kind sorted by name.
 * @ctx: the context (its log receives the reasons an entry is left out).
 * @out: array to fill, may be NULL when @max is 0.
 * @max: entries in @out.
 *
 * Returns the total number of devices, which may exceed @max (call again
 * with a larger array; devices come and go, so the count is a snapshot).
 * A device that disappears while it is read is left out.  With libudev
 * (built with -Dudev=enabled, or auto and found) the devices are enumerated
 * through libudev's udev_enumerate; without it, by walking
 * /sys/bus/pci/devices and /sys/bus/mdev/devices: the same entries either
 * way.  Errors: -EINVAL bad argument; -ENOMEM; -ENOENT no /sys/bus/pci
 * (sysfs not mounted).
 */
int iommufd_device_list(struct iommufd_ctx *ctx, struct iommufd_device_entry *out, size_t max);

/**
 * enum iommufd_event_kind - what iommufd_ctx_read_events() reports.
 * @IOMMUFD_EVENT_REMOVE_REQUESTED: the kernel asks for a device of this
 *      context back (VFIO's request interrupt, VFIO_PCI_REQ_IRQ_INDEX):
 *      someone removes it (echo 1 > /sys/bus/pci/devices/BDF/remove, a
 *      hot-unplug) or unbinds it from its VFIO driver, and the kernel waits
 *      until every fd of the device is closed.  The rule: stop the device's
 *      DMA, unmap what only it used, and call iommufd_device_destroy()
 *      promptly.  The kernel repeats the request every 10 s until then.
 * @IOMMUFD_EVENT_REMOVED: the kernel removed the device (its "remove"
 *      uevent), reported for devices this context holds and for devices it
 *      reported REMOVE_REQUESTED for (the removal it asked for completed).
 * @IOMMUFD_EVENT_P2P_REVOKED: a BAR mapping of iommufd_ioas_map_bar() lost
 *      its pages: DMA to @iova .. @iova + @len - 1 of @ioas faults from now
 *      on.  @dev and @name are the BAR's device.  One per mapping; only
 *      the causes iommufd_ioas_map_bar() lists are seen.  At most 64 wait;
 *      more are dropped (logged), iommufd_ioas_bar_revoked() still tells.
 */
enum iommufd_event_kind {
	IOMMUFD_EVENT_REMOVE_REQUESTED = 1,
	IOMMUFD_EVENT_REMOVED = 2,
	IOMMUFD_EVENT_P2P_REVOKED = 3,
};

/**
 * struct iommufd_event - one event.
 * @kind:  an enum iommufd_event_kind.
 * @count: REMOVE_REQUESTED: requests since the last report (the kernel's
 *         repeats coalesce); 1 for REMOVED.
 * @dev:   the context's handle of the device, or NULL if it holds none by
 *         that name now (REMOVED after the caller destroyed it).
 * @name:  the device's name ("0000:00:04.0" or an mdev UUID).
 * @ioas:  P2P_REVOKED: the mapping's IOAS; else NULL.
 * @iova:  P2P_REVOKED: the mapping's first IOVA; else 0.
 * @len:   P2P_REVOKED: its length in bytes; else 0.
 */
struct iommufd_event {
	uint32_t kind;
	uint32_t count;
	struct iommufd_device *dev;
	char name[64];
	struct iommufd_ioas *ioas;
	uint64_t iova;
	uint64_t len;
};

/**
 * iommufd_ctx_get_event_fd() - an fd for the caller's event loop: it polls
 * readable (POLLIN) while events wait for iommufd_ctx_read_events().
 * @ctx: the context.
 *
 * The first call sets the notification up: the request interrupt of
 * every device the context holds, and of every device opened later, is
 * armed with an eventfd of the library (VFIO_DEVICE_SET_IRQS on
 * IOMMUFD_IRQ_REQ; a device without it is logged and gives no
 * REMOVE_REQUESTED), and a NETLINK_KOBJECT_UEVENT socket receives the
 * kernel's uevents (without it, e.g. a kernel without CONFIG_NET, no
 * REMOVED: logged).  Until this call the library arms nothing, so a
 * caller that arms IOMMUFD_IRQ_REQ itself (iommufd_device_irq_enable())
 * keeps it; a later iommufd_device_irq_enable() or _disable() of
 * IOMMUFD_IRQ_REQ replaces the library's.  Later calls return the same fd.
 * Owned by the library (an epoll fd): do not read, add to or close it.
 * Errors: -EINVAL bad argument; -ECHILD in a forked child; -ENOMEM;
 * epoll_create1(2)'s and eventfd(2)'s errors.
 */
int iommufd_ctx_get_event_fd(struct iommufd_ctx *ctx);

/**
 * iommufd_ctx_read_events() - take up to @max waiting events, never
 * blocking.
 * @ctx: the context (iommufd_ctx_get_event_fd() called once before).
 * @ev:  array to fill.
 * @max: entries in @ev, at least 1.
 *
 * Returns the count (>= 1); -EAGAIN nothing waits; -EINVAL bad argument or
 * no event fd yet; -ECHILD in a forked child.  Uevents that concern no
 * device of the context, malformed ones and ones that do not come from the
 * kernel are dropped.  Lost uevents (the socket's buffer overflowed) are
 * logged; REMOVE_REQUESTED is never lost (an eventfd counts).
 */
int iommufd_ctx_read_events(struct iommufd_ctx *ctx, struct iommufd_event *ev, size_t max);

/* ------------------------------------------------------------------------ */
/* Nested HWPTs and vIOMMUs (vIOMMU, vDEVICE, vEVENTQ, HW queue)            */
/* ------------------------------------------------------------------------ */
/* @section-nest (issue 9) */

/* Opaque handles of this section. */
struct iommufd_viommu;
struct iommufd_vdevice;
struct iommufd_veventq;
struct iommufd_hw_queue;

/*
 * Vendor data formats of a nested (stage-1) HWPT: IOMMU_HWPT_ALLOC's
 * data_type, the kernel's numbers.  The data is the guest's own page-table
 * descriptor, passed through unchanged (include/uapi/linux/iommufd.h:
 * struct iommu_hwpt_vtd_s1, iommu_hwpt_arm_smmuv3, iommu_hwpt_amd_guest;
 * SELFTEST is the kernel's mock IOMMU, CONFIG_IOMMUFD_TEST).
 */
#define IOMMUFD_HWPT_DATA_VTD_S1     1u
#define IOMMUFD_HWPT_DATA_ARM_SMMUV3 2u
#define IOMMUFD_HWPT_DATA_AMD_GUEST  3u
#define IOMMUFD_HWPT_DATA_SELFTEST   0xdeadu

/*
 * Entry formats of iommufd_hwpt_invalidate() / iommufd_viommu_invalidate()
 * (IOMMU_HWPT_INVALIDATE's data_type, the kernel's numbers): VT-d stage-1
 * IOTLB requests (struct iommu_hwpt_vtd_s1_invalidate, 24 bytes) on a
 * nested HWPT, raw SMMUv3 commands (16 bytes) on a vIOMMU, and the mock
 * IOMMU's (8 bytes, either object).
 */
#define IOMMUFD_INVALIDATE_DATA_VTD_S1     0u
#define IOMMUFD_INVALIDATE_DATA_ARM_SMMUV3 1u
#define IOMMUFD_INVALIDATE_DATA_SELFTEST   0xdeadbeefu

/* vIOMMU types (IOMMU_VIOMMU_ALLOC's type, the kernel's numbers). */
#define IOMMUFD_VIOMMU_TYPE_ARM_SMMUV3     1u
#define IOMMUFD_VIOMMU_TYPE_TEGRA241_CMDQV 2u
#define IOMMUFD_VIOMMU_TYPE_SELFTEST       0xdeadbeefu

/* vEVENTQ types (IOMMU_VEVENTQ_ALLOC's type, the kernel's numbers). */
#define IOMMUFD_VEVENTQ_TYPE_ARM_SMMUV3     1u /* 32-byte events */
#define IOMMUFD_VEVENTQ_TYPE_TEGRA241_CMDQV 2u /* 16-byte events */
#define IOMMUFD_VEVENTQ_TYPE_SELFTEST       0xbeefbeefu /* 4-byte events */

/* HW queue types (IOMMU_HW_QUEUE_ALLOC's type, the kernel's numbers). */
#define IOMMUFD_HW_QUEUE_TYPE_TEGRA241_CMDQV 1u
#define IOMMUFD_HW_QUEUE_TYPE_SELFTEST       0xdeadbeefu

/**
 * struct iommufd_hwpt_nested_opts - options for iommufd_hwpt_create_nested().
 * @sz:        sizeof(struct iommufd_hwpt_nested_opts).
 * @flags:     IOMMUFD_HWPT_* the kernel takes for a nested HWPT: only
 *             IOMMUFD_HWPT_PASID (else -EINVAL).
 * @data_type: IOMMUFD_HWPT_DATA_* (not 0: a nested HWPT always carries the
 *             guest's descriptor).
 * @data:      @data_len bytes of vendor data, passed to the kernel as is.
 * @data_len:  1 .. 65536 bytes.
 * @fault:     a fault queue of the same context for the guest's I/O page
 *             faults, or NULL.  It must outlive the HWPT.
 */
struct iommufd_hwpt_nested_opts {
	size_t sz;
	uint32_t flags;
	uint32_t data_type;
	const void *data;
	uint32_t data_len;
	struct iommufd_fault_queue *fault;
};

/**
 * iommufd_hwpt_create_nested() - allocate a stage-1 HWPT that the guest
 * manages, nested on a nesting parent.
 * @dev:    the device (CDEV, with an iommufd device ID) whose IOMMU builds it.
 * @parent: an HWPT created with IOMMUFD_HWPT_NEST_PARENT, or NULL.
 * @viommu: a vIOMMU, or NULL.  Exactly one of @parent and @viommu.
 * @opts:   the vendor data (required).
 * @out:    receives the HWPT: an ordinary struct iommufd_hwpt (attach it
 *          with iommufd_device_attach_hwpt() or _pasid(); its IOAS, for
 *          iommufd_hwpt_get_ioas() and iommufd_device_get_ioas(), is the
 *          parent's).
 *
 * While it exists its parent (or vIOMMU) cannot be destroyed (-EBUSY).
 * Returns 0.  Source: IOMMU_HWPT_ALLOC with pt_id a nesting-parent HWPT
 * (Linux 6.8+: the library also wants IOMMU_HWPT_INVALIDATE) or a vIOMMU
 * (6.13+).
 * Errors: -EINVAL bad argument (both or neither parent, a nested parent or
 * one without IOMMUFD_HWPT_NEST_PARENT, objects of another context,
 * data_type 0 or no data; checked first, so GROUP and TYPE1, which
 * cannot make a parent, get it too); -EOPNOTSUPP the kernel has no
 * nesting (or no vIOMMU), or the IOMMU refuses the data type; the kernel's errors for bad vendor data
 * (usually -EINVAL); -ENOMEM; -ECHILD.
 */
int iommufd_hwpt_create_nested(struct iommufd_device *dev, struct iommufd_hwpt *parent,
			       struct iommufd_viommu *viommu, const struct iommufd_hwpt_nested_opts *opts,
			       struct iommufd_hwpt **out);

/**
 * iommufd_hwpt_get_parent() - the nesting parent of a nested HWPT (the
 * vIOMMU's for one made on a vIOMMU); NULL, errno unchanged, for any other
 * HWPT; NULL with errno EINVAL for a NULL or destroyed handle.
 */
struct iommufd_hwpt *iommufd_hwpt_get_parent(const struct iommufd_hwpt *hwpt);

/**
 * iommufd_hwpt_invalidate() - flush the IOMMU's caches of a nested HWPT
 * after the guest changed its page table.
 * @hwpt:      a nested HWPT (else -EINVAL).
 * @data_type: IOMMUFD_INVALIDATE_DATA_*.
 * @entries:   *@num entries of @entry_len bytes each (may be NULL if *@num
 *             is 0).
 * @entry_len: 1 .. 4096 bytes: the size of the caller's entry struct (the
 *             kernel accepts a longer one whose tail is zero).
 * @num:       in: the entries given, at most 524288; out: the entries the
 *             kernel handled, from the first, also when it fails: a
 *             failure at entry i returns its error with *@num = i, so
 *             the caller retries from there or reports entry i.  *@num 0
 *             asks whether the kernel takes @data_type at all.
 *
 * Returns 0 when every entry was handled.  Source: IOMMU_HWPT_INVALIDATE
 * (Linux 6.8+).
 * Errors: -EINVAL bad argument (*@num unchanged; 0 for an HWPT that is not
 * nested), or the kernel found entry *@num malformed; -EOPNOTSUPP the
 * kernel lacks the call, or the IOMMU driver does not take @data_type;
 * -E2BIG an entry's tail beyond the kernel's struct is not zero; -EFAULT;
 * -EIO the kernel said success for fewer entries (*@num 0); -ECHILD (then
 * *@num is 0); the driver's errors for entry *@num.
 */
int iommufd_hwpt_invalidate(struct iommufd_hwpt *hwpt, uint32_t data_type, const void *entries, uint32_t entry_len,
			    uint32_t *num);

/**
 * struct iommufd_viommu_opts - options for iommufd_viommu_create().
 * @sz:       sizeof(struct iommufd_viommu_opts).
 * @type:     IOMMUFD_VIOMMU_TYPE_* (not 0).
 * @data:     driver data, in and out: the kernel reads @data_len bytes and
 *            may write its answer back into them (Tegra241: the VINTF
 *            page's mmap offset and length).  NULL if @data_len is 0.
 * @data_len: bytes at @data, at most 65536.
 */
struct iommufd_viommu_opts {
	size_t sz;
	uint32_t type;
	void *data;
	uint32_t data_len;
};

/**
 * iommufd_viommu_create() - allocate a virtual IOMMU: the guest's IOMMU
 * instance as the host IOMMU sees it, sharing @parent's stage-2 tables.
 * @dev:    a device behind the physical IOMMU (CDEV, with a device ID).
 * @parent: an HWPT created with IOMMUFD_HWPT_NEST_PARENT (same context).
 * @opts:   the type (required) and driver data.
 * @out:    receives the vIOMMU.
 * Returns 0.  Source: IOMMU_VIOMMU_ALLOC (Linux 6.13+; driver data 6.17+).
 * Errors: -EINVAL bad argument (also a parent without
 * IOMMUFD_HWPT_NEST_PARENT, or driver data the kernel refuses);
 * -EOPNOTSUPP the backend (GROUP, TYPE1) or kernel lacks vIOMMUs (checked
 * before all but @dev, @opts and @out), or the IOMMU driver has no vIOMMU
 * of @type; -ENOMEM; -ECHILD; the kernel's other errors.
 */
int iommufd_viommu_create(struct iommufd_device *dev, struct iommufd_hwpt *parent,
			  const struct iommufd_viommu_opts *opts, struct iommufd_viommu **out);

/**
 * iommufd_viommu_destroy() - free a vIOMMU; NULL returns 0.  -EBUSY, and
 * nothing changes, while vDEVICEs, vEVENTQs, HW queues or nested HWPTs of
 * the library use it; -EINVAL for a destroyed handle.
 * iommufd_ctx_destroy() frees everything in order.
 */
int iommufd_viommu_destroy(struct iommufd_viommu *viommu);

/** iommufd_viommu_get_id() - the iommufd object ID, 0 (errno EINVAL) for a bad handle. */
uint32_t iommufd_viommu_get_id(const struct iommufd_viommu *viommu);

/**
 * iommufd_viommu_invalidate() - like iommufd_hwpt_invalidate() for the
 * caches a vIOMMU holds (device caches, ATC, SMMUv3 commands): the
 * kernel takes the vIOMMU's ID in the same call.
 */
int iommufd_viommu_invalidate(struct iommufd_viommu *viommu, uint32_t data_type, const void *entries,
			      uint32_t entry_len, uint32_t *num);

/**
 * iommufd_vdevice_create() - tell the vIOMMU which device the guest knows
 * as @virt_id (its vSID, vDeviceID, vRID: what the guest writes into
 * invalidation commands and reads from events).
 * @viommu:  the vIOMMU.
 * @dev:     a device of the same context with an iommufd device ID.
 * @virt_id: the guest's ID of the device.
 * @out:     receives the vDEVICE.
 * One vDEVICE per device.  iommufd_device_destroy() destroys the device's
 * vDEVICE first (the kernel's order) and frees its handle.
 * Returns 0.  Source: IOMMU_VDEVICE_ALLOC (Linux 6.13+).
 * Errors: -EINVAL bad argument, or (the kernel's) @dev is behind another
 * IOMMU than @viommu; -EEXIST the device or @virt_id has one; -EOPNOTSUPP
 * the backend or kernel lacks it; -ENOMEM; -ECHILD.
 */
int iommufd_vdevice_create(struct iommufd_viommu *viommu, struct iommufd_device *dev, uint64_t virt_id,
			   struct iommufd_vdevice **out);

/** iommufd_vdevice_destroy() - free a vDEVICE; NULL returns 0. */
int iommufd_vdevice_destroy(struct iommufd_vdevice *vdev);

/** iommufd_vdevice_get_id() - the iommufd object ID, 0 (errno EINVAL) for a bad handle. */
uint32_t iommufd_vdevice_get_id(const struct iommufd_vdevice *vdev);

/**
 * iommufd_hw_queue_create() - hand a guest queue (Tegra241 VCMDQ: the
 * guest's command queue in its RAM) to the hardware, which then reads it
 * directly.
 * @viommu: the vIOMMU.
 * @type:   IOMMUFD_HW_QUEUE_TYPE_* (not 0).
 * @index:  the queue's index within (vIOMMU, type); drivers may require
 *          queues to be created in index order.
 * @iova:   the queue's base, an IOVA of the vIOMMU's nesting parent (a
 *          guest physical address), mapped there.
 * @len:    its length in bytes (not 0; the driver says which sizes).
 * @out:    receives the HW queue.
 * Returns 0.  Source: IOMMU_HW_QUEUE_ALLOC (Linux 6.17+).  Errors: -EINVAL
 * bad argument (@type or @len 0, @iova + @len past 2^64) or a queue the
 * driver refuses; -EOPNOTSUPP backend, kernel or driver lacks HW queues;
 * -EEXIST @index is taken; -EIO the driver wants the previous index
 * first; -EFAULT (the kernel's) the range is not physically contiguous;
 * -ENOMEM; -ECHILD.
 */
int iommufd_hw_queue_create(struct iommufd_viommu *viommu, uint32_t type, uint32_t index, uint64_t iova,
			    uint64_t len, struct iommufd_hw_queue **out);

/**
 * iommufd_hw_queue_destroy() - free a HW queue; NULL returns 0.  -EBUSY
 * (the kernel's) while a queue of a higher index depends on it.
 */
int iommufd_hw_queue_destroy(struct iommufd_hw_queue *q);

/** iommufd_hw_queue_get_id() - the iommufd object ID, 0 (errno EINVAL) for a bad handle. */
uint32_t iommufd_hw_queue_get_id(const struct iommufd_hw_queue *q);

/* Largest event payload iommufd_veventq_read() returns (bytes). */
#define IOMMUFD_VEVENT_DATA_MAX 64u

/* struct iommufd_vevent.flags */
#define IOMMUFD_VEVENT_LOST (1u << 0) /* the kernel's lost-events record: no data; @lost events dropped */
#define IOMMUFD_VEVENT_GAP  (1u << 1) /* @lost events vanished just before this one (a sequence gap) */

/**
 * struct iommufd_vevent - one event of a vEVENTQ.
 * @flags:    IOMMUFD_VEVENT_*.
 * @sequence: the kernel's sequence number (0 .. INT32_MAX, then 0 again).
 * @lost:     events lost just before this record (LOST: including the
 *            record's own number; GAP: the missing numbers), else 0.
 * @len:      bytes of @data (the queue's event length; 0 for LOST).
 * @data:     the event as the IOMMU driver reported it, little-endian
 *            (SMMUv3: the raw 256-bit event record; SELFTEST: the
 *            virt_id of the vDEVICE, 32 bits).
 */
struct iommufd_vevent {
	uint32_t flags;
	uint32_t sequence;
	uint32_t lost;
	uint32_t len;
	uint8_t data[IOMMUFD_VEVENT_DATA_MAX];
};

/**
 * struct iommufd_veventq_opts - options for iommufd_veventq_create().
 * @sz:        sizeof(struct iommufd_veventq_opts).
 * @type:      IOMMUFD_VEVENTQ_TYPE_* (not 0).
 * @depth:     events the kernel queues before it drops new ones (and
 *             reports them lost); 0 = 64; at most 524288.
 * @event_len: payload bytes of one event of @type; 0 = the known length
 *             of the kernel's types (else -EINVAL); at most
 *             IOMMUFD_VEVENT_DATA_MAX.
 */
struct iommufd_veventq_opts {
	size_t sz;
	uint32_t type;
	uint32_t depth;
	uint32_t event_len;
};

/**
 * struct iommufd_veventq_stats - counters since creation.
 * @sz:          sizeof(struct iommufd_veventq_stats), set by the caller.
 * @events:      events parsed from the kernel's answers (LOST records
 *               not counted).
 * @lost_records: LOST records the kernel delivered.
 * @lost:        events lost, from LOST records and sequence gaps.
 * @gaps:        sequence gaps seen without a LOST record.
 * @reads:       read(2) calls made on the kernel's queue.
 * @malformed:   kernel answers cut short or too long (dropped, logged).
 */
struct iommufd_veventq_stats {
	size_t sz;
	uint64_t events, lost_records, lost, gaps, reads, malformed;
};

/**
 * iommufd_veventq_create() - allocate a vIOMMU event queue: events the
 * IOMMU reports about the guest's devices (for example SMMUv3 stage-1
 * faults) to forward to the guest.
 * One queue per (vIOMMU, type): -EEXIST for a second.  Returns 0.
 * Source: IOMMU_VEVENTQ_ALLOC (Linux 6.15+).  Errors: -EINVAL bad argument
 * (also @event_len 0 for a type the library does not know); -EOPNOTSUPP
 * backend, kernel or driver lacks it; -EIO the kernel returned no fd;
 * -ENOMEM; -ECHILD.
 */
int iommufd_veventq_create(struct iommufd_viommu *viommu, const struct iommufd_veventq_opts *opts,
			   struct iommufd_veventq **out);

/** iommufd_veventq_destroy() - free a queue and the events in it; NULL returns 0. */
int iommufd_veventq_destroy(struct iommufd_veventq *q);

/**
 * iommufd_veventq_get_fd() - an fd that polls readable (POLLIN) while
 * events wait in the kernel.  Owned by the library: do not read or close
 * it.  -EINVAL (errno EINVAL) for a NULL or destroyed handle.
 */
int iommufd_veventq_get_fd(const struct iommufd_veventq *q);

/** iommufd_veventq_get_id() - the iommufd object ID, 0 (errno EINVAL) for a bad handle. */
uint32_t iommufd_veventq_get_id(const struct iommufd_veventq *q);

/**
 * iommufd_veventq_read() - take up to @max waiting events, never blocking.
 * In the kernel's order, each with its sequence number.  Lost events are
 * surfaced twice: the kernel's lost-events record comes as an event with
 * IOMMUFD_VEVENT_LOST, and a gap in the sequence numbers (events dropped
 * while the kernel had already taken its record back) flags the next
 * event IOMMUFD_VEVENT_GAP; @lost says how many, and the stats add them
 * up.  What one kernel read gives beyond @max stays in the library for
 * the next call and does not make the fd readable: after POLLIN, call
 * until -EAGAIN.
 * Returns the count (>= 1); -EAGAIN nothing waits; -EMSGSIZE the kernel
 * has an event longer than the queue's event length (logged: a wrong
 * @event_len); -EIO a malformed kernel answer with no good record before
 * the bad part (logged, counted; the good records are returned instead
 * when there are any); -EINVAL bad argument; -ECHILD; read(2)'s errors.  Source: read(2) of struct
 * iommufd_vevent_header and its payload (include/uapi/linux/iommufd.h).
 */
int iommufd_veventq_read(struct iommufd_veventq *q, struct iommufd_vevent *events, size_t max);

/**
 * iommufd_veventq_get_stats() - copy the counters (see the struct) into
 * @stats, whose @sz the caller sets; @sz is set to the bytes filled.
 * Returns 0; -EINVAL for a bad handle, NULL @stats or @sz < sizeof(size_t).
 */
int iommufd_veventq_get_stats(struct iommufd_veventq *q, struct iommufd_veventq_stats *stats);

/* ------------------------------------------------------------------------ */
/* File-backed maps (memfd) and live update                                 */
/* ------------------------------------------------------------------------ */
/* @section-filemap (issue 9) */

/**
 * iommufd_ioas_map_file() - map part of a file (a memfd, shmem or
 * hugetlbfs file) for device DMA, by fd and offset.
 * @ioas:   the IOAS.
 * @fd:     the file.  The library keeps its own duplicate while mapped:
 *          the caller may close @fd at once.
 * @offset: byte offset in the file, page aligned.
 * @len:    bytes, a non-zero multiple of the page size; the range must lie
 *          inside the file.
 * @flags, @opts, @iova: as for iommufd_ioas_map() (the default alignment
 *          follows @len, and @offset for 1 GiB, so a hugetlbfs file's
 *          pages stay large).
 *
 * CDEV and GROUP on Linux 6.13+: IOMMU_IOAS_MAP_FILE; the kernel pins the
 * file's pages, and the mapping can move to another process
 * (iommufd_ctx_change_process()).  TYPE1, or an iommufd kernel without
 * IOMMU_IOAS_MAP_FILE: the library mmaps the range MAP_SHARED itself, maps
 * that, and unmaps it when the mapping goes (logged at debug level); it is
 * then not movable.  Either way the mapping is unmapped like any other
 * (iommufd_ioas_unmap(), iommufd_ioas_unmap_all()); iommufd_ioas_find_iova()
 * reports its vaddr as NULL where the kernel maps the file.
 *
 * Errors: those of iommufd_ioas_map(), and -EINVAL unaligned @offset, a
 * negative @fd; -EBADF @fd is not open; -EACCES @fd is open read-only and
 * @flags has IOMMUFD_MAP_WRITE (fallback path; the kernel's path answers
 * its own error); the kernel's errors for a file it cannot map (the log
 * names the call).  Source: IOMMU_IOAS_MAP_FILE (include/uapi/linux/iommufd.h).
 */
int iommufd_ioas_map_file(struct iommufd_ioas *ioas, int fd, uint64_t offset, size_t len, uint32_t flags,
			  const struct iommufd_map_opts *opts, uint64_t *iova);

/**
 * iommufd_map_create_file() - iommufd_ioas_map_file() returning a map
 * handle, as iommufd_map_create() does for iommufd_ioas_map();
 * iommufd_map_destroy() unmaps it.  iommufd_map_get_vaddr() is NULL where
 * the kernel maps the file, else the library's mmap of it.
 */
int iommufd_map_create_file(struct iommufd_ioas *ioas, int fd, uint64_t offset, size_t len, uint32_t flags,
			    const struct iommufd_map_opts *opts, struct iommufd_map **out);

/**
 * iommufd_ioas_find_file() - the file behind the file map that covers @iova.
 * @offset: receives the file offset of @iova, or NULL.
 * Returns the library's fd of the file (valid until the mapping goes; dup
 * it to keep it), or -ENOENT (no file map there), -EINVAL.
 */
int iommufd_ioas_find_file(struct iommufd_ioas *ioas, uint64_t iova, uint64_t *offset);

/**
 * iommufd_ctx_change_process() - move the pinned-page accounting of every
 * mapping of @ctx's iommufd to the calling process (RLIMIT_MEMLOCK and
 * pinned_vm of this process, or of its user: the accounting mode stays).
 *
 * For live update: the process that adopted the iommufd calls it once it
 * holds the handles (iommufd_ctx_import()).  Only file maps can move: the
 * call fails with -EINVAL (and the log names the IOAS and IOVA) while any
 * IOAS of the iommufd has a mapping of process memory.
 * Errors: -EOPNOTSUPP TYPE1, or a kernel without the call (before 6.14;
 * iommufd_feature_query(IOMMUFD_FEATURE_CHANGE_PROCESS) says the same);
 * -EINVAL bad argument or a mapping of process memory; -ENOMEM the pages
 * exceed this process's (or its user's) RLIMIT_MEMLOCK; -EBUSY a mapping is
 * being changed (another user of the iommufd); -ECHILD in a forked child.
 * Source: IOMMU_IOAS_CHANGE_PROCESS (include/uapi/linux/iommufd.h).
 */
int iommufd_ctx_change_process(struct iommufd_ctx *ctx);

/* The most fds iommufd_ctx_export() hands out: what one SCM_RIGHTS message carries. */
#define IOMMUFD_EXPORT_MAX_FDS 253u

/**
 * iommufd_ctx_export() - describe @ctx for another process (live update).
 * @ctx:  a CDEV or GROUP context.
 * @blob: receives the description (opaque, versioned), or NULL to ask the size.
 * @len:  in: bytes at @blob; out: bytes written, or needed.
 * @fds:  receives the fds to hand over, or NULL to ask the count.
 * @nfds: in: entries at @fds; out: entries written, or needed.
 *
 * The description holds the IOASes (their IDs), the devices (names, iommufd
 * device IDs on CDEV) and the file maps (IOAS, IOVA, length, flags, file
 * offset); @fds the iommufd, each device's fd (GROUP: followed by its
 * group's fd) and each file map's file, in the order the description
 * names them.  They stay the library's: send them
 * with the blob over a UNIX socket (SCM_RIGHTS, which duplicates them), or
 * clear FD_CLOEXEC to keep them across exec.  The new process rebuilds the
 * context with iommufd_ctx_import() and calls iommufd_ctx_change_process().
 *
 * On success @ctx is handed over: it behaves as in a forked child (calls
 * that would reach the kernel fail with -ECHILD, iommufd_ctx_destroy()
 * only frees memory and closes the library's fds), so the old process can
 * exit either way without unmapping anything.
 *
 * Errors: -ENOSPC @blob or @fds too small (NULL included): @len and @nfds
 * hold what is needed, nothing changed; -EOPNOTSUPP TYPE1, a kernel without
 * IOMMU_IOAS_CHANGE_PROCESS, explicit HWPTs, fault queues or PASID
 * attachments (not described yet), a device detached or adopted without
 * its fd, or a file map the library mmapped itself or made by
 * iommufd_ioas_copy(); -EINVAL bad argument, or a mapping of process
 * memory (it cannot move); -E2BIG more than IOMMUFD_EXPORT_MAX_FDS fds;
 * -EBUSY a mapping is being made or removed; -ECHILD.
 */
int iommufd_ctx_export(struct iommufd_ctx *ctx, void *blob, size_t *len, int *fds, size_t *nfds);

/**
 * iommufd_ctx_import() - rebuild a context that iommufd_ctx_export()
 * described, in another process.
 * @blob, @len: the description as received.  It is checked as untrusted
 *        input: a wrong magic or version, a size or count that does not
 *        add up, an index out of range, an fd used twice or never, a
 *        malformed name or mapping gets -EINVAL (the log says which field).
 * @fds, @nfds: the fds as received, in order.
 * @opts: context options, or NULL (opts->backend must be AUTO or the
 *        exporter's).
 * @out:  receives the context, with one IOAS handle per exported IOAS
 *        (iommufd_ctx_find_ioas()), one device handle per exported device
 *        (CDEV: adopted by device ID; GROUP: through its group fd),
 *        attached to its IOAS (iommufd_ctx_find_device()), and every file
 *        map (unmapped like any mapping; iommufd_ioas_find_file() gives
 *        its file).
 *
 * Ownership: on success every fd of @fds is the library's (closed with the
 * context); on failure they are all still open and the caller's, and
 * nothing the kernel holds was changed.
 * Errors: -EINVAL as above; -EOPNOTSUPP the description is of a backend this
 * library or kernel cannot adopt; -ENOENT an IOAS or device ID is not in
 * the iommufd; -ENOMEM; the errors of iommufd_ctx_adopt_fd() and
 * iommufd_device_adopt_id().
 */
int iommufd_ctx_import(const void *blob, size_t len, const int *fds, size_t nfds,
		       const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out);

/** iommufd_ctx_find_ioas() - the IOAS with iommufd object ID @id, or NULL (errno ENOENT). */
struct iommufd_ioas *iommufd_ctx_find_ioas(struct iommufd_ctx *ctx, uint32_t id);

/** iommufd_ctx_find_device() - the device named @name ("0000:00:04.0"), or NULL (errno ENOENT). */
struct iommufd_device *iommufd_ctx_find_device(struct iommufd_ctx *ctx, const char *name);

/* ------------------------------------------------------------------------ */
/* Peer-to-peer: device BARs as dma-bufs                                    */
/* ------------------------------------------------------------------------ */
/* @section-p2p (issue 9) */

/*
 * A peer's memory BAR as DMA target or source: one device (say a NIC or a
 * GPU) reads and writes another device's BAR through the IOAS, at an IOVA
 * like any mapping.  iommufd refuses BAR pages in IOMMU_IOAS_MAP (they are
 * not struct pages), so on CDEV and GROUP the BAR goes through a VFIO
 * dma-buf and IOMMU_IOAS_MAP_FILE; on TYPE1 the library maps the BAR's mmap
 * (VFIO_IOMMU_MAP_DMA accepts PFNMAP memory).
 */

/**
 * iommufd_device_export_dmabuf() - export a slice of one of @dev's BARs as
 * a dma-buf, for a caller that hands it to another importer (a GPU driver,
 * RDMA, another process).
 * @dev:    a vfio-pci device of any backend (the export is a device call).
 * @region: the BAR, IOMMUFD_REGION_BAR0..IOMMUFD_REGION_BAR5.
 * @offset: bytes into the BAR, page aligned.
 * @len:    bytes, a non-zero multiple of the page size; @offset + @len
 *          inside the BAR (iommufd_device_get_region_info()).
 * @fd:     receives the dma-buf fd (O_CLOEXEC, read-write); the caller's
 *          to close.
 *
 * The exporter revokes the dma-buf (importers lose access for good; see
 * libiommufd(7), "P2P") when the device is reset, its memory decode is
 * turned off (PCI command register), it enters a low-power state, or its
 * VFIO fd is closed.  A dma-buf exported while memory decode is off is
 * born revoked.
 * Errors: -EINVAL bad argument (unaligned, outside the BAR, not a BAR);
 * -EOPNOTSUPP the kernel has no VFIO_DEVICE_FEATURE_DMA_BUF (before 7.0,
 * or built without CONFIG_VFIO_PCI_DMABUF, which needs PCI_P2PDMA), or
 * the device's VFIO driver does not export (log says which); -ENODEV the
 * BAR is not claimed by the driver; -ECHILD; the ioctl's errors.
 * Source: VFIO_DEVICE_FEATURE with VFIO_DEVICE_FEATURE_DMA_BUF,
 * include/uapi/linux/vfio.h.
 */
int iommufd_device_export_dmabuf(struct iommufd_device *dev, unsigned int region, uint64_t offset, uint64_t len,
				 int *fd);

/**
 * iommufd_ioas_map_bar() - map a slice of @bar_dev's BAR into @ioas for
 * peer-to-peer DMA of the IOAS's devices, in one call.
 * @ioas:    the IOAS.
 * @bar_dev: the device that owns the BAR (same context; it need not be
 *           attached to @ioas).
 * @region, @offset, @len: as for iommufd_device_export_dmabuf(); the BAR
 *           must be mmappable where the TYPE1 path is taken.
 * @flags, @opts: as for iommufd_ioas_map() (READ, WRITE, FIXED; iova,
 *           iova_max, align).
 * @iova:    receives the IOVA.
 *
 * CDEV/GROUP: exports the slice as a dma-buf and maps it with
 * IOMMU_IOAS_MAP_FILE; the library keeps the dma-buf fd with the mapping
 * and closes it when the mapping goes (iommufd_ioas_unmap(), unmap_all,
 * IOAS destroy).  TYPE1: mmaps the BAR slice through the device fd and
 * maps that with VFIO_IOMMU_MAP_DMA (the library munmaps it with the
 * mapping).  The mapping is unmapped like any other; iommufd_ioas_find_iova()
 * sees it.  Nothing is pinned or charged to RLIMIT_MEMLOCK.
 *
 * Revocation (CDEV/GROUP): when the exporter revokes the dma-buf (see
 * iommufd_device_export_dmabuf()), the kernel removes the mapping's pages
 * from the IOMMU at once and keeps the IOVA range allocated: DMA there
 * faults, and stays faulting after the device works again.  The kernel
 * tells userspace nothing.  The library reports what it causes or sees:
 * iommufd_device_reset() of @bar_dev, iommufd_device_config_write() that
 * clears Memory Space Enable in its command register,
 * iommufd_device_destroy() of @bar_dev, and a REMOVED event for it each
 * mark the mapping revoked (iommufd_ioas_bar_revoked()) and queue one
 * IOMMUFD_EVENT_P2P_REVOKED per mapping for iommufd_ctx_read_events().
 * Not detected: the same done through raw ioctls, pwrite(2) of the
 * config space or sysfs (reset, power), a runtime-PM suspend, or another
 * process.  The cure is to unmap and map again.  TYPE1 never revokes: the
 * IOMMU keeps the BAR's bus address mapped, across reset and after the
 * device is closed; DMA then reaches whatever decodes that address.
 *
 * Errors: those of iommufd_ioas_map() and iommufd_device_export_dmabuf();
 * -EINVAL @bar_dev of another context; -EOPNOTSUPP iommufd without a
 * dma-buf export (a kernel before 7.0: iommufd pins pages with
 * pin_user_pages(), which refuses a BAR's VM_PFNMAP mmap, so there is no
 * other way) or the BAR cannot be mmapped (TYPE1), or TYPE1 on iommufd's
 * compat container (CONFIG_IOMMUFD_VFIO_CONTAINER: the same pinning
 * refuses the mmap; the log says to use CDEV or GROUP, which map a
 * dma-buf); -ENODEV the dma-buf is revoked already
 * (memory decode off).
 * Source: VFIO_DEVICE_FEATURE_DMA_BUF, IOMMU_IOAS_MAP_FILE,
 * VFIO_IOMMU_MAP_DMA.
 */
int iommufd_ioas_map_bar(struct iommufd_ioas *ioas, struct iommufd_device *bar_dev, unsigned int region,
			 uint64_t offset, uint64_t len, uint32_t flags, const struct iommufd_map_opts *opts,
			 uint64_t *iova);

/**
 * iommufd_ioas_bar_revoked() - has the BAR mapping that contains @iova been
 * revoked, as far as the library knows (see iommufd_ioas_map_bar())?
 * Returns 1 revoked, 0 not, -ENOENT no mapping of iommufd_ioas_map_bar()
 * contains @iova, -EINVAL bad argument.  No system call.
 */
int iommufd_ioas_bar_revoked(struct iommufd_ioas *ioas, uint64_t iova);

/* ------------------------------------------------------------------------ */
/* KVM                                                                      */
/* ------------------------------------------------------------------------ */
/* @section-kvm (issue 9) */

/**
 * iommufd_kvm_vfio_create() - create a VM's KVM VFIO device.
 * @ctx:   the context (for messages; any backend).
 * @vm_fd: a VM fd from KVM_CREATE_VM.
 *
 * KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO.  A VM has at most one such
 * device: a second create fails with -EBUSY, so a VMM creates it once and
 * passes the fd to iommufd_device_kvm_add() for every device.
 * Returns the new fd (close-on-exec, the caller's to close) or a negative
 * errno: -EINVAL bad argument; -EBUSY the VM has one already; -ENODEV the
 * kernel's KVM has no VFIO device (CONFIG_KVM_VFIO); -ENOTTY @vm_fd is not
 * a VM; -EIO the kernel answered with no fd.
 * Kernel uAPI: KVM_CREATE_DEVICE, include/uapi/linux/kvm.h.
 */
int iommufd_kvm_vfio_create(struct iommufd_ctx *ctx, int vm_fd);

/**
 * iommufd_device_kvm_add() - give KVM the VFIO file of @dev.
 * @dev:         an open device.
 * @kvm_vfio_fd: the VM's KVM VFIO device (iommufd_kvm_vfio_create()).
 *
 * KVM_SET_DEVICE_ATTR KVM_DEV_VFIO_FILE_ADD of the file that stands for
 * the device: its cdev fd on CDEV, its group fd on GROUP and TYPE1 (one
 * registration for all devices of a group in the context, counted).  KVM
 * holds a reference to that file, so the library keeps the registration on
 * its own duplicate of @kvm_vfio_fd (close-on-exec) and deletes it on
 * iommufd_device_kvm_del() or iommufd_device_destroy(); the caller may
 * close @kvm_vfio_fd at once.  Until then the duplicate keeps the KVM VFIO
 * device, and so the VM, alive.
 * The device is already open (bound) when this runs: drivers that take the
 * VM at open (mdev drivers such as i915 GVT-g, vfio-ap) do not see it.
 * Returns 0 or a negative errno: -EINVAL bad argument; -EEXIST @dev is
 * already given to KVM, or KVM holds its file from elsewhere; -EBUSY
 * another device of the group is given to another KVM VFIO device;
 * -EOPNOTSUPP a device adopted by ID without its fd, or a NOIOMMU context
 * (no IOMMU would confine a guest's DMA); -ECHILD in a forked
 * child; -ENXIO or -ENOTTY @kvm_vfio_fd is not a KVM VFIO device; -ENOMEM;
 * the errors of dup(2) and KVM_SET_DEVICE_ATTR.
 * Kernel uAPI: KVM_DEV_VFIO_FILE, include/uapi/linux/kvm.h (Debian 12's
 * headers: KVM_DEV_VFIO_GROUP, the same numbers).
 */
int iommufd_device_kvm_add(struct iommufd_device *dev, int kvm_vfio_fd);

/**
 * iommufd_device_kvm_del() - take @dev's VFIO file back from KVM.
 * @dev: a device given to KVM with iommufd_device_kvm_add().
 *
 * KVM_DEV_VFIO_FILE_DEL, on the last device of a group on GROUP and TYPE1.
 * iommufd_device_destroy() does this itself.  A registration KVM already
 * lost (deleted outside the library) is dropped with a warning.
 * Returns 0 or a negative errno: -EINVAL bad argument; -ENOENT @dev is not
 * given to KVM by the library; -ECHILD in a forked child; the errors of
 * KVM_SET_DEVICE_ATTR (the registration is then kept).
 */
int iommufd_device_kvm_del(struct iommufd_device *dev);

/* ------------------------------------------------------------------------ */
/* SR-IOV VF tokens                                                         */
/* ------------------------------------------------------------------------ */
/* @section-vf (issue 9) */

/*
 * vfio-pci lets a process use a VF of an SR-IOV PF that vfio-pci drives only
 * if it shows the PF's VF token, a UUID the PF's user chooses: the PF's user
 * sets it with iommufd_device_set_vf_token(), the VF's user passes it in
 * iommufd_device_opts.vf_token.  The library hands it to the kernel in the
 * backend's form: VFIO_DEVICE_BIND_IOMMUFD with VFIO_DEVICE_BIND_FLAG_TOKEN
 * on CDEV, the device name "0000:03:10.0 vf_token=UUID" of
 * VFIO_GROUP_GET_DEVICE_FD on GROUP and TYPE1
 * (drivers/vfio/pci/vfio_pci_core.c, vfio_pci_core_match()).  A missing or
 * wrong token makes the open fail with the kernel's -EACCES; a token for a
 * device that is neither an SR-IOV VF nor a PF with -EINVAL.  Both are
 * logged with the fix.  Where the kernel refuses a token for an SR-IOV
 * device but opens it without one (a VF whose PF vfio-pci does not drive;
 * on CDEV, any VF or PF on a kernel before Linux 6.17, whose cdev bind
 * takes no flags and checks no token), the library opens it without the
 * token and logs a warning that no token was checked: the token could
 * protect nothing there.  The token is never logged.
 */

/**
 * iommufd_device_set_vf_token() - set the VF token of an SR-IOV PF.
 * @pf:   an open PF, driven by vfio-pci.
 * @uuid: the token, a UUID string in canonical form (as
 *        iommufd_device_opts.vf_token).
 *
 * VFIO_DEVICE_FEATURE with VFIO_DEVICE_FEATURE_SET |
 * VFIO_DEVICE_FEATURE_PCI_VF_TOKEN (include/uapi/linux/vfio.h).  From then
 * on every open of one of the PF's VFs must show @uuid.  vfio-pci gives a
 * PF a random token when it binds it, so the VFs cannot be opened before
 * this call.  The kernel cannot read a token back.
 *
 * Returns 0; -EINVAL bad argument or @uuid malformed; -EOPNOTSUPP @pf is
 * not an SR-IOV PF driven by vfio-pci (the kernel's ENOTTY), or was
 * adopted by ID without its fd; -ECHILD in a forked child; other errors of
 * VFIO_DEVICE_FEATURE.
 */
int iommufd_device_set_vf_token(struct iommufd_device *pf, const char *uuid);

/**
 * iommufd_device_get_vf_name() - the PCI address of one of a PF's VFs.
 * @pf:    an open PCI device.
 * @index: which VF, from 0 (sysfs virtfn<index>).
 * @buf:   receives "0000:03:10.0", NUL-terminated.
 * @len:   bytes at @buf (13 suffice for a PCI address).
 *
 * Reads the link /sys/bus/pci/devices/<pf>/virtfn<index>, which exists
 * while SR-IOV is enabled with more than @index VFs (echo N >
 * .../sriov_numvfs; vfio-pci allows that only with its module parameter
 * enable_sriov=1).
 *
 * Returns 0; -EINVAL bad argument; -ENOENT no such VF (not a PF, SR-IOV
 * off, or @index too high); -ERANGE @buf too small; -EIO the link does not
 * name a PCI address.
 */
int iommufd_device_get_vf_name(const struct iommufd_device *pf, unsigned int index, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* No-IOMMU mode (unsafe)                                                   */
/* ------------------------------------------------------------------------ */
/* @section-noiommu (issue 9) */

/*
 * IOMMUFD_BACKEND_NOIOMMU drives devices that sit behind no IOMMU (a VM
 * without a vIOMMU, hardware without VT-d/AMD-Vi) through VFIO's "unsafe
 * no-IOMMU mode": the device's DMA is not translated or restricted at all,
 * so a buggy or malicious device (or program) can read and write any
 * physical memory.  The kernel requires CAP_SYS_RAWIO, needs the module
 * parameter vfio.enable_unsafe_noiommu_mode=1 (set before the device is
 * bound to vfio-pci) and taints itself.  The library logs a warning at
 * every context creation.
 *
 * The device must be programmed with bus (physical) addresses, not IOVAs:
 * map memory as on any backend (iommufd_ioas_map(), iommufd_map_create();
 * the IOVA the library returns is then only a name for the memory), and
 * ask iommufd_ioas_get_bus_addrs() for the bus addresses behind it.  On
 * every other backend that call returns one segment whose bus address is
 * the IOVA, so a driver written against it runs everywhere.
 */

/**
 * enum iommufd_noiommu_path - the kernel path of a NOIOMMU context
 * (struct iommufd_ctx_opts.noiommu_path; the environment variable
 * LIBIOMMUFD_NOIOMMU_PATH=iommufd|legacy overrides AUTO).
 * @IOMMUFD_NOIOMMU_PATH_AUTO:    IOMMUFD where the kernel has it, else
 *                                LEGACY.
 * @IOMMUFD_NOIOMMU_PATH_IOMMUFD: iommufd's no-IOMMU mode (Linux 7.3,
 *                                CONFIG_IOMMUFD_NOIOMMU, which VFIO_NOIOMMU
 *                                selects with VFIO_DEVICE_CDEV): device
 *                                cdevs /dev/vfio/devices/noiommu-vfioN bound
 *                                to /dev/iommu and attached to the IOAS,
 *                                whose mappings are pinned by the kernel;
 *                                bus addresses from IOMMU_IOAS_NOIOMMU_GET_PA.
 * @IOMMUFD_NOIOMMU_PATH_LEGACY:  VFIO's no-IOMMU groups /dev/vfio/noiommu-N
 *                                in a /dev/vfio/vfio container set to
 *                                VFIO_NOIOMMU_IOMMU.  The kernel maps
 *                                nothing: the library keeps the memory
 *                                resident with mlock(2) and reads its
 *                                physical addresses from /proc/self/pagemap,
 *                                which needs CAP_SYS_ADMIN.  mlock does not
 *                                stop the kernel from migrating a page
 *                                (compaction): use hugetlbfs memory, which
 *                                it does not move, for long-lived buffers.
 */
enum iommufd_noiommu_path {
	IOMMUFD_NOIOMMU_PATH_AUTO = 0,
	IOMMUFD_NOIOMMU_PATH_IOMMUFD = 1,
	IOMMUFD_NOIOMMU_PATH_LEGACY = 2,
};

/**
 * struct iommufd_dma_segment - a run of IOVAs whose bus addresses are
 * contiguous.
 * @iova:     first IOVA of the run.
 * @bus_addr: the address the device must use for @iova.
 * @len:      bytes.
 */
struct iommufd_dma_segment {
	uint64_t iova;
	uint64_t bus_addr;
	uint64_t len;
};

/**
 * iommufd_ioas_get_bus_addrs() - the addresses a device must be programmed
 * with for the mapped IOVA range [@iova, @iova + @len).
 * @ioas: the IOAS.
 * @iova: first byte (no alignment needed).
 * @len:  bytes, >= 1; the range must lie wholly in mappings of the library
 *        (several adjacent ones are fine), else -ENOENT.
 * @segs: array to fill, may be NULL when @max is 0.
 * @max:  entries in @segs.
 *
 * Returns the total number of segments (which may exceed @max: the first
 * @max are filled; call again with a larger array), in IOVA order, each as
 * long as the bus addresses stay contiguous.  Every backend but NOIOMMU:
 * one segment, bus address = IOVA (the IOMMU translates).  NOIOMMU: the
 * physical addresses of the pinned pages; a physically contiguous buffer
 * (a hugetlbfs page) gives one segment.  The answer stays valid while the
 * mapping exists.
 *
 * Errors: -EINVAL bad argument or overflow; -ENOENT part of the range is
 * not mapped (or is being mapped or unmapped by another thread); -ECHILD in
 * a forked child; NOIOMMU: -EPERM the process lacks CAP_SYS_RAWIO (IOMMUFD
 * path) or CAP_SYS_ADMIN (LEGACY path: /proc/self/pagemap hides physical
 * addresses without it), -ENODEV (IOMMUFD path) no device is attached to
 * the IOAS yet (the kernel pins and knows the pages only then), -EFAULT a
 * page is not resident, -EIO a malformed kernel answer.
 * Source: IOMMU_IOAS_NOIOMMU_GET_PA (include/uapi/linux/iommufd.h),
 * /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst).
 */
int iommufd_ioas_get_bus_addrs(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len,
			       struct iommufd_dma_segment *segs, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* LIBIOMMUFD_LIBIOMMUFD_H */
