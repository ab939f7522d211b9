/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Internal declarations shared by the library's files; never installed. */
#ifndef IFD_INTERNAL_H
#define IFD_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <libiommufd/libiommufd.h>

#include "itree.h"
#include "iova.h"
#include "lock.h"
#include "compiler.h"
#include "mapidx.h"
#include "syscall.h"

#define IFD_EXPORT __attribute__((visibility("default")))

/*
 * Every system call the library makes goes through one of these tables, so
 * the unit tests can swap in a fake kernel per context without any global
 * state.  Each entry follows the libc function's contract (returns -1 and
 * sets errno), except listdir, which calls @fn for each entry name other
 * than "." and ".." and returns 0 or a negative errno.
 */
struct epoll_event;

struct ifd_sys {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	int (*dup)(int fd); /* F_DUPFD_CLOEXEC */
	int (*ioctl)(int fd, unsigned long req, void *arg);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	ssize_t (*read)(int fd, void *buf, size_t len);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	ssize_t (*readlink)(const char *path, char *buf, size_t len);
	char *(*realpath)(const char *path, char *resolved); /* resolved: PATH_MAX bytes */
	int (*stat)(const char *path, struct stat *st);
	int (*fstat)(int fd, struct stat *st);
	int (*listdir)(const char *path, int (*fn)(const char *name, void *arg), void *arg);
	const char *(*getenv)(const char *name);
	long (*page_size)(void);

	/* Hot-unplug notification (hotplug.c): the REQ irq's eventfd, the
	 * epoll set the caller polls, the kernel's uevent netlink socket. */
	int (*eventfd)(unsigned int initval, int flags);
	int (*epoll_create1)(int flags);
	int (*epoll_ctl)(int epfd, int op, int fd, struct epoll_event *ev);
	int (*epoll_wait)(int epfd, struct epoll_event *evs, int max, int timeout);
	int (*socket)(int domain, int type, int protocol);
	int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
	ssize_t (*recvfrom)(int fd, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *srclen);
	/* Device discovery (enumerate.c): call @fn with the name and subsystem
	 * ("pci", "mdev") of every device, or NULL to walk /sys/bus through
	 * listdir.  The libc table uses libudev when built with it. */
	int (*enumerate)(int (*fn)(const char *name, const char *subsystem, void *arg), void *arg);
	/* NOIOMMU's legacy path pins with these (backend_noiommu_legacy.c). */
	int (*mlock)(const void *addr, size_t len);
	int (*munlock)(const void *addr, size_t len);
};

extern const struct ifd_sys ifd_sys_libc;

