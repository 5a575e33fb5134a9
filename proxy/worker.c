/*
 * worker: the thread body and the mailbox. main never touches a worker's
 * loop or sessions; it leaves a runtime in px->next or bits in px->cmd and
 * calls uv_async_send, and the worker does the rest on its own thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "session.h"
#include "worker.h"

static void
worker_noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
worker_tick_cb(uv_timer_t *t)
{
	proxy_t *px = t->data;

	/* The same clock main reads (uv_now may lag by a cached turn). */
	atomic_store_explicit(&px->stats->heartbeat_ms, uv_hrtime() / 1000000,
	    memory_order_relaxed);
}

/* Takes a runtime main left in the mailbox. */
static void
worker_take_runtime(proxy_t *px)
{
	runtime_t *rt = atomic_exchange(&px->next, NULL);

	if (rt == NULL)
		return;
	runtime_unref(px->rt);
	px->rt = rt;
	atomic_store(&px->listen_failed,
	    listener_reconcile(px) == -1 ? 1 : 0);
}

static void
worker_wake_cb(uv_async_t *a)
{
	proxy_t *px = a->data;
	int cmd = atomic_exchange(&px->cmd, 0);

	worker_take_runtime(px);
	if ((cmd & PROXY_CMD_DRAIN) && !px->draining) {
		px->draining = 1;
		listener_close_all(px);
	}
	if (cmd & PROXY_CMD_EXPIRE) {
		px->expired = 1;
		session_shutdown_all(px, 0);
	}
	if (cmd & PROXY_CMD_STOP) {
		px->draining = 1;
		listener_close_all(px);
		session_shutdown_all(px, 1);
		uv_close((uv_handle_t *)&px->wake, worker_noop_close_cb);
		uv_close((uv_handle_t *)&px->tick, worker_noop_close_cb);
	}
}

proxy_t *
worker_new(int id, shared_t *sh, runtime_t *rt)
{
	proxy_t *px;

	if ((px = calloc(1, sizeof(*px))) == NULL ||
	    (px->stats = calloc(1, sizeof(*px->stats))) == NULL)
		goto err0;
	px->id = id;
	px->sh = sh;
	px->rt = rt;
	atomic_init(&px->next, NULL);
	atomic_init(&px->cmd, 0);
	atomic_init(&px->nsessions, 0);
	atomic_init(&px->listen_failed, 0);
	if (uv_loop_init(&px->loop) != 0)
		goto err0;
	uv_async_init(&px->loop, &px->wake, worker_wake_cb);
	px->wake.data = px;
	uv_timer_init(&px->loop, &px->tick);
	px->tick.data = px;
	/* A worker whose thread has not turned its loop yet is not stalled:
	 * the heartbeat starts now, not at 0. */
	atomic_store_explicit(&px->stats->heartbeat_ms, uv_hrtime() / 1000000,
	    memory_order_relaxed);
	uv_timer_start(&px->tick, worker_tick_cb, 0, WORKER_TICK_MS);
	/* Bind on the caller's thread so start-up fails loudly and early. */
	if (listener_reconcile(px) == -1)
		atomic_store(&px->listen_failed, 1);
	return px;

err0:
	if (px != NULL)
		free(px->stats);
	free(px);
	runtime_unref(rt);
	log_event(LOG_ERROR, "worker_failed", NULL);
	return NULL;
}

static void
worker_main(void *arg)
{
	proxy_t *px = arg;

	uv_run(&px->loop, UV_RUN_DEFAULT);
}

int
worker_start(proxy_t *px)
{
	if (uv_thread_create(&px->thread, worker_main, px) != 0)
		return -1;
	px->started = 1;
	return 0;
}

void
worker_publish(proxy_t *px, runtime_t *rt)
{
	runtime_unref(atomic_exchange(&px->next, rt));
	uv_async_send(&px->wake);
}

void
worker_command(proxy_t *px, int cmd)
{
	atomic_fetch_or(&px->cmd, cmd);
	uv_async_send(&px->wake);
}

void
worker_join(proxy_t *px)
{
	if (px->started)
		uv_thread_join(&px->thread);
	else
		uv_run(&px->loop, UV_RUN_DEFAULT); /* runs the STOP it was sent */
	uv_loop_close(&px->loop);
	runtime_unref(atomic_exchange(&px->next, NULL));
	runtime_unref(px->rt);
	conn_pool_cleanup(&px->pool);
	free(px->stats);
	free(px);
}
