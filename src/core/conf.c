/* A small reader for `[section]` / `key = value` configuration files. */
#include "varvault/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vv_conf_entry {
	char *section;
	char *key;
	char *value;
	int line;
};

struct vv_conf {
	char *name;
	struct vv_conf_entry *e;
	size_t n, cap;
};

/* Longest line, key or section accepted: configuration is small text. */
#define VV_CONF_MAXLINE 4096

void vv_conf_free(vv_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].section);
		free(c->e[i].key);
		free(c->e[i].value);
	}
	free(c->e);
	free(c->name);
	free(c);
}

static char *vv_trim(char *s)
{
	char *end;

	while (*s && isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static struct vv_conf_entry *vv_conf_find(const vv_conf *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key))
			return &c->e[i];
	return NULL;
}

static int vv_conf_valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

static int vv_conf_add(vv_conf *c, const char *section, const char *key, const char *value, int line)
{
	struct vv_conf_entry *e;
	int rc;

	if (vv_conf_find(c, section, key))
		return vv_errf(VV_ERR_FORMAT, "%s:%d: '%s' set twice in section [%s]", c->name, line,
			       key, section);
	if ((rc = vv_array_grow((void **)&c->e, &c->cap, c->n, sizeof *c->e, 16)) != 0)
		return vv_err_prefix(rc, "%s:%d", c->name, line);
	e = &c->e[c->n];
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(value);
	e->line = line;
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return vv_errf(VV_ERR_NOMEM, "%s:%d", c->name, line);
	}
	c->n++;
	return 0;
}

static int vv_conf_line_parse(vv_conf *c, char *line, int lineno, char *section)
{
	char *s = vv_trim(line), *eq, *key, *value;

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');
		if (!close || vv_trim(close + 1)[0] != '\0')
			return vv_errf(VV_ERR_FORMAT, "%s:%d: a section header must be '[name]'",
				       c->name, lineno);
		*close = '\0';
		s = vv_trim(s + 1);
		if (!vv_conf_valid_name(s))
			return vv_errf(VV_ERR_FORMAT, "%s:%d: invalid section name", c->name, lineno);
		strcpy(section, s); /* both bounded by VV_CONF_MAXLINE */
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return vv_errf(VV_ERR_FORMAT, "%s:%d: expected 'key = value'", c->name, lineno);
	*eq = '\0';
	key = vv_trim(s);
	value = vv_trim(eq + 1);
	if (!vv_conf_valid_name(key))
		return vv_errf(VV_ERR_FORMAT, "%s:%d: invalid key name", c->name, lineno);
	return vv_conf_add(c, section, key, value, lineno);
}

int vv_conf_parse(const char *buf, size_t len, const char *name, vv_conf **out)
{
	vv_conf *c = NULL;
	char *line = NULL, *section = NULL;
	size_t pos = 0;
	int lineno = 0, rc = 0;

	*out = NULL;
	c = calloc(1, sizeof *c);
	line = malloc(VV_CONF_MAXLINE + 1);
	section = calloc(1, VV_CONF_MAXLINE + 1);
	if (!c || !line || !section || !(c->name = strdup(name ? name : "config"))) {
		rc = vv_errf(VV_ERR_NOMEM, "%s: parser state", name ? name : "config");
		goto out;
	}
	while (pos < len) {
		size_t end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		lineno++;
		if (end - pos > VV_CONF_MAXLINE) {
			rc = vv_errf(VV_ERR_FORMAT, "%s:%d: line longer than %d bytes", c->name, lineno,
				     VV_CONF_MAXLINE);
			goto out;
		}
		memcpy(line, buf + pos, end - pos);
		line[end - pos] = '\0';
		if (memchr(buf + pos, '\0', end - pos)) {
			rc = vv_errf(VV_ERR_FORMAT, "%s:%d: NUL byte in line", c->name, lineno);
			goto out;
		}
		if ((rc = vv_conf_line_parse(c, line, lineno, section)) != 0)
			goto out;
		pos = end + 1;
	}
	*out = c;
	c = NULL;
out:
	free(line);
	free(section);
	vv_conf_free(c);
	return rc;
}

int vv_conf_load(const char *path, vv_conf **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = vv_read_file(path, 1 << 20, &buf, &len)) != 0)
		return rc;
	rc = vv_conf_parse(buf, len, path, out);
	free(buf);
	return rc;
}

const char *vv_conf_get(const vv_conf *c, const char *section, const char *key)
{
	struct vv_conf_entry *e = vv_conf_find(c, section, key);
	return e ? e->value : NULL;
}

int vv_conf_line(const vv_conf *c, const char *section, const char *key)
{
	struct vv_conf_entry *e = vv_conf_find(c, section, key);
	return e ? e->line : 0;
}

const char *vv_conf_name(const vv_conf *c)
{
	return c->name;
}

int vv_conf_double(const vv_conf *c, const char *section, const char *key, double *out)
{
	struct vv_conf_entry *e = vv_conf_find(c, section, key);
	char *end;
	double v;

	if (!e || !e->value[0])
		return 0;
	errno = 0;
	v = strtod(e->value, &end);
	if (errno || end == e->value || *end || !isfinite(v))
		return vv_errf(VV_ERR_FORMAT, "%s:%d: [%s] %s: expected a number", c->name, e->line,
			       section, key);
	*out = v;
	return 1;
}

int vv_conf_bool(const vv_conf *c, const char *section, const char *key, int *out)
{
	struct vv_conf_entry *e = vv_conf_find(c, section, key);
	const char *v;

	if (!e)
		return 0;
	v = e->value;
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return vv_errf(VV_ERR_FORMAT, "%s:%d: [%s] %s: expected yes or no", c->name, e->line,
			       section, key);
	return 1;
}

static int vv_conf_known(const char *const *keys, const char *section, const char *key)
{
	size_t sl = strlen(section);

	for (; *keys; keys++) {
		const char *k = *keys, *dot = strrchr(k, '.');
		if (!dot || (size_t)(dot - k) != sl || strncmp(k, section, sl) != 0)
			continue;
		if (!strcmp(dot + 1, "*") || !strcmp(dot + 1, key))
			return 1;
	}
	return 0;
}

int vv_conf_check_known(const vv_conf *c, const char *const *keys)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct vv_conf_entry *e = &c->e[i];
		if (!vv_conf_known(keys, e->section, e->key))
			return vv_errf(VV_ERR_FORMAT, "%s:%d: unknown setting '%s' in section [%s]",
				       c->name, e->line, e->key, e->section);
	}
	return 0;
}

int vv_conf_next(const vv_conf *c, size_t *pos, const char **section, const char **key,
		 const char **value, int *line)
{
	const struct vv_conf_entry *e;

	if (*pos >= c->n)
		return 0;
	e = &c->e[(*pos)++];
	*section = e->section;
	*key = e->key;
	*value = e->value;
	*line = e->line;
	return 1;
}
