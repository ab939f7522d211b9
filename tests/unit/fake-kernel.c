/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The fake kernel behind the unit tests: see fake-kernel.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <linux/vfio.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

#define MAJ_MISC 10
#define MIN_IOMMU 122
#define MIN_VFIO 196
#define MAJ_VFIO_DEV 241
#define MAJ_VFIO 242
#define NREGIONS 9 /* VFIO_PCI_NUM_REGIONS */
#define MAX_REGIONS (NREGIONS + FK_MAX_EXTRA_REGIONS)
#define NIRQS 5    /* VFIO_PCI_NUM_IRQS */
#define CFG_SIZE 256
#define REGION_SHIFT 40 /* VFIO_PCI_OFFSET_SHIFT */
#define MAX_SYMLINKS 40
#define PGSIZES (0x1000ULL | 0x200000ULL | 0x40000000ULL)

/* ------------------------------------------------------------------------ */
/* Model                                                                    */

enum node_type { N_DIR, N_FILE, N_LINK, N_CHR };
enum chr_kind { C_NULL, C_IOMMUFD, C_CONTAINER, C_GROUP, C_CDEV };

struct node {
	char *path;
	enum node_type type;
	char *data; /* file contents or link target */
	enum chr_kind chr;
	int arg;    /* group number or device index */
	dev_t rdev;
};

struct maplist {
	struct fk_map *v;
	size_t n, cap;
};

struct ioas {
	uint32_t id;
	struct maplist maps;
	struct fk_range *allowed; /* IOMMU_IOAS_ALLOW_IOVAS */
	size_t nallowed;
	bool no_huge;             /* IOMMU_OPTION_HUGE_PAGES 0 */
	unsigned int ndev;
	uint32_t hwpt; /* auto HWPT while devices are attached */
};

enum obj_type { OBJ_IOAS, OBJ_HWPT, OBJ_DEVICE, OBJ_FAULT };

struct hwptx;
struct faultq;

struct obj {
	uint32_t id;
	enum obj_type type;
	struct ioas *ioas; /* IOAS: itself; HWPT: the IOAS it covers */
	struct hwptx *x;   /* an explicit HWPT (IOMMU_HWPT_ALLOC); NULL for auto ones */
	struct faultq *q;  /* OBJ_FAULT */
};

enum file_kind { F_SYSFS, F_NULL, F_IOMMUFD, F_CONTAINER, F_GROUP, F_DEVICE, F_CDEV, F_FAULT, F_EXT };

/* An explicit HWPT: mirrors its IOAS, may track dirty pages and route
 * page faults to a fault queue. */
struct hwptx {
	uint32_t id;
	struct ioas *io;
	uint32_t flags;  /* IFD_K_IOMMU_HWPT_* */
	struct faultq *q;
	unsigned int users; /* RIDs and PASIDs attached */
	bool dirty_on;
	uint64_t *dirty; /* sorted page addresses (4 KiB pages) */
	size_t ndirty, dirtycap;
	uint8_t vendor[8]; /* the selftest data a paging alloc carried */
	uint32_t vendor_len;
};

/* One page request as the device raised it. */
struct iopf_rec {
	struct dev *dev;
	bool pasid_valid;
	uint32_t pasid, grpid, perm;
	uint64_t addr;
	bool last;
};

/* A group: delivered (unread), or read and waiting for its answer. */
struct iopf_group {
	struct iopf_rec *recs;
	size_t n;
	struct hwptx *h;
	uint32_t cookie; /* 0 until read */
};

struct faultq {
	uint32_t id;
	struct file *file; /* the fd's file while open */
	unsigned int hwpts; /* HWPTs referring to it */
	struct iopf_group *g; /* unread first (cookie 0), in arrival order */
	size_t ng, gcap;
};

struct group;
struct dev;

struct file {
	int refs;
	enum file_kind kind;
	char label[80];
	/* F_SYSFS */
	char *data;
	size_t len, pos;
	/* F_IOMMUFD */
	struct obj *objs;
	size_t nobj, objcap;
	uint32_t next_id, compat;
	int account_mode; /* IOMMU_OPTION_RLIMIT_MODE: 0 user, 1 process */
	/* F_CONTAINER */
	int iommu; /* 0 or VFIO_TYPE1{,v2}_IOMMU */
	struct maplist dmas;
	bool dirty_on; /* VFIO_IOMMU_DIRTY_PAGES started */
	/* F_GROUP, F_DEVICE */
	struct group *grp;
	struct file *grp_file; /* F_DEVICE: reference on the group file */
	/* F_DEVICE, F_CDEV */
	struct dev *dev;
	bool bound;               /* F_CDEV: VFIO_DEVICE_BIND_IOMMUFD done */
	struct faultq *fq;        /* F_FAULT */
	const struct fk_ext_ops *ext_ops; /* F_EXT: a fake-<area>.c model's file */
	void *ext;
	struct file *next_live;   /* every live file, for counting */
};

struct group {
	int num;
	struct file *file;      /* the one open of /dev/vfio/N */
	struct file *container; /* reference: the container it joined */
	struct file *iommufd;   /* reference: the iommufd it joined */
	int cdev_bound;         /* devices bound through their cdev */
	int dev_fds;            /* device fds opened through the group */
	bool ext_hold;
};

struct irq {
	unsigned int count;
	uint32_t flags;
	int *fds;
	unsigned int unmasks;
	bool masked;
};

struct region {
	uint64_t size;
	uint32_t flags;
	uint8_t *mem;
	int memfd; /* mmappable regions, -1 otherwise */
};

struct dev {
	char name[64];
	bool mdev;
	int group; /* -1 none */
	struct group *grp;
	char driver[64];
	bool no_cdev, no_reset, exclusive;
	bool noiommu; /* behind no IOMMU: noiommu-N group, noiommu-vfioN cdev */
	int cdev; /* vfioN index, -1 none */
	uint64_t aperture_last, pgsize;
	struct fk_range resv[FK_MAX_RESV];
	unsigned int nresv;
	struct region reg[MAX_REGIONS];
	unsigned int nregions;
	uint64_t hole_off, hole_len; /* BAR0's sparse-mmap hole */
	enum fk_bad_caps bad_caps;
	struct irq irq[NIRQS];
	int irq_type; /* INTx/MSI/MSI-X in use, -1 none */
	unsigned int open_count;
	bool ext_open;
	struct file *ictx;  /* reference: the iommufd it is bound to */
	uint32_t devid;
	struct ioas *ioas;  /* attached IOAS */
	int resets;
	/* issue 8: the IOMMU behind it, and its explicit attachments */
	uint32_t hw_type;
	bool no_dirty, no_nest, no_iopf;
	uint8_t max_pasid_log2;
	struct hwptx *xh;   /* the RID's explicit HWPT, NULL = IOAS or detached */
	struct pasid_att {
		uint32_t pasid;
		struct hwptx *h;
	} pas[8];
	unsigned int npas;
	struct iopf_rec *partial; /* requests waiting for their group's last */
	size_t npartial;
	struct fk_iopf_resp *resp; /* what the device was answered */
	size_t nresp;
};

struct mmap_rec {
	void *addr;
	size_t len;
	struct file *file;
};

struct fault {
	bool armed;
	bool fired;
	unsigned long n;
	int err;
	char match[48];
};

struct hook {
	char match[48];
	void (*fn)(void *arg);
	void *arg;
};

struct fake_kernel {
	struct fk_config cfg;
	struct hook hook;
	struct hook close_hook;
	long page_size;
	struct node *nodes;
	size_t nnodes, nodecap;
	char **deny;
	size_t ndeny;
	struct dev **devs;
	size_t ndevs;
	struct group **groups;
	size_t ngroups;
	int next_cdev;
	struct file **fds;
	size_t nfds;
	struct file *live;
	struct mmap_rec *mmaps;
	size_t nmmaps, mmapcap;
	uint64_t pinned, memlock;
	enum fk_malform malform;
	struct fault fault;
	unsigned long ncalls;
	struct fk_call *log;
	size_t nlog, logcap;
	bool log_off;
	struct node *extra; /* test-made nodes, kept across rebuilds */
	size_t nextra;
	/* Hot-unplug: eventfds, epoll sets and uevent sockets are real fds
	 * (the irq model signals real eventfds); a uevent socket is one end
	 * of a datagram socketpair whose other end the fake writes. */
	struct real_fd {
		int fd;
		int peer;   /* uevent socket: the fake's end, else -1 */
		bool bound; /* uevent socket: bound to group 1 */
	} real[64];
	size_t nreal;
	struct fk_nio *nio; /* fake-noiommu.c */
	struct ifd_sys sys;
	struct fk_vf_state *vf; /* fake-vf.c */
	bool map_is_file;            /* fake-filemap.c's IOAS_MAP in progress */
	unsigned int change_process; /* IOMMU_IOAS_CHANGE_PROCESS successes */
};

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_kernel *fk_cur;

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t sz)
{
	p = realloc(p, sz ? sz : 1);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* ------------------------------------------------------------------------ */
/* Call log and fault injection                                             */

static struct fk_call *log_add(struct fake_kernel *fk, const char *op, const char *target, const char *detail, int fd,
			       bool significant)
{
	static struct fk_call sink;
	struct fk_call *c;

	if (fk->log_off) {
		memset(&sink, 0, sizeof(sink));
		return &sink;
	}
	if (fk->nlog == fk->logcap) {
		fk->logcap = fk->logcap ? fk->logcap * 2 : 256;
		fk->log = xrealloc(fk->log, fk->logcap * sizeof(*fk->log));
	}
	c = &fk->log[fk->nlog++];
	memset(c, 0, sizeof(*c));
	snprintf(c->op, sizeof(c->op), "%s", op);
	snprintf(c->target, sizeof(c->target), "%s", target ? target : "");
	snprintf(c->detail, sizeof(c->detail), "%s", detail ? detail : "");
	c->fd = fd;
	c->region = -1;
	c->significant = significant;
	return c;
}

static bool prefix(const char *s, const char *p)
{
	return p && *p && !strncmp(s, p, strlen(p));
}

/* Count one call; true (and the errno in *err) if it must fail. */
static bool should_fail(struct fake_kernel *fk, const char *op, const char *detail, int *err)
{
	struct fault *f = &fk->fault;

	fk->ncalls++;
	if (!f->armed)
		return false;
	if (f->match[0] && !prefix(op, f->match) && !prefix(detail ? detail : "", f->match))
		return false;
	if (--f->n)
		return false;
	f->armed = false;
	f->fired = true;
	*err = f->err;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Mapping lists (sorted by IOVA, disjoint)                                 */

static size_t ml_lower(const struct maplist *ml, uint64_t start)
{
	size_t lo = 0, hi = ml->n;

	/* first mapping whose last byte is >= start */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ml->v[mid].iova + ml->v[mid].len - 1 < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static long ml_overlap(const struct maplist *ml, uint64_t start, uint64_t last)
{
	size_t i = ml_lower(ml, start);

	return i < ml->n && ml->v[i].iova <= last ? (long)i : -1;
}

static void ml_insert(struct maplist *ml, const struct fk_map *m)
{
	size_t i = ml_lower(ml, m->iova);

	if (ml->n == ml->cap) {
		ml->cap = ml->cap ? ml->cap * 2 : 16;
		ml->v = xrealloc(ml->v, ml->cap * sizeof(*ml->v));
	}
	memmove(&ml->v[i + 1], &ml->v[i], (ml->n - i) * sizeof(*ml->v));
	ml->v[i] = *m;
	ml->n++;
}

static void ml_remove(struct maplist *ml, size_t i)
{
	memmove(&ml->v[i], &ml->v[i + 1], (ml->n - i - 1) * sizeof(*ml->v));
	ml->n--;
}

static uint64_t ml_bytes(const struct maplist *ml)
{
	uint64_t t = 0;

	for (size_t i = 0; i < ml->n; i++)
		if (!ml->v[i].copied) /* a copy's pages are the source's */
			t += ml->v[i].len;
	return t;
}

static int pin(struct fake_kernel *fk, uint64_t bytes)
{
	if (fk->memlock && (bytes > fk->memlock || fk->pinned > fk->memlock - bytes))
		return -ENOMEM;
	fk->pinned += bytes;
	return 0;
}

static void unpin(struct fake_kernel *fk, uint64_t bytes)
{
	fk->pinned -= bytes;
}

/* ------------------------------------------------------------------------ */
/* Reserved ranges and usable holes                                          */

static int cmp_range(const void *a, const void *b)
{
	const struct fk_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Holes of [0, UINT64_MAX] left by @resv (modified: sorted). */
static size_t holes(struct fk_range *resv, size_t n, struct fk_range *out, size_t max)
{
	uint64_t at = 0;
	size_t k = 0;
	bool done = false;

	if (n)
		qsort(resv, n, sizeof(*resv), cmp_range);
	for (size_t i = 0; i < n && !done; i++) {
		if (resv[i].start > at) {
			if (k < max)
				out[k] = (struct fk_range){ at, resv[i].start - 1 };
			k++;
		}
		if (resv[i].last == UINT64_MAX)
			done = true;
		else if (resv[i].last + 1 > at)
			at = resv[i].last + 1;
	}
	if (!done) {
		if (k < max)
			out[k] = (struct fk_range){ at, UINT64_MAX };
		k++;
	}
	return k;
}

static size_t dev_resv(const struct dev *d, struct fk_range *out)
{
	size_t n = 0;

	if (d->aperture_last != UINT64_MAX)
		out[n++] = (struct fk_range){ d->aperture_last + 1, UINT64_MAX };
	for (unsigned int i = 0; i < d->nresv; i++)
		out[n++] = d->resv[i];
	return n;
}

static bool resv_hits(const struct fk_range *r, size_t n, uint64_t start, uint64_t last)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].start <= last && start <= r[i].last)
			return true;
	return false;
}

/* Reserved intervals of an IOAS: those of every attached device. */
static size_t ioas_resv(struct fake_kernel *fk, const struct ioas *io, struct fk_range **out)
{
	size_t n = 0;

	*out = xcalloc(fk->ndevs * (FK_MAX_RESV + 1) + 1, sizeof(**out));
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->ioas == io)
			n += dev_resv(fk->devs[i], *out + n);
	return n;
}

static uint64_t ioas_align(struct fake_kernel *fk, const struct ioas *io)
{
	uint64_t a = 1;

	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->ioas == io && fk->devs[i]->pgsize > a)
			a = fk->devs[i]->pgsize;
	return a;
}

/* Reserved intervals of a container with its IOMMU set: every device of
 * every group in it (type1 attaches whole groups). */
static size_t ct_resv(struct fake_kernel *fk, const struct file *ct, struct fk_range **out, uint64_t *minpg)
{
	size_t n = 0;

	*out = xcalloc(fk->ndevs * (FK_MAX_RESV + 1) + 1, sizeof(**out));
	*minpg = 0x1000;
	for (size_t i = 0; i < fk->ndevs; i++) {
		struct dev *d = fk->devs[i];

		if (d->grp && d->grp->container == ct) {
			if (fk->cfg.compat_container && !d->open_count)
				continue; /* not attached yet */
			n += dev_resv(d, *out + n);
			if (d->pgsize > *minpg)
				*minpg = d->pgsize;
		}
	}
	return n;
}

static int ct_ngroups(struct fake_kernel *fk, const struct file *ct)
{
	int n = 0;

	for (size_t i = 0; i < fk->ngroups; i++)
		n += fk->groups[i]->container == ct;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Files and fds                                                            */

static struct file *file_new(struct fake_kernel *fk, enum file_kind kind, const char *label)
{
	struct file *f = xcalloc(1, sizeof(*f));

	f->refs = 1;
	f->kind = kind;
	snprintf(f->label, sizeof(f->label), "%.*s", (int)sizeof(f->label) - 1, label);
	f->next_id = 1;
	f->next_live = fk->live;
	fk->live = f;
	return f;
}

static void file_get(struct file *f)
{
	f->refs++;
}

static void file_put(struct fake_kernel *fk, struct file *f);
static void hwptx_free(struct hwptx *h);
static void faultq_free(struct faultq *q);

static struct obj *obj_find(struct file *ictx, uint32_t id)
{
	for (size_t i = 0; i < ictx->nobj; i++)
		if (ictx->objs[i].id == id)
			return &ictx->objs[i];
	return NULL;
}

static uint32_t obj_add(struct file *ictx, enum obj_type type, struct ioas *io)
{
	if (ictx->nobj == ictx->objcap) {
		ictx->objcap = ictx->objcap ? ictx->objcap * 2 : 8;
		ictx->objs = xrealloc(ictx->objs, ictx->objcap * sizeof(*ictx->objs));
	}
	ictx->objs[ictx->nobj++] = (struct obj){ ictx->next_id, type, io };
	return ictx->next_id++;
}

static void obj_del(struct file *ictx, uint32_t id)
{
	for (size_t i = 0; i < ictx->nobj; i++) {
		if (ictx->objs[i].id == id) {
			ictx->objs[i] = ictx->objs[--ictx->nobj];
			return;
		}
	}
}

static struct ioas *ioas_get(struct file *ictx, uint32_t id)
{
	struct obj *o = obj_find(ictx, id);

	return o && o->type == OBJ_IOAS ? o->ioas : NULL;
}

static void ioas_free(struct fake_kernel *fk, struct ioas *io)
{
	if (io->ndev)
		unpin(fk, ml_bytes(&io->maps));
	free(io->maps.v);
	free(io->allowed);
	free(io);
}

/* iommufd attach (cdev ATTACH_IOMMUFD_PT, or the group path's compat
 * attach): the IOAS narrows to what the device allows. */
static int attach(struct fake_kernel *fk, struct dev *d, struct file *ictx, struct ioas *io)
{
	struct fk_range r[FK_MAX_RESV + 1];
	size_t n;

	if (d->ioas == io)
		return 0;
	for (size_t i = 0; i < fk->ndevs; i++) {
		struct dev *o = fk->devs[i];

		if (o != d && d->group >= 0 && o->group == d->group && o->ioas && o->ioas != io)
			return -EINVAL; /* one IOMMU group, one domain */
	}
	n = dev_resv(d, r);
	for (size_t i = 0; i < io->nallowed; i++)
		if (resv_hits(r, n, io->allowed[i].start, io->allowed[i].last))
			return -EADDRINUSE;
	for (size_t i = 0; i < io->maps.n; i++) {
		const struct fk_map *m = &io->maps.v[i];

		if (resv_hits(r, n, m->iova, m->iova + m->len - 1) || ((m->iova | m->len) & (d->pgsize - 1)))
			return -EADDRINUSE;
	}
	if (io->ndev == 0 && pin(fk, ml_bytes(&io->maps)) < 0)
		return -ENOMEM;
	if (d->ioas) {
		struct ioas *old = d->ioas;

		d->ioas = NULL;
		if (--old->ndev == 0) {
			unpin(fk, ml_bytes(&old->maps));
			obj_del(ictx, old->hwpt);
			old->hwpt = 0;
		}
	}
	if (io->ndev++ == 0)
		io->hwpt = obj_add(ictx, OBJ_HWPT, io);
	d->ioas = io;
	return 0;
}

static void dev_drop_explicit(struct dev *d, bool pasids_too);

static void detach(struct fake_kernel *fk, struct dev *d)
{
	struct ioas *io = d->ioas;

	dev_drop_explicit(d, false);
	if (!io)
		return;
	d->ioas = NULL;
	if (--io->ndev == 0) {
		unpin(fk, ml_bytes(&io->maps));
		obj_del(d->ictx, io->hwpt);
		io->hwpt = 0;
	}
}

static void dev_quiesce(struct dev *d)
{
	for (int i = 0; i < NIRQS; i++) {
		for (unsigned int v = 0; v < d->irq[i].count; v++)
			d->irq[i].fds[v] = -1;
		d->irq[i].masked = false;
	}
	d->irq_type = -1;
	d->reg[VFIO_PCI_CONFIG_REGION_INDEX].mem[4] &= (uint8_t)~0x04; /* bus master off */
}

/* The device's last open is gone: unbind from the iommufd. */
static void dev_last_close(struct fake_kernel *fk, struct dev *d)
{
	if (d->ictx) {
		dev_drop_explicit(d, true);
		detach(fk, d);
		obj_del(d->ictx, d->devid);
		d->devid = 0;
		file_put(fk, d->ictx);
		d->ictx = NULL;
	}
	dev_quiesce(d);
}

static void ct_drop_iommu(struct fake_kernel *fk, struct file *ct)
{
	unpin(fk, ml_bytes(&ct->dmas));
	ct->dmas.n = 0;
	ct->iommu = 0;
}

static void file_release(struct fake_kernel *fk, struct file *f)
{
	switch (f->kind) {
	case F_SYSFS:
	case F_NULL:
		break;
	case F_IOMMUFD:
		for (size_t i = 0; i < f->nobj; i++)
			if (f->objs[i].x)
				hwptx_free(f->objs[i].x);
		for (size_t i = 0; i < f->nobj; i++)
			if (f->objs[i].type == OBJ_FAULT)
				faultq_free(f->objs[i].q);
		for (size_t i = 0; i < f->nobj; i++)
			if (f->objs[i].type == OBJ_IOAS)
				ioas_free(fk, f->objs[i].ioas);
		free(f->objs);
		break;
	case F_FAULT:
		if (f->fq)
			f->fq->file = NULL;
		break;
	case F_EXT:
		f->ext_ops->release(fk, f->ext);
		break;
	case F_CONTAINER:
		if (f->iommu)
			ct_drop_iommu(fk, f);
		break;
	case F_GROUP: {
		struct group *g = f->grp;

		g->file = NULL;
		if (g->container) {
			struct file *ct = g->container;

			g->container = NULL;
			if (ct->iommu && ct_ngroups(fk, ct) == 0 && !fk->cfg.compat_container)
				ct_drop_iommu(fk, ct);
			file_put(fk, ct);
		}
		if (g->iommufd) {
			struct file *i = g->iommufd;

			g->iommufd = NULL;
			file_put(fk, i);
		}
		break;
	}
	case F_DEVICE:
		if (--f->dev->open_count == 0)
			dev_last_close(fk, f->dev);
		f->grp->dev_fds--;
		file_put(fk, f->grp_file);
		break;
	case F_CDEV:
		if (f->bound) {
			f->dev->open_count--;
			if (f->dev->grp)
				f->dev->grp->cdev_bound--;
			dev_last_close(fk, f->dev);
		}
		break;
	}
}

static void file_put(struct fake_kernel *fk, struct file *f)
{
	struct file **pp;

	if (--f->refs)
		return;
	file_release(fk, f);
	for (pp = &fk->live; *pp != f; pp = &(*pp)->next_live)
		;
	*pp = f->next_live;
	free(f->data);
	free(f->dmas.v);
	free(f);
}

static int fd_install(struct fake_kernel *fk, struct file *f)
{
	size_t i;

	for (i = 0; i < fk->nfds && fk->fds[i]; i++)
		;
	if (i == fk->nfds) {
		fk->fds = xrealloc(fk->fds, (fk->nfds + 16) * sizeof(*fk->fds));
		memset(fk->fds + fk->nfds, 0, 16 * sizeof(*fk->fds));
		fk->nfds += 16;
	}
	fk->fds[i] = f;
	return FK_FD_BASE + (int)i;
}

static struct file *fd_get(struct fake_kernel *fk, int fd)
{
	if (fd < FK_FD_BASE || (size_t)(fd - FK_FD_BASE) >= fk->nfds)
		return NULL;
	return fk->fds[fd - FK_FD_BASE];
}

/* ------------------------------------------------------------------------ */
/* The filesystem                                                           */

static struct node *node_add(struct fake_kernel *fk, enum node_type t, const char *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static struct node *node_add(struct fake_kernel *fk, enum node_type t, const char *data, const char *fmt, ...)
{
	char path[PATH_MAX];
	struct node *n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (fk->nnodes == fk->nodecap) {
		fk->nodecap = fk->nodecap ? fk->nodecap * 2 : 64;
		fk->nodes = xrealloc(fk->nodes, fk->nodecap * sizeof(*fk->nodes));
	}
	n = &fk->nodes[fk->nnodes++];
	memset(n, 0, sizeof(*n));
	n->path = xstrdup(path);
	n->type = t;
	n->data = data ? xstrdup(data) : NULL;
	return n;
}

static void chr_add(struct fake_kernel *fk, const char *path, enum chr_kind k, int arg, dev_t rdev)
{
	struct node *n = node_add(fk, N_CHR, NULL, "%s", path);

	n->chr = k;
	n->arg = arg;
	n->rdev = rdev;
}

static bool has_iommufd(const struct fake_kernel *fk)
{
	return fk->cfg.flavour == FK_LINUX_7_3 || fk->cfg.flavour == FK_LINUX_NOCDEV ||
	       fk->cfg.flavour == FK_LINUX_IOMMUFD_ONLY;
}

static bool has_vfio(const struct fake_kernel *fk)
{
	return fk->cfg.flavour == FK_LINUX_7_3 || fk->cfg.flavour == FK_LINUX_NOCDEV ||
	       fk->cfg.flavour == FK_LINUX_6_12;
}

static bool has_cdev(const struct fake_kernel *fk)
{
	return fk->cfg.flavour == FK_LINUX_7_3;
}

static bool driver_vfio(const char *drv)
{
	return strstr(drv, "vfio") != NULL;
}

/* Drivers that do not claim kernel DMA ownership of the group. */
static bool driver_dma_safe(const char *drv)
{
	return !drv[0] || driver_vfio(drv) || !strcmp(drv, "pci-stub") || !strcmp(drv, "pcieport");
}

static bool group_viable(struct fake_kernel *fk, int num)
{
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->group == num && !driver_dma_safe(fk->devs[i]->driver))
			return false;
	return true;
}

static bool group_has_vfio(struct fake_kernel *fk, int num)
{
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->group == num && driver_vfio(fk->devs[i]->driver))
			return true;
	return false;
}

