/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Discovery and hot-unplug on the fake kernel: iommufd_device_list() over
 * the fake's sysfs, the event fd (the REQ irq and uevents merged), what is
 * dropped, fd hygiene, and the uevent parser on hostile bytes.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

#define DEVPATH_A "/devices/pci0000:00/" FK_DEV_A
#define DEVPATH_B "/devices/pci0000:00/" FK_DEV_B

struct t {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct fk_logcap cap;
};

static int setup_flavour(void **state, enum fk_flavour fl)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->b = *(const enum iommufd_backend *)*state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(fl);
	assert_int_equal(fk_ctx_create(t->fk, t->b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	fk_logcap_clear(&t->cap);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	return setup_flavour(state, FK_LINUX_7_3);
}

static int setup_612(void **state)
{
	return setup_flavour(state, FK_LINUX_6_12);
}

static int teardown(void **state)
{
	struct t *t = *state;

	iommufd_ctx_destroy(t->ctx);
	/* Nothing leaks: the fake's fds and the real eventfds/sockets. */
	assert_int_equal(fake_kernel_open_fds(t->fk), 0);
	assert_int_equal(fake_kernel_real_fds(t->fk), 0);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	return 0;
}

static const struct iommufd_device_entry *find(const struct iommufd_device_entry *e, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Discovery                                                                */

static void test_list(void **state)
{
	struct t *t = *state;
	struct iommufd_device_entry e[16];
	const struct iommufd_device_entry *a, *h, *u, *m;
	int n = iommufd_device_list(t->ctx, e, 16);

	assert_int_equal(n, 9); /* 8 PCI functions and one mdev */
	for (int i = 1; i < 8; i++)
		assert_true(strcmp(e[i - 1].name, e[i].name) < 0); /* PCI first, sorted */
	assert_string_equal(e[8].name, FK_MDEV);

	a = find(e, n, FK_DEV_A);
	assert_non_null(a);
	assert_string_equal(a->sysfs, "/sys/devices/pci0000:00/" FK_DEV_A);
	assert_string_equal(a->driver, "vfio-pci");
	assert_int_equal(a->group, FK_GROUP_A);
	assert_string_equal(a->cdev, fake_kernel_cdev_path(t->fk, FK_DEV_A));
	assert_true(a->cdev[0]);
	assert_int_equal(a->flags, IOMMUFD_DEVICE_ENTRY_VFIO);
	assert_int_equal(a->vendor, 0x1234);
	assert_int_equal(a->device, 0x11e8);

	h = find(e, n, FK_DEV_HOST);
	assert_non_null(h);
	assert_string_equal(h->driver, "e1000e");
	assert_int_equal(h->flags, 0);
	assert_string_equal(h->cdev, "");

	u = find(e, n, FK_DEV_UNBOUND);
	assert_non_null(u);
	assert_string_equal(u->driver, "");
	assert_int_equal(u->group, 10);
	assert_int_equal(u->flags, 0);

	m = find(e, n, FK_MDEV);
	assert_int_equal(m->flags, IOMMUFD_DEVICE_ENTRY_MDEV | IOMMUFD_DEVICE_ENTRY_VFIO);
	assert_int_equal(m->group, 11);
	assert_int_equal(m->vendor, 0);
	assert_true(m->cdev[0]);

	/* Every listed VFIO device opens by the name listed. */
	for (int i = 0; i < n; i++) {
		struct iommufd_device *d;

		if (!(e[i].flags & IOMMUFD_DEVICE_ENTRY_VFIO) || !strcmp(e[i].name, FK_DEV_NV) ||
		    !strcmp(e[i].name, FK_DEV_B2))
			continue; /* 08.0's group is not viable; 05.1 shares 05.0's */
		assert_int_equal(iommufd_device_open(t->ioas, e[i].name, NULL, &d), 0);
		assert_int_equal(iommufd_device_destroy(d), 0);
	}
}

static void test_list_no_cdev(void **state)
{
	struct t *t = *state;
	struct iommufd_device_entry e[16];
	int n = iommufd_device_list(t->ctx, e, 16);

	assert_int_equal(n, 9);
	for (int i = 0; i < n; i++)
		assert_string_equal(e[i].cdev, "");
	assert_int_equal(find(e, n, FK_DEV_A)->flags, IOMMUFD_DEVICE_ENTRY_VFIO);
}

static void test_list_short_array(void **state)
{
	struct t *t = *state;
	struct iommufd_device_entry e[4];

	memset(e, 0x5a, sizeof(e));
	assert_int_equal(iommufd_device_list(t->ctx, NULL, 0), 9);
	assert_int_equal(iommufd_device_list(t->ctx, e, 3), 9);
	assert_string_equal(e[0].name, FK_DEV_A);
	assert_int_equal((unsigned char)e[3].name[0], 0x5a); /* never past @max */

	errno = 0;
	assert_int_equal(iommufd_device_list(NULL, e, 3), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_device_list(t->ctx, NULL, 3), -EINVAL);
}

/* A bus entry that leads outside /sys/devices, or to a directory of
 * another name, is no device. */
static void test_list_crafted(void **state)
{
	struct t *t = *state;
	struct iommufd_device_entry e[16];
	int n;

	fake_kernel_add_file(t->fk, "/tmp/evil/0000:00:0a.0/vendor", "0x1234");
	fake_kernel_add_link(t->fk, "/sys/bus/pci/devices/0000:00:0a.0", "/tmp/evil/0000:00:0a.0");
	fake_kernel_add_file(t->fk, "/sys/devices/pci0000:00/0000:00:0b.0/vendor", "0x1234");
	fake_kernel_add_link(t->fk, "/sys/bus/pci/devices/0000:00:0c.0", "../../../devices/pci0000:00/0000:00:0b.0");
	n = iommufd_device_list(t->ctx, e, 16);
	assert_int_equal(n, 9);
	assert_null(find(e, n, "0000:00:0a.0"));
	assert_null(find(e, n, "0000:00:0c.0"));
	assert_true(fk_logcap_has(&t->cap, "not to a device directory"));
}

static void test_list_no_sysfs(void **state)
{
	struct t *t = *state;
	struct iommufd_device_entry e[2];

	fake_kernel_fail_match(t->fk, "listdir", 1, ENOENT);
	assert_int_equal(iommufd_device_list(t->ctx, e, 2), -ENOENT);
	assert_true(fk_logcap_has(&t->cap, "is sysfs mounted"));
	fake_kernel_fail_clear(t->fk);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0);
}

/* The whole story: request, destroy, the remove completes. */
static void test_remove_story(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a, *b;
	struct iommufd_event ev[4];
	int efd;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NORESET, NULL, &b), 0);
	/* Nothing is armed until the caller listens. */
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), -1);
	efd = iommufd_ctx_get_event_fd(t->ctx);
	assert_true(efd >= 0);
	assert_int_equal(iommufd_ctx_get_event_fd(t->ctx), efd); /* one fd */
	assert_true(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0) >= 0);
	assert_true(fake_kernel_dev_irq_fd(t->fk, FK_DEV_NORESET, IOMMUFD_IRQ_REQ, 0) >= 0);
	assert_int_equal(readable(efd), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);

	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(readable(efd), 1);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 1);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_REMOVE_REQUESTED);
	assert_ptr_equal(ev[0].dev, a);
	assert_int_equal(ev[0].count, 1);
	assert_string_equal(ev[0].name, FK_DEV_A);
	assert_true(fk_logcap_has(&t->cap, "asks for the device back"));
	assert_int_equal(readable(efd), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);

	/* The caller obeys; the kernel then removes the device. */
	assert_int_equal(iommufd_device_destroy(a), 0);
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_A, "pci", 77), 1);
	assert_int_equal(readable(efd), 1);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 1);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_REMOVED);
	assert_null(ev[0].dev);
	assert_string_equal(ev[0].name, FK_DEV_A);
	/* Reported once. */
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_A, "pci", 78), 1);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);
	assert_int_equal(iommufd_device_destroy(b), 0);
}

