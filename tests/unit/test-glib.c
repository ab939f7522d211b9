/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * libiommufd-glib: device interrupt sources on the fake kernel (its
 * interrupts write the real eventfds the library hands it), the plain
 * eventfd source, and the fault-queue source's dispatch logic against a
 * scripted queue.  The fake kernel's fault fds are numbers, not pollable
 * files, so this program wraps iommufd_fault_queue_{get_fd,read,get_stats,
 * get_id} at link time: the scripted queue polls through a real eventfd
 * that is readable exactly while the script says the kernel has requests.
 *
 * Every main loop here runs under a 10 s guard timer that fails the test:
 * a source that never fires must show as a failure, not a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"
#include <libiommufd/libiommufd-glib.h>

#define GUARD_MS 10000

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static gboolean guard_fired(gpointer data)
{
	(void)data;
	fail_msg("the main loop ran %d ms without the expected event", GUARD_MS);
	return G_SOURCE_REMOVE;
}

/* A GMainLoop on a private context, with the guard timer. */
struct loop {
	GMainContext *ctx;
	GMainLoop *ml;
	GSource *guard;
};

static void loop_init(struct loop *l)
{
	l->ctx = g_main_context_new();
	l->ml = g_main_loop_new(l->ctx, FALSE);
	l->guard = g_timeout_source_new(GUARD_MS);
	g_source_set_callback(l->guard, guard_fired, NULL, NULL);
	g_source_attach(l->guard, l->ctx);
}

static void loop_fini(struct loop *l)
{
	g_source_destroy(l->guard);
	g_source_unref(l->guard);
	g_main_loop_unref(l->ml);
	g_main_context_unref(l->ctx);
}

/* Iterations that dispatch something, without blocking. */
static int loop_spin(struct loop *l, int max)
{
	int n = 0;

	while (n < max && g_main_context_iteration(l->ctx, FALSE))
		n++;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Device interrupts on the fake kernel                                     */

struct t {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct fk_logcap cap;
};

static int setup_dev(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	enum iommufd_backend b = *(const enum iommufd_backend *)*state;

	assert_non_null(t);
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fk_ctx_create(t->fk, b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dev), 0);
	*state = t;
	return 0;
}

static int teardown_dev(void **state)
{
	struct t *t = *state;

	iommufd_ctx_destroy(t->ctx);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	return 0;
}

struct irq_seen {
	struct loop *l;
	uint64_t total;
	unsigned int calls;
	gboolean ret;      /* what the callback returns */
	bool quit;         /* quit the loop after the call */
	struct fake_kernel *fk;
	unsigned int unmasks_at_call; /* INTx unmasks when the callback ran */
};

static gboolean irq_cb(uint64_t count, gpointer data)
{
	struct irq_seen *s = data;

	s->total += count;
	s->calls++;
	if (s->fk)
		s->unmasks_at_call = (unsigned int)fake_kernel_dev_irq_unmasks(s->fk, FK_DEV_A, IOMMUFD_IRQ_INTX);
	if (s->quit)
		g_main_loop_quit(s->l->ml);
	return s->ret;
}

static void test_irq_msix(void **state)
{
	struct t *t = *state;
	struct loop l;
	struct irq_seen seen = { .l = &l, .ret = G_SOURCE_CONTINUE, .quit = true };
	GSource *src = NULL, *other = NULL;
	int efd, efd_other;

	loop_init(&l);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSIX, 3, &src), 0);
	assert_non_null(src);
	efd = iommufd_glib_eventfd_source_get_fd(src);
	assert_true(efd >= 0);
	/* the library handed the kernel the source's own eventfd, CLOEXEC and non-blocking */
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), efd);
	assert_true(fcntl(efd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(efd, F_GETFL) & O_NONBLOCK);
	/* a second vector of the same type, its own source */
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSIX, 2, &other), 0);
	efd_other = iommufd_glib_eventfd_source_get_fd(other);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), efd_other);

	g_source_set_callback(src, G_SOURCE_FUNC(irq_cb), &seen, NULL);
	g_source_attach(src, l.ctx);
	/* two interrupts before the loop runs arrive as one call with count 2 */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), 0);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.total, 2);
	/* the counter was consumed: nothing more to dispatch */
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(seen.calls, 1);
	/* and a third one comes as its own call */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.total, 3);

	/* finalising detaches the vector and closes the eventfd; the other
	 * vector of the type keeps working */
	g_source_destroy(src);
	g_source_unref(src);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 3), -1);
	assert_false(fd_open(efd));
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), efd_other);
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), 0);
	/* a source never attached is finalised the same way */
	g_source_unref(other);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 2), -1);
	assert_false(fd_open(efd_other));
	loop_fini(&l);
}