/* A tiny intrusive list: objects of a context are few and rarely walked. */
struct ifd_list {
	struct ifd_list *next, *prev;
};
static inline void ifd_list_init(struct ifd_list *l) { l->next = l->prev = l; }
static inline bool ifd_list_empty(const struct ifd_list *l) { return l->next == l; }
static inline void ifd_list_add(struct ifd_list *head, struct ifd_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
static inline void ifd_list_del(struct ifd_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	ifd_list_init(n);
}
#define ifd_list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define ifd_list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

struct ifd_backend_ops;

/* A live handle's state word: catches use of a handle that is not one
 * (or was destroyed and not yet reused) in the common cases. */
enum ifd_state { IFD_ALIVE = 0x1f0a11fe, IFD_DEAD = 0x1f0dead0 };

struct iommufd_ctx {
	const struct ifd_sys *sys;
	const struct ifd_backend_ops *ops;
	enum iommufd_backend backend;
	int fd;              /* /dev/iommu, or -1 on TYPE1 */
	int spare_container; /* TYPE1: adopted container for the first IOAS */
	uint32_t type1_ids;  /* TYPE1: numbers IOAS for messages (under lock) */
	long page_size;
	enum iommufd_pin_accounting pin_mode; /* in force: USER or PROCESS */
	uint32_t noiommu_path; /* NOIOMMU: enum iommufd_noiommu_path asked for */

	/* Fork rule: a page marked MADV_WIPEONFORK reads 0 in a child; where
	 * madvise is missing, the creator's pid is compared instead. */
	volatile uint32_t *fork_page;
	pid_t pid;
	/* dmabuf.c: BAR mappings; set once under ctx->lock.  Up here, near
	 * what the data path reads, because every unmap reads it; the
	 * message buffers below would put it 4 KiB away, in another page. */
	struct ifd_p2p *p2p;

	/* Protects the lists, the groups, and the GROUP backend's compat IOAS
	 * selection (IOMMU_VFIO_IOAS is per iommufd, not per call). */
	pthread_mutex_t lock;
	/* Messages logged while this thread holds ctx->lock wait here and
	 * are delivered by ifd_ctx_unlock(), after the lock is dropped. */
	unsigned long lock_owner; /* pthread_self() of the holder */
	bool lock_held;
	unsigned int npending, dropped;
	struct ifd_pending_msg {
		int level;
		char msg[512];
	} pending[8];
	struct ifd_list ioas_list;
	struct ifd_list dev_list;
	struct ifd_list group_list;
	struct ifd_list hwpt_list;  /* struct iommufd_hwpt */
	struct ifd_list fault_list; /* struct iommufd_fault_queue */
	struct ifd_list viommu_list; /* struct iommufd_viommu (viommu.c) */
	struct ifd_caps *caps;      /* caps.c: probed features, under ctx->lock */
	struct ifd_hotplug *hp;     /* hotplug.c: the event fd's state, under ctx->lock */

	/* Held for reading while a log callback runs, for writing by
	 * iommufd_ctx_set_log(): the old callback is never called after it
	 * returns.  Never held by anything else, so never under another lock. */
	pthread_rwlock_t log_lock;
	iommufd_log_fn log_fn;
	void *log_data;
	int log_level;
};

/* True in a forked child: its inherited handles must not reach the kernel.
 * On every data-path call, so inline: one load of the guard page. */
bool ifd_forked_slow(const struct iommufd_ctx *ctx);
static inline bool ifd_forked(const struct iommufd_ctx *ctx)
{
	if (__builtin_expect(ctx->fork_page != NULL, 1))
		return __atomic_load_n(ctx->fork_page, __ATOMIC_RELAXED) == 0;
	return ifd_forked_slow(ctx);
}

struct iommufd_ioas {
	struct ifd_list link; /* ctx->ioas_list */
	struct iommufd_ctx *ctx;
	enum ifd_state state;

	uint32_t id;      /* iommufd object ID; TYPE1: a number for messages */
	int container_fd; /* TYPE1 */
	bool iommu_set;   /* TYPE1: VFIO_SET_IOMMU done */
	bool type1_unmap_all; /* TYPE1: the driver offers VFIO_UNMAP_ALL (set with iommu_set) */
	/* TYPE1: readers are MAP_DMA/UNMAP_DMA (check iommu_set, then the
	 * ioctl); writers change whether the container has an IOMMU (the
	 * first group joining, the last one leaving). */
	ifd_rwlock_t kern_lock;

	/* Serialises writers of the index (map/unmap bookkeeping, range
	 * refresh).  Readers (translate, find) take no lock: the index has
	 * its own seqcount.  Kernel calls run outside it; a record enters the
	 * index (state PENDING) before its kernel call so concurrent maps
	 * never collide and range unmaps see it. */
	ifd_lock_t wlock;
	struct ifd_midx *idx;
	/* The index's VA tree is built by the first iommufd_ioas_translate()
	 * and kept from then on: a map costs no VA bookkeeping for callers
	 * that never translate.  Set under wlock, read without it (acquire). */
	bool va_on;
	struct ifd_iova_range *allowed; /* iommufd_ioas_allow_iovas(), under wlock */
	size_t nallowed;
	uint64_t alignment;
	unsigned int ndevices; /* under ctx->lock */
	struct ifd_filemap_ent *files; /* filemap.c: the file maps' side table, under wlock */
};

/* Record states (struct iommufd_map.state). */
enum ifd_map_state {
	IFD_REC_PENDING = 0,  /* IOVA claimed, kernel call in flight */
	IFD_REC_LIVE = 1,     /* mapped (or, TYPE1 without IOMMU, recorded) */
	IFD_REC_UNMAPPING = 2, /* kernel unmap in flight */
	IFD_REC_GONE = 3,     /* unmapped by a range unmap; only a handle holds it */
};
/* struct iommufd_map.flags bit beside IOMMUFD_MAP_READ/WRITE: the record
 * maps a file (filemap.c keeps its fd and offset in the IOAS's side table,
 * so the 64-byte record stays common).  Never shown to callers. */
#define IFD_MAPF_FILE (1u << 15)

struct ifd_group {
	struct ifd_list link; /* ctx->group_list */
	int num;
	int fd;
	unsigned int refs;
	struct iommufd_ioas *ioas; /* the IOAS (TYPE1: container) it is joined to */
	bool in_container;
	struct ifd_kvm_reg *kvm; /* kvm.c: the group file given to KVM, or NULL */
};

/* A device region as VFIO_DEVICE_GET_REGION_INFO described it at open. */
struct ifd_region {
	uint64_t size;
	uint64_t offset;   /* in the device fd */
	uint32_t flags;    /* VFIO_REGION_INFO_FLAG_* */
	bool has_type;
	uint32_t type, subtype;
	bool sparse;       /* only @areas can be mmapped */
	uint32_t nareas;
	struct iommufd_region_area *areas; /* malloc'ed, sparse only */
	void *map;         /* iommufd_device_map_region(), under dev->lock */
};

struct iommufd_device {
	struct ifd_list link; /* ctx->dev_list; freed on destroy */
	struct iommufd_ctx *ctx;
	enum ifd_state state;
	struct iommufd_ioas *ioas;

	char name[64];       /* "0000:00:04.0" or an mdev UUID */
	char sysfs[PATH_MAX]; /* the device's sysfs directory, "" if unknown */
	char cdev[64];       /* "/dev/vfio/devices/vfioN", "" if none */
	bool is_mdev;
	int fd;
	uint32_t devid;      /* CDEV bind result */
	int group_num;       /* -1 if none */
	struct ifd_group *group;

	pthread_mutex_t lock; /* the regions' mmaps, bus-master read-modify-write */
	struct ifd_region *regions; /* num_regions of them, read at open */
	uint32_t num_regions;
	uint32_t num_irqs;

	/* HWPTs (under ctx->lock).  @ioas is the IOAS the device's DMA goes
	 * through: the IOAS itself (implicit HWPT) or @hwpt's; NULL while
	 * detached or, for a device adopted by ID, until the first attach. */
	bool has_devid;             /* @devid is an iommufd device ID */
	bool adopted_id;            /* iommufd_device_adopt_id() */
	struct iommufd_hwpt *hwpt;  /* explicit HWPT attached, or NULL */
	struct ifd_pasid_att {
		uint32_t pasid;
		struct iommufd_hwpt *hwpt;
	} *pasids;                  /* malloc'ed, npasids of them */
	size_t npasids;
	struct ifd_dev_caps *caps;  /* caps.c: IOMMU_GET_HW_INFO, read once */
	/* hotplug.c, under ctx->lock: the REQ irq's eventfd, valid while
	 * @req_armed (a zeroed device has none, whoever allocated it). */
	bool req_armed;
	int req_fd;
	/* vf.c: the VF token of iommufd_device_opts, for the open only. */
	bool has_vf_token;
	uint8_t vf_token[16];
	/* kvm.c, under ctx->lock: @kvm_reg is CDEV's own registration of the
	 * device fd; @kvm_added says this device holds a reference on the
	 * registration its backend names (its own, or its group's). */
	struct ifd_kvm_reg *kvm_reg;
	bool kvm_added;
};

/* An explicit HWPT (hwpt.c). */
struct iommufd_hwpt {
	struct ifd_list link; /* ctx->hwpt_list */
	struct iommufd_ctx *ctx;
	enum ifd_state state;
	struct iommufd_ioas *ioas;
	struct iommufd_fault_queue *fault; /* or NULL */
	uint32_t id;
	uint32_t flags;     /* IOMMUFD_HWPT_* */
	unsigned int users; /* devices and PASIDs the library attached (under ctx->lock) */
	bool dirty_enabled; /* dirty.c, under ctx->lock */
	/* Nesting (under ctx->lock): a nested HWPT's parent or vIOMMU, and
	 * on a parent the nested HWPTs and vIOMMUs built on it. */
	struct iommufd_hwpt *parent;
	struct iommufd_viommu *viommu;
	unsigned int children;
};

/* A vIOMMU and the objects on it (viommu.c, veventq.c); lists and counts
 * under ctx->lock. */
struct iommufd_viommu {
	struct ifd_list link; /* ctx->viommu_list */
	struct iommufd_ctx *ctx;
	enum ifd_state state;
	uint32_t id;
	struct iommufd_hwpt *parent;
	struct ifd_list vdevs;    /* struct iommufd_vdevice */
	struct ifd_list hwqs;     /* struct iommufd_hw_queue */
	struct ifd_list veventqs; /* struct iommufd_veventq */
	unsigned int nested;      /* nested HWPTs on it */
};

struct iommufd_vdevice {
	struct ifd_list link; /* viommu->vdevs */
	struct iommufd_viommu *viommu;
	struct iommufd_device *dev;
	enum ifd_state state;
	uint32_t id;
	uint64_t virt_id;
};

struct iommufd_hw_queue {
	struct ifd_list link; /* viommu->hwqs */
	struct iommufd_viommu *viommu;
	enum ifd_state state;
	uint32_t id;
	uint32_t index;
};

struct iommufd_veventq {
	struct ifd_list link; /* viommu->veventqs */
	struct iommufd_viommu *viommu;
	enum ifd_state state;
	uint32_t id;
	int fd;
	struct ifd_veventq_state *st; /* veventq.c's own */
};

/* An I/O page-fault queue (fault.c). */
struct iommufd_fault_queue {
	struct ifd_list link; /* ctx->fault_list */
	struct iommufd_ctx *ctx;
	enum ifd_state state;
	uint32_t id;
	int fd;
	unsigned int hwpts;        /* library HWPTs using it (under ctx->lock) */
	struct ifd_fault_state *st; /* fault.c's own */
};

/*
 * One per backend file.  Called with ctx->lock held for device and IOAS
 * lifetime calls; map/unmap run without it (the kernel serialises).
 */
struct ifd_backend_ops {
	enum iommufd_backend kind;
	int (*ctx_open)(struct iommufd_ctx *ctx);
	/* Apply the requested accounting and set ctx->pin_mode to the mode in force. */
	int (*ctx_set_pin_accounting)(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want);
	int (*ioas_alloc)(struct iommufd_ioas *ioas);
	void (*ioas_free)(struct iommufd_ioas *ioas);
	/* Fetch usable ranges and alignment; *ranges is malloc'ed. */
	int (*ioas_query)(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align);
	/* Map one record (0 also when the backend keeps it for a later replay). */
	int (*map)(struct iommufd_ioas *ioas, struct iommufd_map *m);
	/* Map record @m (vaddr 0) from file @fd at @offset; NULL where the
	 * backend has no such call (filemap.c then mmaps the file itself). */
	int (*map_file)(struct iommufd_ioas *ioas, struct iommufd_map *m, int fd, uint64_t offset);
	/* A device BAR maps as a dma-buf the kernel exports (dmabuf.c): an
	 * iommufd pins with pin_user_pages(), which refuses the BAR's
	 * PFNMAP mmap.  false: the backend maps the mmap itself (type1). */
	bool bar_dmabuf;
	/* Move the pinned-page accounting to this process; NULL where none. */
	int (*change_process)(struct iommufd_ctx *ctx);
	/* Unmap a range covering whole mappings; *unmapped = bytes the kernel reports. */
	int (*unmap)(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped);
	/* Everything in one ioctl, or -EOPNOTSUPP (the caller goes run by run). */
	int (*unmap_all)(struct iommufd_ioas *ioas, uint64_t *unmapped);
	/* NULL where the kernel has no such call. */
	int (*copy)(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
		    uint64_t dst_iova, uint32_t flags);
	int (*allow_iovas)(struct iommufd_ioas *ioas, const struct ifd_iova_range *r, size_t n);
	int (*set_huge_pages)(struct iommufd_ioas *ioas, bool enable);
	/* Bind dev (dev->fd may already hold an adopted cdev fd) and attach. */
	int (*dev_open)(struct iommufd_device *dev, struct iommufd_ioas *ioas);
	int (*dev_attach)(struct iommufd_device *dev, struct iommufd_ioas *ioas);
	/* Drop a device's group reference (GROUP, TYPE1; NULL on CDEV). */
	void (*group_put)(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas);
	/* Log the fix for a pin failure of @len bytes (the accounting in force). */
	void (*explain_enomem)(struct iommufd_ctx *ctx, const char *what, uint64_t len);

	/* HWPTs and PASIDs: attach @dev (or its @pasid when @use_pasid) to
	 * object @pt_id (an IOAS or HWPT), replacing what it had; detach.
	 * NULL where the backend has no device-level attach (GROUP, TYPE1). */
	int (*dev_attach_pt)(struct iommufd_device *dev, uint32_t pt_id, bool use_pasid, uint32_t pasid);
	int (*dev_detach_pt)(struct iommufd_device *dev, bool use_pasid, uint32_t pasid);
	/* Dirty tracking of all DMA into @ioas (iommufd_ioas_*_dirty*); NULL
	 * where the backend has none (GROUP). */
	int (*ioas_set_dirty)(struct iommufd_ioas *ioas, bool enable);
	int (*ioas_get_dirty)(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t page_size,
			      uint64_t *bitmap, uint32_t flags);
	/* This backend's answer for @f (caps.c asks it first): 1, 0 with @st
	 * filled, or -ENOSYS for "ask the kernel" (the generic probes). */
	int (*feature_query)(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			     struct iommufd_feature_status *st);
	/* KVM (kvm.c): the VFIO file KVM must hold for @dev (*fd, -1 if the
	 * device has none) and where that file's registration lives. */
	struct ifd_kvm_reg **(*kvm_file)(struct iommufd_device *dev, int *fd);
	/* Prefix of the device cdev and group node names this backend takes
	 * ("noiommu-" for NOIOMMU); NULL: none. */
	const char *node_prefix;
	/* The bus address of @iova (inside USER record @m, caller holds
	 * ioas->wlock, never logs) and how many bytes from there, at most
	 * @len, are contiguous.  NULL: the IOVA is the bus address. */
	int (*bus_addr)(struct iommufd_ioas *ioas, const struct iommufd_map *m, uint64_t iova, uint64_t len,
			uint64_t *bus, uint64_t *contig);
};

extern const struct ifd_backend_ops ifd_backend_cdev;
extern const struct ifd_backend_ops ifd_backend_group;
extern const struct ifd_backend_ops ifd_backend_type1;
/* backend_type1.c: is the container iommufd's compat container? */
bool ifd_type1_is_compat(struct iommufd_ioas *ioas);
/* NOIOMMU: ctx_open picks one of the two paths and installs its ops. */
extern const struct ifd_backend_ops ifd_backend_noiommu;
extern const struct ifd_backend_ops ifd_backend_noiommu_iommufd;
extern const struct ifd_backend_ops ifd_backend_noiommu_legacy;
/* backend_noiommu.c: -ENODEV (logged) unless VFIO's no-IOMMU mode is on. */
int ifd_noiommu_mode_check(struct iommufd_ctx *ctx);

/* ctx.c */
int ifd_ctx_create_sys(const struct iommufd_ctx_opts *opts, const struct ifd_sys *sys, int adopt_fd,
		       struct iommufd_ctx **out);

/* handover.c: iommufd_ctx_import() on the given system-call table. */
int ifd_ctx_import_sys(const void *blob, size_t len, const int *fds, size_t nfds, const struct iommufd_ctx_opts *opts,
		       const struct ifd_sys *sys, struct iommufd_ctx **out);

/* log.c: ctx->lock with deferred messages (never call the user under it). */
void ifd_ctx_lock(struct iommufd_ctx *ctx);
void ifd_ctx_unlock(struct iommufd_ctx *ctx);

/* log.c */
void ifd_log(struct iommufd_ctx *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ifd_log_defaults(struct iommufd_ctx *ctx, iommufd_log_fn fn, void *data, int level);
#define ifd_err(ctx, ...)   ifd_log((ctx), IOMMUFD_LOG_ERR, __VA_ARGS__)
#define ifd_warn(ctx, ...)  ifd_log((ctx), IOMMUFD_LOG_WARNING, __VA_ARGS__)
#define ifd_info(ctx, ...)  ifd_log((ctx), IOMMUFD_LOG_INFO, __VA_ARGS__)
#define ifd_dbg(ctx, ...)   ifd_log((ctx), IOMMUFD_LOG_DEBUG, __VA_ARGS__)

/* Return a negative errno and set errno: the library's one exit path. */
static inline int ifd_ret(int r)
{
	if (r < 0)
		errno = -r;
	return r;
}

/* iommufd_common.c: the IOAS half of CDEV and GROUP. */
int ifd_iommufd_ioas_alloc(struct iommufd_ioas *ioas);
void ifd_iommufd_ioas_free(struct iommufd_ioas *ioas);
int ifd_iommufd_ioas_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align);
int ifd_iommufd_map(struct iommufd_ioas *ioas, struct iommufd_map *m);
int ifd_iommufd_map_file(struct iommufd_ioas *ioas, struct iommufd_map *m, int fd, uint64_t offset);
int ifd_iommufd_change_process(struct iommufd_ctx *ctx);
int ifd_iommufd_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped);
int ifd_iommufd_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped);
int ifd_iommufd_copy(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
		     uint64_t dst_iova, uint32_t flags);
