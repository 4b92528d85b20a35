/*
 * cache.c - the response cache of one loaded version.
 *
 * An LRU list of answers with a small hash table over it, keyed by the
 * SHA-256 of the model name, version, shape and input floats, so the same
 * rows hit whatever protocol carried them.  The cache is capped in bytes
 * (entries plus their floats); an entry older than ttl_ms is dropped when it
 * is found.  One mutex guards it all: a hit or a put is a few hundred ns.
 *
 * Invariants: bytes is the sum of the costs of the entries in the list; every
 * entry is both in the list and in exactly one hash chain.
 */
#include "serve/serve_int.h"

#include <stdlib.h>
#include <string.h>

struct cache_ent {
	char key[65];
	float *y;
	size_t n;
	int64_t expires;
	struct cache_ent *prev, *next, *hnext;
};

struct svi_cache {
	pthread_mutex_t mu;
	size_t cap, bytes;
	int64_t ttl_ms;
	struct cache_ent **tab;
	size_t nb;
	struct cache_ent *head, *tail; /* LRU: head is newest */
};

struct svi_cache *svi_cache_new(size_t cap, int64_t ttl)
{
	struct svi_cache *c = mw_xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	c->cap = cap;
	c->ttl_ms = ttl;
	c->nb = 1024;
	c->tab = mw_xcalloc(c->nb, sizeof *c->tab);
	return c;
}

static size_t cache_slot(struct svi_cache *c, const char *key)
{
	size_t h = 0;
	for (int i = 0; i < 8 && key[i]; i++)
		h = h * 16 + (size_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
	return h % c->nb;
}

static void cache_unlink(struct svi_cache *c, struct cache_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	struct cache_ent **pp = &c->tab[cache_slot(c, e->key)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	c->bytes -= e->n * sizeof(float) + sizeof *e;
	free(e->y);
	free(e);
}

void svi_cache_free(struct svi_cache *c)
{
	if (!c)
		return;
	while (c->head)
		cache_unlink(c, c->head);
	free(c->tab);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void svi_cache_key(const struct mw_served *m, const struct mw_infer *inf, char key[65])
{
	struct mw_sha256 *h = mw_sha256_new();
	mw_sha256_update(h, m->name, strlen(m->name) + 1);
	mw_sha256_update(h, m->version, strlen(m->version) + 1);
	uint64_t shape[2] = {inf->rows, inf->cols};
	mw_sha256_update(h, shape, sizeof shape);
	mw_sha256_update(h, inf->x, inf->rows * inf->cols * sizeof(float));
	mw_sha256_final(h, key);
}

bool svi_cache_get(struct svi_cache *c, const char *key, float **y, size_t *n)
{
	bool hit = false;
	pthread_mutex_lock(&c->mu);
	for (struct cache_ent *e = c->tab[cache_slot(c, key)]; e; e = e->hnext) {
		if (strcmp(e->key, key))
			continue;
		if (e->expires && e->expires < mw_now_ms()) {
			cache_unlink(c, e);
			break;
		}
		*y = mw_xmalloc(e->n * sizeof(float));
		memcpy(*y, e->y, e->n * sizeof(float));
		*n = e->n;
		/* move to the front */
		if (c->head != e) {
			e->prev->next = e->next;
			if (e->next)
				e->next->prev = e->prev;
			else
				c->tail = e->prev;
			e->prev = NULL;
			e->next = c->head;
			c->head->prev = e;
			c->head = e;
		}
		hit = true;
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void svi_cache_put(struct svi_cache *c, const char *key, const float *y, size_t n)
{
	size_t cost = n * sizeof(float) + sizeof(struct cache_ent);
	if (cost > c->cap)
		return;
	pthread_mutex_lock(&c->mu);
	for (struct cache_ent *e = c->tab[cache_slot(c, key)]; e; e = e->hnext)
		if (!strcmp(e->key, key)) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
	while (c->tail && c->bytes + cost > c->cap)
		cache_unlink(c, c->tail);
	struct cache_ent *e = mw_xcalloc(1, sizeof *e);
	memcpy(e->key, key, 65);
	e->y = mw_xmalloc(n * sizeof(float));
	memcpy(e->y, y, n * sizeof(float));
	e->n = n;
	e->expires = c->ttl_ms ? mw_now_ms() + c->ttl_ms : 0;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
	size_t slot = cache_slot(c, key);
	e->hnext = c->tab[slot];
	c->tab[slot] = e;
	c->bytes += cost;
	pthread_mutex_unlock(&c->mu);
}