static void test_irq_intx_unmask_and_remove(void **state)
{
	struct t *t = *state;
	struct loop l;
	struct irq_seen seen = { .l = &l, .ret = G_SOURCE_CONTINUE, .quit = true };
	GSource *src = NULL;
	int efd;

	seen.fk = t->fk;
	loop_init(&l);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_INTX, 0, &src), 0);
	efd = iommufd_glib_eventfd_source_get_fd(src);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), efd);
	g_source_set_callback(src, G_SOURCE_FUNC(irq_cb), &seen, NULL);
	g_source_attach(src, l.ctx);

	/* INTx is unmasked after the callback, not before it */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.unmasks_at_call, 0);
	assert_int_equal(fake_kernel_dev_irq_unmasks(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX), 1);

	/* a callback that returns G_SOURCE_REMOVE: destroyed, no unmask; the
	 * vector stays until the last reference goes */
	seen.ret = G_SOURCE_REMOVE;
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 2);
	assert_true(g_source_is_destroyed(src));
	assert_int_equal(fake_kernel_dev_irq_unmasks(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX), 1);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), efd);
	/* no more dispatches of a removed source */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), 0);
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(seen.calls, 2);
	g_source_unref(src);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_INTX, 0), -1);
	assert_false(fd_open(efd));
	/* INTx is off: MSI may be enabled now (the kernel allows one at a time) */
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSI, 0, &src), 0);
	g_source_unref(src);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSI, 0), -1);
	loop_fini(&l);
}

/* The device request interrupt: the kernel asks for the device back. */
static void test_irq_req(void **state)
{
	struct t *t = *state;
	struct loop l;
	struct irq_seen seen = { .l = &l, .ret = G_SOURCE_REMOVE, .quit = true };
	GSource *src = NULL;
	int efd;

	loop_init(&l);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_REQ, 0, &src), 0);
	efd = iommufd_glib_eventfd_source_get_fd(src);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), efd);
	g_source_set_callback(src, G_SOURCE_FUNC(irq_cb), &seen, NULL);
	g_source_attach(src, l.ctx);
	g_source_unref(src); /* the context holds the last reference now */
	assert_int_equal(fake_kernel_fire_irq(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.total, 1);
	/* removed by its callback, finalised with the context's reference */
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_REQ, 0), -1);
	assert_false(fd_open(efd));
	loop_fini(&l);
}

static void test_irq_errors(void **state)
{
	struct t *t = *state;
	GSource *src = (GSource *)(uintptr_t)0x1;
	int before = open_fds();

	/* bad arguments: nothing reaches the kernel, nothing leaks */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_glib_device_irq_source_new(NULL, IOMMUFD_IRQ_MSI, 0, &src), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSI, 0, NULL), -EINVAL);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_REQ + 1, 0, &src), -EINVAL);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_DEVICE_SET_IRQS"), 0);
	/* the library refuses a vector the device lacks */
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSIX, 8, &src), -EINVAL);
	/* the kernel refuses: its errno, the eventfd closed */
	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_SET_IRQS", 1, EIO);
	assert_int_equal(iommufd_glib_device_irq_source_new(t->dev, IOMMUFD_IRQ_MSI, 0, &src), -EIO);
	assert_int_equal(errno, EIO);
	fake_kernel_fail_clear(t->fk);
	assert_ptr_equal(src, (GSource *)(uintptr_t)0x1);
	assert_int_equal(fake_kernel_dev_irq_fd(t->fk, FK_DEV_A, IOMMUFD_IRQ_MSI, 0), -1);
	assert_int_equal(open_fds(), before);
	/* not our sources */
	GSource *idle = g_idle_source_new();
	assert_int_equal(iommufd_glib_eventfd_source_get_fd(idle), -EINVAL);
	assert_int_equal(iommufd_glib_source_get_error(idle), -EINVAL);
	assert_int_equal(iommufd_glib_fault_source_resume(idle), -EINVAL);
	assert_int_equal(iommufd_glib_eventfd_source_get_fd(NULL), -EINVAL);
	assert_int_equal(iommufd_glib_source_get_error(NULL), -EINVAL);
	g_source_unref(idle);
}

/* ------------------------------------------------------------------------ */
/* The plain eventfd source                                                 */

