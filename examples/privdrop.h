/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Become an unprivileged process for good: another uid and gid, no
 * supplementary groups, no capability in any set (the bounding set too, so
 * no exec can bring one back), no_new_privs, and a RLIMIT_MEMLOCK that
 * bounds what it may pin for DMA.  Shared by examples/fd-passing and its
 * VM test.  Must run as root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP).
 */
#ifndef IFD_EXAMPLES_PRIVDROP_H
#define IFD_EXAMPLES_PRIVDROP_H

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* A "CapXxx:" line of /proc/self/status as a number; ~0 if unreadable. */
static inline unsigned long long privdrop_caps(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t kl = strlen(key);
	unsigned long long v = ~0ull;

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 16);
			break;
		}
	fclose(f);
	return v;
}

/*
 * Returns 0, or -errno of the step that failed (@step names it).  Verified
 * afterwards: a step the kernel accepted but did not do is -EPERM.
 */
static inline int privdrop(uid_t uid, gid_t gid, rlim_t memlock, const char **step)
{
	struct rlimit rl = { memlock, memlock };

	*step = "setrlimit(RLIMIT_MEMLOCK)";
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return -errno;
	/* The bounding set first: dropping it needs CAP_SETPCAP, which the
	 * uid change below takes away. */
	*step = "prctl(PR_CAPBSET_DROP)";
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	*step = "setgroups";
	if (setgroups(0, NULL) < 0)
		return -errno;
	*step = "setresgid";
	if (setresgid(gid, gid, gid) < 0)
		return -errno;
	/* Leaving uid 0 for good clears the permitted, effective and ambient
	 * sets (no SECBIT_KEEP_CAPS). */
	*step = "setresuid";
	if (setresuid(uid, uid, uid) < 0)
		return -errno;
	*step = "prctl(PR_SET_NO_NEW_PRIVS)";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	*step = "verification (uid, gid, capability sets, a way back to root)";
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    privdrop_caps("CapEff") || privdrop_caps("CapPrm") || privdrop_caps("CapInh") ||
	    privdrop_caps("CapAmb") || privdrop_caps("CapBnd") || setuid(0) == 0)
		return -EPERM;
	return 0;
}

#endif
