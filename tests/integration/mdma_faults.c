/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mdma_faults: the mdma driver and the kernel's mdev path survive abuse and
 * leak nothing.
 *
 *  1. A child process opens an instance, pins pages and is SIGKILLed: in
 *     the middle of a slow copy (the copy stops: ABORTS +1, COPIES +0),
 *     while idle with pins held, and in a pin/unpin/copy loop.  After each,
 *     the instance and the whole driver hold no pinned pages and no open
 *     device, and the parent can open the instance and use it.
 *  2. An unmap racing with a running copy (threads): the unmap of a pinned
 *     range waits for the copy and then releases the pin; the unmap of the
 *     copy's own destination makes the copy fault or complete, never hang.
 *  3. 24 rounds of open/map/pin/copy/close, ending in turn with a close with
 *     pins held, an unmap of pinned memory, iommufd_ctx_destroy() with
 *     everything still open, and a reset.  The driver's pinned-page counter
 *     and the process's VmPin + VmLck return to their start after each.
 *
 * The rig fails the cell on any kernel WARNING/BUG/oops, and itest checks
 * the kernel log of the test's own run.
 */
#include <poll.h>
#include <pthread.h>

#include "mdma.h"

#define CHILD_BUF MDMA_MAX_COPY

enum child_mode { CHILD_COPY, CHILD_PIN_IDLE, CHILD_PIN_LOOP };
static const char *const child_mode_name[] = { "in a slow COPY", "idle with pins held", "in a pin/unpin/copy loop" };

static void child_fail(int wfd, const char *what)
{
	dprintf(2, "mdma_faults child: %s\n", what);
	if (write(wfd, "E", 1) < 0)
		_exit(3);
	_exit(2);
}

/* The child: a context of its own, 16 pages pinned in 2 ranges, then the
 * action it is killed in.  'R' on the pipe: about to start it. */