static void test_eventfd_source(void **state)
{
	struct loop l;
	struct irq_seen seen = { .l = &l, .ret = G_SOURCE_CONTINUE, .quit = true };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	GSource *src;

	(void)state;
	assert_true(efd >= 0);
	errno = 0;
	assert_null(iommufd_glib_eventfd_source_new(-1));
	assert_int_equal(errno, EINVAL);
	loop_init(&l);
	src = iommufd_glib_eventfd_source_new(efd);
	assert_non_null(src);
	assert_int_equal(iommufd_glib_eventfd_source_get_fd(src), efd);
	assert_int_equal(iommufd_glib_source_get_error(src), 0);
	g_source_set_callback(src, G_SOURCE_FUNC(irq_cb), &seen, NULL);
	g_source_attach(src, l.ctx);
	/* nothing signalled: nothing dispatched */
	assert_int_equal(loop_spin(&l, 3), 0);
	assert_int_equal(eventfd_write(efd, 3), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.total, 3);
	/* G_SOURCE_REMOVE destroys it; the caller's eventfd stays open */
	seen.ret = G_SOURCE_REMOVE;
	assert_int_equal(eventfd_write(efd, 5), 0);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.total, 8);
	assert_true(g_source_is_destroyed(src));
	assert_int_equal(eventfd_write(efd, 1), 0);
	assert_int_equal(loop_spin(&l, 3), 0);
	assert_int_equal(seen.calls, 2);
	g_source_unref(src);
	assert_true(fd_open(efd));
	close(efd);
	loop_fini(&l);
}

/* An fd that polls readable but does not read as an eventfd: reported
 * once (count 0, the error kept), then never dispatched again. */
static void test_eventfd_source_bad_fd(void **state)
{
	struct loop l;
	struct irq_seen seen = { .l = &l, .ret = G_SOURCE_CONTINUE, .quit = true };
	int p[2];
	GSource *src;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	loop_init(&l);
	src = iommufd_glib_eventfd_source_new(p[0]);
	g_source_set_callback(src, G_SOURCE_FUNC(irq_cb), &seen, NULL);
	g_source_attach(src, l.ctx);
	assert_int_equal(write(p[1], "x", 1), 1);
	g_main_loop_run(l.ml);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.total, 0);
	assert_int_equal(iommufd_glib_source_get_error(src), -EIO);
	/* still readable, but no spinning */
	assert_int_equal(write(p[1], "yyyyyyyy", 8), 8);
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(seen.calls, 1);
	g_source_destroy(src);
	g_source_unref(src);
	close(p[0]);
	close(p[1]);
	loop_fini(&l);
}

/* ------------------------------------------------------------------------ */
/* The fault-queue source against a scripted queue                          */

#define FQ_MAX_GROUPS 4096

/* The queue a test scripts.  "Kernel" groups wait in kq (sizes); the
 * library's buffer is modelled by lib_holds: how many of kq the library
 * already took from the kernel (the fd then stops polling readable for
 * them, as the real fd does). */
struct fq {
	int efd;                 /* readable <=> the kernel has groups the library did not take */
	unsigned int kq[FQ_MAX_GROUPS];
	unsigned int head, tail; /* groups waiting, in kq[head..tail) */
	unsigned int lib_holds;  /* of those, taken into the library already */
	bool slurp;              /* the first read takes every waiting group into the library */
	uint32_t next_cookie;
	unsigned int outstanding, limit; /* limit 0: none */
	unsigned int reads, reads_ok, full;
	int fail;                /* the next read fails with this */
	bool stats_fail;         /* get_stats fails (-EINVAL) */
	pthread_mutex_t lock;
};

static void fq_init(struct fq *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(q->efd >= 0);
	pthread_mutex_init(&q->lock, NULL);
}

static void fq_fini(struct fq *q)
{
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
}

/* Called with q->lock held. */
static void fq_sync_fd(struct fq *q)
{
	eventfd_t v;
	bool want = q->tail - q->head > q->lib_holds;

	(void)eventfd_read(q->efd, &v);
	if (want)
		assert_int_equal(eventfd_write(q->efd, 1), 0);
}

static void fq_push(struct fq *q, unsigned int ngroups, unsigned int size)
{
	pthread_mutex_lock(&q->lock);
	for (unsigned int i = 0; i < ngroups; i++) {
		assert_true(q->tail < FQ_MAX_GROUPS);
		q->kq[q->tail++] = size;
	}
	fq_sync_fd(q);
	pthread_mutex_unlock(&q->lock);
}

static void fq_answer(struct fq *q, unsigned int n)
{
	pthread_mutex_lock(&q->lock);
	assert_true(q->outstanding >= n);
	q->outstanding -= n;
	pthread_mutex_unlock(&q->lock);
}

int __wrap_iommufd_fault_queue_get_fd(const struct iommufd_fault_queue *q);
int __wrap_iommufd_fault_queue_read(struct iommufd_fault_queue *q, struct iommufd_page_request *reqs, size_t max);
int __wrap_iommufd_fault_queue_get_stats(struct iommufd_fault_queue *q, struct iommufd_fault_queue_stats *stats);
uint32_t __wrap_iommufd_fault_queue_get_id(const struct iommufd_fault_queue *q);

