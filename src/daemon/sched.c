/* varvaultd's job scheduler: claims queued jobs and runs at most
 * `workers` of them at once; the rest wait in the queue. */
#include "serve.h"

#include <stdlib.h>
#include <string.h>

#include "varvault/interpret.h"

struct vv_sched {
	struct vv_daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, woken;
	unsigned running;
};

static void *sched_main(void *p)
{
	vv_sched *s = p;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		/* Jobs wait in the queue until the worker runner lands. */
		while (!s->stop && !s->woken)
			pthread_cond_wait(&s->cond, &s->lock);
		s->woken = false;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int vv_sched_start(struct vv_daemon *d, vv_sched **out)
{
	vv_sched *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s)
		return vv_errf(VV_ERR_NOMEM, "scheduler");
	s->d = d;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return vv_errf(VV_ERR_INTERNAL, "scheduler thread");
	}
	*out = s;
	return 0;
}

void vv_sched_wake(vv_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->woken = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void vv_sched_kill_job(vv_sched *s, const char *job_id)
{
	(void)s;
	(void)job_id;
}

unsigned vv_sched_running(vv_sched *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->running;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void vv_sched_stop(vv_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int vv_sched_open_chunk(struct vv_daemon *d, const vv_store_job *j, const uint8_t *key, uint32_t idx,
			enum vv_out_format fmt, vv_sbuf *out, bool *last);
int vv_sched_open_chunk(struct vv_daemon *d, const vv_store_job *j, const uint8_t *key, uint32_t idx,
			enum vv_out_format fmt, vv_sbuf *out, bool *last)
{
	(void)fmt;
	return vv_store_result_open_chunk(d->store, j->id, key, idx, out, last);
}