static void child(const char *uuid, enum child_mode mode, int wfd)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	uint64_t src_iova, dst_iova, v;
	uint8_t *src, *dst;

	src = itest_mmap_aligned(CHILD_BUF, SZ_4K, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	dst = itest_mmap_aligned(CHILD_BUF, SZ_4K, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (!src || !dst)
		child_fail(wfd, "mmap");
	memset(src, 0x42, CHILD_BUF);
	memset(dst, 0, CHILD_BUF);
	if (iommufd_ctx_create(NULL, &ctx) || iommufd_ioas_create(ctx, &ioas) ||
	    iommufd_ioas_map(ioas, src, CHILD_BUF, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &src_iova) ||
	    iommufd_ioas_map(ioas, dst, CHILD_BUF, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &dst_iova) ||
	    iommufd_device_open(ioas, uuid, NULL, &dev))
		child_fail(wfd, "context, IOAS, maps or device open");
	if (!mdma_ok(mdma_pin(dev, src_iova, 8 * SZ_4K)) || !mdma_ok(mdma_pin(dev, dst_iova + SZ_4K, 8 * SZ_4K)))
		child_fail(wfd, "PIN");
	switch (mode) {
	case CHILD_COPY:
		/* 256 pages at 10 ms each: 2.6 s just to read the source. */
		mdma_wr(dev, MDMA_REG_DELAY_US, 10000);
		mdma_wr(dev, MDMA_REG_SRC, src_iova);
		mdma_wr(dev, MDMA_REG_DST, dst_iova);
		mdma_wr(dev, MDMA_REG_LEN, CHILD_BUF);
		if (write(wfd, "R", 1) != 1)
			_exit(3);
		mdma_wr(dev, MDMA_REG_CMD, MDMA_CMD_COPY);
		child_fail(wfd, "the slow copy finished before the kill");
		break;
	case CHILD_PIN_IDLE:
		if (write(wfd, "R", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	case CHILD_PIN_LOOP:
		if (write(wfd, "R", 1) != 1)
			_exit(3);
		for (unsigned int i = 0;; i++) {
			mdma_pin(dev, dst_iova + (i % 64) * SZ_4K, 3 * SZ_4K);
			mdma_copy(dev, src_iova + (i % 7) * 100, dst_iova + (i % 13) * 1000, 20000);
			mdma_fill(dev, dst_iova + (i % 64) * SZ_4K, SZ_4K, (uint8_t)i);
			if (i % 5 == 4)
				mdma_cmd(dev, MDMA_CMD_UNPIN_ALL, 0, 0, 0);
			v = mdma_rd(dev, MDMA_REG_PIN_RANGES);
			if (v >= MDMA_MAX_PINS - 1)
				mdma_cmd(dev, MDMA_CMD_UNPIN_ALL, 0, 0, 0);
		}
	}
	_exit(0);
}

/* Wait up to @ms for the driver to show nothing pinned and nothing open. */
static bool wait_idle(const char *uuid, int ms)
{
	for (int t = 0; t <= ms; t += 10) {
		if (mdma_sysfs(uuid, "pinned_pages") == 0 && mdma_sysfs(NULL, "pinned_pages") == 0 &&
		    mdma_sysfs(NULL, "open_instances") == 0)
			return t == 0 || (itest_note("the driver went idle %d ms after the child was reaped", t), true);
		usleep(10000);
	}
	return false;
}

static void kill_child(const char *uuid, enum child_mode mode)
{
	long long aborts0 = mdma_sysfs(uuid, "aborts"), copies0 = mdma_sysfs(uuid, "copies");
	long long opens0 = mdma_sysfs(uuid, "opens");
	int p[2], status = 0;
	struct pollfd pfd;
	pid_t got;
	char c = 0;
	pid_t pid;

	REQUIRE(pipe(p) == 0, "pipe");
	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		close(p[0]);
		child(uuid, mode, p[1]);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 60000) != 1 || read(p[0], &c, 1) != 1)
		c = 0;
	if (!CHECK(c == 'R', "child %s: set up (16 pages pinned) and started (got '%c')", child_mode_name[mode],
		   c ? c : '-')) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(p[0]);
		return;
	}
	if (mode == CHILD_COPY) {
		/* Kill it once the engine runs the copy (sysfs "busy"), well
		 * inside the 2.6 s it needs to read the source. */
		int t = 0;

		while (mdma_sysfs(uuid, "busy") != 1 && t < 20000) {
			usleep(1000);
			t++;
		}
		CHECK(mdma_sysfs(uuid, "busy") == 1, "the child's copy is running (after %d ms)", t);
		usleep(100000);
	} else {
		usleep(300000);
	}
	CHECK(mdma_sysfs(uuid, "pinned_pages") >= 16 || mode == CHILD_PIN_LOOP,
	      "while the child runs the instance holds its pins (%lld pages)", mdma_sysfs(uuid, "pinned_pages"));
	CHECK(mdma_sysfs(NULL, "open_instances") == 1, "one instance open");
	CHECK(kill(pid, SIGKILL) == 0, "SIGKILL the child %s", child_mode_name[mode]);
	got = waitpid(pid, &status, 0);
	CHECK(got == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "the child died of SIGKILL (wait status 0x%x)", status);
	/* A child that failed wrote 'E' before exiting. */
	if (poll(&pfd, 1, 0) == 1 && read(p[0], &c, 1) == 1)
		CHECK(c != 'E', "the child reported no error");
	close(p[0]);
	CHECK(wait_idle(uuid, 5000), "after the kill: no pinned pages (instance %lld, all %lld), no open instance (%lld)",
	      mdma_sysfs(uuid, "pinned_pages"), mdma_sysfs(NULL, "pinned_pages"), mdma_sysfs(NULL, "open_instances"));
	CHECK(mdma_sysfs(uuid, "opens") == opens0 + 1, "the child opened the instance once");
	CHECK(mdma_sysfs(uuid, "busy") == 0, "the instance is not busy any more");
	if (mode == CHILD_COPY)
		CHECK(mdma_sysfs(uuid, "aborts") == aborts0 + 1 && mdma_sysfs(uuid, "copies") == copies0,
		      "the kill stopped the copy half way (ABORTS +%lld, COPIES +%lld)",
		      mdma_sysfs(uuid, "aborts") - aborts0, mdma_sysfs(uuid, "copies") - copies0);
}

/* ------------------------------------------------------------- races */

struct copier {
	struct iommufd_device *dev;
	uint64_t src, dst, len, status;
	int started;
};

static void *copier_run(void *arg)
{
	struct copier *c = arg;

	__atomic_store_n(&c->started, 1, __ATOMIC_SEQ_CST);
	c->status = mdma_copy(c->dev, c->src, c->dst, c->len);
	return NULL;
}