int __wrap_iommufd_fault_queue_get_fd(const struct iommufd_fault_queue *q)
{
	return q ? ((const struct fq *)(const void *)q)->efd : -EINVAL;
}

uint32_t __wrap_iommufd_fault_queue_get_id(const struct iommufd_fault_queue *q)
{
	(void)q;
	return 7;
}

int __wrap_iommufd_fault_queue_get_stats(struct iommufd_fault_queue *q, struct iommufd_fault_queue_stats *stats)
{
	struct fq *f = (struct fq *)(void *)q;

	pthread_mutex_lock(&f->lock);
	if (f->stats_fail) {
		pthread_mutex_unlock(&f->lock);
		return -EINVAL;
	}
	memset(stats, 0, sizeof(*stats));
	stats->sz = sizeof(*stats);
	stats->outstanding = f->outstanding;
	stats->full = f->full;
	stats->reads = f->reads;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int __wrap_iommufd_fault_queue_read(struct iommufd_fault_queue *q, struct iommufd_page_request *reqs, size_t max)
{
	struct fq *f = (struct fq *)(void *)q;
	size_t n = 0;
	int r;

	pthread_mutex_lock(&f->lock);
	f->reads++;
	if (f->fail) {
		r = f->fail;
		goto out;
	}
	if (f->head == f->tail) {
		r = -EAGAIN;
		goto out;
	}
	if (f->limit && f->outstanding >= f->limit) {
		f->full++;
		r = -ENOSPC;
		goto out;
	}
	if (f->kq[f->head] > max) {
		r = -EMSGSIZE;
		goto out;
	}
	if (f->slurp)
		f->lib_holds = f->tail - f->head;
	while (f->head < f->tail && n + f->kq[f->head] <= max && (!f->limit || f->outstanding < f->limit)) {
		uint32_t cookie = f->next_cookie++;

		for (unsigned int i = 0; i < f->kq[f->head]; i++) {
			reqs[n] = (struct iommufd_page_request){ .addr = (uint64_t)cookie << 12, .cookie = cookie,
								 .grpid = cookie & 0x1ff };
			if (i + 1 == f->kq[f->head])
				reqs[n].flags = IOMMUFD_PRQ_LAST_PAGE;
			n++;
		}
		f->head++;
		f->outstanding++;
		if (f->lib_holds)
			f->lib_holds--;
	}
	f->reads_ok++;
	r = (int)n;
out:
	fq_sync_fd(f);
	pthread_mutex_unlock(&f->lock);
	return r;
}

struct fseen {
	struct loop *l;
	struct fq *q;
	unsigned int calls, records, groups, max_n, quit_at_groups;
	unsigned int batch;     /* the source's max_batch */
	bool oversized;         /* a call had more than batch records and more than one group */
	bool answer;            /* answer every group at once */
	gboolean ret;
	uint32_t next_cookie;   /* cookies arrive in order, each once */
	bool bad_order;
	unsigned int idle_runs, idle_at_last, max_batches_between_idles, since_idle;
	unsigned int errors;
};

static gboolean fault_cb(struct iommufd_fault_queue *q, const struct iommufd_page_request *reqs, size_t n,
			 gpointer data)
{
	struct fseen *s = data;
	unsigned int groups = 0;

	assert_ptr_equal((void *)q, (void *)s->q);
	if (!reqs) {
		assert_int_equal(n, 0);
		s->errors++;
		g_main_loop_quit(s->l->ml);
		return s->ret;
	}
	s->calls++;
	s->records += (unsigned int)n;
	if (n > s->max_n)
		s->max_n = (unsigned int)n;
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].cookie != s->next_cookie)
			s->bad_order = true;
		if (reqs[i].flags & IOMMUFD_PRQ_LAST_PAGE) {
			s->next_cookie++;
			groups++;
		}
	}
	/* a batch never ends inside a group, and is larger than max_batch
	 * only when it is one group */
	assert_true(reqs[n - 1].flags & IOMMUFD_PRQ_LAST_PAGE);
	if (s->batch && n > s->batch && groups > 1)
		s->oversized = true;
	s->groups += groups;
	if (s->answer)
		fq_answer(s->q, groups);
	if (s->idle_runs != s->idle_at_last) {
		s->idle_at_last = s->idle_runs;
		s->since_idle = 0;
	}
	s->since_idle++;
	if (s->since_idle > s->max_batches_between_idles)
		s->max_batches_between_idles = s->since_idle;
	if (s->quit_at_groups && s->groups >= s->quit_at_groups)
		g_main_loop_quit(s->l->ml);
	return s->ret;
}

static gboolean idle_cb(gpointer data)
{
	((struct fseen *)data)->idle_runs++;
	return G_SOURCE_CONTINUE;
}

