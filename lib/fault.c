/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * I/O page-fault queues: a batching reader of the kernel's fault fd, a
 * table of the groups handed out and not yet answered, and one write(2)
 * per batch of answers.
 *
 * Kernel semantics relied on (include/uapi/linux/iommufd.h, IOMMU_FAULT_QUEUE_ALLOC
 * and struct iommu_hwpt_pgfault / iommu_hwpt_page_response):
 *  - read(2) never blocks, returns whole groups only (0: nothing waits),
 *    -EINVAL when the first waiting group does not fit the buffer;
 *  - every record of a group carries the group's cookie; cookies are
 *    reused once a group is answered, by us or by the kernel itself;
 *  - write(2) answers groups in order and stops at the first cookie it does
 *    not know (a group it answered itself on detach), reporting the bytes
 *    done before it, or -EINVAL if it was the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

_Static_assert(IOMMUFD_PRQ_READ == IFD_K_IOMMU_PGFAULT_PERM_READ &&
		       IOMMUFD_PRQ_WRITE == IFD_K_IOMMU_PGFAULT_PERM_WRITE &&
		       IOMMUFD_PRQ_EXEC == IFD_K_IOMMU_PGFAULT_PERM_EXEC &&
		       IOMMUFD_PRQ_PRIV == IFD_K_IOMMU_PGFAULT_PERM_PRIV,
	       "perm bits pass through unchanged");
_Static_assert(IOMMUFD_PAGE_RESPONSE_SUCCESS == IFD_K_IOMMUFD_PAGE_RESP_SUCCESS &&
		       IOMMUFD_PAGE_RESPONSE_INVALID == IFD_K_IOMMUFD_PAGE_RESP_INVALID,
	       "response codes pass through unchanged");

#define REC_SIZE sizeof(struct ifd_k_hwpt_pgfault)
/* Records per kernel read at first, and the most the buffer grows to: a
 * PRI group is bounded by what a device's page request queue holds, far
 * below the cap. */
#define BUF_START 64u
#define BUF_MAX 4096u
#define DEFAULT_OUTSTANDING 1024u
/* Keeps the table's allocation sane for a bad option. */
#define MAX_OUTSTANDING (1u << 20)
/* Answers converted on the stack; more take one malloc. */
#define RESP_STACK 64u

struct fault_slot {
	uint32_t cookie;
	bool used;
	bool marked; /* named by the respond call being validated */
};

struct ifd_fault_state {
	pthread_mutex_t lock; /* everything below; first: test-fault.c checks it */

	struct ifd_k_hwpt_pgfault *buf; /* records read, [head, tail) not handed out */
	size_t cap, head, tail;

	/* Groups handed out and not answered: open addressing, linear
	 * probing, deletion by backward shift (no tombstones, so the probe
	 * length stays short under the constant churn of a fault loop). */
	struct fault_slot *slots;
	uint32_t mask; /* slots - 1; slots is a power of two >= 2 * limit */
	uint32_t count, limit;
	bool full_logged; /* one message per full episode */

	struct iommufd_fault_queue_stats stats;
};

/* A message built under the queue's lock and logged after it is dropped. */
struct fault_msg {
	int level;
	char text[256];
};

