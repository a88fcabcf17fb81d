/* The helper threads of a model run and how they share a stage's items. */
#include "model_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct vv_worker {
	struct vv_job *job;
	struct vv_scratch *scr;
};

static void *vv_work(void *arg)
{
	struct vv_worker *w = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&w->job->next, 1);
		if (i >= w->job->items)
			break;
		w->job->fn(w->job, i, w->scr);
	}
	return NULL;
}

/*
 * The helper threads of a run: started once (by vv_model_run_set_threads),
 * woken for each stage of a forward, stopped by vv_model_run_free.  The
 * calling thread works too.  A helper that cannot be started leaves its
 * share to the others: no item depends on which thread runs it, so results
 * are the same and a forward still cannot fail.
 */
struct vv_pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t tid[VV_MAX_THREADS];
	struct vv_worker w[VV_MAX_THREADS];
	int started;        /* helpers running: w[1 .. started] */
	int busy;           /* helpers still on the current stage */
	uint64_t gen;       /* stage counter: a helper runs each stage once */
	int quit;
	struct vv_job *job;
};

static void *vv_helper_main(void *arg)
{
	struct vv_pool *p = arg;
	uint64_t seen = 0;
	int index;

	pthread_mutex_lock(&p->mu);
	index = ++p->started; /* slots are handed out in start order */
	for (;;) {
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		p->w[index].job = p->job;
		pthread_mutex_unlock(&p->mu);
		vv_work(&p->w[index]);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Starts threads-1 helpers with small stacks (the work uses the run's
 * scratch, not the stack; under mlockall every stack is locked memory). */
void vv_model_pool_start(vv_model_run *r)
{
	struct vv_pool *p;
	pthread_attr_t attr;
	int want = r->threads - 1, ok = 0;

	r->pool = NULL;
	if (want < 1 || !(p = calloc(1, sizeof *p)))
		return;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return;
	}
	if (pthread_cond_init(&p->go, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0 ||
	    pthread_attr_init(&attr) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return;
	}
	(void)pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	for (int i = 1; i <= want; i++)
		p->w[i].scr = &r->scr[i];
	for (int i = 0; i < want; i++)
		if (pthread_create(&p->tid[ok], &attr, vv_helper_main, p) == 0)
			ok++;
	pthread_attr_destroy(&attr);
	/* wait until each started helper has taken its slot */
	pthread_mutex_lock(&p->mu);
	while (p->started < ok) {
		pthread_mutex_unlock(&p->mu);
		sched_yield();
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	r->pool = p;
}

void vv_model_pool_stop(vv_model_run *r)
{
	struct vv_pool *p = r->pool;
	int n;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	n = p->started;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
	r->pool = NULL;
}

/* Runs fn on items 0..items-1 with the run's threads. */
void vv_model_pool_run(struct vv_job *j)
{
	struct vv_pool *p = j->r->pool;
	struct vv_worker self = {j, &j->r->scr[0]};

	if (j->items == 0)
		return;
	atomic_store(&j->next, 0);
	if (!p || p->started == 0 || j->items == 1) {
		vv_work(&self);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->job = j;
	p->busy = p->started;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	vv_work(&self);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
