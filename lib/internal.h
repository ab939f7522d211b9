/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
#include <sys/stat.h>
#include <sys/types.h>

#include <libiommufd/libiommufd.h>

#include "itree.h"
#include "iova.h"

#define IFD_EXPORT __attribute__((visibility("default")))

/*
 * Every system call the library makes goes through one of these tables, so
 * the unit tests can swap in a fake kernel per context without any global
 * state.  Each entry follows the libc function's contract (returns -1 and
 * sets errno), except listdir, which calls @fn for each entry name other
 * than "." and ".." and returns 0 or a negative errno.
 */
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

/* Handles stay allocated after destroy (until the context goes) so that a
 * second destroy is detected instead of touching freed memory. */
enum ifd_state { IFD_ALIVE = 0x1f0a11fe, IFD_DEAD = 0x1f0dead0 };

struct iommufd_ctx {
	const struct ifd_sys *sys;
	const struct ifd_backend_ops *ops;
	enum iommufd_backend backend;
	int fd;              /* /dev/iommu, or -1 on TYPE1 */
	int spare_container; /* TYPE1: adopted container for the first IOAS */
	uint32_t type1_ids;  /* TYPE1: numbers IOAS for messages (under lock) */
	long page_size;

	/* Protects the lists, the groups, and the GROUP backend's compat IOAS
	 * selection (IOMMU_VFIO_IOAS is per iommufd, not per call). */
	pthread_mutex_t lock;
	struct ifd_list ioas_list;
	struct ifd_list dev_list;
	struct ifd_list group_list;
	struct ifd_list zombies;

	pthread_mutex_t log_lock;
	iommufd_log_fn log_fn;
	void *log_data;
	int log_level;
};

struct ifd_map {
	struct ifd_itree_node by_iova;
	struct ifd_itree_node by_va;
	uint32_t flags;
};

/* Handles put `link` first: a zombie is freed through its list node. */
struct iommufd_ioas {
	struct ifd_list link; /* ctx->ioas_list, then ctx->zombies */
	struct iommufd_ctx *ctx;
	enum ifd_state state;

	uint32_t id;      /* iommufd object ID; TYPE1: a number for messages */
	int container_fd; /* TYPE1 */
	bool iommu_set;   /* TYPE1: VFIO_SET_IOMMU done */
	/* TYPE1: readers are MAP_DMA/UNMAP_DMA (check iommu_set, then the
	 * ioctl); writers change whether the container has an IOMMU (the
	 * first group joining, the last one leaving). */
	pthread_rwlock_t kern_lock;

	/* Writers: map/unmap bookkeeping, range refresh.  Readers: lookups.
	 * Kernel calls run outside it; an IOVA range is claimed in the
	 * allocator first so concurrent maps never collide. */
	pthread_rwlock_t lock;
	struct ifd_iova_space *space;
	struct ifd_itree by_iova; /* live mappings */
	struct ifd_itree by_va;
	struct ifd_list resv;     /* struct ifd_resv: ranges kept from the allocator */
	uint64_t alignment;
	unsigned int ndevices; /* under ctx->lock */
};

struct ifd_group {
	struct ifd_list link; /* ctx->group_list */
	int num;
	int fd;
	unsigned int refs;
	struct iommufd_ioas *ioas; /* the IOAS (TYPE1: container) it is joined to */
	bool in_container;
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
};

/*
 * One per backend file.  Called with ctx->lock held for device and IOAS
 * lifetime calls; map/unmap run without it (the kernel serialises).
 */
