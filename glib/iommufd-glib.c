/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * GLib sources for libiommufd: a fault-queue source and an eventfd source
 * (plain, or owning a device interrupt vector).  Only the public API of
 * libiommufd is used, so this library can live beside any build of it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "glib-internal.h"

#define FAULT_DEFAULT_BATCH 64u
#define FAULT_MAX_BATCH     65536u
/* Batches per dispatch: enough to drain a burst cheaply, few enough that a
 * queue the device keeps full still lets the context's other sources run. */
#define FAULT_BATCHES_PER_DISPATCH 16u
/* One group larger than this is not a real device's: stop, don't grow. */
#define FAULT_MAX_GROUP 65536u

static int ret_err(int r)
{
	if (r < 0)
		errno = -r;
	return r;
}

/* ------------------------------------------------------------------------ */
/* Fault queues                                                             */

struct fault_source {
	GSource base;
	struct iommufd_fault_queue *q;
	gpointer tag;
	struct iommufd_page_request *reqs;
	size_t batch;  /* records per callback, as the caller asked */
	size_t cap;    /* records at reqs: batch, or more once a group was larger */
	bool more;     /* the last dispatch stopped early: records may wait in the library */
	bool paused;   /* -ENOSPC: not polling until answers free room */
	uint64_t outstanding_at_pause;
	int error;
	gint resume;   /* set by iommufd_glib_fault_source_resume(), any thread */
};

static void fault_poll(struct fault_source *s, bool on)
{
	g_source_modify_unix_fd(&s->base, s->tag, on ? G_IO_IN : 0);
}

static void fault_unpause(struct fault_source *s)
{
	if (!s->paused || s->error)
		return;
	s->paused = false;
	/* The library may hold records the fd no longer announces. */
	s->more = true;
	fault_poll(s, true);
}

static gboolean fault_prepare(GSource *base, gint *timeout)
{
	struct fault_source *s = (struct fault_source *)base;

	*timeout = -1;
	if (g_atomic_int_compare_and_exchange(&s->resume, 1, 0))
		fault_unpause(s);
	if (s->paused && !s->error) {
		struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };

		/* Cheap (one lock) and only while paused: answers given since
		 * the pause free room, so reading can go on. */
		if (iommufd_fault_queue_get_stats(s->q, &st) == 0 && st.outstanding < s->outstanding_at_pause)
			fault_unpause(s);
	}
	return s->more && !s->paused && !s->error;
}

static gboolean fault_check(GSource *base)
{
	struct fault_source *s = (struct fault_source *)base;

	if (s->paused || s->error)
		return FALSE;
	return s->more || (g_source_query_unix_fd(base, s->tag) & G_IO_IN);
}

static void fault_pause(struct fault_source *s)
{
	struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };

	/* Without the count only an explicit resume restarts it: better than
	 * re-reading a full queue on every iteration. */
	s->outstanding_at_pause = iommufd_fault_queue_get_stats(s->q, &st) == 0 ? st.outstanding : 0;
	s->paused = true;
	s->more = false;
	fault_poll(s, false);
}

/* Room for @want records: the next group alone is larger than a batch. */
static int fault_reserve(struct fault_source *s, size_t want)
{
	struct iommufd_page_request *n;

	if (want <= s->cap)
		return 0;
	n = g_try_renew(struct iommufd_page_request, s->reqs, want);
	if (!n)
		return -ENOMEM;
	s->reqs = n;
	s->cap = want;
	return 0;
}

/*
 * Hand @n records to the callback in batches of at most s->batch records,
 * cut at group ends; a group larger than a batch goes alone.  A read made
 * with a larger buffer (after -EMSGSIZE) may hold several groups.
 * Returns FALSE when the callback asked to be removed.
 */