int ifd_iommufd_allow_iovas(struct iommufd_ioas *ioas, const struct ifd_iova_range *r, size_t n);
int ifd_iommufd_set_huge_pages(struct iommufd_ioas *ioas, bool enable);
int ifd_iommufd_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want);
void ifd_iommufd_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len);
int ifd_iommufd_attach_enomem(struct iommufd_device *dev, struct iommufd_ioas *ioas);
int ifd_iommufd_destroy_obj(struct iommufd_ctx *ctx, uint32_t id);
int ifd_iommufd_open(struct iommufd_ctx *ctx);
int ifd_iommufd_resv_conflict(struct iommufd_device *dev, struct iommufd_ioas *ioas);

/* device.c */
void ifd_dev_close_fd(struct iommufd_device *dev);
int ifd_dev_adopt_group_dev(struct iommufd_ioas *ioas, const char *name, int group_fd, int dev_fd,
			    struct iommufd_device **out);

/* caps.c: feature answers and IOMMU_GET_HW_INFO (cached). */
void ifd_caps_free(struct iommufd_ctx *ctx);
void ifd_dev_caps_free(struct iommufd_device *dev);
/* 1 if the iommufd knows ioctl @req (probed once with an empty argument). */
int ifd_iommufd_has_ioctl(struct iommufd_ctx *ctx, unsigned long req);
/* IOMMU_GET_HW_INFO of @dev_id into a new struct ifd_dev_caps (-ENOENT: no
 * such device; -EOPNOTSUPP: the kernel lacks the call). */