static void unmap_during_copy(const char *uuid)
{
	struct iommufd_ctx *ctx = itest_ctx();
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev;
	const uint64_t len = 64 * SZ_4K;
	uint8_t *src = itest_alloc(len, SZ_4K), *dst = itest_alloc(len, SZ_4K), *pinned = itest_alloc(SZ_4K, SZ_4K);
	uint64_t src_iova, dst_iova, pin_iova, calls0;
	struct copier c = { 0 };
	pthread_t t;
	double t0, t1;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "race: IOAS");
	dev = mdma_open(ioas, uuid);
	src_iova = itest_map(ioas, src, len, 0, "race: source");
	dst_iova = itest_map(ioas, dst, len, 0, "race: destination");
	pin_iova = itest_map(ioas, pinned, SZ_4K, 0, "race: a pinned page");
	itest_fill(src, len, 9);

	/* a) The unmap of a pinned page waits for the running copy (the
	 * callback needs the engine), then releases the pin. */
	CHECK(mdma_ok(mdma_pin(dev, pin_iova, SZ_4K)), "race: PIN a page");
	calls0 = mdma_rd(dev, MDMA_REG_UNMAP_CALLS);
	mdma_wr(dev, MDMA_REG_DELAY_US, 5000); /* 2 x 64 pages x 5 ms */
	c = (struct copier){ .dev = dev, .src = src_iova, .dst = dst_iova, .len = len };
	REQUIRE(pthread_create(&t, NULL, copier_run, &c) == 0, "race: start the copy thread");
	while (!__atomic_load_n(&c.started, __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(100000);
	t0 = itest_now();
	CHECK_RET(iommufd_ioas_unmap(ioas, pin_iova, SZ_4K, NULL), 0, "race: unmap the pinned page during the copy");
	t1 = itest_now();
	pthread_join(t, NULL);
	itest_note("race: the unmap took %.2f s", t1 - t0);
	CHECK(mdma_ok(c.status) && itest_pat_diff(dst, len, 9) < 0, "race: the copy completed (status %s)",
	      mdma_status_str(c.status));
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0 && mdma_rd(dev, MDMA_REG_UNMAP_CALLS) == calls0 + 1,
	      "race: the callback released the pin");

	/* b) Unmap the copy's own destination while it runs: the copy faults
	 * (or, if the unmap came late, completed); nothing hangs. */
	memset(dst, 0, len);
	c = (struct copier){ .dev = dev, .src = src_iova, .dst = dst_iova, .len = len };
	REQUIRE(pthread_create(&t, NULL, copier_run, &c) == 0, "race: start the copy thread again");
	while (!__atomic_load_n(&c.started, __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(100000);
	CHECK_RET(iommufd_ioas_unmap(ioas, dst_iova, len, NULL), 0, "race: unmap the destination during the copy");
	pthread_join(t, NULL);
	CHECK(mdma_faulted(c.status) || mdma_ok(c.status), "race: the copy faulted or completed (status %s)",
	      mdma_status_str(c.status));
	itest_note("race: copy into a destination unmapped under it: %s", mdma_status_str(c.status));
	CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0, "race: nothing pinned");

	CHECK_RET(iommufd_device_destroy(dev), 0, "race: destroy the device");
	iommufd_ctx_destroy(ctx);
	itest_free(src, len);
	itest_free(dst, len);
	itest_free(pinned, SZ_4K);
}

/* ------------------------------------------------------------ rounds */

/* One open/map/pin/copy/close round; false on any problem. */
static bool round_trip(const char *ua, const char *ub, int i)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL, *dev_b = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	const uint64_t len = 16 * SZ_4K;
	uint8_t *buf = itest_alloc(len, SZ_4K);
	uint64_t iova = 0;
	bool ok = true;

	itest_fill(buf, len / 2, (unsigned int)i);
	if (iommufd_ctx_create(NULL, &ctx) || iommufd_ioas_create(ctx, &ioas) ||
	    iommufd_ioas_map(ioas, buf, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova) ||
	    iommufd_device_open(ioas, ua, NULL, &dev) || (i % 2 && iommufd_device_open(ioas, ub, NULL, &dev_b))) {
		itest_note("round %d: set-up failed: %s", i, strerror(errno));
		ok = false;
		goto out;
	}
	ok &= mdma_ok(mdma_pin(dev, iova, 4 * SZ_4K));
	ok &= mdma_ok(mdma_pin(dev, iova + 8 * SZ_4K, 2 * SZ_4K));
	if (dev_b)
		ok &= mdma_ok(mdma_pin(dev_b, iova + SZ_4K, 4 * SZ_4K));
	ok &= mdma_ok(mdma_copy(dev, iova, iova + len / 2, len / 2)) && itest_pat_diff(buf + len / 2, len / 2, i) < 0;
	ok &= mdma_ok(mdma_fill(dev, iova + 8 * SZ_4K, 100, 0xcc)) && buf[8 * SZ_4K + 99] == 0xcc;
	ok &= mdma_sysfs(NULL, "pinned_pages") == (dev_b ? 10 : 6);
	if (!ok)
		itest_note("round %d: a command or a count went wrong", i);
	switch (i % 4) {
	case 0: /* close with pins held */
		iommufd_device_destroy(dev);
		iommufd_device_destroy(dev_b);
		dev = dev_b = NULL;
		break;
	case 1: /* unmap the pinned memory, then close */
		if (iommufd_ioas_unmap(ioas, iova, len, NULL) != 0 || mdma_rd(dev, MDMA_REG_PINNED_PAGES) != 0) {
			itest_note("round %d: unmap with pins held failed or left pins", i);
			ok = false;
		}
		break;
	case 2: /* leave everything open: iommufd_ctx_destroy cleans up */
		dev = dev_b = NULL;
		break;
	case 3: /* reset first */
		if (iommufd_device_reset(dev) != 0 || mdma_rd(dev, MDMA_REG_PINNED_PAGES) != 0) {
			itest_note("round %d: reset failed or left pins", i);
			ok = false;
		}
		break;
	}
out:
	iommufd_device_destroy(dev);
	iommufd_device_destroy(dev_b);
	iommufd_ctx_destroy(ctx);
	itest_free(buf, len);
	if (mdma_sysfs(NULL, "pinned_pages") != 0 || mdma_sysfs(NULL, "open_instances") != 0) {
		itest_note("round %d: after the round %lld pages pinned, %lld instances open", i,
			   mdma_sysfs(NULL, "pinned_pages"), mdma_sysfs(NULL, "open_instances"));
		ok = false;
	}
	return ok;
}

