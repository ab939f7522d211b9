/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * Messages are formatted into a stack buffer and handed over whole, so a
 * callback sees one line per event even when threads log concurrently.
 * errno is preserved: callers log between a failing call and returning.
 */
static void emit(struct iommufd_ctx *ctx, int level, const char *msg)
{
	/* Held across the callback so iommufd_ctx_set_log() can wait for
	 * calls of the old callback to finish before it returns. */
	pthread_rwlock_rdlock(&ctx->log_lock);
	if (level <= ctx->log_level) {
		if (ctx->log_fn)
			ctx->log_fn(ctx->log_data, level, msg);
		else
			fprintf(stderr, "libiommufd: %s\n", msg);
	}
	pthread_rwlock_unlock(&ctx->log_lock);
}

static bool holds_ctx_lock(const struct iommufd_ctx *ctx)
{
	return __atomic_load_n(&ctx->lock_held, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&ctx->lock_owner, __ATOMIC_RELAXED) == (unsigned long)pthread_self();
}

void ifd_log(struct iommufd_ctx *ctx, int level, const char *fmt, ...)
{
	char msg[512];
	int max, saved = errno;
	va_list ap;

	if (!ctx)
		return;
	pthread_rwlock_rdlock(&ctx->log_lock);
	max = ctx->log_level;
	pthread_rwlock_unlock(&ctx->log_lock);
	if (level > max)
		goto out;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (holds_ctx_lock(ctx)) {
		/* ctx->lock protects the queue: only its holder gets here. */
		if (ctx->npending < sizeof(ctx->pending) / sizeof(ctx->pending[0])) {
			ctx->pending[ctx->npending].level = level;
			memcpy(ctx->pending[ctx->npending].msg, msg, sizeof(msg));
			ctx->npending++;
		} else {
			ctx->dropped++;
		}
		goto out;
	}
	emit(ctx, level, msg);
out:
	errno = saved;
}

void ifd_ctx_lock(struct iommufd_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	__atomic_store_n(&ctx->lock_owner, (unsigned long)pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->lock_held, true, __ATOMIC_RELEASE);
}

void ifd_ctx_unlock(struct iommufd_ctx *ctx)
{
	struct ifd_pending_msg out[sizeof(ctx->pending) / sizeof(ctx->pending[0])];
	unsigned int n = ctx->npending, dropped = ctx->dropped;
	int saved = errno;

	if (n)
		memcpy(out, ctx->pending, n * sizeof(out[0]));
	ctx->npending = 0;
	ctx->dropped = 0;
	__atomic_store_n(&ctx->lock_held, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ctx->lock);
	for (unsigned int i = 0; i < n; i++)
		emit(ctx, out[i].level, out[i].msg);
	if (dropped) {
		char msg[64];

		snprintf(msg, sizeof(msg), "(%u more messages of that call dropped)", dropped);
		emit(ctx, IOMMUFD_LOG_WARNING, msg);
	}
	errno = saved;
}

/* The default sink: silent unless LIBIOMMUFD_DEBUG is set. */
void ifd_log_defaults(struct iommufd_ctx *ctx, iommufd_log_fn fn, void *data, int level)
{
	const char *env = ctx->sys->getenv("LIBIOMMUFD_DEBUG");
	bool debug = env && *env;

	ctx->log_fn = fn;
	ctx->log_data = data;
	if (level > 0)
		ctx->log_level = level;
	else if (debug)
		ctx->log_level = IOMMUFD_LOG_DEBUG;
	else
		ctx->log_level = IOMMUFD_LOG_ERR;
	/* No callback and no LIBIOMMUFD_DEBUG: say nothing at all. */
	if (!fn && !debug)
		ctx->log_level = -1;
}

IFD_EXPORT int iommufd_ctx_set_log(struct iommufd_ctx *ctx, iommufd_log_fn fn, void *data, int level)
{
	if (!ctx || level < 0 || level > IOMMUFD_LOG_DEBUG)
		return ifd_ret(-EINVAL);
	pthread_rwlock_wrlock(&ctx->log_lock);
	ifd_log_defaults(ctx, fn, data, level);
	pthread_rwlock_unlock(&ctx->log_lock);
	return 0;
}
