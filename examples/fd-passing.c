/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * fd-passing: device DMA from an unprivileged process.
 *
 *   fd-passing [--backend cdev|group|type1|noiommu] [--uid N] [--gid N]
 *              [--memlock BYTES] [--without-fds] [BDF]
 *
 * The pattern a VMM uses under a management daemon: a privileged helper
 * (here the parent, root) opens the nodes only it may open and hands the
 * open fds over a UNIX socket (SCM_RIGHTS) to a worker that has dropped
 * every privilege: uid/gid 65534, no capabilities, no_new_privs, and a
 * small RLIMIT_MEMLOCK (default 1 MiB).  The worker wraps the fds with
 * iommufd_ctx_adopt_fd() and iommufd_device_adopt_cdev_fd() /
 * iommufd_device_adopt_group_fd() and runs an edu DMA round trip; then it
 * shows that a mapping larger than its RLIMIT_MEMLOCK is refused.
 *
 *   cdev:  /dev/iommu + /dev/vfio/devices/vfioN
 *   group: /dev/iommu + /dev/vfio/<group>
 *   type1: /dev/vfio/vfio (the legacy container) + /dev/vfio/<group>
 *   noiommu: nothing: without an IOMMU the worker could DMA to all of
 *            memory, and the library refuses to adopt an fd into that
 *            backend, which this shows
 * Default: $LIBIOMMUFD_BACKEND if it names one, else cdev when /dev/iommu
 * and the device's cdev exist, else type1.  BDF: $IFD_EDU, else
 * 0000:00:03.0 (QEMU's edu device, bound to vfio-pci).
 *
 * --without-fds: the worker gets nothing and opens the device itself, the
 * way a program run by the wrong user would: the library refuses with
 * EACCES and a message naming the node and the fix, which this prints.
 *
 * Exit status: 0 as described (with --without-fds: the open was refused
 * with a permission error whose message names a /dev node), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include <libiommufd/libiommufd.h>

#include "edu.h"
#include "privdrop.h"

#define DMA_TIMEOUT_MS 10000

/* What the helper sends with the two fds. */
struct handoff {
	char backend[8];  /* "cdev", "group", "type1" */
	char name[64];    /* the device's PCI address */
};

struct opts {
	const char *backend;
	const char *bdf;
	uid_t uid;
	gid_t gid;
	rlim_t memlock;
	bool without_fds;
};

/* ----------------------------------------------------------------- helper */

/* /dev/vfio/<group> of @bdf from sysfs; -1 if it has no group. */
static int group_node(const char *bdf, char *out, size_t len)
{
	char path[128], target[PATH_MAX];
	const char *s;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	s = strrchr(target, '/');
	snprintf(out, len, "/dev/vfio/%.16s", s ? s + 1 : target);
	return 0;
}

/* /dev/vfio/devices/vfioN of @bdf, if the node exists. */
static int cdev_node(const char *bdf, char *out, size_t len)
{
	char path[128];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = -1;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(out, len, "/dev/vfio/devices/%.40s", de->d_name);
			r = stat(out, &st) == 0 && S_ISCHR(st.st_mode) ? 0 : -1;
			break;
		}
	closedir(d);
	return r;
}

static const char *pick_backend(const char *bdf)
{
	const char *e = getenv("LIBIOMMUFD_BACKEND");
	char node[128];

	if (e && (!strcmp(e, "cdev") || !strcmp(e, "group") || !strcmp(e, "type1") || !strcmp(e, "noiommu")))
		return e;
	if (access("/dev/iommu", F_OK) == 0 && cdev_node(bdf, node, sizeof(node)) == 0)
		return "cdev";
	return "type1";
}

static int open_node(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "fd-passing: helper: open %s: %s\n", path, strerror(errno));
	return fd;
}

