/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufdctl info DEVICE: what sysfs says about the device and its group,
 * what blocks it, and, when the library can open it, the IOVA space and
 * the IOMMU's capabilities as the library sees them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libiommufd/libiommufd.h>

#include "ctl.h"

#define LOG_LINES 32

/* The library's messages, kept to explain its choices after the call. */
struct logbuf {
	char line[LOG_LINES][256];
	int n;
	bool dropped;
};

static void log_keep(void *data, int level, const char *msg)
{
	struct logbuf *b = data;

	(void)level;
	if (b->n == LOG_LINES) {
		b->dropped = true;
		return;
	}
	snprintf(b->line[b->n++], sizeof(b->line[0]), "%s", msg);
}

static void log_print(struct logbuf *b, const char *title)
{
	if (!b->n)
		return;
	printf("%s\n", title);
	for (int i = 0; i < b->n; i++)
		printf("  %s\n", b->line[i]);
	if (b->dropped)
		printf("  (more messages dropped)\n");
	b->n = 0;
	b->dropped = false;
}

/* The library's AUTO rule (iommufd_ctx_create(3)), explained from what exists. */
static void explain_auto(const struct ctl_kpaths *k)
{
	const char *env = getenv("LIBIOMMUFD_BACKEND");

	printf("Backend AUTO would pick: ");
	if (env && env[0] && strcmp(env, "auto"))
		printf("%s, because LIBIOMMUFD_BACKEND=%s forces it\n", env, env);
	else if (k->iommufd && k->cdev)
		printf("cdev: /dev/iommu exists and VFIO registered device cdevs\n");
	else if (k->iommufd && k->groups)
		printf("group: /dev/iommu exists, VFIO has groups but no device cdevs (CONFIG_VFIO_DEVICE_CDEV)\n");
	else if (k->container)
		printf("type1: %s; the legacy container /dev/vfio/vfio (%s) is used\n",
		       k->iommufd ? "VFIO registered neither cdevs nor groups"
				  : "no /dev/iommu (CONFIG_IOMMUFD off or iommufd not loaded)",
		       ctl_container_kind_name(k->container_kind));
	else
		printf("nothing: neither /dev/iommu nor /dev/vfio/vfio exists (modprobe vfio-pci; "
		       "modprobe iommufd)\n");
}

static void print_reserved(int group)
{
	char p[PATH_MAX], buf[4096];

	printf("Reserved IOVA regions (/sys/kernel/iommu_groups/%d/reserved_regions):\n", group);
	if (ctl_path(p, sizeof(p), "/sys/kernel/iommu_groups/%d/reserved_regions", group) < 0 ||
	    ctl_read(p, buf, sizeof(buf)) < 0) {
		printf("  (unreadable)\n");
		return;
	}
	if (!buf[0])
		printf("  none\n");
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("  %s\n", l);
}

/* Prints what keeps the device from VFIO; returns how many blockers. */
static int print_blockers(const struct ctl_dev *d)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX];
	int n, blocks = 0;

	if (!strcmp(d->bus, "pci") && !strstr(d->driver, "vfio")) {
		printf("  %s is bound to %s, not vfio-pci: iommufdctl bind %s\n", d->name,
		       d->driver[0] ? d->driver : "no driver", d->name);
		blocks++;
	}
	if (d->group < 0) {
		printf("  %s has no IOMMU group: boot with intel_iommu=on (or enable AMD-Vi/VT-d in the firmware)\n",
		       d->name);
		return blocks + 1;
	}
	n = ctl_group_members(d->group, members, CTL_MAX_MEMBERS);
	for (int i = 0; i < n; i++) {
		struct ctl_dev m;

		if (!strcmp(members[i], d->name) || ctl_dev_fill("pci", members[i], &m) < 0)
			continue;
		if (ctl_driver_keeps_group_viable(m.driver))
			continue;
		printf("  group %d is not viable: member %s is bound to %s: iommufdctl bind %s --yes\n", d->group,
		       m.name, m.driver, d->name);
		blocks++;
	}
	if (!d->group_node && d->cdev < 0 && !blocks) {
		printf("  no /dev/vfio/%d and no VFIO cdev: is vfio-pci loaded (modprobe vfio-pci)?\n", d->group);
		blocks++;
	}
	return blocks;
}