static struct node *node_find(struct fake_kernel *fk, const char *path);

static void fs_clear(struct fake_kernel *fk)
{
	for (size_t i = 0; i < fk->nnodes; i++) {
		free(fk->nodes[i].path);
		free(fk->nodes[i].data);
	}
	fk->nnodes = 0;
}

static void fs_add_extra(struct fake_kernel *fk)
{
	for (size_t i = 0; i < fk->nextra; i++)
		node_add(fk, fk->extra[i].type, fk->extra[i].data, "%s", fk->extra[i].path);
}

static void fs_rebuild(struct fake_kernel *fk)
{
	char buf[512];

	fs_clear(fk);
	chr_add(fk, "/dev/null", C_NULL, 0, makedev(1, 3));
	snprintf(buf, sizeof(buf), "Character devices:\n  1 mem\n  4 /dev/vc/0\n  5 /dev/tty\n 10 misc\n%s%s"
		 "\nBlock devices:\n  8 sd\n259 blkext\n",
		 has_cdev(fk) ? "241 vfio-dev\n" : "", has_vfio(fk) ? "242 vfio\n" : "");
	node_add(fk, N_FILE, buf, "/proc/devices");
	node_add(fk, N_DIR, NULL, "/sys/bus/pci/devices");
	node_add(fk, N_DIR, NULL, "/sys/bus/mdev/devices");
	node_add(fk, N_DIR, NULL, "/sys/kernel/iommu_groups");
	node_add(fk, N_DIR, NULL, "/dev/shm");
	if (has_iommufd(fk))
		chr_add(fk, "/dev/iommu", C_IOMMUFD, 0, makedev(MAJ_MISC, MIN_IOMMU));
	if (has_vfio(fk)) {
		chr_add(fk, "/dev/vfio/vfio", C_CONTAINER, 0, makedev(MAJ_MISC, MIN_VFIO));
		fk_nio_fs(fk);
	}
	if (has_cdev(fk)) {
		node_add(fk, N_DIR, NULL, "/sys/class/vfio-dev");
		node_add(fk, N_DIR, NULL, "/dev/vfio/devices");
	}
	for (size_t i = 0; i < fk->ndevs; i++) {
		struct dev *d = fk->devs[i];
		char sys[160];

		if (d->mdev) {
			snprintf(sys, sizeof(sys), "/sys/devices/virtual/mdev/%s", d->name);
			snprintf(buf, sizeof(buf), "../../../devices/virtual/mdev/%s", d->name);
			node_add(fk, N_LINK, buf, "/sys/bus/mdev/devices/%s", d->name);
		} else {
			snprintf(sys, sizeof(sys), "/sys/devices/pci0000:00/%s", d->name);
			snprintf(buf, sizeof(buf), "../../../devices/pci0000:00/%s", d->name);
			node_add(fk, N_LINK, buf, "/sys/bus/pci/devices/%s", d->name);
		}
		node_add(fk, N_FILE, "0x1234", "%s/vendor", sys);
		node_add(fk, N_FILE, "0x11e8", "%s/device", sys);
		if (d->driver[0]) {
			snprintf(buf, sizeof(buf), "%s../../../bus/%s/drivers/%s", d->mdev ? "../" : "",
				 d->mdev ? "mdev" : "pci", d->driver);
			node_add(fk, N_LINK, buf, "%s/driver", sys);
			node_add(fk, N_FILE, "", "/sys/bus/%s/drivers/%s/bind", d->mdev ? "mdev" : "pci", d->driver);
		}
		if (d->group >= 0) {
			snprintf(buf, sizeof(buf), "%s../../../kernel/iommu_groups/%d", d->mdev ? "../" : "", d->group);
			node_add(fk, N_LINK, buf, "%s/iommu_group", sys);
			snprintf(buf, sizeof(buf), "../../../..%s", sys + 4);
			node_add(fk, N_LINK, buf, "/sys/kernel/iommu_groups/%d/devices/%s", d->group, d->name);
			snprintf(buf, sizeof(buf), "/dev/vfio/%s%d", d->noiommu ? "noiommu-" : "", d->group);
			if (has_vfio(fk) && group_has_vfio(fk, d->group) && !node_find(fk, buf))
				chr_add(fk, buf, C_GROUP, d->group, makedev(MAJ_VFIO, (unsigned int)d->group));
		}
		if (has_cdev(fk) && d->cdev >= 0 && driver_vfio(d->driver) && (!d->noiommu || fk->cfg.noiommu_iommufd)) {
			const char *pf = d->noiommu ? "noiommu-" : "";
			char dv[32];

			snprintf(dv, sizeof(dv), "%d:%d", MAJ_VFIO_DEV, d->cdev);
			node_add(fk, N_FILE, dv, "%s/vfio-dev/%svfio%d/dev", sys, pf, d->cdev);
			snprintf(buf, sizeof(buf), "../../../%s", d->name);
			node_add(fk, N_LINK, buf, "%s/vfio-dev/%svfio%d/device", sys, pf, d->cdev);
			snprintf(buf, sizeof(buf), "../..%s/vfio-dev/%svfio%d", sys + 4, pf, d->cdev);
			node_add(fk, N_LINK, buf, "/sys/class/vfio-dev/%svfio%d", pf, d->cdev);
			snprintf(buf, sizeof(buf), "/dev/vfio/devices/%svfio%d", pf, d->cdev);
			chr_add(fk, buf, C_CDEV, (int)i, makedev(MAJ_VFIO_DEV, (unsigned int)d->cdev));
		}
	}
	fs_add_extra(fk);
}

static struct node *node_find(struct fake_kernel *fk, const char *path)
{
	for (size_t i = 0; i < fk->nnodes; i++)
		if (!strcmp(fk->nodes[i].path, path))
			return &fk->nodes[i];
	return NULL;
}

static bool is_dir(struct fake_kernel *fk, const char *path)
{
	size_t l = strlen(path);

	if (l == 0)
		return true; /* the root */
	for (size_t i = 0; i < fk->nnodes; i++) {
		const struct node *n = &fk->nodes[i];

		if ((n->type == N_DIR && !strcmp(n->path, path)) || (!strncmp(n->path, path, l) && n->path[l] == '/'))
			return true;
	}
	return false;
}

/*
 * Resolve @in to a canonical path (no symlinks, no "." or ".."), following
 * the last component if @follow.  Returns 0 and the node (NULL for a
 * directory), or -ENOENT / -ENOTDIR / -ELOOP.
 */
static int fs_resolve(struct fake_kernel *fk, const char *in, bool follow, char *out, struct node **np)
{
	char rest[PATH_MAX * 3], cur[PATH_MAX], comp[NAME_MAX + 1];
	int loops = 0;

	if (in[0] != '/' || strlen(in) >= PATH_MAX)
		return -ENOENT;
	snprintf(rest, sizeof(rest), "%s", in);
	cur[0] = '\0';
	*np = NULL;
	for (;;) {
		char *p = rest, *e;
		size_t cl;
		struct node *n;
		bool last;
		char cand[PATH_MAX + NAME_MAX + 2];

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		cl = e ? (size_t)(e - p) : strlen(p);
		if (cl > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, cl);
		comp[cl] = '\0';
		p += cl;
		while (*p == '/')
			p++;
		last = !*p;
		memmove(rest, p, strlen(p) + 1);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *s = strrchr(cur, '/');

			if (s)
				*s = '\0';
			continue;
		}
		snprintf(cand, sizeof(cand), "%s/%s", cur, comp);
		n = node_find(fk, cand);
		if (n && n->type == N_LINK && (!last || follow)) {
			char tmp[PATH_MAX * 3];

			if (++loops > MAX_SYMLINKS)
				return -ELOOP;
			if (strlen(n->data) + strlen(rest) + 2 > PATH_MAX * 2)
				return -ENAMETOOLONG;
			snprintf(tmp, sizeof(tmp), "%.*s/%.*s", PATH_MAX, n->data, PATH_MAX, rest);
			snprintf(rest, sizeof(rest), "%s", tmp);
			if (n->data[0] == '/')
				cur[0] = '\0';
			continue;
		}
		if (!n && !is_dir(fk, cand))
			return -ENOENT;
		if (n && !last && n->type != N_DIR)
			return -ENOTDIR;
		snprintf(cur, sizeof(cur), "%s", cand);
		*np = n && n->type != N_DIR ? n : NULL;
	}
	snprintf(out, PATH_MAX, "%s", cur[0] ? cur : "/");
	return 0;
}

static bool denied(struct fake_kernel *fk, const char *given, const char *canon)
{
	for (size_t i = 0; i < fk->ndeny; i++)
		if (!strcmp(fk->deny[i], given) || !strcmp(fk->deny[i], canon))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */

static struct dev *dev_by_name(struct fake_kernel *fk, const char *name)
{
	for (size_t i = 0; i < fk->ndevs; i++)
		if (!strcmp(fk->devs[i]->name, name))
			return fk->devs[i];
	return NULL;
}

static struct group *group_by_num(struct fake_kernel *fk, int num)
{
	for (size_t i = 0; i < fk->ngroups; i++)
		if (fk->groups[i]->num == num)
			return fk->groups[i];
	return NULL;
}

static void cfg_init(uint8_t *c)
{
	memset(c, 0, CFG_SIZE);
	c[0x00] = 0x34; c[0x01] = 0x12; /* vendor 0x1234 */
	c[0x02] = 0xe8; c[0x03] = 0x11; /* device 0x11e8 */
	c[0x04] = 0x02;                 /* command: memory space on */
	c[0x06] = 0x10;                 /* status: capability list */
	c[0x08] = 0x10;                 /* revision */
	c[0x0b] = 0x00; c[0x0a] = 0xff; /* class 00ff */
	c[0x2c] = 0xf4; c[0x2d] = 0x1a; /* subsystem vendor */
	c[0x3d] = 0x01;                 /* INTA# */
}

static void region_init(struct region *r, uint64_t size, uint32_t flags, bool mmappable)
{
	r->size = size;
	r->flags = size ? flags : 0;
	r->memfd = -1;
	if (!size)
		return;
	if (mmappable) {
		r->memfd = memfd_create("fake-bar", MFD_CLOEXEC);
		if (r->memfd < 0 || ftruncate(r->memfd, (off_t)size) < 0)
			abort();
		r->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
		if (r->mem == MAP_FAILED)
			abort();
	} else {
		r->mem = xcalloc(1, size);
	}
}

static void dev_free(struct dev *d)
{
	for (int i = 0; i < MAX_REGIONS; i++) {
		if (d->reg[i].memfd >= 0) {
			munmap(d->reg[i].mem, d->reg[i].size);
			close(d->reg[i].memfd);
		} else {
			free(d->reg[i].mem);
		}
	}
	for (int i = 0; i < NIRQS; i++)
		free(d->irq[i].fds);
	free(d->partial);
	free(d->resp);
	free(d);
}

/* ------------------------------------------------------------------------ */
/* iommufd ioctls                                                           */

/* The iommufd dispatcher's size rules: read min(size, ksize), the tail a
 * newer user passes must be zero (E2BIG). */
static int ucmd_check(const void *arg, uint32_t usize, size_t ksize, size_t minsz)
{
	if (usize < minsz)
		return -EINVAL;
	for (size_t i = ksize; i < usize; i++)
		if (((const uint8_t *)arg)[i])
			return -E2BIG;
	return 0;
}

#define UCMD(type, minsz)                                                        \
	type c = { 0 };                                                          \
	uint32_t usize = *(const uint32_t *)arg;                                 \
	int r_ = ucmd_check(arg, usize, sizeof(c), minsz);                       \
	if (r_)                                                                  \
		return r_;                                                       \
	memcpy(&c, arg, usize < sizeof(c) ? usize : sizeof(c))

#define RESPOND() memcpy(arg, &c, usize < sizeof(c) ? usize : sizeof(c))

static int ioas_alloc_iova(struct fake_kernel *fk, struct ioas *io, uint64_t len, uint64_t align, uint64_t *out)
{
	struct fk_range *resv, *h;
	size_t nr = ioas_resv(fk, io, &resv), nh;

	h = xcalloc(nr + 1, sizeof(*h)); /* n reserved intervals leave at most n + 1 holes */
	nh = holes(resv, nr, h, nr + 1);
	free(resv);
	if (align < (uint64_t)fk->page_size)
		align = (uint64_t)fk->page_size;
	for (size_t i = 0; i < nh; i++) {
		uint64_t at = (h[i].start + align - 1) & ~(align - 1);

		while (at >= h[i].start && at <= h[i].last && h[i].last - at >= len - 1) {
			long o = ml_overlap(&io->maps, at, at + len - 1);

			if (o < 0) {
				*out = at;
				free(h);
				return 0;
			}
			at = io->maps.v[o].iova + io->maps.v[o].len;
			at = (at + align - 1) & ~(align - 1);
			if (!at)
				break;
		}
	}
	free(h);
	return -ENOSPC;
}

/*
 * IOMMU_IOAS_COPY: the source range must be covered without a hole; the
 * destination gets one mapping per source piece (a piece may be part of a
 * source mapping), sharing its pages: nothing is pinned again.
 */
static int ioas_copy(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_ioas_copy, 40);
	const uint32_t known = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_WRITEABLE |
			       IFD_K_IOMMU_IOAS_MAP_READABLE;
	struct ioas *src, *dst;
	struct fk_range *resv;
	uint64_t at, last, dlast, align;
	size_t nr, first;
	long i;
	bool bad;
	int r;

	if (c.flags & ~known)
		return -EOPNOTSUPP;
	if (!c.length || c.src_iova + (c.length - 1) < c.src_iova)
		return -EOVERFLOW;
	if (!(c.flags & (IFD_K_IOMMU_IOAS_MAP_WRITEABLE | IFD_K_IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	src = ioas_get(f, c.src_ioas_id);
	if (!src)
		return -ENOENT;
	last = c.src_iova + c.length - 1;
	i = ml_overlap(&src->maps, c.src_iova, c.src_iova);
	if (i < 0)
		return -ENOENT;
	first = (size_t)i;
	for (at = c.src_iova; (size_t)i < src->maps.n; i++) {
		const struct fk_map *m = &src->maps.v[i];

		if (m->iova > at)
			return -ENOENT; /* a hole */
		if ((c.flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE) && !(m->prot & 2))
			return -EPERM;
		if (m->iova + (m->len - 1) >= last)
			break;
		at = m->iova + m->len;
	}
	if ((size_t)i == src->maps.n)
		return -ENOENT;
	dst = ioas_get(f, c.dst_ioas_id);
	if (!dst)
		return -ENOENT;
	align = ioas_align(fk, dst);
	if (c.length & (align - 1))
		return -EINVAL;
	if (!(c.flags & IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA)) {
		r = ioas_alloc_iova(fk, dst, c.length, align, &c.dst_iova);
		if (r)
			return r;
	}
	if ((c.dst_iova & (align - 1)) || c.dst_iova + (c.length - 1) < c.dst_iova)
		return -EINVAL;
	dlast = c.dst_iova + c.length - 1;
	nr = ioas_resv(fk, dst, &resv);
	bad = resv_hits(resv, nr, c.dst_iova, dlast);
	free(resv);
	if (bad)
		return -EINVAL;
	if (ml_overlap(&dst->maps, c.dst_iova, dlast) >= 0)
		return -EEXIST;
	for (size_t k = first; k <= (size_t)i; k++) {
		struct fk_map m = src->maps.v[k];
		uint64_t s0 = m.iova > c.src_iova ? m.iova : c.src_iova;
		uint64_t s1 = m.iova + (m.len - 1) < last ? m.iova + (m.len - 1) : last;
		struct fk_map d = { c.dst_iova + (s0 - c.src_iova), s1 - s0 + 1, m.va + (s0 - m.iova),
				    (c.flags & IFD_K_IOMMU_IOAS_MAP_READABLE ? 1u : 0u) |
					    (c.flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE ? 2u : 0u),
				    true };

		ml_insert(&dst->maps, &d);
	}
	RESPOND();
	return 0;
}

static uint64_t ct_pgsizes(struct fake_kernel *fk, struct file *ct);

/* ------------------------------------------------------------------------ */
/* Explicit HWPTs, PASIDs, page-fault queues, dirty tracking (issue 8)      */

static struct dev *dev_by_devid(struct fake_kernel *fk, struct file *ictx, uint32_t devid)
{
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->ictx == ictx && fk->devs[i]->devid == devid && devid)
			return fk->devs[i];
	return NULL;
}

static struct hwptx *hwptx_get(struct file *ictx, uint32_t id)
{
	struct obj *o = obj_find(ictx, id);

	return o && o->type == OBJ_HWPT ? o->x : NULL;
}

static void dev_respond(struct dev *d, const struct iopf_rec *r, uint32_t code, bool automatic)
{
	d->resp = xrealloc(d->resp, (d->nresp + 1) * sizeof(*d->resp));
	d->resp[d->nresp++] = (struct fk_iopf_resp){ r->grpid, r->pasid, code, automatic };
}

static void fq_remove(struct faultq *q, size_t i)
{
	free(q->g[i].recs);
	memmove(&q->g[i], &q->g[i + 1], (q->ng - i - 1) * sizeof(q->g[0]));
	q->ng--;
}

/* The kernel answers INVALID for every group of @d (its RID, or one
 * PASID) still in @h's queue when @d leaves @h: no device waits on a
 * domain it no longer uses. */
static void fq_auto_respond(struct hwptx *h, struct dev *d, bool pasid, uint32_t pasid_v)
{
	struct faultq *q = h ? h->q : NULL;

	if (!q)
		return;
	for (size_t i = 0; i < q->ng;) {
		struct iopf_group *g = &q->g[i];
		struct iopf_rec *last = &g->recs[g->n - 1];

		if (g->h == h && last->dev == d && last->pasid_valid == pasid && (!pasid || last->pasid == pasid_v)) {
			dev_respond(d, last, 1, true);
			fq_remove(q, i);
		} else {
			i++;
		}
	}
}

static void hwptx_put_user(struct hwptx *h)
{
	if (h)
		h->users--;
}

/* @d's RID (and, when it goes, its PASIDs) leave their explicit HWPTs. */
static void dev_drop_explicit(struct dev *d, bool pasids_too)
{
	if (d->xh) {
		fq_auto_respond(d->xh, d, false, 0);
		hwptx_put_user(d->xh);
		d->xh = NULL;
	}
	if (!pasids_too)
		return;
	for (unsigned int i = 0; i < d->npas; i++) {
		fq_auto_respond(d->pas[i].h, d, true, d->pas[i].pasid);
		hwptx_put_user(d->pas[i].h);
	}
	d->npas = 0;
	free(d->partial);
	d->partial = NULL;
	d->npartial = 0;
}

static void faultq_free(struct faultq *q)
{
	while (q->ng) {
		struct iopf_group *g = &q->g[q->ng - 1];

		dev_respond(g->recs[g->n - 1].dev, &g->recs[g->n - 1], 1, true);
		fq_remove(q, q->ng - 1);
	}
	free(q->g);
	if (q->file)
		q->file->fq = NULL;
	free(q);
}

static void hwptx_free(struct hwptx *h)
{
	if (h->q)
		h->q->hwpts--;
	free(h->dirty);
	free(h);
}

static int hw_info(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_hw_info, 32);
	struct {
		uint32_t flags, reserved;
		uint64_t cap_reg, ecap_reg;
	} vtd = { 0, 0, FK_VTD_CAP, FK_VTD_ECAP };
	struct dev *d;
	uint32_t have = 0;

	if (c.flags & ~1u)
		return -EOPNOTSUPP;
	if (c.reserved[0] | c.reserved[1] | c.reserved[2])
		return -EOPNOTSUPP;
	d = dev_by_devid(fk, f, c.dev_id);
	if (!d)
		return -ENOENT;
	if (d->hw_type != FK_HW_TYPE_NONE)
		have = sizeof(vtd);
	if (c.data_len && !c.data_uptr)
		return -EFAULT;
	if (c.data_len) {
		memset((void *)(uintptr_t)c.data_uptr, 0, c.data_len);
		memcpy((void *)(uintptr_t)c.data_uptr, &vtd, c.data_len < have ? c.data_len : have);
	}
	c.data_len = have;
	c.out_data_type = d->hw_type == FK_HW_TYPE_NONE ? 0 : d->hw_type;
	c.out_max_pasid_log2 = d->max_pasid_log2;
	c.out_capabilities = (d->no_dirty ? 0 : 1) | 0; /* IOMMU_HW_CAP_DIRTY_TRACKING */
	RESPOND();
	return 0;
}

static int hwpt_alloc(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_hwpt_alloc, 24);
	struct hwptx *h;
	struct dev *d;
	struct ioas *io;
	struct obj *fo = NULL;
	uint32_t known = IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT | IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
			 IFD_K_IOMMU_HWPT_FAULT_ID_VALID | IFD_K_IOMMU_HWPT_ALLOC_PASID;

	if ((c.flags & ~known) || c.reserved || c.reserved2)
		return -EOPNOTSUPP;
	d = dev_by_devid(fk, f, c.dev_id);
	if (!d)
		return -ENOENT;
	io = ioas_get(f, c.pt_id);
	if (!io)
		return hwptx_get(f, c.pt_id) ? -EOPNOTSUPP /* nested: not modelled */ : -ENOENT;
	/* Paging vendor data: only the mock IOMMU's selftest type, as the
	 * kernel's mock takes it (4 or 8 bytes); no real driver takes any. */
	if (c.data_type || c.data_len || c.data_uptr) {
		if (c.size < IFD_K_HWPT_ALLOC_SIZE_DATA || c.data_type != 0xdead)
			return -EOPNOTSUPP;
		if (c.data_len < 4 || c.data_len > 8 || !c.data_uptr)
			return -EINVAL;
	}
	if ((c.flags & IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT) && d->no_nest)
		return -EOPNOTSUPP;
	if ((c.flags & IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING) && d->no_dirty)
		return -EOPNOTSUPP;
	if ((c.flags & IFD_K_IOMMU_HWPT_ALLOC_PASID) && !d->max_pasid_log2)
		return -EOPNOTSUPP;
	if (c.flags & IFD_K_IOMMU_HWPT_FAULT_ID_VALID) {
		fo = obj_find(f, c.fault_id);
		if (!fo || fo->type != OBJ_FAULT)
			return -ENOENT;
		if (d->no_iopf)
			return -EOPNOTSUPP;
	}
	h = xcalloc(1, sizeof(*h));
	h->io = io;
	h->flags = c.flags;
	if (c.data_type) {
		memcpy(h->vendor, (const void *)(uintptr_t)c.data_uptr, c.data_len);
		h->vendor_len = c.data_len;
	}
	if (fo) {
		h->q = fo->q;
		h->q->hwpts++;
	}
	h->id = obj_add(f, OBJ_HWPT, io);
	obj_find(f, h->id)->x = h;
	c.out_hwpt_id = h->id;
	RESPOND();
	return 0;
}