int ifd_dev_caps_read(struct iommufd_ctx *ctx, uint32_t dev_id, struct ifd_dev_caps **out);
/* @dev's PASID width in bits (0: none), read once; caller holds ctx->lock. */
int ifd_dev_pasid_width(struct iommufd_device *dev);

/* hwpt.c */
/* Drop @dev's HWPT and PASID attachments from the library's books (the
 * device is going: closing its fd detaches it in the kernel). */
void ifd_hwpt_dev_gone(struct iommufd_device *dev);
/* The context is going: free every HWPT handle, whatever the kernel says. */
void ifd_hwpt_ctx_gone(struct iommufd_ctx *ctx);
/* Record that @dev's RID now goes through @hwpt (NULL: the IOAS's implicit
 * HWPT) into @ioas (NULL with @hwpt NULL: detached): users and ndevices
 * counts follow.  Caller holds ctx->lock. */
void ifd_dev_set_attached(struct iommufd_device *dev, struct iommufd_hwpt *hwpt, struct iommufd_ioas *ioas);
/* Put @dev's RID back where it was (@hwpt, else @ioas, else detached)
 * after a move failed half way; logs when that fails too. */
void ifd_dev_restore(struct iommufd_device *dev, struct iommufd_hwpt *hwpt, struct iommufd_ioas *ioas);
/* An explicit HWPT of this IOAS still exists (ioas destroy refuses). */
bool ifd_hwpt_ioas_busy(struct iommufd_ioas *ioas);

