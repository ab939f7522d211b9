/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * libiommufd-glib: GLib event sources for libiommufd, so a GLib-based VMM or
 * driver serves I/O page faults, device interrupts and vIOMMU events from
 * its GMainContext.
 *
 * Each constructor returns a new, unattached GSource (a floating-free
 * reference the caller owns).  Attach it with g_source_attach(source,
 * context) (NULL: the default context), set its callback with
 * g_source_set_callback() (cast the typed callback below with
 * G_SOURCE_FUNC()), and drop the caller's reference with g_source_unref()
 * when it is no longer needed; g_source_destroy() detaches it.  A source is
 * dispatched on the thread that runs its context.
 *
 * Conventions: the functions returning int return 0 (or a value) or a
 * negative errno and set errno; the constructors returning a GSource *
 * return NULL and set errno on failure.  A bad argument gets EINVAL and
 * changes nothing.  No global state: sources share nothing.
 *
 * Link with pkg-config --libs libiommufd-glib.
 */
#ifndef LIBIOMMUFD_LIBIOMMUFD_GLIB_H
#define LIBIOMMUFD_LIBIOMMUFD_GLIB_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include <libiommufd/libiommufd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* I/O page-fault queues                                                    */
/* ------------------------------------------------------------------------ */

/**
 * typedef iommufd_glib_fault_fn - receives a batch of page requests.
 * @q:         the queue.
 * @reqs:      @n requests, whole groups in arrival order (see
 *             iommufd_fault_queue_read()); valid only during the call.
 *             NULL with @n == 0 once, when the source stopped on an error
 *             (iommufd_glib_source_get_error() says which).
 * @n:         requests at @reqs: at most the source's max_batch, more only
 *             when one group alone is larger.
 * @user_data: the data given to g_source_set_callback().
 *
 * Answer each group (iommufd_fault_queue_respond()) now or later, from any
 * thread.  Return G_SOURCE_CONTINUE to keep serving, G_SOURCE_REMOVE to
 * destroy the source (requests already delivered stay the caller's to
 * answer).
 */
typedef gboolean (*iommufd_glib_fault_fn)(struct iommufd_fault_queue *q, const struct iommufd_page_request *reqs,
					  size_t n, gpointer user_data);

/**
 * iommufd_glib_fault_source_new() - a GSource that serves @q.
 * @q:         a fault queue (iommufd_fault_queue_create()); it must outlive
 *             the source.
 * @max_batch: requests per callback, 1 .. 65536; 0 means 64.
 *
 * The source polls iommufd_fault_queue_get_fd() for POLLIN.  Each dispatch
 * reads with iommufd_fault_queue_read() and calls the callback once per
 * batch, until the queue is empty (-EAGAIN) or 16 batches were delivered;
 * in the latter case it is ready again at the next main-loop iteration, so
 * one busy queue cannot starve the other sources of its context.
 *
 * A full queue (-ENOSPC: max_outstanding groups unanswered) does not spin:
 * the source stops polling the fd.  It polls again by itself at the next
 * main-loop iteration after fewer groups are outstanding than when it
 * stopped, which is enough when the answers come from a callback of the
 * same context.  When they come from another thread, call
 * iommufd_glib_fault_source_resume() after answering (the loop may be
 * asleep).  A group larger than max_batch is delivered whole (the source
 * grows its buffer).  Any other read error stops the source for good: the
 * callback gets (q, NULL, 0) once, and iommufd_glib_source_get_error()
 * returns the error.
 *
 * Returns the source, or NULL with errno EINVAL (NULL @q, @max_batch too
 * large, no fd) or ENOMEM.
 */
GSource *iommufd_glib_fault_source_new(struct iommufd_fault_queue *q, size_t max_batch);

/**
 * iommufd_glib_fault_source_resume() - poll the queue again after
 * -ENOSPC stopped it (a no-op while it polls).  Callable from any thread:
 * it wakes the source's context.  Returns 0, or -EINVAL when @source is
 * not a fault source.
 */
int iommufd_glib_fault_source_resume(GSource *source);

/* ------------------------------------------------------------------------ */
/* Eventfds: device interrupts and the device request interrupt            */
/* ------------------------------------------------------------------------ */

/**
 * typedef iommufd_glib_eventfd_fn - receives the signals of an eventfd.
 * @count:     signals since the last call (>= 1; the eventfd's counter,
 *             which coalesces interrupts), or 0 once when the source
 *             stopped because the eventfd could not be read
 *             (iommufd_glib_source_get_error()).
 * @user_data: the data given to g_source_set_callback().
 * Returns G_SOURCE_CONTINUE or G_SOURCE_REMOVE.
 */
typedef gboolean (*iommufd_glib_eventfd_fn)(uint64_t count, gpointer user_data);