static int fault_alloc(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_fault_alloc, 16);
	struct faultq *q;
	struct file *ff;
	char label[48];

	if (c.flags)
		return -EOPNOTSUPP;
	q = xcalloc(1, sizeof(*q));
	q->id = obj_add(f, OBJ_FAULT, NULL);
	obj_find(f, q->id)->q = q;
	snprintf(label, sizeof(label), "fault/%u", q->id);
	ff = file_new(fk, F_FAULT, label);
	ff->fq = q;
	q->file = ff;
	c.out_fault_id = q->id;
	c.out_fault_fd = (uint32_t)fd_install(fk, ff);
	RESPOND();
	return 0;
}

static bool dirty_has(const struct hwptx *h, uint64_t pg, size_t *at)
{
	size_t lo = 0, hi = h->ndirty;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h->dirty[mid] < pg)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < h->ndirty && h->dirty[lo] == pg;
}

static int set_dirty_tracking(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_hwpt_set_dirty_tracking, 16);
	struct hwptx *h;

	(void)fk;
	if (c.flags & ~1u)
		return -EOPNOTSUPP;
	if (c.reserved)
		return -EOPNOTSUPP;
	h = hwptx_get(f, c.hwpt_id);
	if (!h)
		return obj_find(f, c.hwpt_id) ? -EINVAL : -ENOENT;
	if (!(h->flags & IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
		return -EOPNOTSUPP; /* the domain has no dirty ops */
	if (c.flags & 1u)
		h->ndirty = 0; /* enabling starts from a clean snapshot */
	h->dirty_on = c.flags & 1u;
	return 0;
}

static int get_dirty_bitmap(struct fake_kernel *fk, struct file *f, void *arg)
{
	UCMD(struct ifd_k_hwpt_get_dirty_bitmap, 48);
	uint64_t *bm, last;
	struct hwptx *h;

	if ((c.flags & ~1u) || c.reserved)
		return -EOPNOTSUPP;
	h = hwptx_get(f, c.hwpt_id);
	if (!h)
		return obj_find(f, c.hwpt_id) ? -EINVAL : -ENOENT;
	if (!(h->flags & IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
		return -EOPNOTSUPP;
	if (!c.length)
		return -EINVAL;
	if (c.iova + (c.length - 1) < c.iova)
		return -EOVERFLOW;
	last = c.iova + c.length - 1;
	if ((c.iova & (uint64_t)(fk->page_size - 1)) || ((last + 1) & (uint64_t)(fk->page_size - 1)))
		return -EINVAL;
	if (!c.page_size || (c.page_size & (c.page_size - 1)))
		return -EINVAL;
	if ((c.iova & (c.page_size - 1)) || ((last + 1) & (c.page_size - 1)))
		return -EINVAL;
	if (!c.data)
		return -EFAULT;
	bm = (uint64_t *)(uintptr_t)c.data;
	for (size_t i = 0; i < h->ndirty;) {
		uint64_t pg = h->dirty[i], pl = pg + (uint64_t)fk->page_size - 1;

		if (pl < c.iova || pg > last) {
			i++;
			continue;
		}
		/* the bits of every @page_size unit this dirty page touches */
		for (uint64_t a = (pg > c.iova ? pg : c.iova) & ~(c.page_size - 1); a <= pl && a <= last;
		     a += c.page_size) {
			uint64_t bit = (a - c.iova) / c.page_size;

			bm[bit / 64] |= 1ULL << (bit % 64);
			if (a + c.page_size < a)
				break;
		}
		if (!(c.flags & 1u)) {
			memmove(&h->dirty[i], &h->dirty[i + 1], (h->ndirty - i - 1) * sizeof(h->dirty[0]));
			h->ndirty--;
		} else {
			i++;
		}
	}
	return 0;
}

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH with explicit HWPTs and PASIDs. */
static int cdev_attach_x(struct fake_kernel *fk, struct dev *d, uint32_t flags, uint32_t pt_id, uint32_t pasid,
			 uint32_t *out_pt)
{
	struct obj *o = obj_find(d->ictx, pt_id);
	struct hwptx *h;
	int r;

	if (!o || o->type == OBJ_DEVICE || o->type == OBJ_FAULT)
		return -ENOENT;
	h = o->x;
	if (flags) { /* a PASID */
		unsigned int i;

		if (!d->max_pasid_log2 || pasid >= (1u << d->max_pasid_log2))
			return -EINVAL;
		if (!h)
			return -EOPNOTSUPP; /* this fake: PASIDs only on explicit HWPTs */
		if (!(h->flags & IFD_K_IOMMU_HWPT_ALLOC_PASID))
			return -EINVAL;
		for (i = 0; i < d->npas && d->pas[i].pasid != pasid; i++)
			;
		if (i == d->npas) {
			if (d->npas == 8)
				return -ENOSPC;
			d->npas++;
			d->pas[i].pasid = pasid;
		} else if (d->pas[i].h != h) {
			fq_auto_respond(d->pas[i].h, d, true, pasid);
			hwptx_put_user(d->pas[i].h);
		} else {
			*out_pt = pt_id;
			return 0;
		}
		d->pas[i].h = h;
		h->users++;
		*out_pt = pt_id;
		return 0;
	}
	if (h) {
		if ((h->flags & IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING) && d->no_dirty)
			return -EINVAL;
		if (h->q && d->no_iopf)
			return -EOPNOTSUPP;
		if (d->xh == h)
			goto done;
	} else if (o->type == OBJ_HWPT) {
		return -EINVAL; /* an auto domain is not attachable by ID here */
	}
	r = attach(fk, d, d->ictx, o->ioas);
	if (r)
		return r;
	if (d->xh) {
		fq_auto_respond(d->xh, d, false, 0);
		hwptx_put_user(d->xh);
	}
	d->xh = h;
	if (h)
		h->users++;
done:
	*out_pt = h ? pt_id : o->ioas->hwpt;
	return 0;
}

static int cdev_detach_pasid(struct dev *d, uint32_t pasid)
{
	for (unsigned int i = 0; i < d->npas; i++) {
		if (d->pas[i].pasid != pasid)
			continue;
		fq_auto_respond(d->pas[i].h, d, true, pasid);
		hwptx_put_user(d->pas[i].h);
		d->pas[i] = d->pas[--d->npas];
		return 0;
	}
	return 0; /* detaching an unattached PASID is a no-op in the kernel */
}

static ssize_t fault_read(struct faultq *q, void *buf, size_t len)
{
	size_t rs = sizeof(struct ifd_k_hwpt_pgfault), done = 0;

	if (len % rs)
		return -ESPIPE;
	for (size_t i = 0; i < q->ng; i++) {
		struct iopf_group *g = &q->g[i];
		uint32_t cookie = 1;

		if (g->cookie)
			continue; /* read already */
		if (g->n * rs > len - done)
			return done ? (ssize_t)done : -EINVAL;
		/* the lowest cookie not in use, as xa_alloc gives */
		for (bool clash = true; clash;) {
			clash = false;
			for (size_t j = 0; j < q->ng; j++)
				if (q->g[j].cookie == cookie) {
					cookie++;
					clash = true;
				}
		}
		g->cookie = cookie;
		for (size_t k = 0; k < g->n; k++) {
			struct ifd_k_hwpt_pgfault r = { 0 };
			const struct iopf_rec *e = &g->recs[k];

			r.flags = (e->pasid_valid ? 1u : 0) | (e->last ? 2u : 0);
			r.dev_id = e->dev->devid;
			r.pasid = e->pasid;
			r.grpid = e->grpid;
			r.perm = e->perm;
			r.addr = e->addr;
			r.cookie = cookie;
			memcpy((uint8_t *)buf + done, &r, rs);
			done += rs;
		}
	}
	return (ssize_t)done;
}

static ssize_t fault_write(struct faultq *q, const void *buf, size_t len)
{
	size_t rs = sizeof(struct ifd_k_hwpt_page_response), done = 0;

	if (len % rs)
		return -ESPIPE;
	while (done < len) {
		struct ifd_k_hwpt_page_response r;
		size_t i;

		memcpy(&r, (const uint8_t *)buf + done, rs);
		if (r.code > 1)
			return done ? (ssize_t)done : -EINVAL;
		for (i = 0; i < q->ng && (!q->g[i].cookie || q->g[i].cookie != r.cookie); i++)
			;
		if (i == q->ng)
			return done ? (ssize_t)done : -EINVAL;
		dev_respond(q->g[i].recs[q->g[i].n - 1].dev, &q->g[i].recs[q->g[i].n - 1], r.code, false);
		fq_remove(q, i);
		done += rs;
	}
	return (ssize_t)done;
}

/* VFIO_IOMMU_DIRTY_PAGES on a type1 container: without a device that
 * scopes its pins, every mapped page counts as dirty. */
static int ct_dirty_pages(struct fake_kernel *fk, struct file *ct, void *arg)
{
	struct vfio_iommu_type1_dirty_bitmap db;
	struct vfio_iommu_type1_dirty_bitmap_get g;
	uint64_t pg = ct_pgsizes(fk, ct), last, bits;
	uint32_t which;

	if (fk->cfg.no_type1_dirty)
		return -ENOTTY;
	memcpy(&db, arg, sizeof(db));
	if (db.argsz < sizeof(db))
		return -EINVAL;
	which = db.flags & (VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
			    VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP);
	if (db.flags != which || !which || (which & (which - 1)))
		return -EINVAL;
	if (which == VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
		ct->dirty_on = true;
		return 0;
	}
	if (which == VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
		ct->dirty_on = false;
		return 0;
	}
	if (db.argsz < sizeof(db) + sizeof(g))
		return -EINVAL;
	memcpy(&g, (uint8_t *)arg + sizeof(db), sizeof(g));
	pg &= -pg;
	if (!ct->dirty_on)
		return -EINVAL;
	if (g.bitmap.pgsize != pg || !g.size || ((g.iova | g.size) & (pg - 1)))
		return -EINVAL;
	if (g.iova + (g.size - 1) < g.iova)
		return -EINVAL;
	last = g.iova + g.size - 1;
	bits = g.size / pg;
	if (!g.bitmap.data || g.bitmap.size < ((bits + 63) / 64) * 8)
		return -EINVAL;
	{
		long i = ml_overlap(&ct->dmas, g.iova, g.iova);

		if (i >= 0 && ct->dmas.v[i].iova != g.iova)
			return -EINVAL;
		i = ml_overlap(&ct->dmas, last, last);
		if (i >= 0 && ct->dmas.v[i].iova + ct->dmas.v[i].len - 1 != last)
			return -EINVAL;
	}
	memset(g.bitmap.data, 0, ((bits + 63) / 64) * 8);
	for (size_t i = 0; i < ct->dmas.n; i++) {
		const struct fk_map *m = &ct->dmas.v[i];

		for (uint64_t a = m->iova; a < m->iova + m->len; a += pg) {
			uint64_t bit;

			if (a < g.iova || a > last)
				continue;
			bit = (a - g.iova) / pg;
			g.bitmap.data[bit / 64] |= 1ULL << (bit % 64);
		}
	}
	return 0;
}

static int iommufd_ioctl(struct fake_kernel *fk, struct file *f, unsigned long req, void *arg);

int fk_iommufd_map_file_pages(struct fake_kernel *fk, void *file, void *ioas_map_arg)
{
	int r;

	fk->map_is_file = true;
	r = iommufd_ioctl(fk, file, IFD_K_IOMMU_IOAS_MAP, ioas_map_arg);
	fk->map_is_file = false;
	return r;
}

bool fk_iommufd_all_maps_file(struct fake_kernel *fk, void *file)
{
	struct file *f = file;

	(void)fk;
	for (size_t i = 0; i < f->nobj; i++) {
		struct ioas *io = f->objs[i].type == OBJ_IOAS ? f->objs[i].ioas : NULL;

		for (size_t j = 0; io && j < io->maps.n; j++)
			if (!io->maps.v[j].file)
				return false;
	}
	return true;
}

void fk_note_change_process(struct fake_kernel *fk)
{
	fk->change_process++;
}

unsigned int fake_kernel_change_process_calls(struct fake_kernel *fk)
{
	return fk->change_process;
}

/* For fake-noiommu.c: the mapping of IOAS @id that holds @iova (-ENOENT if
 * none) and how many devices the IOAS has. */
int fk_ioas_area(struct fake_kernel *fk, struct file *f, uint32_t id, uint64_t iova, struct fk_map *out,
		 unsigned int *ndev)
{
	struct ioas *io = ioas_get(f, id);

	(void)fk;
	if (!io)
		return -ENOENT;
	*ndev = io->ndev;
	for (size_t i = 0; i < io->maps.n; i++) {
		if (iova >= io->maps.v[i].iova && iova - io->maps.v[i].iova < io->maps.v[i].len) {
			*out = io->maps.v[i];
			return 0;
		}
	}
	return -ENOENT;
}

/* Do the groups in container @ct sit behind no IOMMU? */
bool fk_nio_container(struct fake_kernel *fk, struct file *ct)
{
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->noiommu && fk->devs[i]->grp && fk->devs[i]->grp->container == ct)
			return true;
	return false;
}

static int iommufd_ioctl(struct fake_kernel *fk, struct file *f, unsigned long req, void *arg)
{
	if ((req >> 8 & 0xff) == IFD_K_IOMMUFD_TYPE && (req & 0xff) >= IFD_K_IOMMUFD_CMD_BASE &&
	    fk->cfg.iommufd_max_cmd && (req & 0xff) > fk->cfg.iommufd_max_cmd)
		return -ENOTTY; /* an older kernel */
	if (!arg && (req >> 8 & 0xff) == IFD_K_IOMMUFD_TYPE && (req & 0xff) >= IFD_K_IOMMUFD_CMD_BASE)
		return -EFAULT;
	switch (req) {
	case IFD_K_IOMMU_IOAS_NOIOMMU_GET_PA:
		return fk_nio_get_pa(fk, f, arg);
	case IFD_K_IOMMU_HWPT_ALLOC:
		return hwpt_alloc(fk, f, arg);
	case IFD_K_IOMMU_GET_HW_INFO:
		return hw_info(fk, f, arg);
	case IFD_K_IOMMU_FAULT_QUEUE_ALLOC:
		return fault_alloc(fk, f, arg);
	case IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING:
		return set_dirty_tracking(fk, f, arg);
	case IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP:
		return get_dirty_bitmap(fk, f, arg);
	case IFD_K_IOMMU_IOAS_MAP_FILE:
	case IFD_K_IOMMU_IOAS_CHANGE_PROCESS:
		return fk_filemap_ioctl(fk, f, req, arg);
	case IFD_K_IOMMU_DESTROY: {
		UCMD(struct ifd_k_destroy, 8);
		struct obj *o = obj_find(f, c.id);

		if (!o)
			return -ENOENT;
		if (o->type == OBJ_DEVICE)
			return -EBUSY;
		if (o->type == OBJ_HWPT && o->x) {
			if (o->x->users)
				return -EBUSY;
			hwptx_free(o->x);
			obj_del(f, c.id);
			return 0;
		}
		if (o->type == OBJ_HWPT)
			return -EBUSY; /* auto domains live while devices use them */
		if (o->type == OBJ_FAULT) {
			if (o->q->hwpts || o->q->file)
				return -EBUSY; /* an HWPT or the open fd holds it */
			faultq_free(o->q);
			obj_del(f, c.id);
			return 0;
		}
		for (size_t i = 0; i < f->nobj; i++)
			if (f->objs[i].x && f->objs[i].x->io == o->ioas)
				return -EBUSY; /* an explicit HWPT holds the IOAS */
		if (o->ioas->ndev)
			return -EBUSY;
		if (f->compat == c.id)
			f->compat = 0;
		ioas_free(fk, o->ioas);
		obj_del(f, c.id);
		return 0;
	}
	case IFD_K_IOMMU_IOAS_ALLOC: {
		UCMD(struct ifd_k_ioas_alloc, 12);
		struct ioas *io;

		if (c.flags)
			return -EOPNOTSUPP;
		io = xcalloc(1, sizeof(*io));
		io->id = obj_add(f, OBJ_IOAS, io);
		c.out_ioas_id = io->id;
		RESPOND();
		return 0;
	}
	case IFD_K_IOMMU_IOAS_IOVA_RANGES: {
		UCMD(struct ifd_k_ioas_iova_ranges, 32);
		struct ifd_k_iova_range *out = (void *)(uintptr_t)c.allowed_iovas;
		struct fk_range *resv, *h;
		struct ioas *io;
		uint32_t max;
		size_t nh, nr;

		if (c.reserved)
			return -EOPNOTSUPP;
		io = ioas_get(f, c.ioas_id);
		if (!io)
			return -ENOENT;
		nr = ioas_resv(fk, io, &resv);
		h = xcalloc(nr + 1, sizeof(*h));
		nh = holes(resv, nr, h, nr + 1);
		free(resv);
		max = c.num_iovas;
		if (max && !out) {
			free(h);
			return -EFAULT;
		}
		for (size_t i = 0; i < nh && i < max; i++) {
			out[i].start = h[i].start;
			out[i].last = h[i].last;
		}
		free(h);
		c.num_iovas = (uint32_t)nh;
		c.out_iova_alignment = ioas_align(fk, io);
		if (fk->malform == FK_MALFORM_NUM_IOVAS_OVER && nh <= max) {
			c.num_iovas = max + 1000; /* a lie: only nh were written */
			RESPOND();
			return 0;
		}
		RESPOND();
		return nh > max ? -EMSGSIZE : 0;
	}
	case IFD_K_IOMMU_IOAS_MAP: {
		UCMD(struct ifd_k_ioas_map, 40);
		const uint32_t known = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_WRITEABLE |
				       IFD_K_IOMMU_IOAS_MAP_READABLE;
		struct fk_range *resv;
		struct fk_map m;
		struct ioas *io;
		uint64_t align, last;
		size_t nr;
		bool bad;
		int r;

		if ((c.flags & ~known) || c.reserved)
			return -EOPNOTSUPP;
		if (c.iova >= UINT64_MAX || c.length >= UINT64_MAX)
			return -EOVERFLOW;
		if (!(c.flags & (IFD_K_IOMMU_IOAS_MAP_WRITEABLE | IFD_K_IOMMU_IOAS_MAP_READABLE)))
			return -EINVAL;
		io = ioas_get(f, c.ioas_id);
		if (!io)
			return -ENOENT;
		if (!c.length)
			return -EINVAL;
		if (c.user_va + (c.length - 1) < c.user_va)
			return -EOVERFLOW;
		align = ioas_align(fk, io);
		if ((c.length & (align - 1)) || (c.user_va & ((uint64_t)fk->page_size - 1) & (align - 1)))
			return -EINVAL;
		if (!(c.flags & IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA)) {
			r = ioas_alloc_iova(fk, io, c.length, align, &c.iova);
			if (r)
				return r;
		}
		if (c.iova & (align - 1))
			return -EINVAL;
		if (c.iova + (c.length - 1) < c.iova)
			return -EOVERFLOW;
		last = c.iova + c.length - 1;
		nr = ioas_resv(fk, io, &resv);
		bad = resv_hits(resv, nr, c.iova, last);
		free(resv);
		if (bad)
			return -EINVAL;
		if (ml_overlap(&io->maps, c.iova, last) >= 0)
			return -EEXIST;
		if (io->ndev && pin(fk, c.length) < 0)
			return -ENOMEM;
		m = (struct fk_map){ c.iova, c.length, c.user_va,
				     (c.flags & IFD_K_IOMMU_IOAS_MAP_READABLE ? 1u : 0u) |
					     (c.flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE ? 2u : 0u) };
		m.file = fk->map_is_file;
		ml_insert(&io->maps, &m);
		RESPOND();
		return 0;
	}
	case IFD_K_IOMMU_IOAS_UNMAP: {
		UCMD(struct ifd_k_ioas_unmap, 24);
		struct ioas *io = ioas_get(f, c.ioas_id);
		uint64_t unmapped = 0, start, last;
		int r = 0;

		if (!io)
			return -ENOENT;
		if (c.iova == 0 && c.length == UINT64_MAX) {
			start = 0;
			last = UINT64_MAX;
		} else {
			if (c.iova >= UINT64_MAX || c.length >= UINT64_MAX)
				return -EOVERFLOW;
			if (!c.length)
				return -EINVAL;
			if (c.iova + (c.length - 1) < c.iova)
				return -EOVERFLOW;
			start = c.iova;
			last = c.iova + c.length - 1;
		}
		for (;;) {
			long i = ml_overlap(&io->maps, start, last);
			struct fk_map m;

			if (i < 0)
				break;
			m = io->maps.v[i];
			if (m.iova < start || m.iova + m.len - 1 > last) {
				r = -ENOENT;
				break;
			}
			ml_remove(&io->maps, (size_t)i);
			if (io->ndev && !m.copied)
				unpin(fk, m.len);
			unmapped += m.len;
		}
		if (!r && !unmapped && !(c.iova == 0 && c.length == UINT64_MAX))
			r = -ENOENT;
		if (r)
			return r;
		c.length = unmapped;
		RESPOND();
		return 0;
	}
	case IFD_K_IOMMU_IOAS_COPY:
		return ioas_copy(fk, f, arg);
	case IFD_K_IOMMU_IOAS_ALLOW_IOVAS: {
		UCMD(struct ifd_k_ioas_allow_iovas, 24);
		const struct ifd_k_iova_range *in = (const void *)(uintptr_t)c.allowed_iovas;
		struct fk_range *resv, *a;
		struct ioas *io;
		size_t nr;

		if (c.reserved)
			return -EOPNOTSUPP;
		io = ioas_get(f, c.ioas_id);
		if (!io)
			return -ENOENT;
		if (c.num_iovas && !in)
			return -EFAULT;
		a = xcalloc(c.num_iovas, sizeof(*a));
		for (uint32_t i = 0; i < c.num_iovas; i++) {
			/* the kernel's checks: ordered ends, no overlap among them */
			if (in[i].start > in[i].last) {
				free(a);
				return -EINVAL;
			}
			for (uint32_t j = 0; j < i; j++) {
				if (a[j].start <= in[i].last && in[i].start <= a[j].last) {
					free(a);
					return -EINVAL;
				}
			}
			a[i] = (struct fk_range){ in[i].start, in[i].last };
		}
		nr = ioas_resv(fk, io, &resv);
		for (uint32_t i = 0; i < c.num_iovas; i++) {
			if (resv_hits(resv, nr, a[i].start, a[i].last)) {
				free(resv);
				free(a);
				return -EADDRINUSE;
			}
		}
		free(resv);
		free(io->allowed);
		io->allowed = a;
		io->nallowed = c.num_iovas;
		return 0;
	}
	case IFD_K_IOMMU_OPTION: {
		UCMD(struct ifd_k_option, 24);

		if (c.reserved)
			return -EOPNOTSUPP;
		if (c.option_id == IFD_K_IOMMU_OPTION_RLIMIT_MODE) {
			if (c.object_id)
				return -EOPNOTSUPP;
			if (c.op == IFD_K_IOMMU_OPTION_OP_GET) {
				c.val64 = (uint64_t)f->account_mode;
			} else if (c.op == IFD_K_IOMMU_OPTION_OP_SET) {
				if (!fk->cfg.cap_sys_resource)
					return -EPERM;
				if (f->nobj)
					return -EBUSY;
				if (c.val64 > 1)
					return -EINVAL;
				f->account_mode = (int)c.val64;
			} else {
				return -EOPNOTSUPP;
			}
		} else if (c.option_id == IFD_K_IOMMU_OPTION_HUGE_PAGES) {
			struct ioas *io = ioas_get(f, c.object_id);

			if (!io)
				return -ENOENT;
			if (c.op == IFD_K_IOMMU_OPTION_OP_GET) {
				c.val64 = !io->no_huge;
			} else if (c.op == IFD_K_IOMMU_OPTION_OP_SET) {
				if (c.val64 > 1)
					return -EINVAL;
				/* refused once a domain holds pages */
				if (!c.val64 && !io->no_huge && io->ndev && io->maps.n)
					return -EINVAL;
				io->no_huge = !c.val64;
			} else {
				return -EOPNOTSUPP;
			}
		} else {
			return -EOPNOTSUPP;
		}
		RESPOND();
		return 0;
	}
	case IFD_K_IOMMU_VFIO_IOAS: {
		UCMD(struct ifd_k_vfio_ioas, 12);

		if (c.reserved)
			return -EOPNOTSUPP;
		switch (c.op) {
		case IFD_K_IOMMU_VFIO_IOAS_GET:
			if (!f->compat)
				return -ENODEV;
			c.ioas_id = f->compat;
			RESPOND();
			return 0;
		case IFD_K_IOMMU_VFIO_IOAS_SET:
			if (!ioas_get(f, c.ioas_id))
				return -ENOENT;
			f->compat = c.ioas_id;
			return 0;
		case IFD_K_IOMMU_VFIO_IOAS_CLEAR:
			f->compat = 0;
			return 0;
		default:
			return -EOPNOTSUPP;
		}
	}
	case VFIO_GET_API_VERSION:
		/* iommufd answers the legacy container ioctls too */
		return fk->cfg.no_compat_ioctls ? -ENOTTY : VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		if (fk->cfg.no_compat_ioctls)
			return -ENOTTY;
		return (uintptr_t)arg == VFIO_TYPE1_IOMMU || (uintptr_t)arg == VFIO_TYPE1v2_IOMMU ||
		       (uintptr_t)arg == VFIO_UNMAP_ALL;
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------------ */
/* VFIO container ioctls                                                    */

static uint64_t ct_pgsizes(struct fake_kernel *fk, struct file *ct)
{
	struct fk_range *resv;
	uint64_t minpg;

	ct_resv(fk, ct, &resv, &minpg);
	free(resv);
	return (PGSIZES & ~(minpg - 1)) | minpg;
}

static size_t cap_append(uint8_t **buf, size_t *sz, size_t capsz, uint16_t id, uint16_t ver)
{
	size_t at = *sz;
	struct vfio_info_cap_header *h;

	capsz = (capsz + 7) & ~(size_t)7;
	*buf = xrealloc(*buf, *sz + capsz);
	memset(*buf + at, 0, capsz);
	h = (void *)(*buf + at);
	h->id = id;
	h->version = ver;
	if (at) {
		/* link from the end of the chain */
		struct vfio_info_cap_header *t = (void *)*buf;

		while (t->next)
			t = (void *)(*buf + t->next);
		t->next = (uint32_t)at;
	}
	*sz += capsz;
	return at;
}

static int ct_get_info(struct fake_kernel *fk, struct file *ct, struct vfio_iommu_type1_info *u)
{
	struct vfio_iommu_type1_info info = { 0 };
	size_t minsz = offsetof(struct vfio_iommu_type1_info, cap_offset), capsz = 0, at, nh, nr;
	struct fk_range *resv, *h;
	uint8_t *caps = NULL;
	uint64_t minpg;
	size_t shift;

	memcpy(&info, u, minsz);
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = ct_pgsizes(fk, ct);

	/* migration, DMA avail, IOVA ranges: the kernel's order */
	if (!fk->cfg.no_type1_dirty) {
		at = cap_append(&caps, &capsz, sizeof(struct vfio_iommu_type1_info_cap_migration),
				VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1);
		((struct vfio_iommu_type1_info_cap_migration *)(caps + at))->pgsize_bitmap =
			info.iova_pgsizes & -info.iova_pgsizes;
		((struct vfio_iommu_type1_info_cap_migration *)(caps + at))->max_dirty_bitmap_size = 256ULL << 20;
	}
	at = cap_append(&caps, &capsz, sizeof(struct vfio_iommu_type1_info_dma_avail),
			VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1);
	((struct vfio_iommu_type1_info_dma_avail *)(caps + at))->avail =
		fk->cfg.dma_entry_limit - (uint32_t)ct->dmas.n;
	nr = ct_resv(fk, ct, &resv, &minpg);
	h = xcalloc(nr + 1, sizeof(*h));
	nh = holes(resv, nr, h, nr + 1);
	free(resv);
	at = cap_append(&caps, &capsz, sizeof(struct vfio_iommu_type1_info_cap_iova_range) +
			nh * sizeof(struct vfio_iova_range), VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
	{
		struct vfio_iommu_type1_info_cap_iova_range *c = (void *)(caps + at);

		c->nr_iovas = (uint32_t)nh;
		for (size_t i = 0; i < nh; i++) {
			c->iova_ranges[i].start = h[i].start;
			c->iova_ranges[i].end = h[i].last;
		}
	}
	free(h);
	info.flags |= VFIO_IOMMU_INFO_CAPS;
	/* a misaligned chain starts 4 bytes late */
	shift = fk->malform == FK_MALFORM_CAP_MISALIGNED ? 4 : 0;
	if (info.argsz < sizeof(info) + shift + capsz) {
		info.argsz = (uint32_t)(sizeof(info) + shift + capsz);
	} else {
		struct vfio_info_cap_header *t = (void *)caps;

		for (;;) {
			uint32_t next = t->next;

			if (!next)
				break;
			t->next += sizeof(info) + shift;
			t = (void *)(caps + next);
		}
		if (fk->malform == FK_MALFORM_NR_IOVAS_HUGE)
			((struct vfio_iommu_type1_info_cap_iova_range *)(caps + at))->nr_iovas = 0x10000000;
		if (fk->malform == FK_MALFORM_CAP_LOOP)
			((struct vfio_info_cap_header *)caps)->next = sizeof(info);
		memcpy((uint8_t *)u + sizeof(info) + shift, caps, capsz);
		info.cap_offset = (uint32_t)(sizeof(info) + shift);
		if (fk->malform == FK_MALFORM_CAP_PAST_ARGSZ) {
			/* the chain ends in a range cap whose header is the
			 * buffer's last 8 bytes: its body lies past argsz */
			uint32_t end = (info.argsz - 8) & ~7u;
			struct vfio_info_cap_header ch = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, .version = 1 };

			((struct vfio_info_cap_header *)((uint8_t *)u + sizeof(info)))->next = end;
			memcpy((uint8_t *)u + end, &ch, sizeof(ch));
		}
	}
	free(caps);
	memcpy(u, &info, minsz);
	return 0;
}

static int ct_map(struct fake_kernel *fk, struct file *ct, struct vfio_iommu_type1_dma_map *u)
{
	struct vfio_iommu_type1_dma_map m;
	size_t minsz = offsetof(struct vfio_iommu_type1_dma_map, size) + sizeof(m.size);
	struct fk_range *resv;
	uint64_t pg, minpg, last;
	struct fk_map fm;
	size_t nr;
	bool bad;

	memcpy(&m, u, minsz);
	if (m.argsz < minsz || (m.flags & ~(uint32_t)(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
						       VFIO_DMA_MAP_FLAG_VADDR)))
		return -EINVAL;
	if (!m.size)
		return -EINVAL;
	if (m.iova + (m.size - 1) < m.iova || m.vaddr + (m.size - 1) < m.vaddr)
		return -EOVERFLOW;
	if (!(m.flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) || (m.flags & VFIO_DMA_MAP_FLAG_VADDR))
		return -EINVAL;
	pg = ct_pgsizes(fk, ct);
	pg &= -pg;
	if ((m.size | m.iova | m.vaddr) & (pg - 1))
		return -EINVAL;
	last = m.iova + m.size - 1;
	if (ml_overlap(&ct->dmas, m.iova, last) >= 0)
		return -EEXIST;
	if (ct->dmas.n >= fk->cfg.dma_entry_limit)
		return -ENOSPC;
	nr = ct_resv(fk, ct, &resv, &minpg);
	bad = resv_hits(resv, nr, m.iova, last);
	free(resv);
	if (bad)
		return -EINVAL;
	if (pin(fk, m.size) < 0)
		return -ENOMEM;
	fm = (struct fk_map){ m.iova, m.size, m.vaddr,
			      (m.flags & VFIO_DMA_MAP_FLAG_READ ? 1u : 0u) | (m.flags & VFIO_DMA_MAP_FLAG_WRITE ? 2u : 0u) };
	ml_insert(&ct->dmas, &fm);
	return 0;
}

static int ct_unmap(struct fake_kernel *fk, struct file *ct, struct vfio_iommu_type1_dma_unmap *u)
{
	struct vfio_iommu_type1_dma_unmap m;
	size_t minsz = offsetof(struct vfio_iommu_type1_dma_unmap, size) + sizeof(m.size);
	bool all, v2 = ct->iommu == VFIO_TYPE1v2_IOMMU;
	uint64_t pg, last, unmapped = 0;
	long i;

	memcpy(&m, u, minsz);
	if (m.argsz < minsz || (m.flags & ~(uint32_t)VFIO_DMA_UNMAP_FLAG_ALL))
		return -EINVAL;
	all = m.flags & VFIO_DMA_UNMAP_FLAG_ALL;
	pg = ct_pgsizes(fk, ct);
	pg &= -pg;
	if (m.iova & (pg - 1))
		return -EINVAL;
	if (all) {
		if (m.iova || m.size)
			return -EINVAL;
		last = UINT64_MAX;
	} else {
		if (!m.size || (m.size & (pg - 1)))
			return -EINVAL;
		if (m.iova + (m.size - 1) < m.iova)
			return -EOVERFLOW;
		last = m.iova + m.size - 1;
	}
	if (v2 && !all) {
		i = ml_overlap(&ct->dmas, m.iova, m.iova);
		if (i >= 0 && ct->dmas.v[i].iova != m.iova)
			return -EINVAL;
		i = ml_overlap(&ct->dmas, last, last);
		if (i >= 0 && ct->dmas.v[i].iova + ct->dmas.v[i].len - 1 != last)
			return -EINVAL;
	}
	while ((i = ml_overlap(&ct->dmas, m.iova, last)) >= 0) {
		uint64_t len = ct->dmas.v[i].len;

		if (!v2 && m.iova > ct->dmas.v[i].iova)
			break; /* v1: an unmap inside a mapping does nothing */
		ml_remove(&ct->dmas, (size_t)i);
		unpin(fk, len);
		unmapped += len;
	}
	u->size = unmapped;
	return 0;
}

static int container_ioctl(struct fake_kernel *fk, struct file *ct, unsigned long req, void *arg)
{
	uintptr_t a = (uintptr_t)arg;

	/* iommufd's compat container answers iommufd's own ioctls too */
	if (fk->cfg.compat_container && req == IFD_K_IOMMU_DESTROY)
		return -ENOENT;
	switch (req) {
	case VFIO_GET_API_VERSION:
		return fk->cfg.api_version_bad ? 1 : VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		if (a == VFIO_TYPE1_IOMMU || a == VFIO_UNMAP_ALL || a == VFIO_UPDATE_VADDR)
			return 1;
		if (a == VFIO_TYPE1v2_IOMMU)
			return !fk->cfg.type1_v1_only;
		return 0;
	case VFIO_SET_IOMMU:
		if (ct_ngroups(fk, ct) && ct->iommu && fk->cfg.compat_container)
			return 0; /* the compat IOAS again */
		if (!ct_ngroups(fk, ct) || ct->iommu)
			return -EINVAL;
		if (fk_nio_container(fk, ct) || a == VFIO_NOIOMMU_IOMMU) {
			if (!fk_nio_container(fk, ct) || a != VFIO_NOIOMMU_IOMMU)
				return -ENODEV; /* each kind of group has only its own driver */
			ct->iommu = (int)a;
			return 0;
		}
		if (a != VFIO_TYPE1_IOMMU && (a != VFIO_TYPE1v2_IOMMU || fk->cfg.type1_v1_only))
			return -ENODEV;
		ct->iommu = (int)a;
		return 0;
	}
	if (!ct->iommu)
		return -EINVAL; /* no driver: the container refuses the rest */
	if (ct->iommu == VFIO_NOIOMMU_IOMMU)
		return -ENOTTY; /* it maps nothing */
	if (!arg)
		return -EFAULT;
	switch (req) {
	case VFIO_IOMMU_GET_INFO:
		return ct_get_info(fk, ct, arg);
	case VFIO_IOMMU_MAP_DMA:
		return ct_map(fk, ct, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return ct_unmap(fk, ct, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		return ct_dirty_pages(fk, ct, arg);
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------------ */
/* VFIO group ioctls                                                        */

static int group_get_device_fd(struct fake_kernel *fk, struct file *gf, const char *req)
{
	struct group *g = gf->grp;
	struct dev *d = NULL;
	struct file *df;
	char label[96], name[64];
	uint8_t uuid[16];
	bool has_uuid;
	int r = fk_vf_split_name(req, name, sizeof(name), uuid, &has_uuid);

	if (r)
		return r;
	for (size_t i = 0; i < fk->ndevs; i++)
		if (fk->devs[i]->grp == g && !strcmp(fk->devs[i]->name, name) && driver_vfio(fk->devs[i]->driver))
			d = fk->devs[i];
	if (!d)
		return -ENODEV;
	if (!g->container && !g->iommufd)
		return -EINVAL;
	if (g->container && !g->container->iommu)
		return -EINVAL;
	if (d->exclusive && d->open_count)
		return -EBUSY;
	r = fk_vf_match(fk, d->name, has_uuid ? uuid : NULL);
	if (r)
		return r;
	if (d->open_count == 0 && g->container && fk->cfg.compat_container) {
		/* the attach: the device's windows against what is mapped */
		struct fk_range rv[FK_MAX_RESV + 1];
		size_t n = dev_resv(d, rv);

		for (size_t k = 0; k < g->container->dmas.n; k++)
			if (resv_hits(rv, n, g->container->dmas.v[k].iova,
				      g->container->dmas.v[k].iova + g->container->dmas.v[k].len - 1))
				return -EADDRINUSE;
	}
	if (d->open_count == 0 && g->iommufd) {
		/* first open: bind to the iommufd and attach to its compat IOAS */
		struct ioas *io;

		if (!group_viable(fk, g->num))
			return -EBUSY;
		io = g->iommufd->compat ? ioas_get(g->iommufd, g->iommufd->compat) : NULL;
		if (!io)
			return -ENODEV;
		d->ictx = g->iommufd;
		r = attach(fk, d, g->iommufd, io);
		if (r) {
			d->ictx = NULL;
			return r;
		}
		file_get(g->iommufd);
		d->devid = obj_add(g->iommufd, OBJ_DEVICE, NULL);
	}
	d->open_count++;
	snprintf(label, sizeof(label), "device/%s", d->name);
	df = file_new(fk, F_DEVICE, label);
	df->dev = d;
	df->grp = g;
	df->grp_file = gf;
	file_get(gf);
	g->dev_fds++;
	return fd_install(fk, df);
}

static int group_ioctl(struct fake_kernel *fk, struct file *gf, unsigned long req, void *arg)
{
	struct group *g = gf->grp;

	switch (req) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *st = arg;

		if (!st)
			return -EFAULT;
		if (st->argsz < 8)
			return -EINVAL;
		st->flags = 0;
		if (g->container || g->iommufd)
			st->flags = VFIO_GROUP_FLAGS_CONTAINER_SET | VFIO_GROUP_FLAGS_VIABLE;
		else if (group_viable(fk, g->num))
			st->flags = VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER: {
		struct file *t;

		if (!arg)
			return -EFAULT;
		t = fd_get(fk, *(int *)arg);
		if (!t)
			return -EBADF;
		if (g->container || g->iommufd)
			return -EINVAL;
		if (t->kind == F_CONTAINER) {
			if (!group_viable(fk, g->num))
				return -EBUSY;
			if (t->iommu && !fk->cfg.compat_container) {
				/* the new group's windows must not hit live DMA */
				struct fk_range r[FK_MAX_RESV + 1];

				for (size_t i = 0; i < fk->ndevs; i++) {
					size_t n;

					if (fk->devs[i]->grp != g)
						continue;
					n = dev_resv(fk->devs[i], r);
					for (size_t k = 0; k < t->dmas.n; k++)
						if (resv_hits(r, n, t->dmas.v[k].iova,
							      t->dmas.v[k].iova + t->dmas.v[k].len - 1))
							return -EINVAL;
				}
			}
			file_get(t);
			g->container = t;
			return 0;
		}
		if (t->kind == F_IOMMUFD) {
			if (!t->compat) {
				struct ioas *io = xcalloc(1, sizeof(*io));

				io->id = obj_add(t, OBJ_IOAS, io);
				t->compat = io->id;
			}
			file_get(t);
			g->iommufd = t;
			return 0;
		}
		return -EBADFD;
	}
	case VFIO_GROUP_UNSET_CONTAINER:
		if (!g->container && !g->iommufd)
			return -EINVAL;
		if (g->dev_fds)
			return -EBUSY;
		if (g->container) {
			struct file *ct = g->container;

			g->container = NULL;
			if (ct->iommu && ct_ngroups(fk, ct) == 0 && !fk->cfg.compat_container)
				ct_drop_iommu(fk, ct);
			file_put(fk, ct);
		}
		if (g->iommufd) {
			struct file *i = g->iommufd;

			g->iommufd = NULL;
			file_put(fk, i);
		}
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		if (!arg)
			return -EFAULT;
		return group_get_device_fd(fk, gf, arg);
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------------ */
/* VFIO device ioctls                                                       */

static int irq_set(struct fake_kernel *fk, struct dev *d, struct vfio_irq_set *u)
{
	const size_t minsz = offsetof(struct vfio_irq_set, count) + sizeof(u->count);
	uint32_t dtype = u->flags & VFIO_IRQ_SET_DATA_TYPE_MASK, action = u->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	size_t dsz;
	struct irq *q;

	(void)fk;
	if (u->argsz < minsz || u->index >= NIRQS)
		return -EINVAL;
	if (u->flags & ~(uint32_t)(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK))
		return -EINVAL;
	switch (dtype) {
	case VFIO_IRQ_SET_DATA_NONE: dsz = 0; break;
	case VFIO_IRQ_SET_DATA_BOOL: dsz = 1; break;
	case VFIO_IRQ_SET_DATA_EVENTFD: dsz = 4; break;
	default: return -EINVAL;
	}
	if (action != VFIO_IRQ_SET_ACTION_MASK && action != VFIO_IRQ_SET_ACTION_UNMASK &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	q = &d->irq[u->index];
	if (!q->count || u->start >= q->count || u->count >= q->count - u->start + 1)
		return -EINVAL;
	if (dsz && u->argsz - minsz < (size_t)u->count * dsz)
		return -EINVAL;
	if (action == VFIO_IRQ_SET_ACTION_UNMASK || action == VFIO_IRQ_SET_ACTION_MASK) {
		if (u->index != VFIO_PCI_INTX_IRQ_INDEX)
			return -ENOTTY; /* MSI/MSI-X cannot be masked through VFIO */
		if (dtype != VFIO_IRQ_SET_DATA_NONE || u->count != 1)
			return -EINVAL;
		if (action == VFIO_IRQ_SET_ACTION_UNMASK) {
			q->unmasks++;
			q->masked = false;
		} else {
			q->masked = true;
		}
		return 0;
	}
	/* TRIGGER */
	if (dtype == VFIO_IRQ_SET_DATA_NONE && u->count == 0) {
		for (unsigned int v = 0; v < q->count; v++)
			q->fds[v] = -1;
		if (d->irq_type == (int)u->index)
			d->irq_type = -1;
		return 0;
	}
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD) {
		const int32_t *fds = (const int32_t *)u->data;

		if (u->index <= VFIO_PCI_MSIX_IRQ_INDEX && d->irq_type >= 0 && d->irq_type != (int)u->index)
			return -EINVAL; /* one of INTx, MSI, MSI-X at a time */
		for (unsigned int i = 0; i < u->count; i++)
			if (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0)
				return -EBADF;
		for (unsigned int i = 0; i < u->count; i++)
			q->fds[u->start + i] = fds[i];
		if (u->index <= VFIO_PCI_MSIX_IRQ_INDEX)
			d->irq_type = (int)u->index;
		return 0;
	}
	/* loopback trigger */
	for (unsigned int i = 0; i < u->count; i++) {
		int efd = q->fds[u->start + i];

		if (efd >= 0 && (dtype == VFIO_IRQ_SET_DATA_NONE || ((const uint8_t *)u->data)[i]))
			if (eventfd_write(efd, 1) < 0)
				return -errno;
	}
	return 0;
}

static bool fd_is_iommufd(struct fake_kernel *fk, int fd, int *err)
{
	struct file *t = fd_get(fk, fd);

	if (!t) {
		*err = -EBADF;
		return false;
	}
	if (t->kind != F_IOMMUFD) {
		*err = -EBADFD;
		return false;
	}
	return true;
}

static int cdev_bind(struct fake_kernel *fk, struct file *f, void *arg)
{
	struct ifd_k_vfio_device_bind_iommufd b = { 0 };
	uint32_t usize;
	struct dev *d = f->dev;
	int err;

	if (!arg)
		return -EFAULT;
	usize = *(uint32_t *)arg;
	if (usize < IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE)
		return -EINVAL;
	for (size_t i = sizeof(b); i < usize; i++)
		if (((uint8_t *)arg)[i])
			return -E2BIG;
	memcpy(&b, arg, usize < sizeof(b) ? usize : sizeof(b));
	if (b.iommufd < 0 || (b.flags & ~IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN))
		return -EINVAL;
	if (fk->cfg.cdev_no_token && b.flags)
		return -EINVAL;
	if ((b.flags & IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN) && usize < IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_TOKEN)
		return -EINVAL;
	if (d->grp && d->grp->file)
		return -EBUSY; /* vfio_device_block_group(): the group is open */
	if (f->bound)
		return -EINVAL;
	if (!fd_is_iommufd(fk, b.iommufd, &err))
		return err;
	if (d->open_count || d->ext_open)
		return -EINVAL; /* the cdev path opens a device once */
	if (d->group >= 0 && !group_viable(fk, d->group))
		return -EBUSY; /* iommu_device_claim_dma_owner() */
	err = fk->cfg.cdev_no_token ? 0 :
	      fk_vf_match(fk, d->name, (b.flags & IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN) ?
			  (const uint8_t *)(uintptr_t)b.token_uuid_ptr : NULL);
	if (err)
		return err;
	d->ictx = fd_get(fk, b.iommufd);
	file_get(d->ictx);
	d->devid = obj_add(d->ictx, OBJ_DEVICE, NULL);
	d->open_count++;
	if (d->grp)
		d->grp->cdev_bound++;
	f->bound = true;
	((struct ifd_k_vfio_device_bind_iommufd *)arg)->out_devid = d->devid;
	return 0;
}

static int cdev_attach(struct fake_kernel *fk, struct file *f, void *arg, bool do_detach)
{
	struct ifd_k_vfio_device_attach_iommufd_pt a = { 0 };
	struct dev *d = f->dev;
	uint32_t usize, minsz = do_detach ? IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_BASE
					   : IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE;
	struct obj *o;
	int r;

	if (!arg)
		return -EFAULT;
	usize = *(uint32_t *)arg;
	if (usize < minsz)
		return -EINVAL;
	if (do_detach) {
		struct ifd_k_vfio_device_detach_iommufd_pt dt = { 0 };

		memcpy(&dt, arg, usize < sizeof(dt) ? usize : sizeof(dt));
		if (dt.flags & ~IFD_K_VFIO_DEVICE_DETACH_PASID)
			return -EINVAL;
		if (dt.flags) {
			if (usize < IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_PASID)
				return -EINVAL;
			return cdev_detach_pasid(d, dt.pasid);
		}
		detach(fk, d);
		return 0;
	}
	for (size_t i = sizeof(a); i < usize; i++)
		if (((uint8_t *)arg)[i])
			return -E2BIG;
	memcpy(&a, arg, usize < sizeof(a) ? usize : sizeof(a));
	if (a.flags & ~IFD_K_VFIO_DEVICE_ATTACH_PASID)
		return -EINVAL;
	if (a.flags && usize < IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_PASID)
		return -EINVAL;
	(void)o;
	r = cdev_attach_x(fk, d, a.flags, a.pt_id, a.pasid, &a.pt_id);
	if (r)
		return r;
	((struct ifd_k_vfio_device_attach_iommufd_pt *)arg)->pt_id = a.pt_id;
	return 0;
}

/* The capability chain of a region, as the kernel builds it (offsets
 * relative to the chain's start), or a malformed one a test asked for. */
static size_t region_caps(const struct dev *d, unsigned int index, uint8_t **out)
{
	uint8_t *caps = NULL;
	size_t sz = 0, at;

	if (index == 0 && d->hole_len) {
		uint64_t size = d->reg[0].size, end = d->hole_off + d->hole_len;
		struct vfio_region_sparse_mmap_area a[2];
		struct vfio_region_info_cap_sparse_mmap *c;
		uint32_t n = 0;

		if (d->hole_off)
			a[n++] = (struct vfio_region_sparse_mmap_area){ 0, d->hole_off };
		if (end < size)
			a[n++] = (struct vfio_region_sparse_mmap_area){ end, size - end };
		at = cap_append(&caps, &sz, sizeof(*c) + n * sizeof(a[0]), VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1);
		c = (void *)(caps + at);
		c->nr_areas = d->bad_caps == FK_CAPS_AREAS_PAST_END ? 1000 : n;
		memcpy(c->areas, a, n * sizeof(a[0]));
	}
	if (index >= NREGIONS) {
		struct vfio_region_info_cap_type *c;

		at = cap_append(&caps, &sz, sizeof(*c), VFIO_REGION_INFO_CAP_TYPE, 1);
		c = (void *)(caps + at);
		c->type = FK_EXTRA_REGION_TYPE;
		c->subtype = index;
	}
	if (index == 0 && d->bad_caps == FK_CAPS_LOOP) {
		/* an unknown capability that links to itself */
		at = cap_append(&caps, &sz, 16, 0x7777, 1);
		((struct vfio_info_cap_header *)(caps + at))->next = (uint32_t)at;
	}
	*out = caps;
	return sz;
}

static int region_info(struct dev *d, struct vfio_region_info *u)
{
	struct vfio_region_info info = { 0 };
	size_t minsz = offsetof(struct vfio_region_info, offset) + sizeof(u->offset), capsz;
	uint8_t *caps;

	memcpy(&info, u, minsz);
	if (info.argsz < minsz || info.index >= d->nregions)
		return -EINVAL;
	/* vfio-pci: the VGA region exists only on VGA devices (none here) */
	if (info.index == VFIO_PCI_VGA_REGION_INDEX && !d->mdev)
		return -EINVAL;
	info.flags = d->reg[info.index].flags;
	info.size = d->reg[info.index].size;
	info.offset = (uint64_t)info.index << REGION_SHIFT;
	capsz = region_caps(d, info.index, &caps);
	if (capsz || (info.index == 0 && d->bad_caps)) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + capsz) {
			info.argsz = (uint32_t)(sizeof(info) + capsz);
		} else {
			/* chain offsets become offsets in the user's buffer */
			for (size_t at = 0; capsz;) {
				struct vfio_info_cap_header *h = (void *)(caps + at);

				if (!h->next || h->next == at)
					break;
				at = h->next;
				h->next += sizeof(info);
			}
			if (info.index == 0 && d->bad_caps == FK_CAPS_LOOP) {
				struct vfio_info_cap_header *h = (void *)caps;

				while (h->id != 0x7777)
					h = (void *)(caps + h->next - sizeof(info));
				h->next = (uint32_t)((uint8_t *)h - caps + sizeof(info));
			}
			memcpy((uint8_t *)u + sizeof(info), caps, capsz);
			info.cap_offset = sizeof(info);
			if (info.index == 0 && d->bad_caps == FK_CAPS_PAST_END)
				info.cap_offset = (uint32_t)(info.argsz + 64);
			else if (info.index == 0 && d->bad_caps == FK_CAPS_MISALIGNED)
				info.cap_offset = sizeof(info) + 1;
		}
	}
	free(caps);
	memcpy(u, &info, info.argsz < sizeof(info) ? info.argsz : sizeof(info));
	return 0;
}

static int p2p_feature(struct fake_kernel *fk, struct dev *d, void *arg)
{
	struct fk_p2p_dev p = { .name = d->name, .mdev = d->mdev, .nregions = d->nregions };

	p.has_dmabuf = fk->cfg.flavour <= FK_LINUX_NOCDEV && !fk->cfg.no_dmabuf;
	for (unsigned int i = 0; i < d->nregions && i < 8; i++)
		p.region_size[i] = d->reg[i].size;
	return fake_p2p_device_feature(fk, &p, arg);
}

static int device_ioctl(struct fake_kernel *fk, struct file *f, unsigned long req, void *arg)
{
	struct dev *d = f->dev;

	if (f->kind == F_CDEV) {
		if (req == IFD_K_VFIO_DEVICE_BIND_IOMMUFD)
			return cdev_bind(fk, f, arg);
		if (!f->bound)
			return -EINVAL; /* access not granted yet */
		if (req == IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT || req == IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT)
			return cdev_attach(fk, f, arg, req == IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT);
	} else if (req == IFD_K_VFIO_DEVICE_BIND_IOMMUFD || req == IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT ||
		   req == IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT) {
		return -EINVAL;
	}
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *u = arg, info = { 0 };
		size_t minsz = offsetof(struct vfio_device_info, num_irqs) + sizeof(info.num_irqs);

		if (!u)
			return -EFAULT;
		if (u->argsz < minsz)
			return -EINVAL;
		info.argsz = u->argsz;
		info.flags = VFIO_DEVICE_FLAGS_PCI | (d->no_reset ? 0 : VFIO_DEVICE_FLAGS_RESET);
		info.num_regions = d->nregions;
		info.num_irqs = NIRQS;
		memcpy(u, &info, u->argsz < sizeof(info) ? u->argsz : sizeof(info));
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO:
		if (!arg)
			return -EFAULT;
		return region_info(d, arg);
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *u = arg;

		if (!u)
			return -EFAULT;
		if (u->argsz < sizeof(*u) || u->index >= NIRQS)
			return -EINVAL;
		u->flags = d->irq[u->index].flags;
		u->count = d->irq[u->index].count;
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS:
		if (!arg)
			return -EFAULT;
		return irq_set(fk, d, arg);
	case VFIO_DEVICE_FEATURE:
	{
		/* Each model answers its own features, -ENOTTY for the rest. */
		int r = fk_vf_feature(fk, d->name, arg);

		return r == -ENOTTY ? p2p_feature(fk, d, arg) : r;
	}
	case VFIO_DEVICE_RESET:
		if (d->no_reset)
			return -EINVAL;
		d->resets++;
		/* a function-level reset clears the command register */
		d->reg[VFIO_PCI_CONFIG_REGION_INDEX].mem[4] = 0;
		d->reg[VFIO_PCI_CONFIG_REGION_INDEX].mem[5] = 0;
		return 0;
	default:
		return -ENOTTY;
	}
}

/* Region access through pread/pwrite: (index << 40) + offset. */
static ssize_t region_rw(struct fake_kernel *fk, struct file *f, void *buf, size_t len, off_t off, bool write,
			 struct fk_call *c)
{
	uint64_t index = (uint64_t)off >> REGION_SHIFT, pos = (uint64_t)off & ((1ULL << REGION_SHIFT) - 1);
	struct region *r;
	struct dev *d = f->dev;

	(void)fk;
	if ((f->kind != F_DEVICE && f->kind != F_CDEV) || (f->kind == F_CDEV && !f->bound))
		return -EINVAL;
	if (index >= d->nregions)
		return -EINVAL;
	c->region = (int)index;
	c->off = pos;
	c->len = len;
	snprintf(c->detail, sizeof(c->detail), "r%u+0x%llx/%zu", (unsigned int)index, (unsigned long long)pos, len);
	r = &d->reg[index];
	if (!(r->flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return -EINVAL;
	if (pos >= r->size || len > r->size - pos)
		return -EINVAL;
	if (!write) {
		memcpy(buf, r->mem + pos, len);
	} else if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		/* only the command register is writable (VFIO virtualizes the rest) */
		static const uint8_t wmask[2] = { 0x47, 0x05 };

		for (size_t i = 0; i < len; i++) {
			uint64_t p = pos + i;

			if (p == 4 || p == 5)
				r->mem[p] = (uint8_t)((r->mem[p] & ~wmask[p - 4]) | (((uint8_t *)buf)[i] & wmask[p - 4]));
		}
	} else {
		memcpy(r->mem + pos, buf, len);
	}
	return (ssize_t)len;
}

/* ------------------------------------------------------------------------ */
/* ioctl names for the log                                                  */

static void ioctl_name(unsigned long req, void *arg, char *out, size_t n)
{
	const char *s = NULL;

	/* The arguments that make a call what it is, when the caller passed them. */
	if (arg) {
		switch (req) {
		case IFD_K_IOMMU_DESTROY:
			snprintf(out, n, "IOMMU_DESTROY %u", ((struct ifd_k_destroy *)arg)->id);
			return;
		case IFD_K_IOMMU_HWPT_ALLOC: {
			const struct ifd_k_hwpt_alloc *h = arg;

			snprintf(out, n, "IOMMU_HWPT_ALLOC dev %u pt %u flags %#x fault %u", h->dev_id, h->pt_id, h->flags,
				 h->size >= IFD_K_HWPT_ALLOC_SIZE_FAULT ? h->fault_id : 0);
			return;
		}
		case IFD_K_IOMMU_GET_HW_INFO:
			snprintf(out, n, "IOMMU_GET_HW_INFO dev %u", ((struct ifd_k_hw_info *)arg)->dev_id);
			return;
		case IFD_K_IOMMU_FAULT_QUEUE_ALLOC:
			snprintf(out, n, "IOMMU_FAULT_QUEUE_ALLOC");
			return;
		case IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING: {
			const struct ifd_k_hwpt_set_dirty_tracking *d = arg;

			snprintf(out, n, "IOMMU_HWPT_SET_DIRTY_TRACKING %u %s", d->hwpt_id, d->flags & 1 ? "on" : "off");
			return;
		}
		case IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP: {
			const struct ifd_k_hwpt_get_dirty_bitmap *d = arg;

			snprintf(out, n, "IOMMU_HWPT_GET_DIRTY_BITMAP %u %#llx+%#llx/%#llx%s", d->hwpt_id,
				 (unsigned long long)d->iova, (unsigned long long)d->length,
				 (unsigned long long)d->page_size, d->flags & 1 ? " NO_CLEAR" : "");
			return;
		}
		case IFD_K_IOMMU_IOAS_IOVA_RANGES:
			snprintf(out, n, "IOMMU_IOAS_IOVA_RANGES %u", ((struct ifd_k_ioas_iova_ranges *)arg)->ioas_id);
			return;
		case IFD_K_IOMMU_IOAS_MAP: {
			const struct ifd_k_ioas_map *m = arg;

			snprintf(out, n, "IOMMU_IOAS_MAP %u %#llx+%#llx %s%s%s", m->ioas_id, (unsigned long long)m->iova,
				 (unsigned long long)m->length, m->flags & IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA ? "F" : "",
				 m->flags & IFD_K_IOMMU_IOAS_MAP_READABLE ? "R" : "",
				 m->flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE ? "W" : "");
			return;
		}
		case IFD_K_IOMMU_IOAS_UNMAP: {
			const struct ifd_k_ioas_unmap *u = arg;

			snprintf(out, n, "IOMMU_IOAS_UNMAP %u %#llx+%#llx", u->ioas_id, (unsigned long long)u->iova,
				 (unsigned long long)u->length);
			return;
		}
		case IFD_K_IOMMU_OPTION: {
			const struct ifd_k_option *o = arg;

			snprintf(out, n, "IOMMU_OPTION %s %s %u %llu",
				 o->option_id == IFD_K_IOMMU_OPTION_RLIMIT_MODE ? "RLIMIT_MODE" :
				 o->option_id == IFD_K_IOMMU_OPTION_HUGE_PAGES ? "HUGE_PAGES" : "?",
				 o->op == IFD_K_IOMMU_OPTION_OP_GET ? "GET" : "SET", o->object_id,
				 (unsigned long long)o->val64);
			return;
		}
		case IFD_K_IOMMU_IOAS_COPY: {
			const struct ifd_k_ioas_copy *c = arg;

			snprintf(out, n, "IOMMU_IOAS_COPY %u %#llx+%#llx -> %u %#llx %s%s%s", c->src_ioas_id,
				 (unsigned long long)c->src_iova, (unsigned long long)c->length, c->dst_ioas_id,
				 (unsigned long long)c->dst_iova, c->flags & IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA ? "F" : "",
				 c->flags & IFD_K_IOMMU_IOAS_MAP_READABLE ? "R" : "",
				 c->flags & IFD_K_IOMMU_IOAS_MAP_WRITEABLE ? "W" : "");
			return;
		}
		case IFD_K_IOMMU_IOAS_ALLOW_IOVAS:
			snprintf(out, n, "IOMMU_IOAS_ALLOW_IOVAS %u %u", ((struct ifd_k_ioas_allow_iovas *)arg)->ioas_id,
				 ((struct ifd_k_ioas_allow_iovas *)arg)->num_iovas);
			return;
		case IFD_K_IOMMU_VFIO_IOAS: {
			const struct ifd_k_vfio_ioas *v = arg;

			snprintf(out, n, "IOMMU_VFIO_IOAS %s %u",
				 v->op == IFD_K_IOMMU_VFIO_IOAS_SET ? "SET" : v->op == IFD_K_IOMMU_VFIO_IOAS_GET ? "GET"
													  : "CLEAR",
				 v->ioas_id);
			return;
		}
		case IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
			const struct ifd_k_vfio_device_attach_iommufd_pt *a = arg;

			if ((a->flags & IFD_K_VFIO_DEVICE_ATTACH_PASID) && a->argsz >= 16)
				snprintf(out, n, "VFIO_DEVICE_ATTACH_IOMMUFD_PT %u pasid %u", a->pt_id, a->pasid);
			else
				snprintf(out, n, "VFIO_DEVICE_ATTACH_IOMMUFD_PT %u", a->pt_id);
			return;
		}
		case VFIO_IOMMU_MAP_DMA: {
			const struct vfio_iommu_type1_dma_map *m = arg;

			snprintf(out, n, "VFIO_IOMMU_MAP_DMA %#llx+%#llx %s%s", (unsigned long long)m->iova,
				 (unsigned long long)m->size, m->flags & VFIO_DMA_MAP_FLAG_READ ? "R" : "",
				 m->flags & VFIO_DMA_MAP_FLAG_WRITE ? "W" : "");
			return;
		}
		case VFIO_IOMMU_UNMAP_DMA: {
			const struct vfio_iommu_type1_dma_unmap *u = arg;

			snprintf(out, n, "VFIO_IOMMU_UNMAP_DMA %#llx+%#llx%s", (unsigned long long)u->iova,
				 (unsigned long long)u->size, u->flags & VFIO_DMA_UNMAP_FLAG_ALL ? " ALL" : "");
			return;
		}
		}
	}
	switch (req) {
	case IFD_K_IOMMU_DESTROY: s = "IOMMU_DESTROY"; break;
	case IFD_K_IOMMU_IOAS_ALLOC: s = "IOMMU_IOAS_ALLOC"; break;
	case IFD_K_IOMMU_IOAS_ALLOW_IOVAS: s = "IOMMU_IOAS_ALLOW_IOVAS"; break;
	case IFD_K_IOMMU_IOAS_COPY: s = "IOMMU_IOAS_COPY"; break;
	case IFD_K_IOMMU_IOAS_IOVA_RANGES: s = "IOMMU_IOAS_IOVA_RANGES"; break;
	case IFD_K_IOMMU_IOAS_MAP: s = "IOMMU_IOAS_MAP"; break;
	case IFD_K_IOMMU_IOAS_UNMAP: s = "IOMMU_IOAS_UNMAP"; break;
	case IFD_K_IOMMU_OPTION: s = "IOMMU_OPTION"; break;
	case IFD_K_IOMMU_VFIO_IOAS: s = "IOMMU_VFIO_IOAS"; break;
	case IFD_K_IOMMU_HWPT_ALLOC: s = "IOMMU_HWPT_ALLOC"; break;
	case IFD_K_IOMMU_GET_HW_INFO: s = "IOMMU_GET_HW_INFO"; break;
	case IFD_K_IOMMU_IOAS_MAP_FILE: s = "IOMMU_IOAS_MAP_FILE"; break;
	case IFD_K_IOMMU_IOAS_CHANGE_PROCESS: s = "IOMMU_IOAS_CHANGE_PROCESS"; break;
	case VFIO_GET_API_VERSION: s = "VFIO_GET_API_VERSION"; break;
	case VFIO_CHECK_EXTENSION:
		snprintf(out, n, "VFIO_CHECK_EXTENSION %lu", (unsigned long)(uintptr_t)arg);
		return;
	case VFIO_SET_IOMMU:
		snprintf(out, n, "VFIO_SET_IOMMU %lu", (unsigned long)(uintptr_t)arg);
		return;
	case VFIO_GROUP_GET_STATUS: s = "VFIO_GROUP_GET_STATUS"; break;
	case VFIO_GROUP_SET_CONTAINER: s = "VFIO_GROUP_SET_CONTAINER"; break;
	case VFIO_GROUP_UNSET_CONTAINER: s = "VFIO_GROUP_UNSET_CONTAINER"; break;
	case VFIO_GROUP_GET_DEVICE_FD:
		snprintf(out, n, "VFIO_GROUP_GET_DEVICE_FD %.36s", arg ? (const char *)arg : "(null)");
		return;
	case VFIO_DEVICE_GET_INFO: s = "VFIO_DEVICE_GET_INFO"; break;
	case VFIO_DEVICE_GET_REGION_INFO:
		snprintf(out, n, "VFIO_DEVICE_GET_REGION_INFO %u", arg ? ((struct vfio_region_info *)arg)->index : 0);
		return;
	case VFIO_DEVICE_GET_IRQ_INFO:
		snprintf(out, n, "VFIO_DEVICE_GET_IRQ_INFO %u", arg ? ((struct vfio_irq_info *)arg)->index : 0);
		return;
	case VFIO_DEVICE_SET_IRQS:
		if (arg) {
			const struct vfio_irq_set *q = arg;

			snprintf(out, n, "VFIO_DEVICE_SET_IRQS %u %u+%u %#x", q->index, q->start, q->count, q->flags);
			return;
		}
		s = "VFIO_DEVICE_SET_IRQS";
		break;
	case VFIO_DEVICE_RESET: s = "VFIO_DEVICE_RESET"; break;
	case VFIO_IOMMU_GET_INFO: s = "VFIO_IOMMU_GET_INFO"; break;
	case VFIO_IOMMU_MAP_DMA: s = "VFIO_IOMMU_MAP_DMA"; break;
	case VFIO_IOMMU_UNMAP_DMA: s = "VFIO_IOMMU_UNMAP_DMA"; break;
	case KVM_CREATE_DEVICE: s = "KVM_CREATE_DEVICE"; break;
	case KVM_SET_DEVICE_ATTR: s = fk_kvm_attr_name(arg); break;
	case IFD_K_VFIO_DEVICE_BIND_IOMMUFD: s = "VFIO_DEVICE_BIND_IOMMUFD"; break;
	case IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT: s = "VFIO_DEVICE_ATTACH_IOMMUFD_PT"; break;
	case IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT:
		if (arg && ((const struct ifd_k_vfio_device_detach_iommufd_pt *)arg)->argsz >= 12 &&
		    (((const struct ifd_k_vfio_device_detach_iommufd_pt *)arg)->flags & IFD_K_VFIO_DEVICE_DETACH_PASID)) {
			snprintf(out, n, "VFIO_DEVICE_DETACH_IOMMUFD_PT pasid %u",
				 ((const struct ifd_k_vfio_device_detach_iommufd_pt *)arg)->pasid);
			return;
		}
		s = "VFIO_DEVICE_DETACH_IOMMUFD_PT";
		break;
	case VFIO_IOMMU_DIRTY_PAGES:
		if (arg) {
			uint32_t fl = ((const struct vfio_iommu_type1_dirty_bitmap *)arg)->flags;

			snprintf(out, n, "VFIO_IOMMU_DIRTY_PAGES %s",
				 fl == VFIO_IOMMU_DIRTY_PAGES_FLAG_START ? "START" :
				 fl == VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP ? "STOP" :
				 fl == VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP ? "GET_BITMAP" : "?");
			return;
		}
		s = "VFIO_IOMMU_DIRTY_PAGES";
		break;
	}
	if (s)
		snprintf(out, n, "%s", s);
	else
		snprintf(out, n, "ioctl %#lx", req);
}

/* ------------------------------------------------------------------------ */
/* The ifd_sys entry points                                                 */

static struct fake_kernel *enter(void)
{
	pthread_mutex_lock(&fk_lock);
	if (!fk_cur) {
		pthread_mutex_unlock(&fk_lock);
		fprintf(stderr, "fake kernel: called with no fake kernel alive\n");
		abort();
	}
	return fk_cur;
}

static void leave(void)
{
	pthread_mutex_unlock(&fk_lock);
}

/* ------------------------------------------------------------------------ */
/* For the fake-<area>.c models (fake-kernel.h)                             */

struct fake_kernel *fk_enter(void)
{
	return enter();
}

void fk_leave(void)
{
	leave();
}

int fk_ext_install(struct fake_kernel *fk, const struct fk_ext_ops *ops, void *obj, const char *label)
{
	struct file *f = file_new(fk, F_EXT, label);

	f->ext_ops = ops;
	f->ext = obj;
	return fd_install(fk, f);
}

void *fk_ext_get(struct fake_kernel *fk, int fd, const struct fk_ext_ops *ops)
{
	struct file *f = fd_get(fk, fd);

	return f && f->kind == F_EXT && f->ext_ops == ops ? f->ext : NULL;
}

void *fk_file_peek(struct fake_kernel *fk, int fd)
{
	return fd_get(fk, fd);
}

bool fk_file_is_vfio(const void *file)
{
	const struct file *f = file;

	return f->kind == F_GROUP || f->kind == F_DEVICE || f->kind == F_CDEV;
}

void fk_file_ref(void *file)
{
	file_get(file);
}

void fk_file_unref(struct fake_kernel *fk, void *file)
{
	file_put(fk, file);
}
/* The accessors fake-noiommu.c uses (fake-kernel.h). */
const struct fk_config *fk_cfg(struct fake_kernel *fk) { return &fk->cfg; }
long fk_nio_page_size(struct fake_kernel *fk) { return fk->page_size; }
struct fake_kernel *fk_enter_current(void) { return enter(); }
void fk_leave_current(void) { leave(); }
void fk_node_file(struct fake_kernel *fk, const char *path, const char *contents)
{
	node_add(fk, N_FILE, contents, "%s", path);
}
struct fk_nio **fk_nio_slot(struct fake_kernel *fk) { return &fk->nio; }

static int fail_ret(struct fk_call *c, int err, bool injected)
{
	c->err = err;
	c->injected = injected;
	leave();
	errno = err;
	return -1;
}

static int fk_open(const char *path, int flags, mode_t mode)
{
	struct fake_kernel *fk = enter();
	char canon[PATH_MAX], label[96];
	struct node *n;
	struct file *f = NULL;
	struct fk_call *c;
	int r, err;

	(void)mode;
	c = log_add(fk, "open", path, NULL, -1, !strncmp(path, "/dev/", 5));
	if (should_fail(fk, "open", path, &err))
		return fail_ret(c, err, true);
	r = fs_resolve(fk, path, true, canon, &n);
	if (r)
		return fail_ret(c, -r, false);
	if (!n)
		return fail_ret(c, EISDIR, false);
	if (denied(fk, path, canon))
		return fail_ret(c, EACCES, false);
	if (n->type == N_FILE) {
		if ((flags & O_ACCMODE) != O_RDONLY)
			return fail_ret(c, EACCES, false);
		snprintf(label, sizeof(label), "file:%.80s", canon);
		f = file_new(fk, F_SYSFS, label);
		f->data = xstrdup(n->data ? n->data : "");
		f->len = strlen(f->data);
	} else {
		switch (n->chr) {
		case C_NULL:
			f = file_new(fk, F_NULL, "null");
			break;
		case C_IOMMUFD:
			f = file_new(fk, F_IOMMUFD, "iommufd");
			break;
		case C_CONTAINER:
			f = file_new(fk, F_CONTAINER, "container");
			break;
		case C_GROUP: {
			struct group *g = group_by_num(fk, n->arg);

			if (!g || !group_has_vfio(fk, g->num))
				return fail_ret(c, ENODEV, false);
			if (g->file || g->ext_hold || g->cdev_bound)
				return fail_ret(c, EBUSY, false);
			snprintf(label, sizeof(label), "group/%d", g->num);
			f = file_new(fk, F_GROUP, label);
			f->grp = g;
			g->file = f;
			break;
		}
		case C_CDEV: {
			struct dev *d = fk->devs[n->arg];

			if (!driver_vfio(d->driver))
				return fail_ret(c, ENODEV, false);
			snprintf(label, sizeof(label), "cdev/%s", d->name);
			f = file_new(fk, F_CDEV, label);
			f->dev = d;
			break;
		}
		}
	}
	r = fd_install(fk, f);
	c->fd = r;
	leave();
	return r;
}

static struct real_fd *real_get(struct fake_kernel *fk, int fd);
static int real_close(struct fake_kernel *fk, struct real_fd *rf);

static int fk_close(int fd)
{
	struct fake_kernel *fk = enter();
	struct real_fd *rf = real_get(fk, fd);
	if (rf)
		return real_close(fk, rf);
	if (fd >= 0 && fd < FK_FD_BASE) { /* a test's own file */
		struct fk_call *uc = log_add(fk, "close", "user", NULL, fd, false);
		int uerr = 0;
		bool uinj = should_fail(fk, "close", NULL, &uerr);

		/* Linux releases the fd even when close() reports an error. */
		if (close(fd) < 0 && !uinj)
			return fail_ret(uc, errno, false);
		if (uinj)
			return fail_ret(uc, uerr, true);
		leave();
		return 0;
	}
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, "close", f ? f->label : "?", NULL, fd, f && f->kind != F_SYSFS);
	int err = 0;
	bool inj = should_fail(fk, "close", NULL, &err);
	struct hook h = { .fn = NULL };

	if (!f)
		return fail_ret(c, EBADF, false);
	if (fk->close_hook.fn && prefix(f->label, fk->close_hook.match)) {
		h = fk->close_hook;
		fk->close_hook.fn = NULL;
	}
	/* Linux releases the fd even when close() reports an error. */
	fk->fds[fd - FK_FD_BASE] = NULL;
	file_put(fk, f);
	if (inj) {
		fail_ret(c, err, true);
	} else {
		leave();
		err = 0;
	}
	/* Another thread's work, landing just after the fd number was freed. */
	if (h.fn)
		h.fn(h.arg);
	errno = err;
	return err ? -1 : 0;
}

static int fk_dup(int fd)
{
	struct fake_kernel *fk = enter();
	if (fd >= 0 && fd < FK_FD_BASE && !real_get(fk, fd)) { /* a test's own file (memfd) */
		struct fk_call *uc = log_add(fk, "dup", "user", NULL, fd, false);
		int uerr, d;

		if (should_fail(fk, "dup", NULL, &uerr))
			return fail_ret(uc, uerr, true);
		d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (d < 0)
			return fail_ret(uc, errno, false);
		leave();
		return d;
	}
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, "dup", f ? f->label : "?", NULL, fd, false);
	int err, r;

	if (should_fail(fk, "dup", NULL, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	file_get(f);
	r = fd_install(fk, f);
	snprintf(c->detail, sizeof(c->detail), "= %d", r);
	leave();
	return r;
}

static int fk_ioctl(int fd, unsigned long req, void *arg)
{
	struct fake_kernel *fk = enter();
	struct file *f;
	struct fk_call *c;
	char name[80];
	int r, err;

	ioctl_name(req, arg, name, sizeof(name));
	if (fk->hook.fn && prefix(name, fk->hook.match)) {
		/* Another thread's work, landing just before this call: run it
		 * unlocked, as a concurrent caller would. */
		struct hook h = fk->hook;

		fk->hook.fn = NULL;
		leave();
		h.fn(h.arg);
		fk = enter();
	}
	f = fd_get(fk, fd);
	c = log_add(fk, "ioctl", f ? f->label : "?", name, fd, true);
	if (should_fail(fk, "ioctl", name, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	switch (f->kind) {
	case F_IOMMUFD: r = iommufd_ioctl(fk, f, req, arg); break;
	case F_CONTAINER: r = container_ioctl(fk, f, req, arg); break;
	case F_GROUP: r = group_ioctl(fk, f, req, arg); break;
	case F_DEVICE:
	case F_CDEV: r = device_ioctl(fk, f, req, arg); break;
	case F_EXT: r = f->ext_ops->ioctl(fk, f->ext, req, arg); break;
	default: r = -ENOTTY; break;
	}
	if (r < 0)
		return fail_ret(c, -r, false);
	leave();
	return r;
}

static void *fk_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct fake_kernel *fk;
	struct file *f;
	struct fk_call *c;
	struct region *r;
	uint64_t index, pos;
	void *p;
	int err;

	if (fd < FK_FD_BASE && (flags & MAP_ANONYMOUS))
		return mmap(addr, len, prot, flags, fd, off);
	fk = enter();
	if (fd >= 0 && fd < FK_FD_BASE) { /* a test's own file (memfd) */
		c = log_add(fk, "mmap", "user", NULL, fd, true);
		c->len = len;
		c->region = -1;
		if (should_fail(fk, "mmap", NULL, &err))
			goto fail;
		p = mmap(addr, len, prot, flags, fd, off);
		if (p == MAP_FAILED) {
			err = errno;
			goto fail;
		}
		leave();
		return p;
	}
	f = fd_get(fk, fd);
	c = log_add(fk, "mmap", f ? f->label : "?", NULL, fd, true);
	index = (uint64_t)off >> REGION_SHIFT;
	pos = (uint64_t)off & ((1ULL << REGION_SHIFT) - 1);
	snprintf(c->detail, sizeof(c->detail), "r%u+0x%llx/%zu", (unsigned int)index, (unsigned long long)pos, len);
	c->region = (int)index;
	c->len = len;
	if (should_fail(fk, "mmap", NULL, &err))
		goto fail;
	err = EBADF;
	if (!f)
		goto fail;
	err = ENODEV;
	if (f->kind != F_DEVICE && f->kind != F_CDEV)
		goto fail;
	err = EINVAL;
	if ((f->kind == F_CDEV && !f->bound) || index >= f->dev->nregions || !(flags & MAP_SHARED))
		goto fail;
	r = &f->dev->reg[index];
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || r->memfd < 0 || !len || pos >= r->size || len > r->size - pos)
		goto fail;
	if ((prot & PROT_WRITE) && !(r->flags & VFIO_REGION_INFO_FLAG_WRITE))
		goto fail;
	/* vfio-pci refuses an mmap over the MSI-X table it left out */
	if (index == 0 && f->dev->hole_len && pos < f->dev->hole_off + f->dev->hole_len &&
	    f->dev->hole_off < pos + len)
		goto fail;
	p = mmap(addr, len, prot, MAP_SHARED | (flags & MAP_FIXED), r->memfd, (off_t)pos);
	if (p == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	if (fk->nmmaps == fk->mmapcap) {
		fk->mmapcap = fk->mmapcap ? fk->mmapcap * 2 : 8;
		fk->mmaps = xrealloc(fk->mmaps, fk->mmapcap * sizeof(*fk->mmaps));
	}
	fk->mmaps[fk->nmmaps++] = (struct mmap_rec){ p, len, f };
	file_get(f);
	leave();
	return p;
fail:
	c->err = err;
	leave();
	errno = err;
	return MAP_FAILED;
}

static int fk_munmap(void *addr, size_t len)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c;
	size_t i;
	int err;

	for (i = 0; i < fk->nmmaps && fk->mmaps[i].addr != addr; i++)
		;
	c = log_add(fk, "munmap", i < fk->nmmaps ? fk->mmaps[i].file->label : "anon", NULL, -1, i < fk->nmmaps);
	c->len = len;
	if (should_fail(fk, "munmap", NULL, &err))
		return fail_ret(c, err, true);
	if (i == fk->nmmaps) {
		leave();
		return munmap(addr, len);
	}
	if (fk->mmaps[i].len != len)
		return fail_ret(c, EINVAL, false); /* partial unmaps are not modelled */
	munmap(addr, len);
	file_put(fk, fk->mmaps[i].file);
	fk->mmaps[i] = fk->mmaps[--fk->nmmaps];
	leave();
	return 0;
}

static ssize_t fk_read(int fd, void *buf, size_t len)
{
	struct fake_kernel *fk = enter();
	if (real_get(fk, fd)) {
		struct fk_call *rc = log_add(fk, "read", "real", NULL, fd, false);
		int rerr;
		ssize_t rn;

		if (should_fail(fk, "read", NULL, &rerr))
			return fail_ret(rc, rerr, true);
		rn = read(fd, buf, len);
		if (rn < 0)
			return fail_ret(rc, errno, false);
		leave();
		return rn;
	}
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, "read", f ? f->label : "?", NULL, fd, false);
	size_t n;
	int err;

	c->len = len;
	if (should_fail(fk, "read", NULL, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	if (f->kind == F_NULL) {
		leave();
		return 0;
	}
	if (f->kind == F_FAULT) {
		ssize_t r = f->fq ? fault_read(f->fq, buf, len) : 0;

		if (r < 0)
			return fail_ret(c, (int)-r, false);
		leave();
		return r;
	}
	if (f->kind != F_SYSFS)
		return fail_ret(c, EINVAL, false);
	n = f->len - f->pos < len ? f->len - f->pos : len;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	leave();
	return (ssize_t)n;
}

static ssize_t fk_write(int fd, const void *buf, size_t len)
{
	struct fake_kernel *fk = enter();
	if (real_get(fk, fd)) { /* an eventfd the library signals itself */
		struct fk_call *rc = log_add(fk, "write", "real", NULL, fd, false);
		int rerr;
		ssize_t rn;

		if (should_fail(fk, "write", NULL, &rerr))
			return fail_ret(rc, rerr, true);
		rn = write(fd, buf, len);
		if (rn < 0)
			return fail_ret(rc, errno, false);
		leave();
		return rn;
	}
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, "write", f ? f->label : "?", NULL, fd, f && f->kind != F_SYSFS);
	int err;

	c->len = len;
	if (should_fail(fk, "write", NULL, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	if (f->kind == F_NULL) {
		leave();
		return (ssize_t)len;
	}
	if (f->kind == F_FAULT) {
		ssize_t r = f->fq ? fault_write(f->fq, buf, len) : -EINVAL;

		if (r < 0)
			return fail_ret(c, (int)-r, false);
		leave();
		return r;
	}
	return fail_ret(c, f->kind == F_SYSFS ? EPERM : EINVAL, false);
}

static ssize_t fk_prw(int fd, void *buf, size_t len, off_t off, bool write)
{
	struct fake_kernel *fk = enter();
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, write ? "pwrite" : "pread", f ? f->label : "?", NULL, fd, true);
	ssize_t r;
	int err;

	c->len = len;
	if (should_fail(fk, write ? "pwrite" : "pread", NULL, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	if (f->kind == F_SYSFS && !write && !strcmp(f->label, "file:" FK_PAGEMAP))
		r = fk_nio_pagemap(fk, buf, len, off);
	else if (f->kind == F_SYSFS)
		return fail_ret(c, write ? EPERM : ESPIPE, false);
	else
		r = region_rw(fk, f, buf, len, off, write, c);
	if (r < 0)
		return fail_ret(c, (int)-r, false);
	leave();
	return r;
}

static ssize_t fk_pread(int fd, void *buf, size_t len, off_t off)
{
	return fk_prw(fd, buf, len, off, false);
}

static ssize_t fk_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return fk_prw(fd, (void *)buf, len, off, true);
}

static ssize_t fk_readlink(const char *path, char *buf, size_t len)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "readlink", path, NULL, -1, false);
	char canon[PATH_MAX];
	struct node *n;
	size_t l;
	int r, err;

	if (should_fail(fk, "readlink", path, &err))
		return fail_ret(c, err, true);
	r = fs_resolve(fk, path, false, canon, &n);
	if (r)
		return fail_ret(c, -r, false);
	if (!n || n->type != N_LINK)
		return fail_ret(c, EINVAL, false);
	l = strlen(n->data);
	if (l > len)
		l = len;
	memcpy(buf, n->data, l);
	leave();
	return (ssize_t)l;
}

static char *fk_realpath(const char *path, char *resolved)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "realpath", path, NULL, -1, false);
	char canon[PATH_MAX];
	struct node *n;
	int r, err;

	if (should_fail(fk, "realpath", path, &err)) {
		fail_ret(c, err, true);
		return NULL;
	}
	r = fs_resolve(fk, path, true, canon, &n);
	if (r) {
		fail_ret(c, -r, false);
		return NULL;
	}
	snprintf(c->detail, sizeof(c->detail), "= %.70s", canon);
	memcpy(resolved, canon, strlen(canon) + 1);
	leave();
	return resolved;
}

static void fill_stat(struct fake_kernel *fk, struct stat *st, mode_t mode, dev_t rdev, off_t size)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_rdev = rdev;
	st->st_size = size;
	st->st_nlink = 1;
	st->st_blksize = (blksize_t)fk->page_size;
}

static int fk_stat(const char *path, struct stat *st)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "stat", path, NULL, -1, false);
	char canon[PATH_MAX];
	struct node *n;
	int r, err;

	if (should_fail(fk, "stat", path, &err))
		return fail_ret(c, err, true);
	r = fs_resolve(fk, path, true, canon, &n);
	if (r)
		return fail_ret(c, -r, false);
	if (!n)
		fill_stat(fk, st, S_IFDIR | 0755, 0, 0);
	else if (n->type == N_FILE)
		fill_stat(fk, st, S_IFREG | 0444, 0, (off_t)strlen(n->data ? n->data : ""));
	else
		fill_stat(fk, st, S_IFCHR | 0600, n->rdev, 0);
	leave();
	return 0;
}

static int fk_fstat(int fd, struct stat *st)
{
	struct fake_kernel *fk = enter();
	struct file *f = fd_get(fk, fd);
	struct fk_call *c = log_add(fk, "fstat", f ? f->label : "?", NULL, fd, false);
	int err;

	if (should_fail(fk, "fstat", NULL, &err))
		return fail_ret(c, err, true);
	if (!f)
		return fail_ret(c, EBADF, false);
	switch (f->kind) {
	case F_SYSFS: fill_stat(fk, st, S_IFREG | 0444, 0, (off_t)f->len); break;
	case F_NULL: fill_stat(fk, st, S_IFCHR | 0666, makedev(1, 3), 0); break;
	case F_IOMMUFD: fill_stat(fk, st, S_IFCHR | 0600, makedev(MAJ_MISC, MIN_IOMMU), 0); break;
	case F_CONTAINER: fill_stat(fk, st, S_IFCHR | 0666, makedev(MAJ_MISC, MIN_VFIO), 0); break;
	case F_GROUP: fill_stat(fk, st, S_IFCHR | 0600, makedev(MAJ_VFIO, (unsigned int)f->grp->num), 0); break;
	case F_DEVICE:
	case F_FAULT:
	case F_EXT: fill_stat(fk, st, 0600, 0, 0); break; /* an anonymous inode */
	case F_CDEV: fill_stat(fk, st, S_IFCHR | 0600, makedev(MAJ_VFIO_DEV, (unsigned int)f->dev->cdev), 0); break;
	}
	leave();
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fk_listdir(const char *path, int (*fn)(const char *name, void *arg), void *arg)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "listdir", path, NULL, -1, false);
	char canon[PATH_MAX];
	char **names = NULL;
	size_t nn = 0, l;
	struct node *n;
	int r, err;

	if (should_fail(fk, "listdir", path, &err)) {
		c->err = err;
		c->injected = true;
		leave();
		return -err;
	}
	r = fs_resolve(fk, path, true, canon, &n);
	if (!r && n)
		r = -ENOTDIR;
	if (r) {
		c->err = -r;
		leave();
		return r;
	}
	l = strcmp(canon, "/") ? strlen(canon) : 0;
	for (size_t i = 0; i < fk->nnodes; i++) {
		const char *p = fk->nodes[i].path;
		char name[NAME_MAX + 1];
		bool dup = false;

		if (strncmp(p, canon, l) || p[l] != '/')
			continue;
		p += l + 1;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, "/"), p);
		for (size_t k = 0; k < nn && !dup; k++)
			dup = !strcmp(names[k], name);
		if (dup)
			continue;
		names = xrealloc(names, (nn + 1) * sizeof(*names));
		names[nn++] = xstrdup(name);
	}
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_str);
	/* The callback may call back into the fake: run it unlocked. */
	leave();
	r = 0;
	for (size_t i = 0; i < nn; i++) {
		if (!r)
			r = fn(names[i], arg);
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : 0;
}

