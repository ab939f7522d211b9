/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Hot-unplug notification: VFIO's request interrupt and the kernel's
 * "remove" uevents, merged into one epoll fd the caller polls.
 *
 * Nothing is armed until the caller asks for the event fd: a caller that
 * never listens keeps the kernel's default (it logs that nobody listens)
 * and may arm IOMMUFD_IRQ_REQ itself.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/netlink.h>
#include <linux/vfio.h>

#include "internal.h"

/* epoll data of the uevent socket; a device's is its eventfd's number. */
#define UEVENT_TAG UINT64_MAX
#define WATCH_MAX 32
/* The kernel's uevents are at most 2 KiB of environment plus the header. */
#define UEVENT_BUF 8192
/* Per read: messages taken from the socket, epoll rounds.  A flood of
 * unrelated uevents must not keep the caller in the library. */
#define UEVENT_BUDGET 256
#define ROUNDS_MAX 64

struct ifd_hotplug {
	int epfd;
	int nlfd; /* -1 if the kernel offers no uevent socket */
	/* Names reported REMOVE_REQUESTED whose REMOVED is still due: the
	 * caller destroys the handle in between, so it cannot be the key. */
	char watch[WATCH_MAX][64];
	unsigned int watch_next;
	char buf[UEVENT_BUF];
};

static int sys_err(int r)
{
	return r < 0 ? -errno : r;
}

static void req_disable(struct iommufd_device *dev)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
	};

	ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_SET_IRQS, &s);
}

/* VFIO_PCI_REQ_IRQ_INDEX means "request" only on a vfio-pci device: an
 * mdev or platform device numbers its interrupts its own way. */
static bool has_req_irq(struct iommufd_device *dev)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_REQ_IRQ_INDEX };

	if (ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_INFO, &di) < 0 || !(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    di.num_irqs <= VFIO_PCI_REQ_IRQ_INDEX)
		return false;
	return ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 && ii.count >= 1 &&
	       (ii.flags & VFIO_IRQ_INFO_EVENTFD);
}

void ifd_hotplug_dev_arm(struct iommufd_device *dev)
{
	struct iommufd_ctx *ctx = dev->ctx;
	const struct ifd_sys *sys = ctx->sys;
	union {
		struct vfio_irq_set s;
		char raw[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} u;
	struct epoll_event ev = { .events = EPOLLIN };
	int32_t efd;
	int r;

	if (!ctx->hp || dev->req_armed || dev->fd < 0)
		return;
	if (!has_req_irq(dev)) {
		ifd_info(ctx, "%s: no VFIO request interrupt: the library cannot tell before it is removed "
			 "(only REMOVED is reported, after the last close)", dev->name);
		return;
	}
	efd = sys_err(sys->eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (efd < 0) {
		ifd_warn(ctx, "%s: eventfd for the request interrupt: %s; no REMOVE_REQUESTED for it", dev->name,
			 strerror(-efd));
		return;
	}
	memset(&u, 0, sizeof(u));
	u.s.argsz = sizeof(u.raw);
	u.s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	u.s.index = VFIO_PCI_REQ_IRQ_INDEX;
	u.s.count = 1;
	memcpy(u.s.data, &efd, sizeof(efd));
	r = ifd_ioctl(ctx, dev->fd, VFIO_DEVICE_SET_IRQS, &u.s);
	if (r == 0) {
		ev.data.u64 = (uint64_t)efd;
		r = sys_err(sys->epoll_ctl(ctx->hp->epfd, EPOLL_CTL_ADD, efd, &ev));
		if (r < 0)
			req_disable(dev);
	}
	if (r < 0) {
		ifd_warn(ctx, "%s: arming the request interrupt (VFIO_DEVICE_SET_IRQS index %u): %s; no "
			 "REMOVE_REQUESTED for it", dev->name, VFIO_PCI_REQ_IRQ_INDEX, strerror(-r));
		sys->close(efd);
		return;
	}
	dev->req_fd = efd;
	dev->req_armed = true;
}

void ifd_hotplug_dev_disarm(struct iommufd_device *dev)
{
	struct iommufd_ctx *ctx = dev->ctx;

	if (!dev->req_armed)
		return;
	/* A forked child shares the parent's epoll set: leave it alone. */
	if (ctx->hp && !ifd_forked(ctx))
		ctx->sys->epoll_ctl(ctx->hp->epfd, EPOLL_CTL_DEL, dev->req_fd, NULL);
	ifd_close(ctx, dev->req_fd);
	dev->req_armed = false;
}

static int open_uevent_socket(struct iommufd_ctx *ctx, int epfd)
{
	const struct ifd_sys *sys = ctx->sys;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 }; /* group 1: the kernel's */
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UEVENT_TAG };
	int fd = sys_err(sys->socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
	int r;

	if (fd < 0) {
		ifd_info(ctx, "no uevent socket (NETLINK_KOBJECT_UEVENT: %s; a kernel without CONFIG_NET?): "
			 "REMOVED events will not be reported", strerror(-fd));
		return -1;
	}
	r = sys_err(sys->bind(fd, (const struct sockaddr *)&sa, sizeof(sa)));
	if (r == 0)
		r = sys_err(sys->epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev));
	if (r < 0) {
		ifd_info(ctx, "uevent socket: %s: REMOVED events will not be reported", strerror(-r));
		ifd_close(ctx, fd);
		return -1;
	}
	return fd;
}

