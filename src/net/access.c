/* The access policy (policy/access.conf): identity -> role (+ uid binding), role -> verbs. */
#include "net_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct vv_access_role {
	char *name;
	uint32_t verbs; /* bit (1 << verb) */
};

struct vv_access_client {
	char key[VV_NET_NAME_MAX + 1]; /* fingerprint (lowercase hex) or CN */
	bool by_cn;
	size_t role;
	bool has_uid;
	uid_t uid;
	int line;
};

struct vv_net_access {
	atomic_int refs;
	struct vv_access_role *roles;
	size_t nroles, caproles;
	struct vv_access_client *clients;
	size_t nclients, capclients;
};

void vv_net_access_free(vv_net_access *a)
{
	if (!a || atomic_fetch_sub(&a->refs, 1) > 1)
		return;
	for (size_t i = 0; i < a->nroles; i++)
		free(a->roles[i].name);
	free(a->roles);
	free(a->clients);
	free(a);
}

vv_net_access *vv_net_access_ref(vv_net_access *a)
{
	atomic_fetch_add(&a->refs, 1);
	return a;
}

/* Next white-space separated word of *s (modified in place), or NULL. */
static char *vv_word(char **s)
{
	char *p = *s, *w;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	w = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

static int vv_access_role_add(vv_net_access *a, const char *file, int line, const char *name, const char *value)
{
	struct vv_access_role *r;
	char *copy = NULL, *p, *w;
	int rc;

	if ((rc = vv_array_grow((void **)&a->roles, &a->caproles, a->nroles, sizeof *a->roles, 4)) != 0)
		return rc;
	if ((copy = strdup(value)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "%s:%d", file, line);
	r = &a->roles[a->nroles];
	memset(r, 0, sizeof *r);
	p = copy;
	while ((w = vv_word(&p)) != NULL) {
		enum vv_net_verb v;
		if (vv_net_verb_parse(w, &v) != 0) {
			rc = vv_errf(VV_ERR_POLICY, "%s:%d: role '%s': unknown verb '%.40s'", file, line, name, w);
			goto out;
		}
		r->verbs |= 1u << v;
	}
	if ((r->name = strdup(name)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "%s:%d", file, line);
		goto out;
	}
	a->nroles++;
out:
	free(copy);
	return rc;
}

static bool vv_access_is_fpr(const char *k)
{
	size_t n = 0;

	for (; k[n]; n++)
		if (!isxdigit((unsigned char)k[n]))
			return false;
	return n == 64;
}

static int vv_access_client_add(vv_net_access *a, const char *file, int line, const char *key, const char *value)
{
	struct vv_access_client *c;
	char *copy = NULL, *p, *w;
	int rc = 0;

	if ((rc = vv_array_grow((void **)&a->clients, &a->capclients, a->nclients, sizeof *a->clients, 8)) != 0)
		return rc;
	c = &a->clients[a->nclients];
	memset(c, 0, sizeof *c);
	c->line = line;
	if (vv_access_is_fpr(key)) {
		for (size_t i = 0; i < 64; i++)
			c->key[i] = (char)tolower((unsigned char)key[i]);
	} else if (!strncmp(key, "cn.", 3) && vv_net_name_valid(key + 3)) {
		strcpy(c->key, key + 3);
		c->by_cn = true;
	} else {
		return vv_errf(VV_ERR_POLICY,
			       "%s:%d: [clients] key must be a SHA-256 fingerprint (64 hex digits) or cn.NAME", file,
			       line);
	}
	for (size_t i = 0; i < a->nclients; i++)
		if (a->clients[i].by_cn == c->by_cn && !strcmp(a->clients[i].key, c->key))
			return vv_errf(VV_ERR_POLICY, "%s:%d: client listed twice (first on line %d)", file, line,
				       a->clients[i].line);
	if ((copy = strdup(value)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "%s:%d", file, line);
	p = copy;
	if ((w = vv_word(&p)) == NULL) {
		rc = vv_errf(VV_ERR_POLICY, "%s:%d: expected 'role [uid N]'", file, line);
		goto out;
	}
	for (c->role = 0; c->role < a->nroles; c->role++)
		if (!strcmp(a->roles[c->role].name, w))
			break;
	if (c->role == a->nroles) {
		rc = vv_errf(VV_ERR_POLICY, "%s:%d: role '%.40s' is not defined in [roles]", file, line, w);
		goto out;
	}
	if ((w = vv_word(&p)) != NULL) {
		char *end;
		unsigned long u;
		const char *num = vv_word(&p);
		if (strcmp(w, "uid") != 0 || !num) {
			rc = vv_errf(VV_ERR_POLICY, "%s:%d: expected 'role [uid N]'", file, line);
			goto out;
		}
		errno = 0;
		u = strtoul(num, &end, 10);
		if (errno || *end || !isdigit((unsigned char)num[0]) || u >= (uid_t)-1) {
			rc = vv_errf(VV_ERR_POLICY, "%s:%d: uid must be a number", file, line);
			goto out;
		}
		c->has_uid = true;
		c->uid = (uid_t)u;
		if (vv_word(&p)) {
			rc = vv_errf(VV_ERR_POLICY, "%s:%d: unexpected text after the uid", file, line);
			goto out;
		}
	}
	a->nclients++;
out:
	free(copy);
	return rc;
}

int vv_net_access_parse(const char *buf, size_t len, const char *name, vv_net_access **out)
{
	vv_conf *conf = NULL;
	vv_net_access *a = NULL;
	const char *section, *key, *value, *file;
	size_t pos;
	int line, rc;

	*out = NULL;
	if ((rc = vv_conf_parse(buf, len, name, &conf)) != 0)
		return rc == VV_ERR_FORMAT ? VV_ERR_POLICY : rc;
	file = vv_conf_name(conf);
	if ((a = calloc(1, sizeof *a)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", file);
		goto out;
	}
	atomic_init(&a->refs, 1);
	/* Roles first, wherever they stand in the file: clients refer to them. */
	for (pos = 0; vv_conf_next(conf, &pos, &section, &key, &value, &line);) {
		if (!strcmp(section, "roles")) {
			if ((rc = vv_access_role_add(a, file, line, key, value)) != 0)
				goto out;
		} else if (strcmp(section, "clients") != 0) {
			rc = vv_errf(VV_ERR_POLICY, "%s:%d: unknown section [%s] (expected [roles] or [clients])", file,
				     line, section);
			goto out;
		}
	}
	for (pos = 0; vv_conf_next(conf, &pos, &section, &key, &value, &line);)
		if (!strcmp(section, "clients") && (rc = vv_access_client_add(a, file, line, key, value)) != 0)
			goto out;
	*out = a;
	a = NULL;
out:
	vv_net_access_free(a);
	vv_conf_free(conf);
	return rc;
}

int vv_net_access_load(const char *path, vv_net_access **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = vv_read_file(path, 1 << 20, &buf, &len)) != 0)
		return rc;
	rc = vv_net_access_parse(buf, len, path, out);
	free(buf);
	return rc;
}

int vv_net_access_lookup(const vv_net_access *a, const vv_net_peer *peer, const char **role)
{
	const struct vv_access_client *hit = NULL;

	*role = NULL;
	for (size_t i = 0; i < a->nclients && !hit; i++)
		if (!a->clients[i].by_cn && !strcmp(a->clients[i].key, peer->sha256))
			hit = &a->clients[i];
	for (size_t i = 0; i < a->nclients && !hit && peer->cn[0]; i++)
		if (a->clients[i].by_cn && !strcmp(a->clients[i].key, peer->cn))
			hit = &a->clients[i];
	if (!hit)
		return vv_errf(VV_ERR_DENIED, "no access entry for this certificate");
	if (hit->has_uid && (!peer->has_cred || peer->uid != hit->uid))
		return vv_errf(VV_ERR_DENIED, "this certificate is bound to another local user (access entry line %d)",
			       hit->line);
	*role = a->roles[hit->role].name;
	return 0;
}

bool vv_net_access_allows(const vv_net_access *a, const char *role, enum vv_net_verb verb)
{
	if (!role || (unsigned)verb >= VV_VERB_COUNT)
		return false;
	for (size_t i = 0; i < a->nroles; i++)
		if (!strcmp(a->roles[i].name, role))
			return (a->roles[i].verbs >> verb) & 1u;
	return false;
}

int vv_net_access_check(const vv_net_access *a, const vv_net_peer *peer, enum vv_net_verb verb, const char **role)
{
	int rc = vv_net_access_lookup(a, peer, role);

	if (rc != 0)
		return rc;
	if (!vv_net_access_allows(a, *role, verb))
		return vv_errf(VV_ERR_DENIED, "role %s may not call %s", *role, vv_net_verb_name(verb));
	return 0;
}