static const char *fk_getenv(const char *name)
{
	return getenv(name);
}

static long fk_page_size(void)
{
	struct fake_kernel *fk = enter();
	long p = fk->page_size;

	leave();
	return p;
}


/* ------------------------------------------------------------------------ */
/* Hot-unplug: eventfd, epoll, the uevent socket (real fds)                 */

static struct real_fd *real_get(struct fake_kernel *fk, int fd)
{
	for (size_t i = 0; i < fk->nreal; i++)
		if (fk->real[i].fd == fd)
			return &fk->real[i];
	return NULL;
}

/* Called entered; leaves. */
static int real_close(struct fake_kernel *fk, struct real_fd *rf)
{
	struct fk_call *c = log_add(fk, "close", "real", NULL, rf->fd, false);
	int err = 0;
	bool inj = should_fail(fk, "close", NULL, &err);

	close(rf->fd);
	if (rf->peer >= 0)
		close(rf->peer);
	*rf = fk->real[--fk->nreal];
	if (inj)
		return fail_ret(c, err, true);
	leave();
	return 0;
}

/* Called entered; leaves.  Records a real fd the library now owns. */
static int real_add(struct fake_kernel *fk, struct fk_call *c, int fd, int peer)
{
	if (fd < 0)
		return fail_ret(c, errno, false);
	if (fk->nreal == sizeof(fk->real) / sizeof(fk->real[0])) {
		close(fd);
		if (peer >= 0)
			close(peer);
		return fail_ret(c, EMFILE, false);
	}
	fk->real[fk->nreal++] = (struct real_fd){ .fd = fd, .peer = peer };
	c->fd = fd;
	leave();
	return fd;
}

