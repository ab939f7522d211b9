/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* iommufdctl list [--json] */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void node_names(const struct ctl_dev *d, char *gnode, size_t glen, char *cnode, size_t clen)
{
	gnode[0] = cnode[0] = '\0';
	if (d->group_node)
		snprintf(gnode, glen, "/dev/vfio/%s%d", d->noiommu_group ? "noiommu-" : "", d->group);
	if (d->cdev >= 0)
		snprintf(cnode, clen, "/dev/vfio/devices/vfio%d", d->cdev);
}

static void json_str_or_null(FILE *f, const char *s)
{
	if (s[0])
		ctl_json_str(f, s);
	else
		fputs("null", f);
}

static void print_json(const struct ctl_kpaths *k, const struct ctl_devlist *l)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX];
	FILE *f = stdout;

	fprintf(f, "{\n  \"kernel\": {\"iommufd\": %s, \"vfio_cdev\": %s, \"vfio_groups\": %s, "
		   "\"container\": \"%s\", \"noiommu_supported\": %s, \"noiommu_enabled\": %s},\n  \"devices\": [",
		k->iommufd ? "true" : "false", k->cdev ? "true" : "false", k->groups ? "true" : "false",
		ctl_container_kind_name(k->container_kind), k->noiommu_param ? "true" : "false",
		k->noiommu_on ? "true" : "false");
	for (size_t i = 0; i < l->n; i++) {
		const struct ctl_dev *d = &l->v[i];
		char gnode[48], cnode[48];
		int n = 0;

		node_names(d, gnode, sizeof(gnode), cnode, sizeof(cnode));
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"bus\": ", f);
		ctl_json_str(f, d->bus);
		fputs(", \"name\": ", f);
		ctl_json_str(f, d->name);
		fputs(", \"ids\": ", f);
		json_str_or_null(f, d->ids);
		fputs(", \"driver\": ", f);
		json_str_or_null(f, d->driver);
		fputs(", \"driver_override\": ", f);
		json_str_or_null(f, d->override);
		if (d->group >= 0)
			fprintf(f, ", \"iommu_group\": %d", d->group);
		else
			fputs(", \"iommu_group\": null", f);
		fputs(", \"group_node\": ", f);
		json_str_or_null(f, gnode);
		fputs(", \"cdev_node\": ", f);
		json_str_or_null(f, cnode);
		fputs(", \"group_members\": [", f);
		if (d->group >= 0)
			n = ctl_group_members(d->group, members, CTL_MAX_MEMBERS);
		for (int m = 0; m < n; m++) {
			if (m)
				fputs(", ", f);
			ctl_json_str(f, members[m]);
		}
		fputs("]}", f);
	}
	fputs(l->n ? "\n  ]\n}\n" : "]\n}\n", f);
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

static void print_text(const struct ctl_kpaths *k, const struct ctl_devlist *l)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX];

	printf("Kernel paths:\n");
	printf("  iommufd (/dev/iommu):          %s\n", yesno(k->iommufd));
	printf("  VFIO device cdevs (vfio-dev):  %s\n", yesno(k->cdev));
	printf("  VFIO groups (vfio):            %s\n", yesno(k->groups));
	printf("  /dev/vfio/vfio container:      %s\n", ctl_container_kind_name(k->container_kind));
	printf("  VFIO no-IOMMU mode:            %s\n",
	       !k->noiommu_param ? "not built" : k->noiommu_on ? "ENABLED (unsafe)" : "off");
	printf("\n%-36s %-10s %-5s %-14s %-17s %-24s %s\n", "DEVICE", "IDS", "GROUP", "DRIVER", "GROUP NODE",
	       "CDEV NODE", "GROUP MEMBERS");
	for (size_t i = 0; i < l->n; i++) {
		const struct ctl_dev *d = &l->v[i];
		char gnode[48], cnode[48], grp[16] = "-";
		int n = 0;

		node_names(d, gnode, sizeof(gnode), cnode, sizeof(cnode));
		if (d->group >= 0) {
			snprintf(grp, sizeof(grp), "%d", d->group);
			n = ctl_group_members(d->group, members, CTL_MAX_MEMBERS);
		}
		printf("%-36s %-10s %-5s %-14s %-17s %-24s ", d->name, d->ids[0] ? d->ids : d->bus, grp,
		       d->driver[0] ? d->driver : "-", gnode[0] ? gnode : "-", cnode[0] ? cnode : "-");
		for (int m = 0; m < n; m++)
			printf("%s%s", m ? "," : "", members[m]);
		printf("%s\n", n > 0 ? "" : "-");
	}
}

int ctl_cmd_list(const struct ctl_opts *o)
{
	struct ctl_kpaths k;
	struct ctl_devlist l;
	int r;

	ctl_kpaths_probe(&k);
	r = ctl_devlist_scan(&l);
	if (r < 0) {
		fprintf(stderr, "iommufdctl: cannot enumerate devices: %s (is /sys mounted?)\n", strerror(-r));
		return CTL_EXIT_FAIL;
	}
	if (o->json)
		print_json(&k, &l);
	else
		print_text(&k, &l);
	ctl_devlist_free(&l);
	if (fflush(stdout) != 0) {
		perror("iommufdctl: stdout");
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}
