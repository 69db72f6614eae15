/* snap.c — snapshot files and the names snapshots/ shows for them. */
#include "restic/rr_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rr_snap_clear(struct rr_snap *s)
{
	free(s->hostname);
	free(s->username);
	for (size_t i = 0; i < s->ntags; i++)
		free(s->tags[i]);
	free(s->tags);
	s->hostname = s->username = NULL;
	s->tags = NULL;
	s->ntags = 0;
}

static char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

int rr_snap_decode(const char *json, size_t len, struct rr_snap *s)
{
	int ret = -EINVAL;
	cJSON *o = cJSON_ParseWithLength(json, len);
	s->hostname = s->username = NULL;
	s->tags = NULL;
	s->ntags = 0;
	if (!cJSON_IsObject(o))
		goto out;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
	const cJSON *tree = cJSON_GetObjectItemCaseSensitive(o, "tree");
	if (!cJSON_IsString(t) || rr_gotime_parse(t->valuestring, &s->time) ||
	    !cJSON_IsString(tree) || rr_id_parse(tree->valuestring, s->tree))
		goto out;
	ret = -ENOMEM;
	s->hostname = str_of(o, "hostname");
	s->username = str_of(o, "username");
	if (!s->hostname || !s->username)
		goto out;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
	if (cJSON_IsArray(tags)) {
		int n = cJSON_GetArraySize(tags);
		s->tags = calloc((size_t)n + 1, sizeof *s->tags);
		if (!s->tags)
			goto out;
		const cJSON *e;
		cJSON_ArrayForEach(e, tags) {
			if (!cJSON_IsString(e) || !e->valuestring[0])
				continue;
			if (!(s->tags[s->ntags] = strdup(e->valuestring)))
				goto out;
			s->ntags++;
		}
	} else if (tags && !cJSON_IsNull(tags)) {
		ret = -EINVAL;
		goto out;
	}
	ret = 0;
out:
	if (ret)
		rr_snap_clear(s);
	cJSON_Delete(o);
	return ret;
}

void rr_snap_name(const struct rr_snap *s, bool full, char out[96])
{
	char ts[32];
	struct tm tm;
	time_t t = s->time.tv_sec;
	if (gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999)
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(ts, sizeof ts, "0000-00-00T00:00:00Z");
	snprintf(out, 96, "%s-%.*s", ts, full ? 64 : 8, s->idhex);
}

void rr_component(const char *in, char *out, size_t outlen)
{
	size_t k = 0;
	for (const char *p = in; *p && k + 1 < outlen; p++)
		out[k++] = *p == '/' ? '_' : *p;
	out[k] = '\0';
	if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
		if (k + 2 > outlen)
			k = outlen - 2;
		out[k] = '_';
		out[k + 1] = '\0';
	}
}