static int fk_eventfd(unsigned int initval, int flags)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "eventfd", "real", NULL, -1, false);
	int err;

	if (should_fail(fk, "eventfd", NULL, &err))
		return fail_ret(c, err, true);
	if (!(flags & EFD_CLOEXEC))
		return fail_ret(c, EINVAL, false); /* the rules: every fd O_CLOEXEC */
	return real_add(fk, c, eventfd(initval, flags), -1);
}

static int fk_epoll_create1(int flags)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "epoll", "real", "create1", -1, false);
	int err;

	if (should_fail(fk, "epoll", "create1", &err))
		return fail_ret(c, err, true);
	if (!(flags & EPOLL_CLOEXEC))
		return fail_ret(c, EINVAL, false);
	return real_add(fk, c, epoll_create1(flags), -1);
}

static int fk_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "epoll", "real", op == EPOLL_CTL_ADD ? "ctl_add" : "ctl", epfd, false);
	int err;

	if (should_fail(fk, "epoll", c->detail, &err))
		return fail_ret(c, err, true);
	if (!real_get(fk, epfd) || !real_get(fk, fd))
		return fail_ret(c, EBADF, false);
	if (epoll_ctl(epfd, op, fd, ev) < 0)
		return fail_ret(c, errno, false);
	leave();
	return 0;
}