/* viommu.c */
/* The device is going: destroy its vDEVICEs first (the kernel's order).
 * Caller holds ctx->lock. */
void ifd_viommu_dev_gone(struct iommufd_device *dev);
/* The context is going: free every vIOMMU and what is on it. */
void ifd_viommu_ctx_gone(struct iommufd_ctx *ctx);
/* The vIOMMU checks of the nested-HWPT and invalidate calls (hwpt.c). */
bool ifd_viommu_ok(const struct iommufd_viommu *v);
/* IOMMU_HWPT_INVALIDATE of object @id; *num in/out as the public calls. */
int ifd_invalidate(struct iommufd_ctx *ctx, uint32_t id, const char *what, uint32_t data_type,
		   const void *entries, uint32_t entry_len, uint32_t *num);

/* veventq.c: free a queue (ctx->lock held; @forked: memory and fd only). */
void ifd_veventq_free(struct iommufd_veventq *q, bool forked);

/* dirty.c: the argument rules of every dirty-bitmap call (0 or -EINVAL),
 * zeroing the caller's words, and the iommufd half of the IOAS-level ops. */
static inline uint64_t ifd_dirty_words(uint64_t len, uint64_t page_size)
{
	return (len / page_size + 63) / 64;
}
int ifd_dirty_check(uint64_t iova, uint64_t len, uint64_t page_size, const uint64_t *bitmap, uint32_t flags);
void ifd_dirty_zero(uint64_t *bitmap, uint64_t len, uint64_t page_size);
int ifd_iommufd_ioas_set_dirty(struct iommufd_ioas *ioas, bool enable);
int ifd_iommufd_ioas_get_dirty(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t page_size,
			       uint64_t *bitmap, uint32_t flags);