static int hp_setup(struct iommufd_ctx *ctx)
{
	struct ifd_hotplug *hp = calloc(1, sizeof(*hp));
	struct ifd_list *pos;

	if (!hp)
		return -ENOMEM;
	hp->epfd = sys_err(ctx->sys->epoll_create1(EPOLL_CLOEXEC));
	if (hp->epfd < 0) {
		int r = hp->epfd;

		ifd_err(ctx, "epoll_create1 for the event fd: %s", strerror(-r));
		free(hp);
		return r;
	}
	hp->nlfd = open_uevent_socket(ctx, hp->epfd);
	ctx->hp = hp;
	ifd_p2p_hp_attach(ctx);
	ifd_list_for_each(pos, &ctx->dev_list)
		ifd_hotplug_dev_arm(ifd_container_of(pos, struct iommufd_device, link));
	return 0;
}

int ifd_hotplug_epfd(struct iommufd_ctx *ctx)
{
	return ctx->hp ? ctx->hp->epfd : -1;
}

void ifd_hotplug_free(struct iommufd_ctx *ctx)
{
	if (!ctx->hp)
		return;
	ifd_close(ctx, ctx->hp->nlfd);
	ifd_close(ctx, ctx->hp->epfd);
	free(ctx->hp);
	ctx->hp = NULL;
}

IFD_EXPORT int iommufd_ctx_get_event_fd(struct iommufd_ctx *ctx)
{
	int r = 0;

	if (!ctx)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	ifd_ctx_lock(ctx);
	if (!ctx->hp)
		r = hp_setup(ctx);
	if (r == 0)
		r = ctx->hp->epfd;
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

static struct iommufd_device *dev_by_name(struct iommufd_ctx *ctx, const char *name)
{
	struct ifd_list *pos;

	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *d = ifd_container_of(pos, struct iommufd_device, link);

		if (!strcmp(d->name, name))
			return d;
	}
	return NULL;
}

static void watch_add(struct ifd_hotplug *hp, const char *name)
{
	for (unsigned int i = 0; i < WATCH_MAX; i++)
		if (!strcmp(hp->watch[i], name))
			return;
	/* Full: the oldest request's REMOVED goes unreported. */
	snprintf(hp->watch[hp->watch_next], sizeof(hp->watch[0]), "%s", name);
	hp->watch_next = (hp->watch_next + 1) % WATCH_MAX;
}

static bool watch_take(struct ifd_hotplug *hp, const char *name)
{
	for (unsigned int i = 0; i < WATCH_MAX; i++) {
		if (hp->watch[i][0] && !strcmp(hp->watch[i], name)) {
			hp->watch[i][0] = '\0';
			return true;
		}
	}
	return false;
}

static void fill(struct iommufd_event *ev, uint32_t kind, uint64_t count, struct iommufd_device *dev,
		 const char *name)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
	ev->dev = dev;
	snprintf(ev->name, sizeof(ev->name), "%s", name);
}

/* One device's request eventfd is readable: 1 event, or 0. */
static int read_req(struct iommufd_ctx *ctx, int fd, struct iommufd_event *ev)
{
	struct iommufd_device *dev = NULL;
	struct ifd_list *pos;
	uint64_t cnt = 0;
	ssize_t n;

	ifd_list_for_each(pos, &ctx->dev_list) {
		struct iommufd_device *d = ifd_container_of(pos, struct iommufd_device, link);

		if (d->req_armed && d->req_fd == fd)
			dev = d;
	}
	if (!dev)
		return 0; /* disarmed under ctx->lock, so never seen; defensive */
	n = ctx->sys->read(fd, &cnt, sizeof(cnt));
	if (n != (ssize_t)sizeof(cnt) || !cnt)
		return 0;
	fill(ev, IOMMUFD_EVENT_REMOVE_REQUESTED, cnt, dev, dev->name);
	watch_add(ctx->hp, dev->name);
	ifd_info(ctx, "%s: the kernel asks for the device back (remove or unbind, %llu request(s)): stop its DMA "
		 "and iommufd_device_destroy() it", dev->name, (unsigned long long)cnt);
	return 1;
}