static int fk_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	struct fake_kernel *fk = enter();
	int r;

	if (!real_get(fk, epfd)) {
		leave();
		errno = EBADF;
		return -1;
	}
	leave();
	/* Unlocked: a blocking wait must not stall the fake (the library
	 * only polls, timeout 0). */
	r = epoll_wait(epfd, evs, max, timeout);
	return r;
}

static int fk_socket(int domain, int type, int protocol)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "socket", "real", NULL, -1, false);
	int sv[2], err;

	if (should_fail(fk, "socket", NULL, &err))
		return fail_ret(c, err, true);
	if (domain != AF_NETLINK || protocol != NETLINK_KOBJECT_UEVENT)
		return fail_ret(c, EAFNOSUPPORT, false);
	if (!(type & SOCK_CLOEXEC))
		return fail_ret(c, EINVAL, false);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | (type & SOCK_NONBLOCK), 0, sv) < 0)
		return fail_ret(c, errno, false);
	return real_add(fk, c, sv[0], sv[1]);
}

static int fk_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "bind", "real", NULL, fd, false);
	struct real_fd *rf = real_get(fk, fd);
	const struct sockaddr_nl *sa = (const void *)addr;
	int err;

	if (should_fail(fk, "bind", NULL, &err))
		return fail_ret(c, err, true);
	if (!rf || rf->peer < 0)
		return fail_ret(c, EBADF, false);
	if (len < sizeof(*sa) || sa->nl_family != AF_NETLINK || sa->nl_groups != 1)
		return fail_ret(c, EINVAL, false);
	rf->bound = true;
	leave();
	return 0;
}

