/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The kernel's uevent messages, as NETLINK_KOBJECT_UEVENT delivers them:
 * a header "ACTION@DEVPATH", then KEY=VALUE fields, each NUL-terminated.
 * Kept apart from the socket so it can be fed arbitrary bytes (fuzzing):
 * it reads only buf[0 .. len-1] and fills only @out.
 */
#include <string.h>

#include "internal.h"

/* Copy @n bytes of @s into @dst (@size bytes) with a NUL, or fail. */
static int take(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int parse_seqnum(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static bool key_is(const char *f, size_t n, const char *key, size_t *vlen)
{
	size_t k = strlen(key);

	if (n < k || memcmp(f, key, k))
		return false;
	*vlen = n - k;
	return true;
}

int ifd_uevent_parse(const char *buf, size_t len, struct ifd_uevent *out)
{
	const char *end = buf + len, *at, *p;
	size_t hlen, vlen;
	bool have_action = false, have_path = false, have_subsys = false, have_seq = false;

	memset(out, 0, sizeof(*out));
	/* Every field, the last included, ends with a NUL: the kernel always
	 * sends it, and a message without one was cut. */
	if (!buf || len < 4 || end[-1] != '\0')
		return -EINVAL;
	hlen = strlen(buf); /* bounded: end[-1] is a NUL */
	at = memchr(buf, '@', hlen);
	if (!at || at == buf || at + 1 == buf + hlen)
		return -EINVAL;
	for (p = buf + hlen + 1; p < end; p += strlen(p) + 1) {
		size_t n = strlen(p);
		int r = 0;

		if (key_is(p, n, "ACTION=", &vlen)) {
			r = have_action ? -EINVAL : take(out->action, sizeof(out->action), p + n - vlen, vlen);
			have_action = true;
		} else if (key_is(p, n, "DEVPATH=", &vlen)) {
			r = have_path ? -EINVAL : take(out->devpath, sizeof(out->devpath), p + n - vlen, vlen);
			have_path = true;
		} else if (key_is(p, n, "SUBSYSTEM=", &vlen)) {
			r = have_subsys ? -EINVAL : take(out->subsystem, sizeof(out->subsystem), p + n - vlen, vlen);
			have_subsys = true;
		} else if (key_is(p, n, "SEQNUM=", &vlen)) {
			r = have_seq ? -EINVAL : parse_seqnum(p + n - vlen, vlen, &out->seqnum);
			have_seq = true;
		}
		if (r < 0)
			return r;
	}
	if (!have_action || !have_path || !out->action[0] || out->devpath[0] != '/')
		return -EINVAL;
	/* The header repeats ACTION and DEVPATH: a message whose two copies
	 * disagree is not the kernel's. */
	if ((size_t)(at - buf) != strlen(out->action) || memcmp(buf, out->action, (size_t)(at - buf)) ||
	    strcmp(at + 1, out->devpath))
		return -EINVAL;
	out->name = strrchr(out->devpath, '/') + 1;
	if (!*out->name)
		return -EINVAL;
	return 0;
}