/* kvm.c: a file given to one KVM VFIO device, shared by the devices of a
 * group on GROUP and TYPE1 (under ctx->lock). */
struct ifd_kvm_reg {
	int kvm_fd; /* our duplicate of the KVM VFIO device fd */
	unsigned int refs;
};
/* @dev is going (caller holds ctx->lock): drop its KVM registration. */
void ifd_kvm_dev_gone(struct iommufd_device *dev);

/* hotplug.c (all under ctx->lock): arm the REQ irq of a device opened
 * while the context has an event fd; forget it when it is destroyed. */
void ifd_hotplug_dev_arm(struct iommufd_device *dev);
void ifd_hotplug_dev_disarm(struct iommufd_device *dev);
void ifd_hotplug_free(struct iommufd_ctx *ctx);

/* dmabuf.c: BAR mappings (iommufd_ioas_map_bar()) and their revocation. */
/* epoll data of the P2P eventfd in the hotplug epoll set. */
#define IFD_P2P_EVENT_TAG (UINT64_MAX - 1)
int ifd_dev_dmabuf_probe(struct iommufd_device *dev); /* 1, 0, or -errno */
/* Record that [@iova, @iova + @len) of @ioas is @dev's BAR (@dmabuf: through
 * a dma-buf, which the exporter can revoke). */