/* Each datagram the fake sends starts with the sender's port (4 bytes). */
static ssize_t fk_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *srclen)
{
	struct fake_kernel *fk = enter();
	struct fk_call *c = log_add(fk, "recvfrom", "real", NULL, fd, false);
	struct real_fd *rf = real_get(fk, fd);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	char tmp[65536];
	ssize_t n;
	int err;

	if (should_fail(fk, "recvfrom", NULL, &err))
		return fail_ret(c, err, true);
	if (!rf || rf->peer < 0)
		return fail_ret(c, EBADF, false);
	n = recv(fd, tmp, sizeof(tmp), flags & MSG_DONTWAIT);
	if (n < 0)
		return fail_ret(c, errno, false);
	if (n < 4)
		return fail_ret(c, EIO, false);
	memcpy(&sa.nl_pid, tmp, 4);
	n -= 4;
	memcpy(buf, tmp + 4, (size_t)n < len ? (size_t)n : len);
	if (src && srclen) {
		memcpy(src, &sa, *srclen < sizeof(sa) ? *srclen : sizeof(sa));
		*srclen = sizeof(sa);
	}
	leave();
	/* MSG_TRUNC: the real length, as netlink reports it. */
	return (flags & MSG_TRUNC) || (size_t)n <= len ? n : (ssize_t)len;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct fake_kernel *fake_kernel_create(const struct fk_config *cfg)
{
	struct fake_kernel *fk = xcalloc(1, sizeof(*fk));

	if (cfg)
		fk->cfg = *cfg;
	if (!fk->cfg.dma_entry_limit)
		fk->cfg.dma_entry_limit = 65535;
	fk->page_size = fk->cfg.page_size ? fk->cfg.page_size : 4096;
	fk->memlock = fk->cfg.memlock;
	fk->sys = (struct ifd_sys){
		.open = fk_open,
		.close = fk_close,
		.dup = fk_dup,
		.ioctl = fk_ioctl,
		.mmap = fk_mmap,
		.munmap = fk_munmap,
		.read = fk_read,
		.write = fk_write,
		.pread = fk_pread,
		.pwrite = fk_pwrite,
		.readlink = fk_readlink,
		.realpath = fk_realpath,
		.stat = fk_stat,
		.fstat = fk_fstat,
		.listdir = fk_listdir,
		.getenv = fk_getenv,
		.page_size = fk_page_size,
		.eventfd = fk_eventfd,
		.epoll_create1 = fk_epoll_create1,
		.epoll_ctl = fk_epoll_ctl,
		.epoll_wait = fk_epoll_wait,
		.socket = fk_socket,
		.bind = fk_bind,
		.recvfrom = fk_recvfrom,
		.mlock = fk_nio_mlock,
		.munlock = fk_nio_munlock,
	};
	pthread_mutex_lock(&fk_lock);
	if (fk_cur) {
		pthread_mutex_unlock(&fk_lock);
		fprintf(stderr, "fake kernel: a previous fake kernel was not destroyed\n");
		abort();
	}
	fs_rebuild(fk);
	fk_cur = fk;
	pthread_mutex_unlock(&fk_lock);
	return fk;
}

void fake_kernel_destroy(struct fake_kernel *fk)
{
	if (!fk)
		return;
	pthread_mutex_lock(&fk_lock);
	fk_nio_free(fk);
	while (fk->nreal) {
		struct real_fd *rf = &fk->real[--fk->nreal];

		close(rf->fd);
		if (rf->peer >= 0)
			close(rf->peer);
	}
	/* Whatever a test leaked: close it, so the next test starts clean. */
	for (size_t i = 0; i < fk->nfds; i++) {
		if (fk->fds[i]) {
			struct file *f = fk->fds[i];

			fk->fds[i] = NULL;
			file_put(fk, f);
		}
	}
	while (fk->nmmaps) {
		struct mmap_rec *m = &fk->mmaps[--fk->nmmaps];

		munmap(m->addr, m->len);
		file_put(fk, m->file);
	}
	/* Groups may still hold containers/iommufds only through files, all gone. */
	while (fk->live) {
		struct file *f = fk->live;

		fk->live = f->next_live;
		if (f->kind == F_IOMMUFD) {
			for (size_t i = 0; i < f->nobj; i++)
				if (f->objs[i].type == OBJ_IOAS)
					ioas_free(fk, f->objs[i].ioas);
			free(f->objs);
		}
		free(f->data);
		free(f->dmas.v);
		free(f);
	}
	fk_vf_free(fk->vf);
	fk_cur = NULL;
	pthread_mutex_unlock(&fk_lock);
	fs_clear(fk);
	free(fk->nodes);
	for (size_t i = 0; i < fk->nextra; i++) {
		free(fk->extra[i].path);
		free(fk->extra[i].data);
	}
	free(fk->extra);
	for (size_t i = 0; i < fk->ndeny; i++)
		free(fk->deny[i]);
	free(fk->deny);
	for (size_t i = 0; i < fk->ndevs; i++)
		dev_free(fk->devs[i]);
	free(fk->devs);
	for (size_t i = 0; i < fk->ngroups; i++)
		free(fk->groups[i]);
	free(fk->groups);
	free(fk->fds);
	free(fk->mmaps);
	free(fk->log);
	free(fk);
}

void fake_kernel_destroy_current(void)
{
	struct fake_kernel *fk;

	pthread_mutex_lock(&fk_lock);
	fk = fk_cur;
	pthread_mutex_unlock(&fk_lock);
	fake_kernel_destroy(fk);
}

const struct ifd_sys *fake_kernel_sys(struct fake_kernel *fk)
{
	return &fk->sys;
}

int fake_kernel_add_device(struct fake_kernel *fk, const struct fk_dev_desc *dd)
{
	struct dev *d;

	if (!dd->name || strlen(dd->name) >= sizeof(d->name))
		return -EINVAL;
	pthread_mutex_lock(&fk_lock);
	d = xcalloc(1, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", dd->name);
	d->mdev = dd->mdev;
	d->group = dd->no_group ? -1 : dd->group;
	snprintf(d->driver, sizeof(d->driver), "%s", dd->driver ? dd->driver : (dd->mdev ? "vfio_mdev" : "vfio-pci"));
	d->no_cdev = dd->no_cdev;
	d->noiommu = dd->noiommu;
	d->no_reset = dd->no_reset;
	d->exclusive = dd->exclusive;
	d->cdev = dd->no_cdev ? -1 : fk->next_cdev++;
	d->aperture_last = dd->aperture_last ? dd->aperture_last : dd->noiommu ? UINT64_MAX : FK_APERTURE_LAST;
	d->hw_type = dd->hw_type ? dd->hw_type : 1; /* IOMMU_HW_INFO_TYPE_INTEL_VTD */
	d->no_dirty = dd->no_dirty;
	d->no_nest = dd->no_nest;
	d->no_iopf = dd->no_iopf;
	d->max_pasid_log2 = dd->max_pasid_log2;
	d->pgsize = dd->pgsize ? dd->pgsize : 0x1000;
	if (dd->nresv) {
		d->nresv = dd->nresv > FK_MAX_RESV ? FK_MAX_RESV : dd->nresv;
		memcpy(d->resv, dd->resv, d->nresv * sizeof(d->resv[0]));
	} else if (!dd->no_resv && !dd->noiommu) {
		d->nresv = 1;
		d->resv[0] = (struct fk_range){ FK_MSI_START, FK_MSI_LAST };
	}
	for (int i = 0; i < MAX_REGIONS; i++)
		d->reg[i].memfd = -1;
	d->nregions = NREGIONS + (dd->extra_regions > FK_MAX_EXTRA_REGIONS ? FK_MAX_EXTRA_REGIONS : dd->extra_regions);
	for (unsigned int i = NREGIONS; i < d->nregions; i++)
		region_init(&d->reg[i], 0x1000,
			    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP, true);
	d->hole_off = dd->bar0_hole_off;
	d->hole_len = dd->bar0_hole_len;
	d->bad_caps = dd->bad_caps;
	region_init(&d->reg[0], dd->bar0_size ? dd->bar0_size : 0x1000,
		    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP, true);
	region_init(&d->reg[2], dd->bar2_size ? dd->bar2_size : 0x4000,
		    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, false);
	region_init(&d->reg[VFIO_PCI_CONFIG_REGION_INDEX], CFG_SIZE,
		    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, false);
	cfg_init(d->reg[VFIO_PCI_CONFIG_REGION_INDEX].mem);
	d->irq[VFIO_PCI_INTX_IRQ_INDEX] = (struct irq){ 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
							       VFIO_IRQ_INFO_AUTOMASKED };
	d->irq[VFIO_PCI_MSI_IRQ_INDEX] = (struct irq){ 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE };
	d->irq[VFIO_PCI_MSIX_IRQ_INDEX] = (struct irq){ dd->msix ? dd->msix : 8, VFIO_IRQ_INFO_EVENTFD |
											 VFIO_IRQ_INFO_NORESIZE };
	d->irq[VFIO_PCI_ERR_IRQ_INDEX] = (struct irq){ 1, VFIO_IRQ_INFO_EVENTFD };
	d->irq[VFIO_PCI_REQ_IRQ_INDEX] = (struct irq){ 1, VFIO_IRQ_INFO_EVENTFD };
	for (int i = 0; i < NIRQS; i++) {
		d->irq[i].fds = xcalloc(d->irq[i].count, sizeof(int));
		for (unsigned int v = 0; v < d->irq[i].count; v++)
			d->irq[i].fds[v] = -1;
	}
	d->irq_type = -1;
	if (d->group >= 0) {
		d->grp = group_by_num(fk, d->group);
		if (!d->grp) {
			d->grp = xcalloc(1, sizeof(*d->grp));
			d->grp->num = d->group;
			fk->groups = xrealloc(fk->groups, (fk->ngroups + 1) * sizeof(*fk->groups));
			fk->groups[fk->ngroups++] = d->grp;
		}
	}
	fk->devs = xrealloc(fk->devs, (fk->ndevs + 1) * sizeof(*fk->devs));
	fk->devs[fk->ndevs++] = d;
	fs_rebuild(fk);
	pthread_mutex_unlock(&fk_lock);
	return 0;
}

const char *fake_kernel_cdev_path(struct fake_kernel *fk, const char *name)
{
	static __thread char buf[64];
	struct dev *d;

	pthread_mutex_lock(&fk_lock);
	d = dev_by_name(fk, name);
	buf[0] = '\0';
	if (d && d->cdev >= 0 && has_cdev(fk) && driver_vfio(d->driver))
		snprintf(buf, sizeof(buf), "/dev/vfio/devices/vfio%d", d->cdev);
	pthread_mutex_unlock(&fk_lock);
	return buf;
}

int fake_kernel_set_driver(struct fake_kernel *fk, const char *name, const char *driver)
{
	struct dev *d;

	pthread_mutex_lock(&fk_lock);
	d = dev_by_name(fk, name);
	if (d) {
		snprintf(d->driver, sizeof(d->driver), "%s", driver);
		fs_rebuild(fk);
	}
	pthread_mutex_unlock(&fk_lock);
	return d ? 0 : -ENOENT;
}

static void add_extra(struct fake_kernel *fk, enum node_type t, const char *path, const char *data)
{
	pthread_mutex_lock(&fk_lock);
	fk->extra = xrealloc(fk->extra, (fk->nextra + 1) * sizeof(*fk->extra));
	fk->extra[fk->nextra++] = (struct node){ .path = xstrdup(path), .type = t, .data = xstrdup(data) };
	fs_rebuild(fk);
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_add_file(struct fake_kernel *fk, const char *path, const char *contents)
{
	add_extra(fk, N_FILE, path, contents);
}

void fake_kernel_add_link(struct fake_kernel *fk, const char *path, const char *target)
{
	add_extra(fk, N_LINK, path, target);
}

void fake_kernel_deny(struct fake_kernel *fk, const char *path)
{
	pthread_mutex_lock(&fk_lock);
	fk->deny = xrealloc(fk->deny, (fk->ndeny + 1) * sizeof(*fk->deny));
	fk->deny[fk->ndeny++] = xstrdup(path);
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_set_malform(struct fake_kernel *fk, enum fk_malform what)
{
	pthread_mutex_lock(&fk_lock);
	fk->malform = what;
	pthread_mutex_unlock(&fk_lock);
}

int fake_kernel_rlimit_mode(struct fake_kernel *fk, int fd)
{
	struct file *f;
	int r = -1;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	if (f && f->kind == F_IOMMUFD)
		r = f->account_mode;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_huge_pages(struct fake_kernel *fk, int fd, uint32_t ioas_id)
{
	struct file *f;
	struct ioas *io;
	int r = -1;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	io = f && f->kind == F_IOMMUFD ? ioas_get(f, ioas_id) : NULL;
	if (io)
		r = !io->no_huge;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

void fake_kernel_set_memlock(struct fake_kernel *fk, uint64_t bytes)
{
	pthread_mutex_lock(&fk_lock);
	fk->memlock = bytes;
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_hold_group(struct fake_kernel *fk, int num, bool hold)
{
	struct group *g;

	pthread_mutex_lock(&fk_lock);
	g = group_by_num(fk, num);
	if (g)
		g->ext_hold = hold;
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_hold_device(struct fake_kernel *fk, const char *name, bool hold)
{
	struct dev *d;

	pthread_mutex_lock(&fk_lock);
	d = dev_by_name(fk, name);
	if (d && d->ext_open != hold) {
		d->ext_open = hold;
		if (d->grp)
			d->grp->cdev_bound += hold ? 1 : -1;
	}
	pthread_mutex_unlock(&fk_lock);
}

int fake_kernel_open_fds(struct fake_kernel *fk)
{
	int n = 0;

	pthread_mutex_lock(&fk_lock);
	for (size_t i = 0; i < fk->nfds; i++)
		n += fk->fds[i] != NULL;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_live_files(struct fake_kernel *fk)
{
	int n = 0;

	pthread_mutex_lock(&fk_lock);
	for (struct file *f = fk->live; f; f = f->next_live)
		n++;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_live_mmaps(struct fake_kernel *fk)
{
	int n;

	pthread_mutex_lock(&fk_lock);
	n = (int)fk->nmmaps;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

uint64_t fake_kernel_pinned(struct fake_kernel *fk)
{
	uint64_t p;

	pthread_mutex_lock(&fk_lock);
	p = fk->pinned;
	pthread_mutex_unlock(&fk_lock);
	return p;
}

bool fake_kernel_fd_is_open(struct fake_kernel *fk, int fd)
{
	bool r;

	pthread_mutex_lock(&fk_lock);
	r = fd_get(fk, fd) != NULL;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

size_t fake_kernel_get_maps(struct fake_kernel *fk, int fd, uint32_t ioas_id, struct fk_map *out, size_t max)
{
	const struct maplist *ml = NULL;
	struct file *f;
	size_t n = 0;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	if (f && f->kind == F_CONTAINER) {
		ml = &f->dmas;
	} else if (f && f->kind == F_IOMMUFD) {
		struct ioas *io = ioas_get(f, ioas_id);

		ml = io ? &io->maps : NULL;
	}
	if (ml) {
		n = ml->n;
		if (n && max)
			memcpy(out, ml->v, (n < max ? n : max) * sizeof(*out));
	}
	pthread_mutex_unlock(&fk_lock);
	return n;
}

size_t fake_kernel_get_ranges(struct fake_kernel *fk, int fd, uint32_t ioas_id, struct fk_range *out, size_t max)
{
	struct fk_range *resv = NULL;
	struct file *f;
	size_t n = 0, nr = 0;
	uint64_t minpg;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	if (f && f->kind == F_CONTAINER) {
		if (f->iommu)
			nr = ct_resv(fk, f, &resv, &minpg);
		n = holes(resv, nr, out, max);
	} else if (f && f->kind == F_IOMMUFD) {
		struct ioas *io = ioas_get(f, ioas_id);

		if (io) {
			nr = ioas_resv(fk, io, &resv);
			n = holes(resv, nr, out, max);
		}
	}
	free(resv);
	pthread_mutex_unlock(&fk_lock);
	return n;
}

static int group_state(const struct file *f)
{
	return f->grp->container ? 1 : f->grp->iommufd ? 2 : 0;
}

static int cdev_bound(const struct file *f)
{
	return f->bound;
}

static int container_iommu(const struct file *f)
{
	return f->iommu;
}

static int iommufd_objects(const struct file *f)
{
	return (int)f->nobj;
}

/* One locked look at an fd of @kind: @get's answer, or -1 if it is not one. */
static int inspect_fd(struct fake_kernel *fk, int fd, enum file_kind kind, int (*get)(const struct file *f))
{
	struct file *f;
	int r = -1;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	if (f && f->kind == kind)
		r = get(f);
	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_group_state(struct fake_kernel *fk, int fd)
{
	return inspect_fd(fk, fd, F_GROUP, group_state);
}

int fake_kernel_cdev_bound(struct fake_kernel *fk, int fd)
{
	return inspect_fd(fk, fd, F_CDEV, cdev_bound);
}

int fake_kernel_container_iommu(struct fake_kernel *fk, int fd)
{
	return inspect_fd(fk, fd, F_CONTAINER, container_iommu);
}

int fake_kernel_iommufd_objects(struct fake_kernel *fk, int fd)
{
	return inspect_fd(fk, fd, F_IOMMUFD, iommufd_objects);
}

/* Look a device up with the fake locked; unlock with pthread_mutex_unlock(&fk_lock). */
static struct dev *dev_locked(struct fake_kernel *fk, const char *name)
{
	pthread_mutex_lock(&fk_lock);
	return dev_by_name(fk, name);
}

void fk_model_lock(bool on)
{
	if (on)
		pthread_mutex_lock(&fk_lock);
	else
		pthread_mutex_unlock(&fk_lock);
}

const char *fk_model_dev_driver(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_by_name(fk, name);

	return d ? d->driver : "";
}

int fk_model_dev_open_count(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_by_name(fk, name);

	return d ? (int)d->open_count : -1;
}

struct fk_vf_state **fk_vf_state(struct fake_kernel *fk)
{
	return &fk->vf;
}

int fake_kernel_dev_open_count(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_locked(fk, name);
	int r = d ? (int)d->open_count : -1;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

uint32_t fake_kernel_dev_ioas(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_locked(fk, name);
	uint32_t r = d && d->ioas ? d->ioas->id : 0;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

uint32_t fake_kernel_dev_hwpt(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_locked(fk, name);
	uint32_t r = d && d->xh ? d->xh->id : 0;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

uint32_t fake_kernel_dev_pasid_hwpt(struct fake_kernel *fk, const char *name, uint32_t pasid)
{
	struct dev *d = dev_locked(fk, name);
	uint32_t r = 0;

	for (unsigned int i = 0; d && i < d->npas; i++)
		if (d->pas[i].pasid == pasid)
			r = d->pas[i].h->id;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

/* The iommufd file of @fd, with the fake locked (NULL: not one). */
static struct file *ictx_locked(struct fake_kernel *fk, int fd)
{
	struct file *f;

	pthread_mutex_lock(&fk_lock);
	f = fd_get(fk, fd);
	return f && f->kind == F_IOMMUFD ? f : NULL;
}

int fake_kernel_hwpt_state(struct fake_kernel *fk, int fd, uint32_t hwpt_id)
{
	struct file *f = ictx_locked(fk, fd);
	struct hwptx *h = f ? hwptx_get(f, hwpt_id) : NULL;
	int r = h ? (h->dirty_on ? 2 : 1) : 0;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_hwpt_vendor(struct fake_kernel *fk, int fd, uint32_t hwpt_id, void *buf, size_t len)
{
	struct file *f = ictx_locked(fk, fd);
	struct hwptx *h = f ? hwptx_get(f, hwpt_id) : NULL;
	int r = h ? (int)h->vendor_len : -ENOENT;

	if (h)
		memcpy(buf, h->vendor, len < h->vendor_len ? len : h->vendor_len);
	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_set_dirty(struct fake_kernel *fk, int fd, uint32_t hwpt_id, uint64_t iova, uint64_t len)
{
	struct file *f = ictx_locked(fk, fd);
	struct hwptx *h = f ? hwptx_get(f, hwpt_id) : NULL;
	uint64_t pgsz = (uint64_t)fk->page_size;
	int n = 0;

	if (!h || !h->dirty_on || !len) {
		pthread_mutex_unlock(&fk_lock);
		return h ? 0 : -ENOENT;
	}
	for (uint64_t pg = iova & ~(pgsz - 1); pg <= iova + len - 1; pg += pgsz) {
		size_t at;

		if (ml_overlap(&h->io->maps, pg, pg) < 0 || dirty_has(h, pg, &at))
			continue;
		if (h->ndirty == h->dirtycap) {
			h->dirtycap = h->dirtycap ? h->dirtycap * 2 : 64;
			h->dirty = xrealloc(h->dirty, h->dirtycap * sizeof(*h->dirty));
		}
		memmove(&h->dirty[at + 1], &h->dirty[at], (h->ndirty - at) * sizeof(h->dirty[0]));
		h->dirty[at] = pg;
		h->ndirty++;
		n++;
		if (pg + pgsz < pg)
			break;
	}
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_trigger_iopf(struct fake_kernel *fk, const char *name, bool pasid_valid, uint32_t pasid,
			     uint32_t grpid, uint32_t perm, uint64_t addr, bool last)
{
	struct dev *d = dev_locked(fk, name);
	struct iopf_rec rec = { d, pasid_valid, pasid, grpid, perm, addr, last };
	struct hwptx *h = NULL;
	struct faultq *q;
	struct iopf_group g = { 0 };

	if (!d) {
		pthread_mutex_unlock(&fk_lock);
		return -ENODEV;
	}
	if (pasid_valid) {
		for (unsigned int i = 0; i < d->npas; i++)
			if (d->pas[i].pasid == pasid)
				h = d->pas[i].h;
	} else {
		h = d->xh;
	}
	q = h ? h->q : NULL;
	if (!q) {
		/* no handler: the IOMMU core answers the device itself */
		if (last)
			dev_respond(d, &rec, 1, true);
		pthread_mutex_unlock(&fk_lock);
		return -EINVAL;
	}
	if (!last) {
		d->partial = xrealloc(d->partial, (d->npartial + 1) * sizeof(*d->partial));
		d->partial[d->npartial++] = rec;
		pthread_mutex_unlock(&fk_lock);
		return 0;
	}
	g.h = h;
	g.recs = xcalloc(d->npartial + 1, sizeof(*g.recs));
	for (size_t i = 0; i < d->npartial;) {
		if (d->partial[i].grpid == grpid) {
			g.recs[g.n++] = d->partial[i];
			d->partial[i] = d->partial[--d->npartial];
		} else {
			i++;
		}
	}
	g.recs[g.n++] = rec;
	/* unread groups stay ahead of read ones only by their cookie: keep
	 * arrival order in the array, cookie 0 = unread */
	if (q->ng == q->gcap) {
		q->gcap = q->gcap ? q->gcap * 2 : 16;
		q->g = xrealloc(q->g, q->gcap * sizeof(*q->g));
	}
	q->g[q->ng++] = g;
	pthread_mutex_unlock(&fk_lock);
	return 0;
}

size_t fake_kernel_iopf_responses(struct fake_kernel *fk, const char *name, struct fk_iopf_resp *out, size_t max)
{
	struct dev *d = dev_locked(fk, name);
	size_t n = d ? d->nresp : 0;

	for (size_t i = 0; i < n && i < max; i++)
		out[i] = d->resp[i];
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_fault_pending(struct fake_kernel *fk, int fd, uint32_t fault_id, unsigned int *unread,
			      unsigned int *unanswered)
{
	struct file *f = ictx_locked(fk, fd);
	struct obj *o = f ? obj_find(f, fault_id) : NULL;
	unsigned int a = 0, b = 0;

	if (!o || o->type != OBJ_FAULT) {
		pthread_mutex_unlock(&fk_lock);
		return -ENOENT;
	}
	for (size_t i = 0; i < o->q->ng; i++) {
		if (o->q->g[i].cookie)
			b++;
		else
			a++;
	}
	pthread_mutex_unlock(&fk_lock);
	if (unread)
		*unread = a;
	if (unanswered)
		*unanswered = b;
	return 0;
}

static int ct_dirty_state(const struct file *f)
{
	return f->dirty_on;
}

int fake_kernel_type1_dirty(struct fake_kernel *fk, int fd)
{
	return inspect_fd(fk, fd, F_CONTAINER, ct_dirty_state);
}

uint8_t *fake_kernel_dev_config(struct fake_kernel *fk, const char *name)
{
	return fake_kernel_dev_region_mem(fk, name, VFIO_PCI_CONFIG_REGION_INDEX);
}

uint8_t *fake_kernel_dev_region_mem(struct fake_kernel *fk, const char *name, unsigned int index)
{
	struct dev *d = dev_locked(fk, name);
	uint8_t *r = d && index < d->nregions ? d->reg[index].mem : NULL;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_dev_resets(struct fake_kernel *fk, const char *name)
{
	struct dev *d = dev_locked(fk, name);
	int r = d ? d->resets : -1;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_dev_irq_fd(struct fake_kernel *fk, const char *name, unsigned int type, unsigned int vec)
{
	struct dev *d = dev_locked(fk, name);
	int r = d && type < NIRQS && vec < d->irq[type].count ? d->irq[type].fds[vec] : -1;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_dev_irq_unmasks(struct fake_kernel *fk, const char *name, unsigned int type)
{
	struct dev *d = dev_locked(fk, name);
	int r = d && type < NIRQS ? (int)d->irq[type].unmasks : -1;

	pthread_mutex_unlock(&fk_lock);
	return r;
}

int fake_kernel_fire_irq(struct fake_kernel *fk, const char *name, unsigned int type, unsigned int vec)
{
	int efd = fake_kernel_dev_irq_fd(fk, name, type, vec);

	if (efd < 0)
		return -ENOENT;
	return eventfd_write(efd, 1) < 0 ? -errno : 0;
}

void fake_kernel_fail_match(struct fake_kernel *fk, const char *what, unsigned long n, int err)
{
	pthread_mutex_lock(&fk_lock);
	fk->fault = (struct fault){ .armed = n > 0, .n = n, .err = err };
	snprintf(fk->fault.match, sizeof(fk->fault.match), "%s", what ? what : "");
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_before_ioctl(struct fake_kernel *fk, const char *what, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&fk_lock);
	snprintf(fk->hook.match, sizeof(fk->hook.match), "%s", what);
	fk->hook.fn = fn;
	fk->hook.arg = arg;
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_after_close(struct fake_kernel *fk, const char *what, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&fk_lock);
	snprintf(fk->close_hook.match, sizeof(fk->close_hook.match), "%s", what);
	fk->close_hook.fn = fn;
	fk->close_hook.arg = arg;
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_fail_nth(struct fake_kernel *fk, unsigned long n, int err)
{
	fake_kernel_fail_match(fk, NULL, n, err);
}

void fake_kernel_fail_clear(struct fake_kernel *fk)
{
	fake_kernel_fail_match(fk, NULL, 0, 0);
}

bool fake_kernel_fault_fired(struct fake_kernel *fk)
{
	bool r;

	pthread_mutex_lock(&fk_lock);
	r = fk->fault.fired;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

unsigned long fake_kernel_calls(struct fake_kernel *fk)
{
	unsigned long n;

	pthread_mutex_lock(&fk_lock);
	n = fk->ncalls;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

size_t fake_kernel_log_count(struct fake_kernel *fk)
{
	size_t n;

	pthread_mutex_lock(&fk_lock);
	n = fk->nlog;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

bool fake_kernel_log_get(struct fake_kernel *fk, size_t i, struct fk_call *out)
{
	bool ok;

	pthread_mutex_lock(&fk_lock);
	ok = i < fk->nlog;
	if (ok)
		*out = fk->log[i];
	pthread_mutex_unlock(&fk_lock);
	return ok;
}

void fake_kernel_log_clear(struct fake_kernel *fk)
{
	pthread_mutex_lock(&fk_lock);
	fk->nlog = 0;
	pthread_mutex_unlock(&fk_lock);
}

void fake_kernel_log_enable(struct fake_kernel *fk, bool on)
{
	pthread_mutex_lock(&fk_lock);
	fk->log_off = !on;
	pthread_mutex_unlock(&fk_lock);
}

static bool call_matches(const struct fk_call *c, const char *op, const char *what)
{
	if (op && strcmp(c->op, op))
		return false;
	return !what || prefix(c->target, what) || prefix(c->detail, what);
}

size_t fake_kernel_log_find(struct fake_kernel *fk, const char *op, const char *what)
{
	size_t n = 0;

	pthread_mutex_lock(&fk_lock);
	for (size_t i = 0; i < fk->nlog; i++)
		n += call_matches(&fk->log[i], op, what);
	pthread_mutex_unlock(&fk_lock);
	return n;
}

long fake_kernel_log_index(struct fake_kernel *fk, size_t from, const char *op, const char *what)
{
	long r = -1;

	pthread_mutex_lock(&fk_lock);
	for (size_t i = from; i < fk->nlog && r < 0; i++)
		if (call_matches(&fk->log[i], op, what))
			r = (long)i;
	pthread_mutex_unlock(&fk_lock);
	return r;
}

char *fake_kernel_trace(struct fake_kernel *fk, unsigned int flags)
{
	size_t cap = 256, len = 0;
	char *s = xcalloc(1, cap);

	pthread_mutex_lock(&fk_lock);
	for (size_t i = 0; i < fk->nlog; i++) {
		const struct fk_call *c = &fk->log[i];
		char line[256];
		int n;

		if (!c->significant && !(flags & FK_TRACE_ALL))
			continue;
		n = snprintf(line, sizeof(line), "%s %s%s%s%s%s\n", c->op, c->target, c->detail[0] ? " " : "", c->detail,
			     c->err ? " = " : "", c->err ? strerrorname_np(c->err) : "");
		while (len + (size_t)n + 1 > cap) {
			cap *= 2;
			s = xrealloc(s, cap);
		}
		memcpy(s + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	pthread_mutex_unlock(&fk_lock);
	return s;
}

void fk_expect_trace_(struct fake_kernel *fk, const char *file, int line, const char *const *expect)
{
	char *got = fake_kernel_trace(fk, 0), *want;
	size_t len = 1;

	for (const char *const *e = expect; *e; e++)
		len += strlen(*e) + 1;
	want = xcalloc(1, len);
	for (const char *const *e = expect; *e; e++) {
		strcat(want, *e);
		strcat(want, "\n");
	}
	if (strcmp(got, want)) {
		print_error("%s:%d: call trace differs\n--- expected\n%s--- got\n%s", file, line, want, got);
		free(got);
		free(want);
		_fail(file, line);
	}
	free(got);
	free(want);
	fake_kernel_log_clear(fk);
}

/* ------------------------------------------------------------------------ */
/* Log capture                                                              */

void fk_logcap_init(struct fk_logcap *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void fk_logcap_free(struct fk_logcap *c)
{
	free(c->text);
	pthread_mutex_destroy(&c->lock);
}

void fk_logcap_clear(struct fk_logcap *c)
{
	pthread_mutex_lock(&c->lock);
	free(c->text);
	c->text = NULL;
	c->len = 0;
	c->count = 0;
	c->errors = 0;
	pthread_mutex_unlock(&c->lock);
}

void fk_logcap_fn(void *data, int level, const char *msg)
{
	struct fk_logcap *c = data;
	size_t l = strlen(msg);

	pthread_mutex_lock(&c->lock);
	c->text = xrealloc(c->text, c->len + l + 2);
	memcpy(c->text + c->len, msg, l);
	c->text[c->len + l] = '\n';
	c->text[c->len + l + 1] = '\0';
	c->len += l + 1;
	c->count++;
	if (level <= IOMMUFD_LOG_ERR)
		c->errors++;
	pthread_mutex_unlock(&c->lock);
}

bool fk_logcap_has(struct fk_logcap *c, const char *needle)
{
	bool r;

	pthread_mutex_lock(&c->lock);
	r = c->text && strstr(c->text, needle);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ------------------------------------------------------------------------ */

struct fake_kernel *fk_standard(enum fk_flavour flavour)
{
	struct fk_config cfg = { .flavour = flavour };

	return fk_standard_cfg(&cfg);
}

struct fake_kernel *fk_standard_cfg(const struct fk_config *cfg)
{
	struct fake_kernel *fk = fake_kernel_create(cfg);

	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = FK_GROUP_A });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_B, .group = FK_GROUP_B });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_B2, .group = FK_GROUP_B });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_NORESET, .group = 7, .no_reset = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_HOST, .group = 8, .driver = "e1000e",
							  .no_cdev = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_NV, .group = 9 });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_NV_CULPRIT, .group = 9, .driver = "e1000e",
							  .no_cdev = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_UNBOUND, .group = 10, .driver = "",
							  .no_cdev = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_MDEV, .group = 11, .mdev = true });
	return fk;
}

int fake_kernel_real_fds(struct fake_kernel *fk)
{
	int n;

	pthread_mutex_lock(&fk_lock);
	n = (int)fk->nreal;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_uevent(struct fake_kernel *fk, const void *msg, size_t len, uint32_t sender)
{
	char tmp[65536];
	int n = 0;

	if (len > sizeof(tmp) - 4)
		return -EMSGSIZE;
	memcpy(tmp, &sender, 4);
	memcpy(tmp + 4, msg, len);
	pthread_mutex_lock(&fk_lock);
	for (size_t i = 0; i < fk->nreal; i++)
		if (fk->real[i].bound && send(fk->real[i].peer, tmp, len + 4, MSG_DONTWAIT) == (ssize_t)(len + 4))
			n++;
	pthread_mutex_unlock(&fk_lock);
	return n;
}

int fake_kernel_uevent_kv(struct fake_kernel *fk, const char *action, const char *devpath, const char *subsystem,
			  uint64_t seqnum)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "%s@%s%cACTION=%s%cDEVPATH=%s%cSUBSYSTEM=%s%cSEQNUM=%llu%c", action, devpath,
			 0, action, 0, devpath, 0, subsystem, 0, (unsigned long long)seqnum, 0);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EMSGSIZE;
	return fake_kernel_uevent(fk, msg, (size_t)n, 0);
}