/* Devices opened after the event fd exists are armed at open; a destroy
 * closes the eventfd. */
static void test_arm_at_open(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a;
	struct iommufd_event ev;
	int before;

	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	before = fake_kernel_real_fds(t->fk);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_int_equal(fake_kernel_real_fds(t->fk), before + 1);
	assert_true(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0) >= 0);
	/* Repeats coalesce: one event, counted. */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, &ev, 1), 1);
	assert_int_equal(ev.count, 2);
	assert_int_equal(iommufd_device_destroy(a), 0);
	assert_int_equal(fake_kernel_real_fds(t->fk), before);
}

/* Uevents that are not for us, not from the kernel, or malformed. */
static void test_uevent_filter(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a;
	struct iommufd_event ev[4];
	static const char cut[] = "remove@" DEVPATH_A "\0ACTION=remove\0DEVPATH=" DEVPATH_A "\0SUBSYSTEM=pc";
	static const char lie[] = "remove@" DEVPATH_A "\0ACTION=remove\0DEVPATH=" DEVPATH_B "\0SUBSYSTEM=pci";

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_B, "pci", 1), 1);  /* not ours */
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "add", DEVPATH_A, "pci", 2), 1);     /* not a remove */
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_A, "block", 3), 1); /* other subsystem */
	assert_int_equal(fake_kernel_uevent(t->fk, cut, sizeof(cut) - 1, 0), 1);             /* no final NUL */
	assert_int_equal(fake_kernel_uevent(t->fk, lie, sizeof(lie), 0), 1);                 /* header disagrees */
	/* A well-formed message from a user-space port is not the kernel's. */
	{
		static const char spoof[] = "remove@" DEVPATH_A "\0ACTION=remove\0DEVPATH=" DEVPATH_A
					    "\0SUBSYSTEM=pci\0SEQNUM=4";

		assert_int_equal(fake_kernel_uevent(t->fk, spoof, sizeof(spoof), 4242), 1);
	}
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);
	assert_int_equal(readable(iommufd_ctx_get_event_fd(t->ctx)), 0); /* all consumed */

	/* A remove of a device it holds is reported with the handle. */
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_A, "pci", 5), 1);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 1);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_REMOVED);
	assert_ptr_equal(ev[0].dev, a);
}