static GSource *fault_source(struct fq *q, size_t batch, struct fseen *s, struct loop *l)
{
	GSource *src = iommufd_glib_fault_source_new((struct iommufd_fault_queue *)(void *)q, batch);

	assert_non_null(src);
	s->batch = (unsigned int)batch;
	g_source_set_callback(src, G_SOURCE_FUNC(fault_cb), s, NULL);
	g_source_attach(src, l->ctx);
	return src;
}

static void drop(GSource *src)
{
	g_source_destroy(src);
	g_source_unref(src);
}

/* 1,000 groups in batches of 10, and another source of the same priority
 * keeps running: a dispatch delivers at most 16 batches. */
static void test_fault_batches_no_starvation(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = true, .ret = G_SOURCE_CONTINUE, .quit_at_groups = 1000 };
	GSource *src, *idle;

	(void)state;
	fq_init(&q);
	loop_init(&l);
	src = fault_source(&q, 10, &s, &l);
	idle = g_idle_source_new();
	g_source_set_priority(idle, G_PRIORITY_DEFAULT);
	g_source_set_callback(idle, idle_cb, &s, NULL);
	g_source_attach(idle, l.ctx);
	fq_push(&q, 1000, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 1000);
	assert_int_equal(s.records, 1000);
	assert_int_equal(s.calls, 100);
	assert_int_equal(s.max_n, 10);
	assert_false(s.oversized);
	assert_false(s.bad_order);
	assert_true(s.max_batches_between_idles <= 16);
	assert_true(s.idle_runs >= 100 / 16);
	/* empty: the source sleeps (only the idle source runs) */
	unsigned int reads = q.reads;
	drop(idle);
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

/* The library took everything from the kernel at the first read: the fd
 * stops polling readable, yet the source delivers the rest. */
static void test_fault_library_holds_records(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = true, .ret = G_SOURCE_CONTINUE, .quit_at_groups = 40 };
	GSource *src;

	(void)state;
	fq_init(&q);
	q.slurp = true;
	loop_init(&l);
	src = fault_source(&q, 1, &s, &l);
	fq_push(&q, 40, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 40);
	assert_int_equal(s.max_n, 1);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

/* A group larger than max_batch comes whole; the next batches are
 * max_batch again. */
static void test_fault_large_group(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = true, .ret = G_SOURCE_CONTINUE, .quit_at_groups = 9 };
	GSource *src;

	(void)state;
	fq_init(&q);
	loop_init(&l);
	src = fault_source(&q, 4, &s, &l);
	fq_push(&q, 1, 25);
	fq_push(&q, 8, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 9);
	assert_int_equal(s.records, 33);
	assert_int_equal(s.max_n, 25);
	/* the read that fitted the large group took small ones too: they
	 * still come at most four at a time */
	assert_true(q.reads_ok < s.calls);
	assert_false(s.oversized);
	assert_false(s.bad_order);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

/* -ENOSPC: the source stops polling (no spinning on a readable fd) and
 * polls again once the caller answered from the same context. */
static void test_fault_full_pauses(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = false, .ret = G_SOURCE_CONTINUE, .quit_at_groups = 8 };
	GSource *src;
	unsigned int reads;

	(void)state;
	fq_init(&q);
	q.limit = 8;
	loop_init(&l);
	src = fault_source(&q, 4, &s, &l);
	fq_push(&q, 20, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 8);
	/* let the source meet the full queue */
	loop_spin(&l, 5);
	assert_true(q.full >= 1);
	reads = q.reads;
	/* the fd is readable (12 groups wait) but nothing is read */
	assert_int_equal(loop_spin(&l, 10), 0);
	assert_int_equal(q.reads, reads);
	assert_int_equal(q.full, 1);
	assert_int_equal(s.groups, 8);
	/* answering frees room: the next iteration reads again */
	fq_answer(&q, 3);
	s.quit_at_groups = 11;
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 11);
	/* answer everything as it comes: the rest arrives */
	fq_answer(&q, 8);
	s.answer = true;
	s.quit_at_groups = 20;
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 20);
	assert_false(s.bad_order);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

struct answerer {
	struct fq *q;
	GSource *src;
	unsigned int n;
};

static void *answer_thread(void *arg)
{
	struct answerer *a = arg;

	fq_answer(a->q, a->n);
	assert_int_equal(iommufd_glib_fault_source_resume(a->src), 0);
	return NULL;
}

/* Answers from another thread while the loop sleeps: resume() wakes it.
 * The queue's counters are unreadable here, so only resume() can restart
 * the source. */
