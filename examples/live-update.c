/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * live-update: hand a running device, its IOAS and its memfd-backed DMA
 * mappings to a new process, the way a VMM updates itself under a guest.
 *
 *   live-update [BDF]         (BDF: $IFD_EDU, else 0000:00:03.0, QEMU's edu)
 *
 * The launcher starts two processes joined by a UNIX socketpair:
 *   old: opens the edu, maps a memfd with iommufd_ioas_map_file(), runs edu
 *        DMA rounds through it, leaves a marker in it by DMA, describes the
 *        context (iommufd_ctx_export()) and sends the description and its
 *        fds (SCM_RIGHTS); then it exits without unmapping anything.
 *   new: this program again (fork + exec with --new), waits until the old
 *        process is gone, rebuilds the context (iommufd_ctx_import()),
 *        takes the pinned pages over (iommufd_ctx_change_process()), finds
 *        the marker and keeps doing DMA rounds through the same IOVAs.
 * Both drop to uid 65534 without capabilities before mapping (old) and
 * adopting (new), so the kernel charges the pinned pages: the new
 * process's VmPin must grow by the mapping once it took them over.
 * Where live update is not offered (TYPE1, NOIOMMU, kernels before 6.14) the old
 * process checks that it is refused the documented way (-EOPNOTSUPP, and
 * iommufd_feature_query() says so with a reason) and the run succeeds.
 *
 * Exit status: 0 as described, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

#include "edu.h"
#include "privdrop.h"

#define DMA_TIMEOUT_MS 10000
#define MEM_LEN (64u * 4096u)
#define ROUNDS 3
#define MSG_MAGIC 0x4c495645u /* "LIVE" */
#define MAX_BLOB 65536u
/* Both processes run as this user without capabilities once their nodes are
 * open: without CAP_IPC_LOCK the kernel accounts the pinned pages, so the
 * move of the accounting shows in VmPin. */
#define RUN_UID 65534
#define RUN_MEMLOCK (16u << 20)

/* What travels with the library's description. */
struct msg_head {
	uint32_t magic;
	uint32_t ioas_id;
	uint64_t iova;    /* of the memfd mapping */
	uint64_t len;
	char name[64];    /* the device */
	uint32_t blob_len;
	uint32_t nfds;
};

static void log_fn(void *data, int level, const char *msg)
{
	(void)data;
	if (level <= IOMMUFD_LOG_WARNING)
		fprintf(stderr, "live-update (pid %d): libiommufd: %s\n", (int)getpid(), msg);
}

static void pattern(uint8_t *b, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + seed * 31 + (i >> 9));
}

/* One round: page 0 -> edu -> page @dst_page, compared.  @mem is the memfd seen by the CPU. */
static int dma_round(struct edu *e, uint8_t *mem, uint64_t iova, unsigned int seed, unsigned int dst_page,
		     const char *who)
{
	int r;

	pattern(mem, EDU_BUF_SIZE, seed);
	memset(mem + dst_page * 4096u, 0, EDU_BUF_SIZE);
	r = edu_dma(e, iova, 0, EDU_BUF_SIZE, 0, DMA_TIMEOUT_MS);
	if (r == 0)
		r = edu_dma(e, iova + dst_page * 4096u, 0, EDU_BUF_SIZE, 1, DMA_TIMEOUT_MS);
	if (r < 0) {
		fprintf(stderr, "live-update: %s: edu DMA failed: %s\n", who, strerror(-r));
		return -1;
	}
	if (memcmp(mem, mem + dst_page * 4096u, EDU_BUF_SIZE)) {
		fprintf(stderr, "live-update: %s: round %u: the data did not come back through IOVA 0x%" PRIx64 "\n",
			who, seed, iova);
		return -1;
	}
	return 0;
}

static long vm_pinned_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ------------------------------------------------------------------- old */

static int send_all(int sock, const struct msg_head *h, const void *blob, const int *fds, size_t nfds)
{
	char ctl[CMSG_SPACE(IOMMUFD_EXPORT_MAX_FDS * sizeof(int))];
	struct iovec iov[2] = { { (void *)h, sizeof(*h) }, { (void *)blob, h->blob_len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl,
			      .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)(sizeof(*h) + h->blob_len) ? 0 : -errno;
}

/* Live update not offered here: it must be refused the documented way. */
static int check_refusal(struct iommufd_ctx *ctx, int r_map, int r_export)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	int q = iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_CHANGE_PROCESS, &st);

	st.why[sizeof(st.why) - 1] = 0;
	if (r_map == 0 && r_export == -EOPNOTSUPP && q == 0 && st.why[0] &&
	    iommufd_ctx_change_process(ctx) == -EOPNOTSUPP) {
		printf("live-update: not offered on the %s backend here, refused as documented: %s\n",
		       iommufd_backend_name(iommufd_ctx_get_backend(ctx)), st.why);
		return 0;
	}
	fprintf(stderr, "live-update: refusal not as documented: map_file %d, export %d, query %d (%s)\n", r_map,
		r_export, q, st.why);
	return 1;
}