/* A message of the uevent socket: 1 event, or 0 (not ours, malformed). */
static int take_uevent(struct iommufd_ctx *ctx, size_t len, const struct sockaddr_nl *sa, socklen_t salen,
		       struct iommufd_event *ev)
{
	struct ifd_uevent ue;
	struct iommufd_device *dev;

	/* Only the kernel (port 0) speaks for devices; anyone may send to
	 * our port. */
	if (salen < sizeof(*sa) || sa->nl_family != AF_NETLINK || sa->nl_pid != 0)
		return 0;
	if (ifd_uevent_parse(ctx->hp->buf, len, &ue) < 0) {
		ifd_dbg(ctx, "uevent socket: a malformed message of %zu bytes dropped", len);
		return 0;
	}
	if (strcmp(ue.action, "remove") || (strcmp(ue.subsystem, "pci") && strcmp(ue.subsystem, "mdev")))
		return 0;
	dev = dev_by_name(ctx, ue.name);
	if (!watch_take(ctx->hp, ue.name) && !dev)
		return 0;
	if (dev)
		ifd_p2p_exporter_event(dev, "removal of the device", false);
	fill(ev, IOMMUFD_EVENT_REMOVED, 1, dev, ue.name);
	ifd_info(ctx, "%s: removed by the kernel (uevent %llu)", ue.name, (unsigned long long)ue.seqnum);
	return 1;
}

static int read_uevents(struct iommufd_ctx *ctx, struct iommufd_event *ev, size_t room)
{
	struct ifd_hotplug *hp = ctx->hp;
	size_t n = 0;

	for (int budget = UEVENT_BUDGET; budget > 0 && n < room; budget--) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t len;

		memset(&sa, 0, sizeof(sa));
		len = ctx->sys->recvfrom(hp->nlfd, hp->buf, sizeof(hp->buf), MSG_DONTWAIT | MSG_TRUNC,
					 (struct sockaddr *)&sa, &salen);
		if (len < 0) {
			int e = errno;

			if (e == EAGAIN || e == EWOULDBLOCK)
				break;
			if (e == ENOBUFS) {
				ifd_warn(ctx, "uevent socket overflowed: uevents were lost, a REMOVED may be missing");
				continue;
			}
			if (e == EINTR)
				continue;
			ifd_warn(ctx, "uevent socket: recvfrom: %s", strerror(e));
			break;
		}
		if ((size_t)len > sizeof(hp->buf)) {
			ifd_dbg(ctx, "uevent socket: a message of %zd bytes (cut at %zu) dropped", len, sizeof(hp->buf));
			continue;
		}
		n += (size_t)take_uevent(ctx, (size_t)len, &sa, salen, ev + n);
	}
	return (int)n;
}

IFD_EXPORT int iommufd_ctx_read_events(struct iommufd_ctx *ctx, struct iommufd_event *ev, size_t max)
{
	size_t n = 0;
	int r = -EAGAIN;

	if (!ctx || !ev || !max)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	ifd_ctx_lock(ctx);
	if (!ctx->hp) {
		ifd_err(ctx, "iommufd_ctx_read_events: no event fd yet: call iommufd_ctx_get_event_fd() first");
		ifd_ctx_unlock(ctx);
		return ifd_ret(-EINVAL);
	}
	for (int round = 0; round < ROUNDS_MAX && n < max; round++) {
		struct epoll_event evs[8];
		int want = max - n < 8 ? (int)(max - n) : 8;
		int k = ctx->sys->epoll_wait(ctx->hp->epfd, evs, want, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		if (k > want) /* trust nothing: never past evs[] */
			k = want;
		for (int i = 0; i < k && n < max; i++) {
			if (evs[i].data.u64 == UEVENT_TAG)
				n += (size_t)read_uevents(ctx, ev + n, max - n);
			else if (evs[i].data.u64 == IFD_P2P_EVENT_TAG)
				n += (size_t)ifd_p2p_read_events(ctx, ev + n, max - n);
			else if (evs[i].data.u64 <= INT32_MAX)
				n += (size_t)read_req(ctx, (int)evs[i].data.u64, ev + n);
		}
	}
	ifd_ctx_unlock(ctx);
	return n ? (int)(n > INT32_MAX ? INT32_MAX : n) : ifd_ret(r);
}