struct ifd_backend_ops {
	enum iommufd_backend kind;
	int (*ctx_open)(struct iommufd_ctx *ctx);
	int (*ioas_alloc)(struct iommufd_ioas *ioas);
	void (*ioas_free)(struct iommufd_ioas *ioas);
	/* Fetch usable ranges and alignment; *ranges is malloc'ed. */
	int (*ioas_query)(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align);
	int (*map)(struct iommufd_ioas *ioas, uint64_t iova, void *vaddr, uint64_t len, uint32_t flags);
	int (*unmap)(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len);
	/* Bind dev (dev->fd may already hold an adopted cdev fd) and attach. */
	int (*dev_open)(struct iommufd_device *dev, struct iommufd_ioas *ioas);
	int (*dev_attach)(struct iommufd_device *dev, struct iommufd_ioas *ioas);
	void (*dev_close)(struct iommufd_device *dev);
	/* Drop a device's group reference (GROUP, TYPE1; NULL on CDEV). */
	void (*group_put)(struct iommufd_ctx *ctx, struct ifd_group *g, struct iommufd_ioas *ioas);
};

extern const struct ifd_backend_ops ifd_backend_cdev;
extern const struct ifd_backend_ops ifd_backend_group;
extern const struct ifd_backend_ops ifd_backend_type1;

/* ctx.c */
int ifd_ctx_create_sys(const struct iommufd_ctx_opts *opts, const struct ifd_sys *sys, int adopt_fd,
		       struct iommufd_ctx **out);

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
int ifd_iommufd_map(struct iommufd_ioas *ioas, uint64_t iova, void *vaddr, uint64_t len, uint32_t flags);
int ifd_iommufd_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len);
int ifd_iommufd_destroy_obj(struct iommufd_ctx *ctx, uint32_t id);
int ifd_iommufd_open(struct iommufd_ctx *ctx);
int ifd_iommufd_resv_conflict(struct iommufd_device *dev, struct iommufd_ioas *ioas);

/* device.c */
void ifd_dev_close_fd(struct iommufd_device *dev);

/* device_io.c */
int ifd_dev_read_regions(struct iommufd_device *dev);
void ifd_dev_unmap_regions(struct iommufd_device *dev);
void ifd_dev_free_regions(struct iommufd_device *dev);

/* group.c: group fds shared by devices (GROUP, TYPE1). */
int ifd_group_get(struct iommufd_ctx *ctx, int num, int adopt_fd, struct ifd_group **out);
void ifd_group_put(struct iommufd_ctx *ctx, struct ifd_group *g);
int ifd_group_check_viable(struct iommufd_ctx *ctx, struct ifd_group *g, bool adopted);
int ifd_group_get_device_fd(struct iommufd_ctx *ctx, struct ifd_group *g, const char *name);
bool ifd_group_cdev_open_elsewhere(struct iommufd_ctx *ctx, const struct iommufd_device *dev);

/* sysfs.c: name resolution. */
int ifd_resolve_device(struct iommufd_ctx *ctx, const char *name, struct iommufd_device *dev);
int ifd_resolve_cdev_fd(struct iommufd_ctx *ctx, int fd, struct iommufd_device *dev);
int ifd_sysfs_read(struct iommufd_ctx *ctx, const char *path, char *buf, size_t len);
int ifd_explain_nonviable(struct iommufd_ctx *ctx, int group_num);
bool ifd_is_bdf(const char *s);
bool ifd_is_uuid(const char *s);

/* ioas.c */
int ifd_ioas_refresh(struct iommufd_ioas *ioas);
typedef int (*ifd_map_fn)(struct iommufd_ioas *ioas, uint64_t iova, void *vaddr, uint64_t len, uint32_t flags);
typedef int (*ifd_unmap_fn)(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len);
int ifd_ioas_replay(struct iommufd_ioas *ioas, ifd_map_fn map, ifd_unmap_fn unmap);


/* Helpers used by several files. */
int ifd_open_node(struct iommufd_ctx *ctx, const char *path, int flags, const char *what);
int ifd_ioctl(struct iommufd_ctx *ctx, int fd, unsigned long req, void *arg);
int ifd_close(struct iommufd_ctx *ctx, int fd);
int ifd_dup(struct iommufd_ctx *ctx, int fd);

#endif