static void msg_set(struct fault_msg *m, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg_set(struct fault_msg *m, int level, const char *fmt, ...)
{
	va_list ap;

	m->level = level;
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
}

static void msg_flush(struct iommufd_ctx *ctx, const struct fault_msg *m)
{
	if (m->level)
		ifd_log(ctx, m->level, "%s", m->text);
}

static bool q_ok(const struct iommufd_fault_queue *q)
{
	return q && q->state == IFD_ALIVE;
}

/* ------------------------------------------------------------------------ */
/* The outstanding-cookie table                                             */

static uint32_t slot_of(const struct ifd_fault_state *s, uint32_t cookie)
{
	return (cookie * 0x9e3779b1u) & s->mask;
}

static struct fault_slot *tbl_find(struct ifd_fault_state *s, uint32_t cookie)
{
	for (uint32_t i = slot_of(s, cookie);; i = (i + 1) & s->mask) {
		if (!s->slots[i].used)
			return NULL;
		if (s->slots[i].cookie == cookie)
			return &s->slots[i];
	}
}

/* The caller checked that @cookie is absent and count < limit. */
static void tbl_insert(struct ifd_fault_state *s, uint32_t cookie)
{
	uint32_t i = slot_of(s, cookie);

	while (s->slots[i].used)
		i = (i + 1) & s->mask;
	s->slots[i] = (struct fault_slot){ .cookie = cookie, .used = true };
	s->count++;
}

static void tbl_remove(struct ifd_fault_state *s, struct fault_slot *victim)
{
	uint32_t hole = (uint32_t)(victim - s->slots);

	/* Pull back every later entry of the run whose home lies at or
	 * before the hole (cyclically), so lookups never meet a gap. */
	for (uint32_t i = (hole + 1) & s->mask; s->slots[i].used; i = (i + 1) & s->mask) {
		uint32_t home = slot_of(s, s->slots[i].cookie);

		if (((i - home) & s->mask) >= ((i - hole) & s->mask)) {
			s->slots[hole] = s->slots[i];
			hole = i;
		}
	}
	s->slots[hole].used = false;
	s->slots[hole].marked = false;
	s->count--;
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                 */

static void state_free(struct ifd_fault_state *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	free(s->slots);
	free(s);
}

static struct ifd_fault_state *state_alloc(uint32_t limit)
{
	struct ifd_fault_state *s = calloc(1, sizeof(*s));
	uint32_t nslots = 2;

	if (!s)
		return NULL;
	while (nslots < 2 * limit)
		nslots <<= 1;
	s->limit = limit;
	s->mask = nslots - 1;
	s->cap = BUF_START;
	s->slots = calloc(nslots, sizeof(*s->slots));
	s->buf = malloc(s->cap * REC_SIZE);
	pthread_mutex_init(&s->lock, NULL);
	if (!s->slots || !s->buf) {
		state_free(s);
		return NULL;
	}
	return s;
}

IFD_EXPORT int iommufd_fault_queue_create(struct iommufd_ctx *ctx, const struct iommufd_fault_queue_opts *opts,
					  struct iommufd_fault_queue **out)
{
	struct iommufd_fault_queue_opts o;
	struct ifd_k_fault_alloc a = { .size = sizeof(a) };
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_fault_queue *q;
	int r;

	if (!ctx || !out || ifd_opts_copy(&o, sizeof(o), opts) < 0 || o.max_outstanding > MAX_OUTSTANDING)
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (ctx->fd < 0) {
		ifd_err(ctx, "fault queues need iommufd (/dev/iommu) and this context uses the %s backend: "
			"create the context with the cdev backend (Linux 6.11+, CONFIG_IOMMUFD)",
			iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	/* The kernel hands out a queue even where no IOMMU could ever raise a
	 * fault (no-IOMMU mode): the call must agree with the query. */
	r = iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, &st);
	if (r == 0 && st.reason == IOMMUFD_REASON_BACKEND) {
		ifd_err(ctx, "iommufd_fault_queue_create: %s", st.why);
		return ifd_ret(-EOPNOTSUPP);
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return ifd_ret(-ENOMEM);
	q->st = state_alloc(o.max_outstanding ? o.max_outstanding : DEFAULT_OUTSTANDING);
	if (!q->st) {
		free(q);
		return ifd_ret(-ENOMEM);
	}

	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_FAULT_QUEUE_ALLOC, &a);
	if (r == -ENOTTY) {
		ifd_err(ctx, "/dev/iommu: the running kernel has no IOMMU_FAULT_QUEUE_ALLOC: "
			"I/O page faults need Linux 6.11 or later");
		r = -EOPNOTSUPP;
	} else if (r < 0) {
		ifd_err(ctx, "/dev/iommu: IOMMU_FAULT_QUEUE_ALLOC failed: %s", strerror(-r));
	} else if ((int32_t)a.out_fault_fd < 0) {
		/* Nothing to close; the object goes with the iommufd. */
		ifd_err(ctx, "/dev/iommu: IOMMU_FAULT_QUEUE_ALLOC returned fd %u: not an fd",
			a.out_fault_fd);
		ifd_iommufd_destroy_obj(ctx, a.out_fault_id);
		r = -EIO;
	}
	if (r < 0) {
		state_free(q->st);
		free(q);
		return ifd_ret(r);
	}

	q->ctx = ctx;
	q->id = a.out_fault_id;
	q->fd = (int)a.out_fault_fd;
	q->st->stats.sz = sizeof(q->st->stats);
	ifd_list_init(&q->link);
	ifd_ctx_lock(ctx);
	q->state = IFD_ALIVE;
	ifd_list_add(&ctx->fault_list, &q->link);
	ifd_ctx_unlock(ctx);
	ifd_dbg(ctx, "fault queue %u: fd %d, at most %u groups outstanding", q->id, q->fd, q->st->limit);
	*out = q;
	return 0;
}

/*
 * The fd holds a reference on the kernel object, so it is closed first;
 * IOMMU_DESTROY then answers every group still waiting or read-but-not-
 * answered INVALID, which is what keeps the devices from waiting forever.
 */
IFD_EXPORT int iommufd_fault_queue_destroy(struct iommufd_fault_queue *q)
{
	struct iommufd_ctx *ctx;
	unsigned int hwpts;
	bool forked;
	int r;

	if (!q)
		return 0;
	if (!q_ok(q))
		return ifd_ret(-EINVAL);
	ctx = q->ctx;
	forked = ifd_forked(ctx);
	ifd_ctx_lock(ctx);
	hwpts = q->hwpts;
	if (hwpts && !forked) {
		ifd_ctx_unlock(ctx);
		ifd_err(ctx, "fault queue %u is used by %u HWPT(s): destroy them first (iommufd_hwpt_destroy)",
			q->id, hwpts);
		return ifd_ret(-EBUSY);
	}
	ifd_list_del(&q->link);
	q->state = IFD_DEAD;
	ifd_ctx_unlock(ctx);

	ifd_close(ctx, q->fd);
	if (!forked) {
		r = ifd_iommufd_destroy_obj(ctx, q->id);
		if (r < 0)
			ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of fault queue %u failed: %s "
				 "(it goes when the iommufd is closed)", q->id, strerror(-r));
		state_free(q->st);
	} else {
		/* A thread of the parent may have held the lock at fork():
		 * only the memory goes. */
		free(q->st->buf);
		free(q->st->slots);
		free(q->st);
	}
	free(q);
	return 0;
}

IFD_EXPORT int iommufd_fault_queue_get_fd(const struct iommufd_fault_queue *q)
{
	if (!q_ok(q))
		return ifd_ret(-EINVAL);
	return q->fd;
}

IFD_EXPORT uint32_t iommufd_fault_queue_get_id(const struct iommufd_fault_queue *q)
{
	return q_ok(q) ? q->id : 0;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

/* Records of the group at the buffer's head: groups never span kernel
 * reads, and within one read each group's cookie is unique. */
static size_t head_group_len(const struct ifd_fault_state *s)
{
	size_t i = s->head + 1;

	while (i < s->tail && s->buf[i].cookie == s->buf[s->head].cookie)
		i++;
	return i - s->head;
}

static size_t count_groups(const struct ifd_k_hwpt_pgfault *r, size_t n)
{
	size_t g = n ? 1 : 0;

	for (size_t i = 1; i < n; i++)
		g += r[i].cookie != r[i - 1].cookie;
	return g;
}

/*
 * Fill the empty buffer from the kernel.  Asks for no more than the caller
 * can take (@want records), so what the library holds back stays rare and
 * poll(2) keeps telling the truth; asks for the whole buffer, growing it,
 * when the kernel says the first group is larger.  Returns records read,
 * 0 when nothing waits, or a negative errno (@m says why).
 */
static ssize_t fill(struct iommufd_fault_queue *q, size_t want, struct fault_msg *m)
{
	struct ifd_fault_state *s = q->st;
	size_t ask = want < s->cap ? want : s->cap;
	void *nb;
	ssize_t n;

	s->head = s->tail = 0;
	for (;;) {
		if (ifd_forked(q->ctx))
			return -ECHILD;
		s->stats.reads++;
		n = q->ctx->sys->read(q->fd, s->buf, ask * REC_SIZE);
		if (n >= 0)
			break;
		n = -errno;
		if (n == -EINTR)
			continue;
		if (n != -EINVAL) {
			msg_set(m, IOMMUFD_LOG_ERR, "fault queue %u: read failed: %s", q->id, strerror((int)-n));
			return n;
		}
		/* The first waiting group is larger than @ask records. */
		if (ask < s->cap) {
			ask = s->cap;
			continue;
		}
		if (s->cap >= BUF_MAX) {
			msg_set(m, IOMMUFD_LOG_ERR,
				"fault queue %u: a page request group exceeds %u records; it cannot be read "
				"and stays queued until the queue or its device's attachment goes",
				q->id, BUF_MAX);
			return -EOVERFLOW;
		}
		nb = realloc(s->buf, 2 * s->cap * REC_SIZE);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap *= 2;
		ask = s->cap;
	}
	if ((size_t)n > ask * REC_SIZE || n % REC_SIZE) {
		msg_set(m, IOMMUFD_LOG_ERR, "fault queue %u: read returned %zd bytes for a %zu-byte buffer "
			"of %zu-byte records: malformed answer ignored", q->id, n, ask * REC_SIZE, REC_SIZE);
		return -EIO;
	}
	s->tail = (size_t)n / REC_SIZE;
	s->stats.requests += s->tail;
	s->stats.groups += count_groups(s->buf, s->tail);
	return (ssize_t)s->tail;
}

static void convert(struct iommufd_page_request *d, const struct ifd_k_hwpt_pgfault *k, bool last)
{
	d->addr = k->addr;
	d->dev = NULL;
	d->dev_id = k->dev_id;
	d->pasid = k->pasid;
	d->grpid = k->grpid;
	d->perm = k->perm;
	/* Groups are delimited by cookie; LAST_PAGE is set on the last
	 * record we hand out for a group, so the header's promise holds. */
	d->flags = ((k->flags & IFD_K_IOMMU_PGFAULT_FLAGS_PASID_VALID) ? IOMMUFD_PRQ_PASID_VALID : 0) |
		   (last ? IOMMUFD_PRQ_LAST_PAGE : 0);
	d->length = k->length;
	d->cookie = k->cookie;
}

/* The library's handles of the faulting devices; after the queue's lock. */
static void resolve_devices(struct iommufd_ctx *ctx, struct iommufd_page_request *reqs, size_t n)
{
	struct iommufd_device *cached = NULL;
	uint32_t cached_id = 0;
	bool have = false;
	struct ifd_list *pos;

	ifd_ctx_lock(ctx);
	for (size_t i = 0; i < n; i++) {
		if (!have || reqs[i].dev_id != cached_id) {
			cached = NULL;
			cached_id = reqs[i].dev_id;
			have = true;
			ifd_list_for_each(pos, &ctx->dev_list) {
				struct iommufd_device *dev = ifd_container_of(pos, struct iommufd_device, link);

				if (dev->has_devid && dev->devid == cached_id) {
					cached = dev;
					break;
				}
			}
		}
		reqs[i].dev = cached;
	}
	ifd_ctx_unlock(ctx);
}

IFD_EXPORT int iommufd_fault_queue_read(struct iommufd_fault_queue *q, struct iommufd_page_request *reqs, size_t max)
{
	struct fault_msg m = { 0 }, m2 = { 0 };
	struct ifd_fault_state *s;
	size_t out = 0;
	bool filled = false;
	int r = 0;

	if (!q_ok(q) || !reqs || !max)
		return ifd_ret(-EINVAL);
	if (ifd_forked(q->ctx))
		return ifd_ret(-ECHILD);
	if (max > INT_MAX)
		max = INT_MAX;
	s = q->st;
	pthread_mutex_lock(&s->lock);
	while (out < max) {
		size_t g;
		struct fault_slot *old;

		if (s->count >= s->limit) {
			if (!out) {
				s->stats.full++;
				if (!s->full_logged) {
					s->full_logged = true;
					msg_set(&m, IOMMUFD_LOG_WARNING,
						"fault queue %u is full: %u groups read and not answered "
						"(max_outstanding): answer them with iommufd_fault_queue_respond(), "
						"or create the queue with a larger max_outstanding", q->id, s->limit);
				}
				r = -ENOSPC;
			}
			break;
		}
		if (s->head == s->tail) {
			ssize_t n;

			/* One kernel read per call: a drained buffer with
			 * requests handed out ends the call. */
			if (filled || out)
				break;
			filled = true;
			n = fill(q, max, &m);
			if (n <= 0) {
				r = n ? (int)n : -EAGAIN;
				break;
			}
		}
		g = head_group_len(s);
		if (g > max - out) {
			if (!out)
				r = -EMSGSIZE;
			break;
		}
		old = tbl_find(s, s->buf[s->head].cookie);
		if (old) {
			/* The kernel reuses a cookie only once its group is
			 * answered: ours was answered INVALID on a detach. */
			s->stats.lost++;
			msg_set(&m2, IOMMUFD_LOG_INFO,
				"fault queue %u: group with cookie %u was answered by the kernel before the "
				"caller did (its device was detached or moved)", q->id, old->cookie);
		} else {
			tbl_insert(s, s->buf[s->head].cookie);
		}
		for (size_t i = 0; i < g; i++)
			convert(&reqs[out + i], &s->buf[s->head + i], i + 1 == g);
		out += g;
		s->head += g;
	}
	s->stats.outstanding = s->count;
	pthread_mutex_unlock(&s->lock);

	msg_flush(q->ctx, &m);
	msg_flush(q->ctx, &m2);
	if (!out)
		return ifd_ret(r);
	resolve_devices(q->ctx, reqs, out);
	return (int)out;
}

/* ------------------------------------------------------------------------ */
/* Answering                                                                */

static void unmark(struct ifd_fault_state *s, const struct ifd_k_hwpt_page_response *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fault_slot *e = tbl_find(s, k[i].cookie);

		if (e)
			e->marked = false;
	}
}

static void forget(struct ifd_fault_state *s, uint32_t cookie)
{
	struct fault_slot *e = tbl_find(s, cookie);

	if (e)
		tbl_remove(s, e);
}

IFD_EXPORT int iommufd_fault_queue_respond(struct iommufd_fault_queue *q, const struct iommufd_page_response *resp,
					   size_t n)
{
	struct ifd_k_hwpt_page_response stackbuf[RESP_STACK], *k = stackbuf;
	struct fault_msg m = { 0 }, bad = { 0 };
	struct ifd_fault_state *s;
	size_t off = 0, lost = 0;
	int r = 0;

	if (!q_ok(q) || (n && !resp) || n > INT_MAX)
		return ifd_ret(-EINVAL);
	if (ifd_forked(q->ctx))
		return ifd_ret(-ECHILD);
	if (!n)
		return 0;
	s = q->st;
	if (n > s->limit) /* cannot all be outstanding */
		return ifd_ret(-EINVAL);
	if (n > RESP_STACK) {
		k = malloc(n * sizeof(*k));
		if (!k)
			return ifd_ret(-ENOMEM);
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (struct ifd_k_hwpt_page_response){ .cookie = resp[i].cookie, .code = resp[i].code };

	pthread_mutex_lock(&s->lock);
	/* All or nothing: a mark catches a cookie named twice. */
	for (size_t i = 0; i < n; i++) {
		struct fault_slot *e = tbl_find(s, k[i].cookie);
		const char *why = NULL;

		if (k[i].code != IOMMUFD_PAGE_RESPONSE_SUCCESS && k[i].code != IOMMUFD_PAGE_RESPONSE_INVALID)
			why = "unknown response code";
		else if (!e)
			why = "cookie not read from this queue, or already answered";
		else if (e->marked)
			why = "cookie named twice";
		if (why) {
			unmark(s, k, i);
			msg_set(&bad, IOMMUFD_LOG_ERR, "fault queue %u: response %zu (cookie %u, code %u): %s; "
				"nothing sent", q->id, i, k[i].cookie, k[i].code, why);
			r = -EINVAL;
			goto out;
		}
		e->marked = true;
	}

	while (off < n) {
		ssize_t w;

		if (ifd_forked(q->ctx)) {
			r = -ECHILD;
			break;
		}
		w = q->ctx->sys->write(q->fd, k + off, (n - off) * sizeof(*k));
		if (w < 0) {
			r = -errno;
			if (r == -EINTR) {
				r = 0;
				continue;
			}
			if (r != -EINVAL)
				break;
			/* The first record's cookie is unknown to the kernel:
			 * it answered that group itself. */
			forget(s, k[off].cookie);
			s->stats.lost++;
			lost++;
			off++;
			r = 0;
			continue;
		}
		if (w == 0 || (size_t)w > (n - off) * sizeof(*k) || w % sizeof(*k)) {
			msg_set(&m, IOMMUFD_LOG_ERR, "fault queue %u: write of %zu bytes returned %zd: "
				"malformed answer", q->id, (n - off) * sizeof(*k), w);
			r = -EIO;
			break;
		}
		for (size_t i = 0; i < (size_t)w / sizeof(*k); i++, off++) {
			forget(s, k[off].cookie);
			s->stats.responses++;
		}
	}
	/* Groups not sent after an error stay outstanding, answerable again. */
	unmark(s, k + off, n - off);
	if (s->count < s->limit)
		s->full_logged = false;
	if (r < 0 && !m.level)
		msg_set(&m, IOMMUFD_LOG_ERR, "fault queue %u: writing %zu response(s) failed: %s "
			"(%zu sent; the rest stay outstanding)", q->id, n, strerror(-r), off);
out:
	s->stats.outstanding = s->count;
	pthread_mutex_unlock(&s->lock);
	if (k != stackbuf)
		free(k);
	msg_flush(q->ctx, &bad);
	msg_flush(q->ctx, &m);
	if (lost)
		ifd_info(q->ctx, "fault queue %u: %zu group(s) had been answered INVALID by the kernel "
			 "(device detached or moved): counted as lost", q->id, lost);
	return r < 0 ? ifd_ret(r) : (int)n;
}

IFD_EXPORT int iommufd_fault_queue_get_stats(struct iommufd_fault_queue *q, struct iommufd_fault_queue_stats *stats)
{
	struct iommufd_fault_queue_stats snap;
	size_t sz;

	if (!q_ok(q) || !stats || stats->sz < sizeof(size_t))
		return ifd_ret(-EINVAL);
	/* The lock may have been held by a parent's thread at fork(). */
	if (ifd_forked(q->ctx))
		return ifd_ret(-ECHILD);
	pthread_mutex_lock(&q->st->lock);
	snap = q->st->stats;
	snap.outstanding = q->st->count;
	pthread_mutex_unlock(&q->st->lock);
	sz = stats->sz;
	if (sz > sizeof(snap)) {
		memset((char *)stats + sizeof(snap), 0, sz - sizeof(snap));
		sz = sizeof(snap);
	}
	snap.sz = stats->sz;
	memcpy(stats, &snap, sz);
	return 0;
}