/**
 * iommufd_glib_eventfd_source_new() - a GSource for an eventfd @efd the
 * caller owns (non-blocking or not: the source reads only when poll(2)
 * said readable).  Each dispatch reads (and so resets) the counter and
 * calls the callback with its value.  The caller keeps @efd open while the
 * source exists and closes it afterwards.  Returns NULL with errno EINVAL
 * (@efd < 0) or ENOMEM.
 */
GSource *iommufd_glib_eventfd_source_new(int efd);

/**
 * iommufd_glib_device_irq_source_new() - deliver vector @index of interrupt
 * type @type (IOMMUFD_IRQ_*) of @dev to a new eventfd source.
 * @out: receives the source (unattached, the caller's reference).
 *
 * Creates an eventfd (EFD_CLOEXEC | EFD_NONBLOCK) and connects it with
 * iommufd_device_irq_enable(dev, type, index, 1, ...).  The source owns the
 * eventfd: when the source is finalised (its last reference dropped) it
 * disconnects the vector and closes the eventfd.  Disconnecting: INTx, ERR
 * and REQ (one vector each) are switched off (iommufd_device_irq_disable());
 * for MSI and MSI-X only this vector is detached and the type stays enabled,
 * so sources of other vectors keep working: call
 * iommufd_device_irq_disable() when the last is gone.  INTx: VFIO masks it
 * when it fires; the source unmasks it (iommufd_device_irq_unmask()) after
 * each callback that returns G_SOURCE_CONTINUE, so the callback must have
 * quieted the device (acknowledged the interrupt) first.
 * IOMMUFD_IRQ_REQ is the device request interrupt: the kernel signals it
 * when it wants the device back (hot-unplug); answer by closing the device.
 *
 * The source must be finalised before @dev is destroyed.
 * Errors: -EINVAL bad argument; -EMFILE/-ENFILE/-ENOMEM from eventfd(2);
 * the errors of iommufd_device_irq_enable() (nothing stays enabled).
 */
int iommufd_glib_device_irq_source_new(struct iommufd_device *dev, unsigned int type, unsigned int index,
				       GSource **out);

/**
 * iommufd_glib_eventfd_source_get_fd() - the eventfd an eventfd or device
 * IRQ source polls (for example to hand it to KVM as an irqfd as well).
 * Still owned as before.  Returns the fd, or -EINVAL.
 */
int iommufd_glib_eventfd_source_get_fd(GSource *source);

/**
 * iommufd_glib_source_get_error() - why a source of this library stopped:
 * 0 while it runs, else the negative errno of the read that failed.
 * Returns -EINVAL (and sets errno) when @source is not one of ours.
 */
int iommufd_glib_source_get_error(GSource *source);

/* ------------------------------------------------------------------------ */
/* vIOMMU event queues                                                      */
/* ------------------------------------------------------------------------ */

/**
 * typedef iommufd_glib_vevent_fn - receives a batch of vIOMMU events.
 * @q:         the queue.
 * @events:    @n events in the kernel's order, lost-events records and
 *             gaps included (see iommufd_veventq_read()); valid only
 *             during the call.  NULL with @n == 0 once, when the source
 *             stopped on an error (iommufd_glib_source_get_error()).
 * @n:         events at @events, 1 .. the source's max_batch.
 * @user_data: the data given to g_source_set_callback().
 * Returns G_SOURCE_CONTINUE to keep serving, G_SOURCE_REMOVE to destroy
 * the source.
 */
typedef gboolean (*iommufd_glib_vevent_fn)(struct iommufd_veventq *q, const struct iommufd_vevent *events, size_t n,
					   gpointer user_data);

/**
 * iommufd_glib_veventq_source_new() - a GSource that serves @q.
 * @q:         a vEVENTQ (iommufd_veventq_create()); it must outlive the
 *             source.
 * @max_batch: events per callback, 1 .. 4096; 0 means 64.
 *
 * The source polls iommufd_veventq_get_fd() for POLLIN.  Each dispatch
 * reads with iommufd_veventq_read() and calls the callback once per batch,
 * until the queue is empty (-EAGAIN) or 16 batches were delivered; then it
 * is ready again at the next main-loop iteration without the fd (events
 * the library holds do not make the fd readable), and one busy queue
 * cannot starve the other sources of its context.  Any read error other
 * than -EAGAIN (-EMSGSIZE: a wrong event_len; -EIO; read(2)'s) stops the
 * source for good: the callback gets (q, NULL, 0) once, and
 * iommufd_glib_source_get_error() returns the error.
 *
 * Returns the source, or NULL with errno EINVAL (NULL @q, @max_batch too
 * large, no fd) or ENOMEM.
 */
GSource *iommufd_glib_veventq_source_new(struct iommufd_veventq *q, size_t max_batch);

#ifdef __cplusplus
}
#endif

#endif /* LIBIOMMUFD_LIBIOMMUFD_GLIB_H */