static void test_fault_resume_from_thread(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = false, .ret = G_SOURCE_CONTINUE, .quit_at_groups = 4 };
	GSource *src;
	pthread_t th;

	(void)state;
	fq_init(&q);
	q.limit = 4;
	q.stats_fail = true;
	loop_init(&l);
	src = fault_source(&q, 8, &s, &l);
	fq_push(&q, 10, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.groups, 4);
	loop_spin(&l, 5);
	assert_int_equal(q.full, 1);
	/* the loop blocks in poll (no source ready) until the thread's resume */
	struct answerer a = { .q = &q, .src = src, .n = 4 };
	s.answer = true;
	s.quit_at_groups = 10;
	assert_int_equal(pthread_create(&th, NULL, answer_thread, &a), 0);
	g_main_loop_run(l.ml);
	pthread_join(th, NULL);
	assert_int_equal(s.groups, 10);
	/* resume while polling changes nothing */
	assert_int_equal(iommufd_glib_fault_source_resume(src), 0);
	assert_int_equal(loop_spin(&l, 3), 0);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

/* Any other read error: the callback hears it once, the source stops. */
static void test_fault_error_stops(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = true, .ret = G_SOURCE_CONTINUE };
	GSource *src;
	unsigned int reads;

	(void)state;
	fq_init(&q);
	loop_init(&l);
	src = fault_source(&q, 4, &s, &l);
	assert_int_equal(iommufd_glib_source_get_error(src), 0);
	q.fail = -EIO;
	fq_push(&q, 3, 1);
	g_main_loop_run(l.ml);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.calls, 0);
	assert_int_equal(iommufd_glib_source_get_error(src), -EIO);
	reads = q.reads;
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	/* resume does not restart a failed source */
	assert_int_equal(iommufd_glib_fault_source_resume(src), 0);
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	drop(src);
	loop_fini(&l);
	fq_fini(&q);
}

/* G_SOURCE_REMOVE from the callback: no further read. */
static void test_fault_remove(void **state)
{
	struct fq q;
	struct loop l;
	struct fseen s = { .l = &l, .q = &q, .answer = true, .ret = G_SOURCE_REMOVE, .quit_at_groups = 1 };
	GSource *src;
	unsigned int reads;

	(void)state;
	fq_init(&q);
	loop_init(&l);
	src = fault_source(&q, 2, &s, &l);
	fq_push(&q, 6, 1);
	g_main_loop_run(l.ml);
	reads = q.reads;
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.groups, 2);
	assert_true(g_source_is_destroyed(src));
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	assert_int_equal(s.calls, 1);
	g_source_unref(src);
	loop_fini(&l);
	fq_fini(&q);
}

static void test_fault_bad_args(void **state)
{
	struct fq q;

	(void)state;
	fq_init(&q);
	errno = 0;
	assert_null(iommufd_glib_fault_source_new(NULL, 4));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(iommufd_glib_fault_source_new((struct iommufd_fault_queue *)(void *)&q, 65537));
	assert_int_equal(errno, EINVAL);
	close(q.efd);
	q.efd = -1; /* the queue has no fd */
	errno = 0;
	assert_null(iommufd_glib_fault_source_new((struct iommufd_fault_queue *)(void *)&q, 4));
	assert_int_equal(errno, EINVAL);
	q.efd = eventfd(0, EFD_CLOEXEC);
	GSource *src = iommufd_glib_fault_source_new((struct iommufd_fault_queue *)(void *)&q, 0);
	assert_non_null(src);
	assert_int_equal(iommufd_glib_eventfd_source_get_fd(src), -EINVAL);
	g_source_unref(src);
	fq_fini(&q);
}

/* ------------------------------------------------------------------------ */
/* The vEVENTQ source against a scripted queue                              */

/* "Kernel" events are numbered; the fd is readable while some wait that
 * the library has not taken (lib_holds), as for the fault queue above. */
struct vq {
	int efd;
	unsigned int queued, taken; /* events pushed, events handed out */
	unsigned int lib_holds;
	bool slurp;
	unsigned int reads;
	int fail;
};

static void vq_sync_fd(struct vq *q)
{
	eventfd_t v;

	(void)eventfd_read(q->efd, &v);
	if (q->queued - q->taken > q->lib_holds)
		assert_int_equal(eventfd_write(q->efd, 1), 0);
}

static void vq_init(struct vq *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(q->efd >= 0);
}

static void vq_push(struct vq *q, unsigned int n)
{
	q->queued += n;
	vq_sync_fd(q);
}

int __wrap_iommufd_veventq_get_fd(const struct iommufd_veventq *q);
int __wrap_iommufd_veventq_read(struct iommufd_veventq *q, struct iommufd_vevent *events, size_t max);
uint32_t __wrap_iommufd_veventq_get_id(const struct iommufd_veventq *q);

int __wrap_iommufd_veventq_get_fd(const struct iommufd_veventq *q)
{
	return q ? ((const struct vq *)(const void *)q)->efd : -EINVAL;
}