/* Open the two nodes of @o->backend and send them over @sock. */
static int helper_send(int sock, const struct opts *o)
{
	struct handoff h = { 0 };
	char ctl_node[128], dev_node[128];
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fds[2], r = -1;

	snprintf(ctl_node, sizeof(ctl_node), "%s", strcmp(o->backend, "type1") ? "/dev/iommu" : "/dev/vfio/vfio");
	if (!strcmp(o->backend, "cdev") ? cdev_node(o->bdf, dev_node, sizeof(dev_node))
					 : group_node(o->bdf, dev_node, sizeof(dev_node))) {
		fprintf(stderr, "fd-passing: helper: %s has no %s node (is it bound to vfio-pci?)\n", o->bdf,
			strcmp(o->backend, "cdev") ? "group" : "VFIO cdev");
		return -1;
	}
	fds[0] = open_node(ctl_node);
	fds[1] = open_node(dev_node);
	if (fds[0] >= 0 && fds[1] >= 0) {
		snprintf(h.backend, sizeof(h.backend), "%s", o->backend);
		snprintf(h.name, sizeof(h.name), "%s", o->bdf);
		memset(&ctl, 0, sizeof(ctl));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(h)) {
			printf("fd-passing: helper (uid %u) sent %s and %s (%s backend)\n", (unsigned)getuid(),
			       ctl_node, dev_node, o->backend);
			r = 0;
		} else {
			fprintf(stderr, "fd-passing: helper: sendmsg: %s\n", strerror(errno));
		}
	}
	/* The worker holds its own references now. */
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return r;
}

/* ----------------------------------------------------------------- worker */

struct logbuf {
	char last_err[512];
	bool denied; /* a message said "permission denied" and named a /dev node */
};

static void log_fn(void *data, int level, const char *msg)
{
	struct logbuf *l = data;

	if (level > IOMMUFD_LOG_WARNING)
		return;
	printf("fd-passing: worker: libiommufd: %s\n", msg);
	snprintf(l->last_err, sizeof(l->last_err), "%s", msg);
	if (strstr(msg, "permission denied") && strstr(msg, "/dev/"))
		l->denied = true;
}

/* Receive the handoff; trust nothing about the control message. */
static int worker_recv(int sock, struct handoff *h, int fds[2])
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;

	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int))) {
		memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
	} else {
		/* Close whatever fds did arrive before giving up. */
		for (; c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
					close(((int *)CMSG_DATA(c))[i]);
		return -EPROTO;
	}
	if (n != (ssize_t)sizeof(*h) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		close(fds[0]);
		close(fds[1]);
		return -EPROTO;
	}
	h->backend[sizeof(h->backend) - 1] = '\0';
	h->name[sizeof(h->name) - 1] = '\0';
	return 0;
}

static void fill(uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 13 + (i >> 8) + 0x3c);
}

static int worker_dma(struct iommufd_ioas *ioas, struct iommufd_device *dev, rlim_t memlock)
{
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova_max = EDU_IOVA_MAX };
	size_t big_len = (size_t)memlock * 2 + 0x200000;
	uint8_t *buf, *want, *big;
	uint64_t iova = 0, big_iova = 0;
	struct edu e;
	int r, ok = 0;

	buf = mmap(NULL, EDU_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	want = malloc(EDU_BUF_SIZE);
	if (buf == MAP_FAILED || !want)
		return -ENOMEM;
	r = edu_init(&e, dev);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: edu init: %s\n", strerror(-r));
		return r;
	}
	r = iommufd_ioas_map(ioas, buf, EDU_BUF_SIZE, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &mo, &iova);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: map: %s\n", strerror(-r));
		return r;
	}
	fill(want, EDU_BUF_SIZE);
	memcpy(buf, want, EDU_BUF_SIZE);
	r = edu_dma(&e, iova, 0, EDU_BUF_SIZE, 0, DMA_TIMEOUT_MS);
	if (r == 0) {
		memset(buf, 0, EDU_BUF_SIZE);
		r = edu_dma(&e, iova, 0, EDU_BUF_SIZE, 1, DMA_TIMEOUT_MS);
	}
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: DMA through IOVA 0x%" PRIx64 ": %s\n", iova, strerror(-r));
		ok = r;
	} else if (memcmp(buf, want, EDU_BUF_SIZE)) {
		fprintf(stderr, "fd-passing: worker: the data came back changed\n");
		ok = -EIO;
	} else {
		printf("fd-passing: worker: DMA round trip of %u bytes through IOVA 0x%" PRIx64 " came back intact\n",
		       EDU_BUF_SIZE, iova);
	}
	iommufd_ioas_unmap(ioas, iova, EDU_BUF_SIZE, NULL);

	/* What the small RLIMIT_MEMLOCK is for: pinning more is refused. */
	big = mmap(NULL, big_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED)
		return ok ? ok : -ENOMEM;
	memset(big, 1, big_len);
	r = iommufd_ioas_map(ioas, big, big_len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &big_iova);
	if (r == -ENOMEM) {
		printf("fd-passing: worker: mapping %zu KiB (over its RLIMIT_MEMLOCK of %llu KiB) is refused: %s\n",
		       big_len >> 10, (unsigned long long)memlock >> 10, strerror(-r));
	} else {
		fprintf(stderr, "fd-passing: worker: mapping %zu KiB over RLIMIT_MEMLOCK %llu KiB: %s (want ENOMEM)\n",
			big_len >> 10, (unsigned long long)memlock >> 10, r ? strerror(-r) : "it succeeded");
		if (r == 0)
			iommufd_ioas_unmap(ioas, big_iova, big_len, NULL);
		ok = ok ? ok : -EPERM;
	}
	munmap(big, big_len);
	munmap(buf, EDU_BUF_SIZE);
	free(want);
	return ok;
}

