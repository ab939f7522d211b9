/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * vIOMMU event queues: a reader of the kernel's vEVENTQ fd that checks
 * every byte it is given.
 *
 * Kernel semantics relied on (include/uapi/linux/iommufd.h, struct
 * iommufd_vevent_header; drivers/iommu/iommufd/eventq.c):
 *  - read(2) never blocks and returns whole records only: an 8-byte
 *    header, then the event's payload, whose length the header does not
 *    carry (it is fixed per queue type); 0 when nothing waits; -EINVAL
 *    when the first waiting event does not fit the buffer;
 *  - a header with the LOST_EVENTS flag has no payload; the kernel keeps
 *    one such record at the queue's tail while it drops events and takes
 *    it back when a new event gets in, so a loss shows either as that
 *    record or only as a gap in the sequence numbers (0..INT32_MAX,
 *    wrapping to 0), which start at 0 for a new queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

_Static_assert(IOMMUFD_VEVENTQ_TYPE_ARM_SMMUV3 == IFD_K_IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 &&
		       IOMMUFD_VEVENTQ_TYPE_TEGRA241_CMDQV == IFD_K_IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV,
	       "vEVENTQ types pass through unchanged");

#define HDR sizeof(struct ifd_k_vevent_header)
#define SEQ_MASK 0x7fffffffu
#define DEFAULT_DEPTH 64u
#define MAX_DEPTH (1u << 19) /* the kernel's bound */
/* Events asked for in one read at most: the buffer stays small. */
#define READ_MAX 256u
/* Records one read may give beyond what the caller asked for: lost-events
 * records, which take no payload room (normally one). */
#define SPILL 8u

struct ifd_veventq_state {
	pthread_mutex_t lock; /* everything below */
	uint32_t event_len;
	uint32_t next_seq;   /* the sequence number expected next */
	uint8_t *buf;        /* one kernel read: READ_MAX records */
	size_t cap;
	struct iommufd_vevent spill[SPILL]; /* parsed, not handed out yet */
	size_t nspill, spill_head;
	struct iommufd_veventq_stats stats;
};

static bool q_ok(const struct iommufd_veventq *q)
{
	return q && q->state == IFD_ALIVE;
}

/* The payload length of the kernel's types, 0 for an unknown one. */
static uint32_t known_event_len(uint32_t type)
{
	switch (type) {
	case IOMMUFD_VEVENTQ_TYPE_ARM_SMMUV3: return sizeof(struct ifd_k_vevent_arm_smmuv3);
	case IOMMUFD_VEVENTQ_TYPE_TEGRA241_CMDQV: return sizeof(struct ifd_k_vevent_tegra241_cmdqv);
	case IOMMUFD_VEVENTQ_TYPE_SELFTEST: return 4;
	default: return 0;
	}
}

static void state_free(struct ifd_veventq_state *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	free(s);
}

IFD_EXPORT int iommufd_veventq_create(struct iommufd_viommu *viommu, const struct iommufd_veventq_opts *opts,
				      struct iommufd_veventq **out)
{
	struct iommufd_veventq_opts o;
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct ifd_k_veventq_alloc a;
	struct ifd_veventq_state *s;
	struct iommufd_veventq *q;
	struct iommufd_ctx *ctx;
	uint32_t len;
	int r;