int ifd_p2p_track(struct iommufd_ioas *ioas, struct iommufd_device *dev, uint64_t iova, uint64_t len, bool dmabuf);
void ifd_p2p_retire_slow(struct iommufd_ioas *ioas, const struct iommufd_map *m);
/* A mapping left the IOAS (map.c's retire): drop its BAR entry, if any. */
static inline void ifd_p2p_retire(struct iommufd_ioas *ioas, const struct iommufd_map *m)
{
	if (__atomic_load_n(&ioas->ctx->p2p, __ATOMIC_ACQUIRE))
		ifd_p2p_retire_slow(ioas, m);
}
void ifd_p2p_ioas_gone(struct iommufd_ioas *ioas);
/* The library did to @dev what makes the kernel revoke its dma-bufs
 * (@why, for the log); @gone: the handle is going away. */
void ifd_p2p_exporter_event(struct iommufd_device *dev, const char *why, bool gone);
void ifd_p2p_hp_attach(struct iommufd_ctx *ctx);                                    /* under ctx->lock */
int ifd_p2p_read_events(struct iommufd_ctx *ctx, struct iommufd_event *ev, size_t max); /* under ctx->lock */
void ifd_p2p_free(struct iommufd_ctx *ctx);
/* hotplug.c: the event fd (epoll), or -1 before iommufd_ctx_get_event_fd(). */
int ifd_hotplug_epfd(struct iommufd_ctx *ctx);

/* udev.c (built with libudev): sys->enumerate of the libc table; -ENOSYS
 * when libudev is not there at run time. */
int ifd_udev_enumerate(int (*fn)(const char *name, const char *subsystem, void *arg), void *arg);

/* uevent.c: one kernel uevent message ("ACTION@DEVPATH\0KEY=VALUE\0...").
 * Returns 0 with @out filled, or -EINVAL for anything malformed, cut or
 * too long for @out's fields: never reads past @len. */
struct ifd_uevent {
	char action[16];
	char subsystem[32];
	char devpath[512];
	const char *name; /* last component of @devpath */
	uint64_t seqnum;
};
int ifd_uevent_parse(const char *buf, size_t len, struct ifd_uevent *out);

/* device_io.c */
int ifd_dev_read_regions(struct iommufd_device *dev);
void ifd_dev_unmap_regions(struct iommufd_device *dev);
void ifd_dev_free_regions(struct iommufd_device *dev);

/* group.c: group fds shared by devices (GROUP, TYPE1). */
int ifd_group_get(struct iommufd_ctx *ctx, int num, int adopt_fd, struct ifd_group **out);
void ifd_group_put(struct iommufd_ctx *ctx, struct ifd_group *g);
void ifd_group_drop(struct iommufd_ctx *ctx, struct ifd_group *g);
int ifd_group_check_viable(struct iommufd_ctx *ctx, struct ifd_group *g, bool adopted);
int ifd_group_get_device_fd(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_device *dev);
bool ifd_group_cdev_open_elsewhere(struct iommufd_ctx *ctx, const struct iommufd_device *dev);
/* GROUP and TYPE1's kvm_file: the group fd, registered once per group. */
struct ifd_kvm_reg **ifd_group_kvm_file(struct iommufd_device *dev, int *fd);

/* sysfs.c: name resolution. */
int ifd_resolve_device(struct iommufd_ctx *ctx, const char *name, struct iommufd_device *dev);
int ifd_resolve_cdev_fd(struct iommufd_ctx *ctx, int fd, struct iommufd_device *dev);
int ifd_sysfs_read(struct iommufd_ctx *ctx, const char *path, char *buf, size_t len);
int ifd_explain_nonviable(struct iommufd_ctx *ctx, int group_num);
bool ifd_is_bdf(const char *s);
bool ifd_is_uuid(const char *s);

/* vf.c: SR-IOV VF tokens. */
#define IFD_VF_TOKEN_LEN 16
/* A canonical UUID string into the kernel's 16 bytes (0, or -EINVAL). */
int ifd_vf_token_parse(const char *s, uint8_t out[IFD_VF_TOKEN_LEN]);
/* The name VFIO_GROUP_GET_DEVICE_FD takes for @dev: its own, followed by
 * " vf_token=UUID" when it was opened with a token (or -ENAMETOOLONG). */
int ifd_vf_group_name(const struct iommufd_device *dev, char *buf, size_t len);
/* Log why @call refused @dev (EACCES, or EINVAL/E2BIG with a token) and
 * the fix; reads sysfs, so callable under ctx->lock. */
void ifd_vf_explain(struct iommufd_device *dev, const char *call, int err);
/* Is @dev an SR-IOV VF or PF (sysfs physfn, sriov_totalvfs)? */
bool ifd_vf_sriov(const struct iommufd_device *dev);
/* Log that @call took no VF token for @dev, so the kernel checked none. */
void ifd_vf_token_unchecked(struct iommufd_device *dev, const char *call);

/* ioas.c */
int ifd_ioas_refresh(struct iommufd_ioas *ioas);
/* A handle for the existing iommufd IOAS @id (live update); its usable
 * ranges are read, which also checks the ID (-ENOENT). */
