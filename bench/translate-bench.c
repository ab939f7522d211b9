/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The per-I/O lookups of a driver, timed on the host over the null kernel
 * (null-kernel.h; neither call enters the kernel, so no VM is needed and
 * the host's cores show the scaling): iommufd_ioas_translate() of a random
 * live buffer and iommufd_map_get_iova() of a random map handle, with
 * LIVE mappings, by 1 and by N threads at once.  The thread counts of a
 * repetition run back to back, so drift hits them alike.  Per count:
 *   @@BENCH name=translate|handle_iova cell=host live=L threads=T reps=R
 *           iters=N ns=MEDIAN ns_min=.. ns_max=.. mops=MEDIAN scaling=S
 * ns is the wall time per call of one thread, cpu_ns its CPU time per call
 * (what contention costs, even on a machine too busy to give each thread a
 * core), mops the calls per second of all threads (millions), scaling
 * mops(T) / mops(1).
 *
 *   translate-bench [--reps R] [--iters N] [--live L,L..] [--threads 1,4]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "null-kernel.h"

#define PG        4096ull
#define VA0       0x100000000000ull /* address space only, never touched */
#define MAX_REPS  64
#define MAX_THR   64

struct job {
	struct iommufd_ioas *ioas;
	struct iommufd_map **h;
	size_t live, iters;
	int handles, id;
	pthread_barrier_t *go;
	double ns, cpu_ns, t0, t1; /* per call; start and end of the loop */
	uint64_t sink;
};

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(j->id + 1), io, sum = 0;
	double t0, c0;

	pthread_barrier_wait(j->go);
	c0 = cpu_ns();
	t0 = now_ns();
	for (size_t k = 0; k < j->iters; k++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		size_t i = (size_t)(seed >> 33) % j->live;

		if (j->handles) {
			sum += iommufd_map_get_iova(j->h[i]);
		} else {
			if (iommufd_ioas_translate(j->ioas, (void *)(uintptr_t)(VA0 + i * PG + 64), 512, &io))
				abort();
			sum += io;
		}
	}
	j->t0 = t0;
	j->t1 = now_ns();
	j->ns = (j->t1 - t0) / (double)j->iters;
	j->cpu_ns = (cpu_ns() - c0) / (double)j->iters;
	j->sink = sum;
	return NULL;
}

/* One timed run of @threads threads; returns calls per us of them all. */
static double run(struct job *base, int threads, double *ns_per_call, double *cpu_per_call)
{
	pthread_t t[MAX_THR];
	struct job j[MAX_THR];
	pthread_barrier_t go;
	double first = 0, last = 0, ns = 0, cpu = 0;

	pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++) {
		j[i] = *base;
		j[i].id = i;
		j[i].go = &go;
		if (pthread_create(&t[i], NULL, worker, &j[i]))
			abort();
	}
	pthread_barrier_wait(&go);
	/* From the first loop's start to the last one's end: thread creation
	 * and joining are not the calls' cost. */
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		ns += j[i].ns;
		cpu += j[i].cpu_ns;
		if (i == 0 || j[i].t0 < first)
			first = j[i].t0;
		if (i == 0 || j[i].t1 > last)
			last = j[i].t1;
	}
	pthread_barrier_destroy(&go);
	*ns_per_call = ns / threads;
	*cpu_per_call = cpu / threads;
	return (double)base->iters * threads / (last - first) * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int parse_list(const char *s, long *out, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		out[n++] = strtol(s, &end, 10);
		if (end == s || out[n - 1] < 1)
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	long lives[8] = { 1000, 100000 }, thr[8] = { 1, 4 };
	int nlive = 2, nthr = 2, reps = 5;
	size_t iters = 200000;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--live") && i + 1 < argc)
			nlive = parse_list(argv[++i], lives, 8);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthr = parse_list(argv[++i], thr, 8);
		else
			nlive = -1;
	}
	if (nlive < 1 || nthr < 1 || reps < 1 || reps > MAX_REPS || iters < 1) {
		fprintf(stderr, "usage: translate-bench [--reps 1..%d] [--iters N] [--live L,..] [--threads T,..]\n",
			MAX_REPS);
		return 2;
	}
	for (int t = 0; t < nthr; t++)
		if (thr[t] > MAX_THR) {
			fprintf(stderr, "translate-bench: at most %d threads\n", MAX_THR);
			return 2;
		}

	for (int l = 0; l < nlive; l++) {
		struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = IOMMUFD_BACKEND_CDEV };
		struct job base = { .live = (size_t)lives[l], .iters = iters };
		struct iommufd_ctx *ctx;
		int r = ifd_ctx_create_sys(&o, &nk_sys, -1, &ctx);

		if (r || (r = iommufd_ioas_create(ctx, &base.ioas))) {
			fprintf(stderr, "translate-bench: set-up over the null kernel: %s\n", strerror(-r));
			return 1;
		}
		base.h = calloc(base.live, sizeof(*base.h));
		if (!base.h)
			return 1;
		for (size_t i = 0; i < base.live; i++)
			if ((r = iommufd_map_create(base.ioas, (void *)(uintptr_t)(VA0 + i * PG), PG, IOMMUFD_MAP_READ,
						    NULL, &base.h[i]))) {
				fprintf(stderr, "translate-bench: map %zu: %s\n", i, strerror(-r));
				return 1;
			}
		/* The IOAS's first translate builds its VA index (host-count
		 * reports that once-per-IOAS cost): not a lookup's. */
		uint64_t warm;
		if (iommufd_ioas_translate(base.ioas, (void *)(uintptr_t)(VA0 + 64), 512, &warm)) {
			fprintf(stderr, "translate-bench: the first translate failed\n");
			return 1;
		}
		for (int handles = 0; handles < 2; handles++) {
			double ns[8][MAX_REPS], cpu[8][MAX_REPS], mops[8][MAX_REPS], m1 = 0;

			base.handles = handles;
			for (int rep = 0; rep < reps; rep++)
				for (int t = 0; t < nthr; t++)
					mops[t][rep] = run(&base, (int)thr[t], &ns[t][rep], &cpu[t][rep]);
			for (int t = 0; t < nthr; t++) {
				double m = median(mops[t], reps), nsm = median(ns[t], reps), cm = median(cpu[t], reps);

				if (t == 0)
					m1 = m;
				printf("@@BENCH name=%s cell=host live=%ld threads=%ld reps=%d iters=%zu ns=%.1f ns_min=%.1f "
				       "ns_max=%.1f cpu_ns=%.1f mops=%.2f scaling=%.2f\n",
				       handles ? "handle_iova" : "translate", lives[l], thr[t], reps, iters,
				       nsm, ns[t][0], ns[t][reps - 1], cm, m, m / m1);
			}
		}
		for (size_t i = 0; i < base.live; i++)
			iommufd_map_destroy(base.h[i]);
		free(base.h);
		iommufd_ioas_destroy(base.ioas);
		iommufd_ctx_destroy(ctx);
	}
	return 0;
}