/* The worker without fds: what an unprivileged program sees. */
static int worker_without_fds(const struct opts *o, struct iommufd_ctx_opts *co, struct logbuf *lb)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	int r;

	r = iommufd_ctx_create(co, &ctx);
	if (r == 0) {
		/* TYPE1: /dev/vfio/vfio is open to all; the group is not. */
		r = iommufd_ioas_create(ctx, &ioas);
		if (r == 0)
			r = iommufd_device_open(ioas, o->bdf, NULL, &dev);
		if (r == 0)
			iommufd_device_destroy(dev);
		iommufd_ctx_destroy(ctx);
	}
	if ((r == -EACCES || r == -EPERM) && lb->denied) {
		printf("fd-passing: worker: without the fds the library refuses: %s; its message: %s\n", strerror(-r),
		       lb->last_err);
		return 0;
	}
	fprintf(stderr, "fd-passing: worker: without the fds: %s, message \"%s\" (want a permission error naming the "
		"node)\n", r ? strerror(-r) : "it worked", lb->last_err);
	return 1;
}

static int worker(int sock, const struct opts *o)
{
	struct logbuf lb = { "", false };
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .log_fn = log_fn, .log_data = &lb,
				       .log_level = IOMMUFD_LOG_WARNING };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct handoff h;
	const char *step;
	int fds[2], r;

	r = privdrop(o->uid, o->gid, o->memlock, &step);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: dropping privileges failed at %s: %s\n", step, strerror(-r));
		return 1;
	}
	printf("fd-passing: worker: uid %u gid %u, no capabilities (effective, permitted, bounding: 0), "
	       "no_new_privs, RLIMIT_MEMLOCK %llu KiB\n", (unsigned)getuid(), (unsigned)getgid(),
	       (unsigned long long)o->memlock >> 10);
	if (o->without_fds)
		return worker_without_fds(o, &co, &lb);

	r = worker_recv(sock, &h, fds);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: no fds received: %s\n", strerror(-r));
		return 1;
	}
	co.backend = !strcmp(h.backend, "cdev")	 ? IOMMUFD_BACKEND_CDEV
		     : !strcmp(h.backend, "group") ? IOMMUFD_BACKEND_GROUP
						   : IOMMUFD_BACKEND_TYPE1;
	r = iommufd_ctx_adopt_fd(fds[0], &co, &ctx);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: iommufd_ctx_adopt_fd: %s\n", strerror(-r));
		return 1;
	}
	r = iommufd_ioas_create(ctx, &ioas);
	if (r == 0)
		r = co.backend == IOMMUFD_BACKEND_CDEV ? iommufd_device_adopt_cdev_fd(ioas, fds[1], NULL, &dev)
						       : iommufd_device_adopt_group_fd(ioas, fds[1], h.name, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "fd-passing: worker: adopting %s on the %s backend: %s\n", h.name, h.backend,
			strerror(-r));
		close(fds[1]); /* still ours after a failed adopt */
		iommufd_ctx_destroy(ctx);
		return 1;
	}
	printf("fd-passing: worker: adopted the fds: %s backend, device %s\n",
	       iommufd_backend_name(iommufd_ctx_get_backend(ctx)), iommufd_device_get_name(dev));
	r = worker_dma(ioas, dev, o->memlock);
	if (iommufd_device_destroy(dev) < 0)
		r = r ? r : -EIO;
	iommufd_ctx_destroy(ctx);
	return r < 0 ? 1 : 0;
}