static const char *reason_name(uint32_t r)
{
	static const char *const n[] = { "supported", "library", "kernel", "backend", "iommu", "device",
					 "need-device" };

	return r < sizeof(n) / sizeof(n[0]) ? n[r] : "unknown";
}

static const char *hw_type_name(uint32_t t)
{
	switch (t) {
	case IOMMUFD_HW_TYPE_NONE: return "none";
	case IOMMUFD_HW_TYPE_VTD: return "intel-vtd";
	case IOMMUFD_HW_TYPE_SMMUV3: return "arm-smmuv3";
	case IOMMUFD_HW_TYPE_TEGRA241: return "tegra241-cmdqv";
	case IOMMUFD_HW_TYPE_AMD: return "amd";
	default: return "unknown";
	}
}

static void print_caps(struct iommufd_ctx *ctx, struct iommufd_device *dev)
{
	static const struct {
		enum iommufd_feature f;
		const char *name;
	} feats[] = {
		{ IOMMUFD_FEATURE_IOMMUFD, "iommufd" },
		{ IOMMUFD_FEATURE_HW_INFO, "hw-info" },
		{ IOMMUFD_FEATURE_HWPT, "hwpt" },
		{ IOMMUFD_FEATURE_HWPT_REPLACE, "hwpt-replace" },
		{ IOMMUFD_FEATURE_NEST_PARENT, "nest-parent" },
		{ IOMMUFD_FEATURE_DIRTY_TRACKING, "dirty-tracking" },
		{ IOMMUFD_FEATURE_PASID, "pasid" },
		{ IOMMUFD_FEATURE_FAULT_QUEUE, "fault-queue" },
		{ IOMMUFD_FEATURE_IOAS_COPY, "ioas-copy" },
		{ IOMMUFD_FEATURE_DEVICE_ADOPT_ID, "device-adopt-id" },
		{ IOMMUFD_FEATURE_MAP_FILE, "map-file" },
		{ IOMMUFD_FEATURE_HWPT_INVALIDATE, "hwpt-invalidate" },
		{ IOMMUFD_FEATURE_VIOMMU, "viommu" },
		{ IOMMUFD_FEATURE_VEVENTQ, "veventq" },
		{ IOMMUFD_FEATURE_HW_QUEUE, "hw-queue" },
		{ IOMMUFD_FEATURE_CHANGE_PROCESS, "change-process" },
	};
	struct iommufd_hw_info hw = { .sz = sizeof(hw) };
	int r;

	r = iommufd_device_get_hw_info(dev, &hw, NULL, 0);

	printf("IOMMU hardware (IOMMU_GET_HW_INFO):\n");
	if (r < 0) {
		printf("  not available: %s%s\n", strerror(-r),
		       r == -EOPNOTSUPP ? " (needs the cdev backend and a kernel with IOMMU_GET_HW_INFO)" : "");
	} else {
		printf("  type:           %s (%u)\n", hw_type_name(hw.type), hw.type);
		printf("  PASID width:    %u bits%s\n", hw.max_pasid_log2, hw.max_pasid_log2 ? "" : " (no PASIDs)");
		printf("  dirty tracking: %s\n", hw.capabilities & IOMMUFD_HW_CAP_DIRTY_TRACKING ? "yes" : "no");
		printf("  ATS:            %s\n", hw.capabilities & IOMMUFD_HW_CAP_NO_ATS ? "not usable" : "not excluded");
		printf("  capabilities:   0x%llx, vendor data %u bytes\n", (unsigned long long)hw.capabilities,
		       hw.vendor_len);
	}
	printf("Features (iommufd_feature_query):\n");
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++) {
		struct iommufd_feature_status st = { .sz = sizeof(st) };

		r = iommufd_feature_query(ctx, dev, feats[i].f, &st);
		if (r < 0)
			printf("  %-16s error: %s\n", feats[i].name, strerror(-r));
		else if (r > 0)
			printf("  %-16s yes\n", feats[i].name);
		else
			printf("  %-16s no (%s)%s%.*s\n", feats[i].name, reason_name(st.reason), st.why[0] ? ": " : "",
			       (int)sizeof(st.why), st.why);
	}
}