static gboolean fault_deliver(struct fault_source *s, iommufd_glib_fault_fn fn, size_t n, gpointer user_data,
			      unsigned int *batches)
{
	size_t done = 0;

	while (done < n) {
		size_t len = 0, i;

		for (i = done; i < n; i++) {
			if (i - done + 1 > s->batch && len)
				break;
			if (s->reqs[i].flags & IOMMUFD_PRQ_LAST_PAGE)
				len = i - done + 1;
		}
		if (!len)
			len = n - done; /* no group end (never from the library): keep it whole */
		(*batches)++;
		if (!fn(s->q, s->reqs + done, len, user_data))
			return FALSE;
		done += len;
	}
	return TRUE;
}

static gboolean fault_dispatch(GSource *base, GSourceFunc callback, gpointer user_data)
{
	struct fault_source *s = (struct fault_source *)base;
	iommufd_glib_fault_fn fn = (iommufd_glib_fault_fn)(void (*)(void))callback;
	unsigned int batches = 0;
	size_t want = s->batch;
	int r;

	if (!fn) {
		/* Reading without a callback would lose requests. */
		g_warning("libiommufd-glib: fault source %u dispatched without a callback: "
			  "call g_source_set_callback() before attaching it", iommufd_fault_queue_get_id(s->q));
		return G_SOURCE_REMOVE;
	}
	while (batches < FAULT_BATCHES_PER_DISPATCH) {
		r = iommufd_fault_queue_read(s->q, s->reqs, want);
		if (r > 0) {
			want = s->batch;
			if (!fault_deliver(s, fn, (size_t)r > s->cap ? s->cap : (size_t)r, user_data, &batches))
				return G_SOURCE_REMOVE;
			continue;
		}
		if (r == -EAGAIN || r == 0) {
			s->more = false;
			return G_SOURCE_CONTINUE;
		}
		if (r == -EINTR)
			continue;
		if (r == -ENOSPC) {
			fault_pause(s);
			return G_SOURCE_CONTINUE;
		}
		if (r == -EMSGSIZE && want < FAULT_MAX_GROUP) {
			want = want * 2 > FAULT_MAX_GROUP ? FAULT_MAX_GROUP : want * 2;
			r = fault_reserve(s, want);
			if (r == 0)
				continue;
		}
		s->error = r;
		s->more = false;
		fault_poll(s, false);
		return fn(s->q, NULL, 0, user_data);
	}
	s->more = true;
	return G_SOURCE_CONTINUE;
}

static void fault_finalize(GSource *base)
{
	struct fault_source *s = (struct fault_source *)base;

	g_free(s->reqs);
	s->reqs = NULL;
}

static const GSourceFuncs fault_funcs = {
	.prepare = fault_prepare,
	.check = fault_check,
	.dispatch = fault_dispatch,
	.finalize = fault_finalize,
};