uint32_t __wrap_iommufd_veventq_get_id(const struct iommufd_veventq *q)
{
	(void)q;
	return 9;
}

int __wrap_iommufd_veventq_read(struct iommufd_veventq *q, struct iommufd_vevent *events, size_t max)
{
	struct vq *v = (struct vq *)(void *)q;
	size_t n = 0;
	int r;

	v->reads++;
	if (v->fail) {
		r = v->fail;
	} else if (v->taken == v->queued) {
		r = -EAGAIN;
	} else {
		if (v->slurp)
			v->lib_holds = v->queued - v->taken;
		while (n < max && v->taken < v->queued) {
			events[n] = (struct iommufd_vevent){ .sequence = v->taken, .len = 4 };
			memcpy(events[n].data, &v->taken, 4);
			v->taken++;
			n++;
			if (v->lib_holds)
				v->lib_holds--;
		}
		r = (int)n;
	}
	vq_sync_fd(v);
	return r;
}

struct vseen {
	struct loop *l;
	struct vq *q;
	unsigned int calls, events, max_n, quit_at, errors;
	uint32_t next_seq;
	bool bad_order;
	gboolean ret;
	unsigned int idle_runs, idle_at_last, since_idle, max_batches_between_idles;
};

static gboolean vevent_cb(struct iommufd_veventq *q, const struct iommufd_vevent *ev, size_t n, gpointer data)
{
	struct vseen *s = data;

	assert_ptr_equal((void *)q, (void *)s->q);
	if (!ev) {
		assert_int_equal(n, 0);
		s->errors++;
		g_main_loop_quit(s->l->ml);
		return s->ret;
	}
	assert_true(n >= 1);
	s->calls++;
	s->events += (unsigned int)n;
	if (n > s->max_n)
		s->max_n = (unsigned int)n;
	for (size_t i = 0; i < n; i++)
		if (ev[i].sequence != s->next_seq++)
			s->bad_order = true;
	if (s->idle_runs != s->idle_at_last) {
		s->idle_at_last = s->idle_runs;
		s->since_idle = 0;
	}
	if (++s->since_idle > s->max_batches_between_idles)
		s->max_batches_between_idles = s->since_idle;
	if (s->quit_at && s->events >= s->quit_at)
		g_main_loop_quit(s->l->ml);
	return s->ret;
}

static gboolean vidle_cb(gpointer data)
{
	((struct vseen *)data)->idle_runs++;
	return G_SOURCE_CONTINUE;
}

static GSource *vevent_source(struct vq *q, size_t batch, struct vseen *s, struct loop *l)
{
	GSource *src = iommufd_glib_veventq_source_new((struct iommufd_veventq *)(void *)q, batch);

	assert_non_null(src);
	g_source_set_callback(src, G_SOURCE_FUNC(vevent_cb), s, NULL);
	g_source_attach(src, l->ctx);
	return src;
}

/* 1,000 events in batches of 10, in order, and an idle source of the same
 * priority keeps running: a dispatch delivers at most 16 batches. */
static void test_vevent_batches_no_starvation(void **state)
{
	struct vq q;
	struct loop l;
	struct vseen s = { .l = &l, .q = &q, .ret = G_SOURCE_CONTINUE, .quit_at = 1000 };
	GSource *src, *idle;
	unsigned int reads;

	(void)state;
	vq_init(&q);
	loop_init(&l);
	src = vevent_source(&q, 10, &s, &l);
	idle = g_idle_source_new();
	g_source_set_priority(idle, G_PRIORITY_DEFAULT);
	g_source_set_callback(idle, vidle_cb, &s, NULL);
	g_source_attach(idle, l.ctx);
	vq_push(&q, 1000);
	g_main_loop_run(l.ml);
	assert_int_equal(s.events, 1000);
	assert_int_equal(s.calls, 100);
	assert_int_equal(s.max_n, 10);
	assert_false(s.bad_order);
	assert_true(s.max_batches_between_idles <= 16);
	assert_true(s.idle_runs >= 100 / 16);
	/* empty: the source sleeps */
	drop(idle);
	reads = q.reads;
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	assert_int_equal(iommufd_glib_source_get_error(src), 0);
	drop(src);
	loop_fini(&l);
	close(q.efd);
}

/* The library took every event from the kernel at the first read: the fd
 * no longer polls readable, yet the source delivers them all. */
static void test_vevent_library_holds_events(void **state)
{
	struct vq q;
	struct loop l;
	struct vseen s = { .l = &l, .q = &q, .ret = G_SOURCE_CONTINUE, .quit_at = 40 };
	GSource *src;

	(void)state;
	vq_init(&q);
	q.slurp = true;
	loop_init(&l);
	src = vevent_source(&q, 1, &s, &l);
	vq_push(&q, 40);
	g_main_loop_run(l.ml);
	assert_int_equal(s.events, 40);
	assert_int_equal(s.calls, 40);
	assert_false(s.bad_order);
	drop(src);
	loop_fini(&l);
	close(q.efd);
}