int ifd_ioas_adopt(struct iommufd_ctx *ctx, uint32_t id, struct iommufd_ioas **out);
/* Call @fn for each USER record in IOVA order (caller holds ioas->wlock);
 * stops at and returns the first non-zero. */
int ifd_ioas_for_each_record(struct iommufd_ioas *ioas, int (*fn)(struct iommufd_map *m, void *arg), void *arg);
/* The IOAS writer lock (the backends' walks over records need it). */
static inline void ifd_ioas_wlock(struct iommufd_ioas *ioas) { ifd_lock(&ioas->wlock); }
static inline void ifd_ioas_wunlock(struct iommufd_ioas *ioas) { ifd_unlock(&ioas->wlock); }

/* filemap.c: map @len bytes of file @fd from @offset (both page aligned)
 * with iommufd_ioas_map()'s IOVA choice, flags and unmap.  IOMMU_IOAS_MAP_FILE
 * where the backend and kernel have it; otherwise, with @allow_mmap_fallback,
 * the library mmaps the range MAP_SHARED itself (and unmaps it with the
 * mapping), without it -EOPNOTSUPP (dma-bufs: their pages cannot be mmapped
 * into a plain map).  Returns 0 or a negative errno; errno is left alone. */
int ifd_ioas_map_fd(struct iommufd_ioas *ioas, int fd, uint64_t offset, uint64_t len,
		    uint32_t flags, const struct iommufd_map_opts *opts, uint64_t *iova,
		    bool allow_mmap_fallback);
/* One file map's side-table entry (filemap.c). */
struct ifd_filemap_ent {
	struct ifd_filemap_ent *next;
	struct iommufd_map *rec;
	int fd;           /* the library's duplicate of the file */
	uint64_t offset;  /* in the file */
	void *mm;         /* the library's own mmap of it (fallback), or NULL */
	size_t mm_len;
};
/* Under ioas->wlock: link @ent to the new record @m; forget @m's entry
 * (unmapping the library's mmap, closing its fd) when the record goes. */
void ifd_filemap_link(struct iommufd_ioas *ioas, struct iommufd_map *m, struct ifd_filemap_ent *ent);
void ifd_filemap_forget(struct iommufd_ioas *ioas, struct iommufd_map *m);
/* The IOAS is being freed: drop every entry. */
void ifd_filemap_ioas_free(struct iommufd_ioas *ioas);
/* @m's entry, or NULL; caller holds ioas->wlock. */
struct ifd_filemap_ent *ifd_filemap_find(struct iommufd_ioas *ioas, const struct iommufd_map *m);

/* map.c: the one map path (plain and file maps).  @src NULL maps @vaddr;
 * otherwise the record is a file map: with src->fd >= 0 through the
 * backend's map_file (vaddr must be NULL), else @vaddr is the library's
 * mmap of the file.  src->ent is linked to the record on success. */
struct ifd_map_src {
	int fd;
	uint64_t offset;
	struct ifd_filemap_ent *ent;
};
int ifd_map_common(struct iommufd_ioas *ioas, void *vaddr, size_t len, uint32_t flags,
		   const struct iommufd_map_opts *opts, bool handle, const struct ifd_map_src *src,
		   struct iommufd_map **out);

/* opts.c: one check for every options struct: its sz at least
 * sizeof(size_t), every byte past what this version knows (@known) zero;
 * copies into @out (zeroed first; NULL @opts gives all defaults). */
int ifd_opts_copy_slow(void *out, size_t known, const void *opts);
static inline int ifd_opts_copy(void *out, size_t known, const void *opts)
{
	if (!opts) { /* the data path's common case: inline, no call */
		memset(out, 0, known);
		return 0;
	}
	return ifd_opts_copy_slow(out, known, opts);
}

/* Helpers used by several files. */
int ifd_open_node(struct iommufd_ctx *ctx, const char *path, int flags, const char *what);
/* Every kernel call of the data path goes through here: inline, so a map
 * or unmap pays one indirect call (the syscall table), not two. */
static inline int ifd_ioctl(struct iommufd_ctx *ctx, int fd, unsigned long req, void *arg)
{
	int r;

	/* The fork rule's backstop: an inherited fd's kernel object is the
	 * parent's, so no call of a child reaches it through this path. */
	if (ifd_forked(ctx))
		return -ECHILD;
	if (__builtin_expect(ctx->sys == &ifd_sys_libc, 1))
		return (int)ifd_sys_ioctl_inline(fd, req, arg);
	r = ctx->sys->ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}
int ifd_close(struct iommufd_ctx *ctx, int fd);
int ifd_dup(struct iommufd_ctx *ctx, int fd);

#endif