	if (!ifd_viommu_ok(viommu) || !out || !opts || ifd_opts_copy(&o, sizeof(o), opts) < 0 || !o.type ||
	    o.depth > MAX_DEPTH || o.event_len > IOMMUFD_VEVENT_DATA_MAX)
		return ifd_ret(-EINVAL);
	len = o.event_len ? o.event_len : known_event_len(o.type);
	if (!len)
		return ifd_ret(-EINVAL);
	ctx = viommu->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	r = iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_VEVENTQ, &st);
	if (r == 0) {
		ifd_err(ctx, "iommufd_veventq_create: %s", st.why);
		r = -EOPNOTSUPP;
	}
	if (r < 0)
		return ifd_ret(r);

	q = calloc(1, sizeof(*q));
	s = calloc(1, sizeof(*s));
	if (s) {
		s->cap = READ_MAX * (HDR + len);
		s->buf = malloc(s->cap);
	}
	if (!q || !s || !s->buf) {
		if (s)
			free(s->buf);
		free(s);
		free(q);
		return ifd_ret(-ENOMEM);
	}
	pthread_mutex_init(&s->lock, NULL);
	s->event_len = len;
	s->stats.sz = sizeof(s->stats);
	q->st = s;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.viommu_id = viommu->id;
	a.type = o.type;
	a.veventq_depth = o.depth ? o.depth : DEFAULT_DEPTH;
	ifd_ctx_lock(ctx);
	if (viommu->state != IFD_ALIVE) {
		r = -EINVAL;
		goto out;
	}
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_VEVENTQ_ALLOC, &a);
	if (r < 0) {
		ifd_err(ctx, "/dev/iommu: IOMMU_VEVENTQ_ALLOC of type %#x on vIOMMU %u failed: %s%s", o.type,
			viommu->id, strerror(-r),
			r == -EEXIST ? " (the vIOMMU has a queue of this type already)" :
			r == -EOPNOTSUPP ? " (the IOMMU driver reports no events of this type)" : "");
		goto out;
	}
	if ((int32_t)a.out_veventq_fd < 0) {
		ifd_err(ctx, "/dev/iommu: IOMMU_VEVENTQ_ALLOC returned fd %u: not an fd", a.out_veventq_fd);
		ifd_iommufd_destroy_obj(ctx, a.out_veventq_id);
		r = -EIO;
		goto out;
	}
	q->viommu = viommu;
	q->id = a.out_veventq_id;
	q->fd = (int)a.out_veventq_fd;
	q->state = IFD_ALIVE;
	ifd_list_add(&viommu->veventqs, &q->link);
	ifd_dbg(ctx, "vEVENTQ %u: type %#x on vIOMMU %u, depth %u, %u-byte events, fd %d", q->id, o.type,
		viommu->id, a.veventq_depth, len, q->fd);
	*out = q;
	q = NULL;
out:
	ifd_ctx_unlock(ctx);
	if (q) {
		state_free(q->st);
		free(q);
	}
	return ifd_ret(r);
}

void ifd_veventq_free(struct iommufd_veventq *q, bool forked)
{
	struct iommufd_ctx *ctx = q->viommu->ctx;
	int r;

	ifd_list_del(&q->link);
	q->state = IFD_DEAD;
	/* The fd holds the object: close it before IOMMU_DESTROY. */
	ifd_close(ctx, q->fd);
	if (!forked) {
		r = ifd_iommufd_destroy_obj(ctx, q->id);
		if (r < 0 && r != -ENOENT)
			ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of vEVENTQ %u failed: %s (it goes with the iommufd)",
				 q->id, strerror(-r));
		state_free(q->st);
	} else {
		/* A parent's thread may have held the lock at fork(). */
		free(q->st->buf);
		free(q->st);
	}
	free(q);
}

IFD_EXPORT int iommufd_veventq_destroy(struct iommufd_veventq *q)
{
	struct iommufd_ctx *ctx;

	if (!q)
		return 0;
	if (!q_ok(q))
		return ifd_ret(-EINVAL);
	ctx = q->viommu->ctx;
	ifd_ctx_lock(ctx);
	ifd_veventq_free(q, ifd_forked(ctx));
	ifd_ctx_unlock(ctx);
	return 0;
}

IFD_EXPORT int iommufd_veventq_get_fd(const struct iommufd_veventq *q)
{
	if (!q_ok(q))
		return ifd_ret(-EINVAL);
	return q->fd;
}

