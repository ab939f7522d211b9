/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufdctl: shared declarations.  Every path the tool reads or writes
 * under /sys, /dev, /proc, /run and /etc goes through ctl_path(), so a
 * test can point the tool at a fake tree (IOMMUFDCTL_SYSROOT).
 */
#ifndef IOMMUFDCTL_CTL_H
#define IOMMUFDCTL_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes, documented in iommufdctl(1). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_REFUSED = 3,   /* needs --yes or --force */
	CTL_EXIT_NODEV = 4,     /* DEVICE names nothing on this system */
	CTL_EXIT_UNSUPPORTED = 5, /* built without what the request needs */
};

#define CTL_NAME_MAX 64
#define CTL_MAX_MEMBERS 64

struct ctl_opts {
	bool json;
	bool yes;
	bool force;
	bool apply;
	const char *memlock; /* setup-user --memlock SIZE, or NULL */
};

/* One device as sysfs describes it. */
struct ctl_dev {
	char bus[8];                /* "pci" or "mdev" */
	char name[CTL_NAME_MAX];    /* "0000:00:03.0" or an mdev UUID */
	char driver[CTL_NAME_MAX];  /* "" when no driver is bound */
	char override[CTL_NAME_MAX]; /* driver_override, "" when unset */
	char ids[32];               /* "8086:10d3" (PCI), "" else */
	int group;                  /* IOMMU group number, -1 for none */
	int cdev;                   /* N of /dev/vfio/devices/vfioN, -1 for none */
	bool group_node;            /* /dev/vfio/N (or noiommu-N) exists */
	bool noiommu_group;         /* the node is /dev/vfio/noiommu-N */
};

struct ctl_devlist {
	struct ctl_dev *v;
	size_t n, cap;
};

/* sysroot.c */
const char *ctl_root(void);
bool ctl_root_is_real(void);
int ctl_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ctl_read(const char *path, char *buf, size_t len);
int ctl_write(const char *path, const char *s);
int ctl_link_base(const char *path, char *out, size_t len);
bool ctl_exists(const char *path);
int ctl_mkdir_p(const char *path, unsigned int mode);

/* devices.c */
int ctl_dev_fill(const char *bus, const char *name, struct ctl_dev *d);
int ctl_devlist_scan(struct ctl_devlist *l);
void ctl_devlist_free(struct ctl_devlist *l);
int ctl_group_members(int group, char names[][CTL_NAME_MAX], size_t max);
bool ctl_driver_keeps_group_viable(const char *driver);
bool ctl_is_bdf(const char *s);
bool ctl_is_uuid(const char *s);

/* kpaths.c */
struct ctl_kpaths {
	bool iommufd;       /* /dev/iommu */
	bool cdev;          /* "vfio-dev" in /proc/devices */
	bool groups;        /* "vfio" in /proc/devices */
	bool container;     /* /dev/vfio/vfio exists */
	int container_kind; /* CTL_CONTAINER_* */
	bool noiommu_param; /* the kernel has VFIO no-IOMMU support */
	bool noiommu_on;    /* ... and it is enabled */
};
enum { CTL_CONTAINER_NONE, CTL_CONTAINER_TYPE1, CTL_CONTAINER_COMPAT, CTL_CONTAINER_UNKNOWN };
void ctl_kpaths_probe(struct ctl_kpaths *k);
const char *ctl_container_kind_name(int kind);

/* json.c */
void ctl_json_str(FILE *f, const char *s);

/* resolve.c: a user's DEVICE argument to a bus and name. */
struct ctl_target {
	char bus[8];
	char name[CTL_NAME_MAX];
	char ifname[32]; /* set when DEVICE was a network interface */
};
int ctl_resolve(const char *arg, struct ctl_target *t);

/* netlink.c */
int ctl_nl_parent(const char *ifname, char *bdf, size_t len);
int ctl_nl_link_down(const char *ifname);
bool ctl_nl_available(void);

/* inuse.c: why unbinding a device from its driver would hurt. */
int ctl_dev_in_use(const struct ctl_dev *d, char *why, size_t len);

/* ctl_main.c: the whole command line; main() of the tool and of its VM test. */
int ctl_main(int argc, char **argv);

/* commands */
int ctl_cmd_list(const struct ctl_opts *o);
int ctl_cmd_info(const struct ctl_opts *o, const char *arg);
int ctl_cmd_bind(const struct ctl_opts *o, const char *arg);
int ctl_cmd_unbind(const struct ctl_opts *o, const char *arg);
int ctl_cmd_setup_user(const struct ctl_opts *o, const char *user, const char *arg);

#endif