static int drop(const char *who)
{
	const char *step = "";
	int r = privdrop(RUN_UID, RUN_UID, RUN_MEMLOCK, &step);

	if (r < 0)
		fprintf(stderr, "live-update: %s: dropping privileges: %s: %s\n", who, step, strerror(-r));
	return r;
}

static int run_old(const char *bdf, int sock)
{
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .log_fn = log_fn };
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova_max = EDU_IOVA_MAX };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct msg_head h = { .magic = MSG_MAGIC, .len = MEM_LEN };
	static uint8_t blob[MAX_BLOB];
	int fds[IOMMUFD_EXPORT_MAX_FDS];
	size_t blen = sizeof(blob), nfds = IOMMUFD_EXPORT_MAX_FDS;
	struct edu e;
	uint8_t *mem;
	int memfd, r;

	if (iommufd_ctx_create(&co, &ctx) < 0 || iommufd_ioas_create(ctx, &ioas) < 0 ||
	    iommufd_device_open(ioas, bdf, NULL, &dev) < 0 || edu_init(&e, dev) < 0) {
		fprintf(stderr, "live-update: old: cannot open %s: %s\n", bdf, strerror(errno));
		return 1;
	}
	/* Without an IOMMU only CAP_SYS_RAWIO sees the physical addresses the
	 * edu needs (iommufd_ioas_get_bus_addrs()): that mode stays root. */
	if (getuid() == 0 && iommufd_ctx_get_backend(ctx) != IOMMUFD_BACKEND_NOIOMMU && drop("old") < 0)
		return 1;
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_LEN) < 0)
		return 1;
	mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return 1;
	r = iommufd_ioas_map_file(ioas, memfd, 0, MEM_LEN, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &mo, &h.iova);
	if (r < 0) {
		fprintf(stderr, "live-update: old: iommufd_ioas_map_file: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned int i = 0; i < ROUNDS; i++)
		if (dma_round(&e, mem, h.iova, i, 1, "old") < 0)
			return 1;
	/* A marker the new process must find: left by the device, page 2. */
	pattern(mem, EDU_BUF_SIZE, 99);
	if (edu_dma(&e, h.iova, 0, EDU_BUF_SIZE, 0, DMA_TIMEOUT_MS) < 0 ||
	    edu_dma(&e, h.iova + 2 * 4096u, 0, EDU_BUF_SIZE, 1, DMA_TIMEOUT_MS) < 0)
		return 1;
	printf("live-update: old (pid %d, uid %d): %d DMA rounds through the memfd at IOVA 0x%" PRIx64
	       " (%s backend), VmPin %ld kB\n", (int)getpid(), (int)getuid(), ROUNDS, h.iova,
	       iommufd_backend_name(iommufd_ctx_get_backend(ctx)), vm_pinned_kb());

	r = iommufd_ctx_export(ctx, blob, &blen, fds, &nfds);
	if (r < 0)
		return check_refusal(ctx, 0, r);
	h.ioas_id = (uint32_t)iommufd_ioas_get_id(ioas);
	snprintf(h.name, sizeof(h.name), "%s", iommufd_device_get_name(dev));
	h.blob_len = (uint32_t)blen;
	h.nfds = (uint32_t)nfds;
	r = send_all(sock, &h, blob, fds, nfds);
	if (r < 0) {
		fprintf(stderr, "live-update: old: sendmsg: %s\n", strerror(-r));
		return 1;
	}
	printf("live-update: old: handed over %zu bytes and %zu fds; exiting without unmapping\n", blen, nfds);
	/* No unmap, no destroy: the process just goes. */
	return 0;
}

/* ------------------------------------------------------------------- new */

static int recv_all(int sock, struct msg_head *h, uint8_t *blob, int *fds, size_t *nfds)
{
	char ctl[CMSG_SPACE(IOMMUFD_EXPORT_MAX_FDS * sizeof(int))];
	struct iovec iov[2] = { { h, sizeof(*h) }, { blob, MAX_BLOB } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

	*nfds = 0;
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ENODATA; /* the old process went without sending */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k && *nfds < IOMMUFD_EXPORT_MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((size_t)n < sizeof(*h) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || h->magic != MSG_MAGIC ||
	    h->blob_len != (size_t)n - sizeof(*h) || h->nfds != *nfds)
		return -EPROTO;
	h->name[sizeof(h->name) - 1] = 0;
	return 0;
}

static int run_new(int sock)
{
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .log_fn = log_fn };
	static uint8_t blob[MAX_BLOB];
	int fds[IOMMUFD_EXPORT_MAX_FDS];
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct msg_head h;
	uint8_t marker[EDU_BUF_SIZE], *mem;
	uint64_t off = 0, unmapped = 0;
	size_t nfds;
	char c;
	long pin0, pin1;
	struct edu e;
	int r, memfd;

	r = recv_all(sock, &h, blob, fds, &nfds);
	if (r == -ENODATA)
		return 2; /* nothing handed over: the old process's status tells why */
	if (r < 0) {
		fprintf(stderr, "live-update: new: bad hand-over message: %s\n", strerror(-r));
		return 1;
	}
	/* The old process is gone once its end of the socket is. */
	if (read(sock, &c, 1) != 0) {
		fprintf(stderr, "live-update: new: the old process did not go away\n");
		return 1;
	}
	if (getuid() == 0 && drop("new") < 0)
		return 1;
	pin0 = vm_pinned_kb();
	r = iommufd_ctx_import(blob, h.blob_len, fds, nfds, &co, &ctx);
	if (r < 0) {
		fprintf(stderr, "live-update: new: iommufd_ctx_import: %s\n", strerror(-r));
		return 1;
	}
	ioas = iommufd_ctx_find_ioas(ctx, h.ioas_id);
	dev = iommufd_ctx_find_device(ctx, h.name);
	if (!ioas || !dev || iommufd_device_get_ioas(dev) != ioas) {
		fprintf(stderr, "live-update: new: IOAS %u or device %s not found after import\n", h.ioas_id, h.name);
		return 1;
	}
	r = iommufd_ctx_change_process(ctx);
	if (r < 0) {
		fprintf(stderr, "live-update: new: iommufd_ctx_change_process: %s\n", strerror(-r));
		return 1;
	}
	pin1 = vm_pinned_kb();
	printf("live-update: new (pid %d, uid %d): adopted %s and IOAS %u; pinned-page accounting moved "
	       "(VmPin %ld -> %ld kB)\n", (int)getpid(), (int)getuid(), h.name, h.ioas_id, pin0, pin1);
	if (getuid() != 0 && (pin0 != 0 || pin1 < (long)(h.len / 1024))) {
		fprintf(stderr, "live-update: new: the pinned pages were not charged to this process\n");
		return 1;
	}
	memfd = iommufd_ioas_find_file(ioas, h.iova, &off);
	if (memfd < 0 || off != 0) {
		fprintf(stderr, "live-update: new: no file behind IOVA 0x%" PRIx64 "\n", h.iova);
		return 1;
	}
	mem = mmap(NULL, h.len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED || edu_init(&e, dev) < 0) {
		fprintf(stderr, "live-update: new: cannot reach the memfd or the edu: %s\n", strerror(errno));
		return 1;
	}
	pattern(marker, sizeof(marker), 99);
	if (memcmp(mem + 2 * 4096u, marker, sizeof(marker))) {
		fprintf(stderr, "live-update: new: the old process's DMA marker is not in the memfd\n");
		return 1;
	}
	for (unsigned int i = 0; i < ROUNDS; i++)
		if (dma_round(&e, mem, h.iova, 10 + i, 3, "new") < 0)
			return 1;
	printf("live-update: new: found the old process's marker; %d more DMA rounds through IOVA 0x%" PRIx64 "\n",
	       ROUNDS, h.iova);
	munmap(mem, h.len);
	r = iommufd_ioas_unmap(ioas, h.iova, h.len, &unmapped);
	if (r < 0 || unmapped != h.len) {
		fprintf(stderr, "live-update: new: unmap of the handed-over mapping: %s\n", strerror(-r));
		return 1;
	}
	iommufd_ctx_destroy(ctx);
	printf("live-update: new: unmapped it and closed everything\n");
	return 0;
}

/* --------------------------------------------------------------- launcher */

int main(int argc, char **argv)
{
	const char *bdf;
	int sv[2], st_old, st_new;
	pid_t old, new;
	char arg[16];

	if (argc == 3 && !strcmp(argv[1], "--new"))
		return run_new(atoi(argv[2]));
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: live-update [BDF]\n");
		return 1;
	}
	bdf = argc == 2 ? argv[1] : getenv("IFD_EDU") && *getenv("IFD_EDU") ? getenv("IFD_EDU") : "0000:00:03.0";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("live-update: socketpair");
		return 1;
	}
	fflush(stdout);
	new = fork();
	if (new == 0) {
		/* The new process: this program again, given its end of the socket. */
		int fd = dup(sv[1]); /* without O_CLOEXEC: it survives the exec */

		snprintf(arg, sizeof(arg), "%d", fd);
		execl("/proc/self/exe", argv[0], "--new", arg, (char *)NULL);
		perror("live-update: exec");
		_exit(1);
	}
	old = fork();
	if (old == 0) {
		close(sv[1]);
		fflush(stdout);
		_exit(run_old(bdf, sv[0]));
	}
	close(sv[0]);
	close(sv[1]);
	if (new < 0 || old < 0 || waitpid(old, &st_old, 0) < 0 || waitpid(new, &st_new, 0) < 0) {
		perror("live-update: fork/wait");
		return 1;
	}
	if (!WIFEXITED(st_old) || WEXITSTATUS(st_old)) {
		fprintf(stderr, "live-update: the old process failed\n");
		return 1;
	}
	/* 2: nothing was handed over (the old process saw the refusal it expected). */
	if (!WIFEXITED(st_new) || (WEXITSTATUS(st_new) && WEXITSTATUS(st_new) != 2)) {
		fprintf(stderr, "live-update: the new process failed\n");
		return 1;
	}
	printf("live-update: %s\n", WEXITSTATUS(st_new) == 2 ? "refusal checked" : "done");
	return 0;
}
