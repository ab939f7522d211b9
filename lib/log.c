/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * Messages are formatted into a stack buffer and handed over whole, so a
 * callback sees one line per event even when threads log concurrently.
 * errno is preserved: callers log between a failing call and returning.
 */
void ifd_log(struct iommufd_ctx *ctx, int level, const char *fmt, ...)
{
	char msg[512];
	iommufd_log_fn fn;
	void *data;
	int max, saved = errno;
	va_list ap;

	if (!ctx)
		return;
	/* Held across the callback so iommufd_ctx_set_log() can wait for
	 * calls of the old callback to finish before it returns. */
	pthread_rwlock_rdlock(&ctx->log_lock);
	fn = ctx->log_fn;
	data = ctx->log_data;
	max = ctx->log_level;
	if (level <= max) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (fn)
			fn(data, level, msg);
		else
			fprintf(stderr, "libiommufd: %s\n", msg);
	}
	pthread_rwlock_unlock(&ctx->log_lock);
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