IFD_GLIB_EXPORT GSource *iommufd_glib_fault_source_new(struct iommufd_fault_queue *q, size_t max_batch)
{
	struct fault_source *s;
	int fd;

	if (!q || max_batch > FAULT_MAX_BATCH) {
		errno = EINVAL;
		return NULL;
	}
	fd = iommufd_fault_queue_get_fd(q);
	if (fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (!max_batch)
		max_batch = FAULT_DEFAULT_BATCH;
	s = (struct fault_source *)g_source_new((GSourceFuncs *)&fault_funcs, sizeof(*s));
	s->reqs = g_try_new(struct iommufd_page_request, max_batch);
	if (!s->reqs) {
		g_source_unref(&s->base);
		errno = ENOMEM;
		return NULL;
	}
	s->q = q;
	s->batch = max_batch;
	s->cap = max_batch;
	s->tag = g_source_add_unix_fd(&s->base, fd, G_IO_IN);
	g_source_set_name(&s->base, "iommufd fault queue");
	return &s->base;
}

IFD_GLIB_EXPORT int iommufd_glib_fault_source_resume(GSource *source)
{
	struct fault_source *s = (struct fault_source *)source;
	GMainContext *ctx;

	if (!source || source->source_funcs != &fault_funcs)
		return ret_err(-EINVAL);
	g_atomic_int_set(&s->resume, 1);
	ctx = g_source_get_context(source);
	if (ctx)
		g_main_context_wakeup(ctx);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Eventfds and device interrupts                                           */

struct efd_source {
	GSource base;
	gpointer tag;
	int fd;
	int error;
	/* A device IRQ source (dev != NULL) owns fd and its vector. */
	struct iommufd_device *dev;
	unsigned int type, index;
};

static gboolean efd_dispatch(GSource *base, GSourceFunc callback, gpointer user_data)
{
	struct efd_source *s = (struct efd_source *)base;
	iommufd_glib_eventfd_fn fn = (iommufd_glib_eventfd_fn)(void (*)(void))callback;
	uint64_t v;
	ssize_t n;
	gboolean keep;

	do
		n = read(s->fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return G_SOURCE_CONTINUE; /* another reader took it */
	if (n != (ssize_t)sizeof(v)) {
		/* Not an eventfd any more (closed, or replaced): polling it
		 * again would spin. */
		s->error = n < 0 ? -errno : -EIO;
		g_source_modify_unix_fd(base, s->tag, 0);
		v = 0;
	}
	if (!fn) {
		g_warning("libiommufd-glib: eventfd source (fd %d) dispatched without a callback: "
			  "call g_source_set_callback() before attaching it", s->fd);
		return G_SOURCE_REMOVE;
	}
	keep = fn(v, user_data);
	/* VFIO masked INTx when it fired; the callback quieted the device. */
	if (keep && v && s->dev && s->type == IOMMUFD_IRQ_INTX)
		iommufd_device_irq_unmask(s->dev, s->type, s->index);
	return keep;
}

static void efd_finalize(GSource *base)
{
	struct efd_source *s = (struct efd_source *)base;

	if (!s->dev)
		return;
	if (s->type == IOMMUFD_IRQ_MSI || s->type == IOMMUFD_IRQ_MSIX) {
		int none = -1;

		iommufd_device_irq_enable(s->dev, s->type, s->index, 1, &none);
	} else {
		iommufd_device_irq_disable(s->dev, s->type);
	}
	close(s->fd);
	s->fd = -1;
}

static const GSourceFuncs efd_funcs = {
	.dispatch = efd_dispatch,
	.finalize = efd_finalize,
};

static struct efd_source *efd_new(int efd)
{
	struct efd_source *s = (struct efd_source *)g_source_new((GSourceFuncs *)&efd_funcs, sizeof(*s));

	s->fd = efd;
	s->tag = g_source_add_unix_fd(&s->base, efd, G_IO_IN);
	g_source_set_name(&s->base, "iommufd eventfd");
	return s;
}

IFD_GLIB_EXPORT GSource *iommufd_glib_eventfd_source_new(int efd)
{
	if (efd < 0) {
		errno = EINVAL;
		return NULL;
	}
	return &efd_new(efd)->base;
}

IFD_GLIB_EXPORT int iommufd_glib_device_irq_source_new(struct iommufd_device *dev, unsigned int type,
						       unsigned int index, GSource **out)
{
	struct efd_source *s;
	int efd, r;

	if (!dev || !out || type > IOMMUFD_IRQ_REQ)
		return ret_err(-EINVAL);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return ret_err(-errno);
	r = iommufd_device_irq_enable(dev, type, index, 1, &efd);
	if (r < 0) {
		close(efd);
		return ret_err(r);
	}
	s = efd_new(efd);
	s->dev = dev;
	s->type = type;
	s->index = index;
	g_source_set_name(&s->base, "iommufd device interrupt");
	*out = &s->base;
	return 0;
}

IFD_GLIB_EXPORT int iommufd_glib_eventfd_source_get_fd(GSource *source)
{
	if (!source || source->source_funcs != &efd_funcs)
		return ret_err(-EINVAL);
	return ((struct efd_source *)source)->fd;
}

IFD_GLIB_EXPORT int iommufd_glib_source_get_error(GSource *source)
{
	int err;

	if (source && source->source_funcs == &fault_funcs)
		return ((struct fault_source *)source)->error;
	if (source && source->source_funcs == &efd_funcs)
		return ((struct efd_source *)source)->error;
	if (ifd_glib_veventq_source_error(source, &err))
		return err;
	return ret_err(-EINVAL);
}