int main(void)
{
	char a[40], b[40];
	long long vm0, vm1;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev;
	uint8_t *buf;
	uint64_t iova;
	int bad = 0;

	itest_start("mdma_faults");
	mdma_uuids(a, b);
	CHECK(mdma_sysfs(NULL, "pinned_pages") == 0 && mdma_sysfs(NULL, "open_instances") == 0,
	      "the driver starts idle (%lld pages pinned, %lld instances open)", mdma_sysfs(NULL, "pinned_pages"),
	      mdma_sysfs(NULL, "open_instances"));
	/* The context's backend is what the cell expects (children use
	 * the same environment). */
	ctx = itest_ctx();
	if (mdma_refused_without_iommu(ctx, a)) {
		iommufd_ctx_destroy(ctx);
		return itest_finish();
	}
	iommufd_ctx_destroy(ctx);

	/* 1. Killed children. */
	kill_child(a, CHILD_COPY);
	kill_child(a, CHILD_PIN_IDLE);
	kill_child(b, CHILD_PIN_LOOP);
	kill_child(a, CHILD_COPY);

	/* The parent can use both instances afterwards. */
	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "IOAS after the kills");
	buf = itest_alloc(2 * SZ_4K, SZ_4K);
	iova = itest_map(ioas, buf, 2 * SZ_4K, 0, "a buffer after the kills");
	for (int k = 0; k < 2; k++) {
		const char *u = k ? b : a;

		dev = mdma_open(ioas, u);
		CHECK(mdma_rd(dev, MDMA_REG_PINNED_PAGES) == 0 && mdma_rd(dev, MDMA_REG_STATUS) == 0,
		      "%s: opens with nothing pinned and a clear status", u);
		itest_fill(buf, SZ_4K, 10 + k);
		CHECK(mdma_ok(mdma_copy(dev, iova, iova + SZ_4K, SZ_4K)) && itest_pat_diff(buf + SZ_4K, SZ_4K, 10 + k) < 0,
		      "%s: copies after the kills", u);
		CHECK_RET(iommufd_device_destroy(dev), 0, "destroy %s", u);
	}
	iommufd_ctx_destroy(ctx);
	itest_free(buf, 2 * SZ_4K);

	/* 2. Unmaps racing with copies. */
	unmap_during_copy(a);
	CHECK(wait_idle(a, 0), "after the races nothing is pinned or open");

	/* 3. Rounds; the process's pin accounting must not drift. */
	vm0 = mdma_vm_pinned_kb();
	for (int i = 0; i < 24; i++) {
		if (!round_trip(a, b, i))
			bad++;
		vm1 = mdma_vm_pinned_kb();
		if (vm1 != vm0) {
			itest_note("round %d: VmPin + VmLck %lld kB, at the start %lld kB", i, vm1, vm0);
			bad++;
		}
	}
	CHECK(bad == 0, "24 open/map/pin/copy/close rounds (close, unmap, ctx destroy, reset) leak nothing (%d bad)",
	      bad);
	CHECK(mdma_sysfs(NULL, "pinned_pages") == 0 && mdma_sysfs(NULL, "open_instances") == 0,
	      "the driver ends idle");
	return itest_finish();
}