IFD_EXPORT uint32_t iommufd_veventq_get_id(const struct iommufd_veventq *q)
{
	if (!q_ok(q)) {
		errno = EINVAL;
		return 0;
	}
	return q->id;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

/* Number @seq, checked against the one expected: the events lost before it. */
static uint32_t seq_gap(struct ifd_veventq_state *s, uint32_t seq)
{
	uint32_t gap = (seq - s->next_seq) & SEQ_MASK;

	s->next_seq = (seq + 1) & SEQ_MASK;
	return gap;
}

/*
 * Parse @n bytes of one kernel read into @ev (up to @max, *@nev of them)
 * and the spill area.  Returns 0, or -EIO when the answer is cut or holds
 * more records than fit (@bad says where; what came before it is kept).
 */
static int parse(struct ifd_veventq_state *s, size_t n, struct iommufd_vevent *ev, size_t max, size_t *nev,
		 size_t *bad)
{
	size_t off = 0, got = 0;

	*nev = 0;
	while (off < n) {
		struct ifd_k_vevent_header h;
		struct iommufd_vevent e;
		uint32_t gap;

		if (n - off < HDR) {
			*bad = off;
			return -EIO;
		}
		memcpy(&h, s->buf + off, HDR);
		off += HDR;
		memset(&e, 0, offsetof(struct iommufd_vevent, data));
		e.sequence = h.sequence;
		gap = seq_gap(s, h.sequence & SEQ_MASK);
		if (h.flags & IFD_K_IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
			/* The record holds a sequence number of its own. */
			e.flags = IOMMUFD_VEVENT_LOST;
			e.lost = gap + 1;
			s->stats.lost_records++;
		} else {
			if (n - off < s->event_len) {
				*bad = off - HDR;
				return -EIO;
			}
			e.len = s->event_len;
			memcpy(e.data, s->buf + off, s->event_len);
			off += s->event_len;
			if (gap) {
				e.flags = IOMMUFD_VEVENT_GAP;
				e.lost = gap;
				s->stats.gaps++;
			}
			s->stats.events++;
		}
		s->stats.lost += e.lost;
		if (got < max) {
			ev[got] = e;
			*nev = got + 1;
		} else if (s->nspill < SPILL) {
			s->spill[s->nspill++] = e;
		} else {
			*bad = off;
			return -EIO;
		}
		got++;
	}
	return 0;
}

IFD_EXPORT int iommufd_veventq_read(struct iommufd_veventq *q, struct iommufd_vevent *events, size_t max)
{
	struct ifd_veventq_state *s;
	struct iommufd_ctx *ctx;
	size_t want, bad = 0, nev = 0;
	ssize_t n;
	int r, err = 0;

	if (!q_ok(q) || !events || !max)
		return ifd_ret(-EINVAL);
	ctx = q->viommu->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	s = q->st;
	pthread_mutex_lock(&s->lock);
	if (s->spill_head < s->nspill) {
		r = 0;
		while (s->spill_head < s->nspill && (size_t)r < max)
			events[r++] = s->spill[s->spill_head++];
		if (s->spill_head == s->nspill)
			s->nspill = s->spill_head = 0;
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	/* No more than the caller takes, so what the library holds back
	 * stays rare and poll(2) keeps telling the truth. */
	want = max < READ_MAX ? max : READ_MAX;
	do {
		s->stats.reads++;
		n = ctx->sys->read(q->fd, s->buf, want * (HDR + s->event_len));
		if (n < 0)
			err = errno;
	} while (n < 0 && err == EINTR);
	if (n < 0) {
		pthread_mutex_unlock(&s->lock);
		if (err == EINVAL) {
			ifd_err(ctx, "vEVENTQ %u: the kernel's next event is longer than the queue's %u-byte events: "
				"create the queue with the event_len of its type", q->id, s->event_len);
			return ifd_ret(-EMSGSIZE);
		}
		ifd_err(ctx, "vEVENTQ %u: read failed: %s", q->id, strerror(err));
		return ifd_ret(-err);
	}
	if (n == 0) {
		pthread_mutex_unlock(&s->lock);
		return ifd_ret(-EAGAIN);
	}
	if ((size_t)n > want * (HDR + s->event_len)) {
		s->stats.malformed++;
		pthread_mutex_unlock(&s->lock);
		ifd_err(ctx, "vEVENTQ %u: read returned %zd bytes for a %zu-byte buffer: malformed answer ignored",
			q->id, n, want * (HDR + s->event_len));
		return ifd_ret(-EIO);
	}
	r = parse(s, (size_t)n, events, max, &nev, &bad);
	if (r < 0)
		s->stats.malformed++;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		ifd_err(ctx, "vEVENTQ %u: read returned %zd bytes, cut or overlong at byte %zu for %zu-byte headers "
			"and %u-byte events: the rest of the answer is dropped", q->id, n, bad, HDR, s->event_len);
	/* The events before a malformed tail are good: hand them out. */
	return nev ? (int)nev : ifd_ret(-EIO);
}

IFD_EXPORT int iommufd_veventq_get_stats(struct iommufd_veventq *q, struct iommufd_veventq_stats *stats)
{
	size_t sz;

	if (!q_ok(q) || !stats || stats->sz < sizeof(size_t))
		return ifd_ret(-EINVAL);
	sz = stats->sz < sizeof(*stats) ? stats->sz : sizeof(*stats);
	pthread_mutex_lock(&q->st->lock);
	memcpy((char *)stats + sizeof(size_t), (char *)&q->st->stats + sizeof(size_t), sz - sizeof(size_t));
	pthread_mutex_unlock(&q->st->lock);
	stats->sz = sz;
	return 0;
}
