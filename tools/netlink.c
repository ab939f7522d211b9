/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Network interfaces over rtnetlink (libnl-route-3): which PCI device is
 * behind a name, and taking a link down before its device leaves its
 * driver.
 */
#include <errno.h>
#include <string.h>

#include "ctl.h"

#ifdef CTL_HAVE_LIBNL
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>

bool ctl_nl_available(void)
{
	return true;
}

/* libnl's own errors are not errnos; the ones a user can act on are mapped. */
static int nlerr(int e)
{
	switch (-e) {
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOMEM: return -ENOMEM;
	default: return -EIO;
	}
}

struct parent_ans {
	char bus[16];
	char name[CTL_NAME_MAX];
	bool seen;
};

static int parent_cb(struct nl_msg *msg, void *arg)
{
	struct parent_ans *a = arg;
	struct nlattr *tb[IFLA_MAX + 1];
	struct nlattr *pn, *pb;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0)
		return NL_SKIP;
	a->seen = true;
	pn = tb[IFLA_PARENT_DEV_NAME];
	pb = tb[IFLA_PARENT_DEV_BUS_NAME];
	/* Bounded copies: the attribute's length is the kernel's word. */
	if (pn && nla_len(pn) > 0)
		nla_strlcpy(a->name, pn, sizeof(a->name));
	if (pb && nla_len(pb) > 0)
		nla_strlcpy(a->bus, pb, sizeof(a->bus));
	return NL_OK;
}

/*
 * IFLA_PARENT_DEV_NAME / _BUS_NAME (Linux 5.16+) name the device a link
 * belongs to; rtnl_link has no accessor for them, so the request is built
 * here.  Older kernels answer without them: then sysfs' device link.
 */
int ctl_nl_parent(const char *ifname, char *bdf, size_t len)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct parent_ans a = { 0 };
	struct nl_sock *s = nl_socket_alloc();
	struct nl_msg *m = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	r = nl_connect(s, NETLINK_ROUTE);
	if (r < 0)
		goto out;
	m = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!m || nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(m, IFLA_IFNAME, ifname) < 0) {
		r = -NLE_NOMEM;
		goto out;
	}
	nl_socket_modify_cb(s, NL_CB_VALID, NL_CB_CUSTOM, parent_cb, &a);
	r = nl_send_auto(s, m);
	if (r >= 0)
		r = nl_recvmsgs_default(s);
out:
	nlmsg_free(m);
	nl_socket_free(s);
	if (r < 0)
		return nlerr(r);
	if (!a.seen)
		return -ENODEV;
	if (a.name[0] && strcmp(a.bus, "pci") && a.bus[0])
		return -EMEDIUMTYPE; /* a USB or platform NIC: not a PCI device */
	if (!a.name[0]) {
		char p[PATH_MAX];

		if (ctl_path(p, sizeof(p), "/sys/class/net/%s/device", ifname) < 0 ||
		    ctl_link_base(p, a.name, sizeof(a.name)) < 0)
			return -ENXIO; /* virtual interface: no device behind it */
	}
	if (strlen(a.name) >= len)
		return -ENAMETOOLONG;
	strcpy(bdf, a.name);
	return 0;
}

int ctl_nl_link_down(const char *ifname)
{
	struct rtnl_link *orig = NULL, *change = NULL;
	struct nl_sock *s = nl_socket_alloc();
	int r;

	if (!s)
		return -ENOMEM;
	r = nl_connect(s, NETLINK_ROUTE);
	if (r >= 0)
		r = rtnl_link_get_kernel(s, 0, ifname, &orig);
	if (r >= 0 && !(change = rtnl_link_alloc()))
		r = -NLE_NOMEM;
	if (r >= 0) {
		rtnl_link_unset_flags(change, IFF_UP);
		r = rtnl_link_change(s, orig, change, 0);
	}
	rtnl_link_put(change);
	rtnl_link_put(orig);
	nl_socket_free(s);
	return r < 0 ? nlerr(r) : 0;
}

#else

bool ctl_nl_available(void)
{
	return false;
}

int ctl_nl_parent(const char *ifname, char *bdf, size_t len)
{
	(void)ifname, (void)bdf, (void)len;
	return -EPROTONOSUPPORT;
}

int ctl_nl_link_down(const char *ifname)
{
	(void)ifname;
	return -EPROTONOSUPPORT;
}
#endif