/* More events than room: the rest wait for the next call. */
static void test_small_array(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a, *b;
	struct iommufd_event ev[2];
	bool seen_a = false, seen_b = false;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NORESET, NULL, &b), 0);
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_NORESET, IOMMUFD_IRQ_REQ, 0), 0);
	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 1), 1);
		assert_null(ev[1].dev); /* never past @max */
		seen_a |= ev[0].dev == a;
		seen_b |= ev[0].dev == b;
	}
	assert_true(seen_a && seen_b);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 2), -EAGAIN);
}

/* Without a uevent socket the request interrupt still works. */
static void test_no_uevent_socket(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a;
	struct iommufd_event ev;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	fake_kernel_fail_match(t->fk, "socket", 1, EAFNOSUPPORT);
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	fake_kernel_fail_clear(t->fk);
	assert_true(fk_logcap_has(&t->cap, "REMOVED events will not be reported"));
	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", DEVPATH_A, "pci", 1), 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, &ev, 1), 1);
	assert_int_equal(ev.kind, IOMMUFD_EVENT_REMOVE_REQUESTED);
}

/* A failure to arm one device is logged; the device and the fd work. */
static void test_arm_failures(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a;
	static const char *const what[] = { "eventfd", "VFIO_DEVICE_SET_IRQS", "epoll" };

	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		int before = fake_kernel_real_fds(t->fk);

		fk_logcap_clear(&t->cap);
		fake_kernel_fail_match(t->fk, what[i], 1, ENOMEM);
		assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
		assert_true(fake_kernel_fault_fired(t->fk));
		fake_kernel_fail_clear(t->fk);
		assert_true(fk_logcap_has(&t->cap, "no REMOVE_REQUESTED for it"));
		assert_int_equal(fake_kernel_real_fds(t->fk), before); /* the eventfd did not leak */
		assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), -1);
		assert_int_equal(iommufd_device_destroy(a), 0);
	}
}

static void test_event_fd_fails(void **state)
{
	struct t *t = *state;

	fake_kernel_fail_match(t->fk, "epoll", 1, EMFILE);
	assert_int_equal(iommufd_ctx_get_event_fd(t->ctx), -EMFILE);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(fake_kernel_real_fds(t->fk), 0);
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0); /* a retry works */
}

static void test_event_bad_args(void **state)
{
	struct t *t = *state;
	struct iommufd_event ev;

	assert_int_equal(iommufd_ctx_get_event_fd(NULL), -EINVAL);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, &ev, 1), -EINVAL); /* no event fd yet */
	assert_true(fk_logcap_has(&t->cap, "iommufd_ctx_get_event_fd() first"));
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	assert_int_equal(iommufd_ctx_read_events(NULL, &ev, 1), -EINVAL);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, NULL, 1), -EINVAL);
	errno = 0;
	assert_int_equal(iommufd_ctx_read_events(t->ctx, &ev, 0), -EINVAL);
	assert_int_equal(errno, EINVAL);
}

/* The fork rule: a child gets -ECHILD and its destroy leaves the parent's
 * epoll set alone. */
static void test_fork(void **state)
{
	struct t *t = *state;
	struct iommufd_device *a;
	struct iommufd_event ev;
	pid_t pid;
	int status;

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_true(iommufd_ctx_get_event_fd(t->ctx) >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = iommufd_ctx_read_events(t->ctx, &ev, 1) == -ECHILD &&
			 iommufd_ctx_get_event_fd(t->ctx) == -ECHILD;

		fake_kernel_log_clear(t->fk);
		iommufd_device_destroy(a);
		ok = ok && fake_kernel_log_find(t->fk, "epoll", NULL) == 0;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, &ev, 1), 1);
	assert_ptr_equal(ev.dev, a);
}

/* ------------------------------------------------------------------------ */
/* The parser                                                               */