/* A read error: the callback hears it once, and the source stops polling. */
static void test_vevent_error_stops(void **state)
{
	struct vq q;
	struct loop l;
	struct vseen s = { .l = &l, .q = &q, .ret = G_SOURCE_CONTINUE };
	GSource *src;
	unsigned int reads;

	(void)state;
	vq_init(&q);
	loop_init(&l);
	src = vevent_source(&q, 4, &s, &l);
	q.fail = -EMSGSIZE;
	vq_push(&q, 3);
	g_main_loop_run(l.ml);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.calls, 0);
	assert_int_equal(iommufd_glib_source_get_error(src), -EMSGSIZE);
	reads = q.reads;
	assert_int_equal(loop_spin(&l, 5), 0); /* the fd is still readable */
	assert_int_equal(q.reads, reads);
	drop(src);
	loop_fini(&l);
	close(q.efd);
}

/* G_SOURCE_REMOVE from the callback: no further read. */
static void test_vevent_remove(void **state)
{
	struct vq q;
	struct loop l;
	struct vseen s = { .l = &l, .q = &q, .ret = G_SOURCE_REMOVE, .quit_at = 1 };
	GSource *src;
	unsigned int reads;

	(void)state;
	vq_init(&q);
	loop_init(&l);
	src = vevent_source(&q, 2, &s, &l);
	vq_push(&q, 6);
	g_main_loop_run(l.ml);
	reads = q.reads;
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.events, 2);
	assert_true(g_source_is_destroyed(src));
	assert_int_equal(loop_spin(&l, 5), 0);
	assert_int_equal(q.reads, reads);
	g_source_unref(src);
	loop_fini(&l);
	close(q.efd);
}

static void test_vevent_bad_args(void **state)
{
	struct vq q;
	GSource *src;

	(void)state;
	vq_init(&q);
	errno = 0;
	assert_null(iommufd_glib_veventq_source_new(NULL, 4));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(iommufd_glib_veventq_source_new((struct iommufd_veventq *)(void *)&q, 4097));
	assert_int_equal(errno, EINVAL);
	close(q.efd);
	q.efd = -1; /* the queue has no fd */
	errno = 0;
	assert_null(iommufd_glib_veventq_source_new((struct iommufd_veventq *)(void *)&q, 4));
	assert_int_equal(errno, EINVAL);
	q.efd = eventfd(0, EFD_CLOEXEC);
	src = iommufd_glib_veventq_source_new((struct iommufd_veventq *)(void *)&q, 0);
	assert_non_null(src);
	/* not a fault or eventfd source */
	assert_int_equal(iommufd_glib_fault_source_resume(src), -EINVAL);
	assert_int_equal(iommufd_glib_eventfd_source_get_fd(src), -EINVAL);
	assert_int_equal(iommufd_glib_source_get_error(src), 0);
	g_source_unref(src);
	close(q.efd);
}

#define DEV_TEST(fn, b) cmocka_unit_test_prestate_setup_teardown(fn, setup_dev, teardown_dev, (void *)&(b))

int main(void)
{
	const struct CMUnitTest tests[] = {
		DEV_TEST(test_irq_msix, B_CDEV),
		DEV_TEST(test_irq_msix, B_GROUP),
		DEV_TEST(test_irq_msix, B_TYPE1),
		DEV_TEST(test_irq_intx_unmask_and_remove, B_CDEV),
		DEV_TEST(test_irq_intx_unmask_and_remove, B_TYPE1),
		DEV_TEST(test_irq_req, B_CDEV),
		DEV_TEST(test_irq_req, B_GROUP),
		DEV_TEST(test_irq_errors, B_CDEV),
		cmocka_unit_test(test_eventfd_source),
		cmocka_unit_test(test_eventfd_source_bad_fd),
		cmocka_unit_test(test_fault_batches_no_starvation),
		cmocka_unit_test(test_fault_library_holds_records),
		cmocka_unit_test(test_fault_large_group),
		cmocka_unit_test(test_fault_full_pauses),
		cmocka_unit_test(test_fault_resume_from_thread),
		cmocka_unit_test(test_fault_error_stops),
		cmocka_unit_test(test_fault_remove),
		cmocka_unit_test(test_fault_bad_args),
		cmocka_unit_test(test_vevent_batches_no_starvation),
		cmocka_unit_test(test_vevent_library_holds_events),
		cmocka_unit_test(test_vevent_error_stops),
		cmocka_unit_test(test_vevent_remove),
		cmocka_unit_test(test_vevent_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