/* Opens the device through the library; returns 0 when it opened. */
static int probe_library(const struct ctl_dev *d)
{
	struct logbuf *lb = calloc(1, sizeof(*lb));
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .backend = IOMMUFD_BACKEND_AUTO, .log_fn = log_keep,
				       .log_level = IOMMUFD_LOG_DEBUG };
	struct iommufd_iova_range rg[64];
	struct iommufd_device *dev = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_ctx *ctx = NULL;
	int r, n;
	int64_t al;

	if (!lb)
		return -ENOMEM;
	co.log_data = lb;
	r = iommufd_ctx_create(&co, &ctx);
	if (r < 0) {
		printf("Library: no context: %s\n", strerror(-r));
		log_print(lb, "Library messages:");
		free(lb);
		return r;
	}
	printf("Library: context on the %s backend\n", iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
	r = iommufd_ioas_create(ctx, &ioas);
	if (!r)
		r = iommufd_device_open(ioas, d->name, NULL, &dev);
	if (r < 0) {
		printf("Library: cannot open %s: %s\n", d->name, strerror(-r));
		log_print(lb, "Library messages:");
		goto out;
	}
	log_print(lb, "Library messages:");
	n = iommufd_ioas_get_ranges(ioas, rg, sizeof(rg) / sizeof(rg[0]));
	printf("Usable IOVA ranges (with this device attached):\n");
	if (n < 0)
		printf("  error: %s\n", strerror(-n));
	for (int i = 0; i < n && i < (int)(sizeof(rg) / sizeof(rg[0])); i++)
		printf("  0x%016llx - 0x%016llx\n", (unsigned long long)rg[i].start, (unsigned long long)rg[i].last);
	if (n > (int)(sizeof(rg) / sizeof(rg[0])))
		printf("  ... %d ranges in all\n", n);
	al = iommufd_ioas_get_alignment(ioas);
	if (al < 0)
		printf("IOVA alignment: error: %s\n", strerror((int)-al));
	else
		printf("IOVA alignment (smallest IOMMU page): %lld bytes\n", (long long)al);
	print_caps(ctx, dev);
	r = 0;
out:
	iommufd_ctx_destroy(ctx);
	free(lb);
	return r;
}

int ctl_cmd_info(const struct ctl_opts *o, const char *arg)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX];
	struct ctl_kpaths k;
	struct ctl_target t;
	struct ctl_dev d;
	int r, n, blocks;

	(void)o;
	r = ctl_resolve(arg, &t);
	if (r < 0 || ctl_dev_fill(t.bus, t.name, &d) < 0) {
		fprintf(stderr, "iommufdctl: %s: no such device (see iommufdctl list): %s\n", arg,
			strerror(r < 0 ? -r : ENODEV));
		return r == -EPROTONOSUPPORT ? CTL_EXIT_UNSUPPORTED : CTL_EXIT_NODEV;
	}
	printf("Device:       %s (%s%s%s)\n", d.name, d.bus, d.ids[0] ? " " : "", d.ids);
	printf("Driver:       %s%s%s\n", d.driver[0] ? d.driver : "none", d.override[0] ? ", driver_override " : "",
	       d.override);
	if (d.group >= 0) {
		printf("IOMMU group:  %d", d.group);
		n = ctl_group_members(d.group, members, CTL_MAX_MEMBERS);
		for (int i = 0; i < n; i++) {
			struct ctl_dev m;
			bool ok = ctl_dev_fill("pci", members[i], &m) == 0 || ctl_dev_fill("mdev", members[i], &m) == 0;

			printf("%s%s (%s)", i ? ", " : ": ", members[i], ok && m.driver[0] ? m.driver : "no driver");
		}
		printf("\n");
	}
	if (d.group_node)
		printf("Group node:   /dev/vfio/%s%d\n", d.noiommu_group ? "noiommu-" : "", d.group);
	if (d.cdev >= 0)
		printf("Cdev node:    /dev/vfio/devices/vfio%d\n", d.cdev);
	ctl_kpaths_probe(&k);
	explain_auto(&k);
	if (d.group >= 0)
		print_reserved(d.group);
	printf("Blockers:\n");
	blocks = print_blockers(&d);
	if (!blocks)
		printf("  none\n");
	if (!ctl_root_is_real()) {
		printf("Library: not run (IOMMUFDCTL_SYSROOT is set; the library uses the real /dev and /sys)\n");
		return blocks ? CTL_EXIT_FAIL : CTL_EXIT_OK;
	}
	r = probe_library(&d);
	return r < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
