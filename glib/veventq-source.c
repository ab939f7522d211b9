/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The vEVENTQ source: events of a vIOMMU event queue delivered in batches
 * from a GMainContext.  iommufd_veventq_read() may keep records it read
 * beyond what was asked for (lost-events records take no payload room),
 * and those do not make the fd readable: so the source reads until
 * -EAGAIN, and when it stops early it stays ready without the fd.
 */
#include <stdbool.h>
#include <stdint.h>

#include "glib-internal.h"

#define VEVENT_DEFAULT_BATCH 64u
#define VEVENT_MAX_BATCH     4096u
/* Enough to drain a burst cheaply, few enough that a queue the IOMMU keeps
 * busy still lets the context's other sources run. */
#define VEVENT_BATCHES_PER_DISPATCH 16u

struct veventq_source {
	GSource base;
	struct iommufd_veventq *q;
	gpointer tag;
	struct iommufd_vevent *events;
	size_t batch;
	bool more; /* the last dispatch stopped early: records may wait in the library */
	int error;
};

static gboolean veventq_prepare(GSource *base, gint *timeout)
{
	struct veventq_source *s = (struct veventq_source *)base;

	*timeout = -1;
	return s->more && !s->error;
}

static gboolean veventq_check(GSource *base)
{
	struct veventq_source *s = (struct veventq_source *)base;

	if (s->error)
		return FALSE;
	return s->more || (g_source_query_unix_fd(base, s->tag) & G_IO_IN);
}

static gboolean veventq_dispatch(GSource *base, GSourceFunc callback, gpointer user_data)
{
	struct veventq_source *s = (struct veventq_source *)base;
	iommufd_glib_vevent_fn fn = (iommufd_glib_vevent_fn)(void (*)(void))callback;
	unsigned int batches;
	int r;

	if (!fn) {
		/* Reading without a callback would lose events. */
		g_warning("libiommufd-glib: vEVENTQ source %u dispatched without a callback: "
			  "call g_source_set_callback() before attaching it", iommufd_veventq_get_id(s->q));
		return G_SOURCE_REMOVE;
	}
	for (batches = 0; batches < VEVENT_BATCHES_PER_DISPATCH; batches++) {
		r = iommufd_veventq_read(s->q, s->events, s->batch);
		if (r > 0) {
			if (!fn(s->q, s->events, (size_t)r > s->batch ? s->batch : (size_t)r, user_data))
				return G_SOURCE_REMOVE;
			continue;
		}
		if (r == -EAGAIN || r == 0) {
			s->more = false;
			return G_SOURCE_CONTINUE;
		}
		/* The library logged it; polling again would return it again. */
		s->error = r;
		s->more = false;
		g_source_modify_unix_fd(base, s->tag, 0);
		return fn(s->q, NULL, 0, user_data);
	}
	s->more = true;
	return G_SOURCE_CONTINUE;
}

static void veventq_finalize(GSource *base)
{
	struct veventq_source *s = (struct veventq_source *)base;

	g_free(s->events);
	s->events = NULL;
}

static const GSourceFuncs veventq_funcs = {
	.prepare = veventq_prepare,
	.check = veventq_check,
	.dispatch = veventq_dispatch,
	.finalize = veventq_finalize,
};

IFD_GLIB_EXPORT GSource *iommufd_glib_veventq_source_new(struct iommufd_veventq *q, size_t max_batch)
{
	struct veventq_source *s;
	int fd;

	if (!q || max_batch > VEVENT_MAX_BATCH) {
		errno = EINVAL;
		return NULL;
	}
	fd = iommufd_veventq_get_fd(q);
	if (fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (!max_batch)
		max_batch = VEVENT_DEFAULT_BATCH;
	s = (struct veventq_source *)g_source_new((GSourceFuncs *)&veventq_funcs, sizeof(*s));
	s->events = g_try_new(struct iommufd_vevent, max_batch);
	if (!s->events) {
		g_source_unref(&s->base);
		errno = ENOMEM;
		return NULL;
	}
	s->q = q;
	s->batch = max_batch;
	s->tag = g_source_add_unix_fd(&s->base, fd, G_IO_IN);
	g_source_set_name(&s->base, "iommufd vEVENTQ");
	return &s->base;
}

bool ifd_glib_veventq_source_error(GSource *source, int *error)
{
	if (!source || source->source_funcs != &veventq_funcs)
		return false;
	*error = ((struct veventq_source *)source)->error;
	return true;
}