static void test_parse(void **state)
{
	static const char ok[] = "remove@/devices/virtual/mdma/6d646d61-0000-4000-8000-000000000001\0"
				 "ACTION=remove\0DEVPATH=/devices/virtual/mdma/6d646d61-0000-4000-8000-000000000001\0"
				 "SUBSYSTEM=mdev\0SEQNUM=18446744073709551615\0MDEV_TYPE=x";
	struct ifd_uevent u;

	(void)state;
	assert_int_equal(ifd_uevent_parse(ok, sizeof(ok), &u), 0);
	assert_string_equal(u.action, "remove");
	assert_string_equal(u.subsystem, "mdev");
	assert_string_equal(u.name, "6d646d61-0000-4000-8000-000000000001");
	assert_true(u.seqnum == UINT64_MAX);

	/* Every prefix: accepted only if it ends at a field's NUL after
	 * DEVPATH, else rejected; never read past (ASan/valgrind watch the
	 * exact-size copy). */
	const char *dp = memmem(ok, sizeof(ok), "DEVPATH=", 8);
	const char *devpath_end = dp ? memchr(dp, '\0', sizeof(ok) - (size_t)(dp - ok)) : NULL;

	assert_non_null(devpath_end);
	for (size_t n = 0; n < sizeof(ok); n++) {
		char *p = malloc(n ? n : 1);
		bool valid = n > (size_t)(devpath_end - ok) && ok[n - 1] == '\0';

		memcpy(p, ok, n);
		assert_int_equal(ifd_uevent_parse(p, n, &u), valid ? 0 : -EINVAL);
		free(p);
	}
	assert_int_equal(ifd_uevent_parse(NULL, 10, &u), -EINVAL);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *m;
		size_t len;
	} bad[] = {
#define M(s) { s, sizeof(s) }
		M("remove@/a/b\0ACTION=remove\0ACTION=remove\0DEVPATH=/a/b"),     /* duplicate key */
		M("remove@/a/b\0DEVPATH=/a/b"),                                    /* no ACTION */
		M("remove@/a/b\0ACTION=remove"),                                   /* no DEVPATH */
		M("add@/a/b\0ACTION=remove\0DEVPATH=/a/b"),                        /* header disagrees */
		M("remove@/a/\0ACTION=remove\0DEVPATH=/a/"),                       /* no name */
		M("remove@a\0ACTION=remove\0DEVPATH=a"),                           /* not absolute */
		M("@/a/b\0ACTION=\0DEVPATH=/a/b"),                                 /* empty action */
		M("libudev\0\xfe\xed\xca\xfe"),                                    /* udevd's format */
		M("remove@/a/b\0ACTION=remove\0DEVPATH=/a/b\0SEQNUM=18446744073709551616"), /* overflow */
		M("remove@/a/b\0ACTION=remove\0DEVPATH=/a/b\0SEQNUM=12x"),
		M("remove@/a/b\0ACTION=removeremoveremove\0DEVPATH=/a/b"),         /* action too long */
#undef M
	};
	char big[2000];
	struct ifd_uevent u;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ifd_uevent_parse(bad[i].m, bad[i].len, &u), -EINVAL);
	/* A DEVPATH longer than the field: rejected, not cut. */
	memset(big, 'x', sizeof(big));
	n = snprintf(big, sizeof(big), "remove@/%0600d", 0);
	big[n] = '\0';
	n = snprintf(big + n + 1, sizeof(big) - (size_t)n - 1, "ACTION=remove%cDEVPATH=/%0600d", 0, 0) + n + 1;
	assert_true((size_t)n < sizeof(big));
	assert_int_equal(ifd_uevent_parse(big, (size_t)n + 1, &u), -EINVAL);
}

#define ALL3(f, s)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_CDEV),                   \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_GROUP),          \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_TYPE1)
#define ONE(f, s, b) cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&(b))

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL3(test_list, setup),
		ONE(test_list_no_cdev, setup_612, B_TYPE1),
		ONE(test_list_short_array, setup, B_CDEV),
		ONE(test_list_crafted, setup, B_CDEV),
		ONE(test_list_no_sysfs, setup, B_CDEV),
		ALL3(test_remove_story, setup),
		ONE(test_remove_story, setup_612, B_TYPE1),
		ALL3(test_arm_at_open, setup),
		ONE(test_uevent_filter, setup, B_CDEV),
		ONE(test_small_array, setup, B_GROUP),
		ONE(test_no_uevent_socket, setup, B_CDEV),
		ALL3(test_arm_failures, setup),
		ONE(test_event_fd_fails, setup, B_CDEV),
		ONE(test_event_bad_args, setup, B_CDEV),
		ONE(test_fork, setup, B_CDEV),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