/* ------------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr, "usage: fd-passing [--backend cdev|group|type1|noiommu] [--uid N] [--gid N] [--memlock BYTES] "
		"[--without-fds] [BDF]\n");
	return 1;
}

/*
 * Without an IOMMU a device DMAs to any physical address, so an
 * unprivileged worker handed its fds could read and write all of memory:
 * the library adopts no fd into the noiommu backend.  Show that refusal.
 */
static int noiommu_refusal(void)
{
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .backend = IOMMUFD_BACKEND_NOIOMMU };
	struct iommufd_ctx *ctx = NULL;
	const char *node = access("/dev/iommu", F_OK) == 0 ? "/dev/iommu" : "/dev/vfio/vfio";
	int fd = open(node, O_RDWR | O_CLOEXEC), r;

	if (fd < 0) {
		fprintf(stderr, "fd-passing: open %s: %s\n", node, strerror(errno));
		return 1;
	}
	r = iommufd_ctx_adopt_fd(fd, &co, &ctx);
	close(fd);
	if (r != -EINVAL) {
		fprintf(stderr, "fd-passing: adopting %s into the noiommu backend: got %s, want the refusal (%s)\n",
			node, r < 0 ? strerror(-r) : "a context", strerror(EINVAL));
		if (r == 0)
			iommufd_ctx_destroy(ctx);
		return 1;
	}
	printf("fd-passing: no IOMMU: the library adopts no fd into the noiommu backend (%s): "
	       "a worker handed these fds could DMA to all of memory, so none are handed over\n", strerror(-r));
	printf("fd-passing: PASS (noiommu: the handover is refused as it must be)\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .uid = 65534, .gid = 65534, .memlock = 1 << 20 };
	int sv[2], st = 0, rc;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *end;

		if (!strcmp(a, "--without-fds")) {
			o.without_fds = true;
		} else if (i + 1 < argc && (!strcmp(a, "--uid") || !strcmp(a, "--gid") || !strcmp(a, "--memlock"))) {
			unsigned long long v = strtoull(argv[++i], &end, 0);

			if (*end || !*argv[i])
				return usage();
			if (!strcmp(a, "--uid"))
				o.uid = (uid_t)v;
			else if (!strcmp(a, "--gid"))
				o.gid = (gid_t)v;
			else
				o.memlock = (rlim_t)v;
		} else if (!strcmp(a, "--backend") && i + 1 < argc) {
			o.backend = argv[++i];
			if (strcmp(o.backend, "cdev") && strcmp(o.backend, "group") && strcmp(o.backend, "type1") &&
			    strcmp(o.backend, "noiommu"))
				return usage();
		} else if (a[0] != '-' && !o.bdf) {
			o.bdf = a;
		} else {
			return usage();
		}
	}
	if (!o.bdf)
		o.bdf = getenv("IFD_EDU") && *getenv("IFD_EDU") ? getenv("IFD_EDU") : "0000:00:03.0";
	if (!o.backend)
		o.backend = pick_backend(o.bdf);
	if (!strcmp(o.backend, "noiommu") && !o.without_fds)
		return noiommu_refusal();
	if (getuid() != 0 || o.uid == 0) {
		fprintf(stderr, "fd-passing: run as root (the helper's part), with a non-zero --uid for the worker\n");
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "fd-passing: socketpair(AF_UNIX): %s (a kernel without CONFIG_UNIX?)\n",
			strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fd-passing: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(worker(sv[1], &o));
	}
	close(sv[1]);
	rc = o.without_fds ? 0 : helper_send(sv[0], &o);
	close(sv[0]); /* a worker still waiting gets EOF */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rc < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("fd-passing: FAIL (worker status 0x%x)\n", st);
		return 1;
	}
	printf("fd-passing: PASS (%s, %s backend%s)\n", o.bdf, o.backend,
	       o.without_fds ? ", without fds: refused as it must be" : "");
	return 0;
}
