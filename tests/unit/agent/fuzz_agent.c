/* fuzz_agent.c — libFuzzer target over the agent's parsers and path
 * confinement.  The first byte picks the part; the rest is its input:
 *
 *   0  agent.conf text              agent_conf_parse
 *   1  a command line               agent_argv_split
 *   2  a request target             agent_query_parse, then confine_check of each value
 *   3  git status -z output         agent_git_parse_status
 *   4  bytes as a name              agent_utf8_valid / agent_json_bytes
 *   5  a path                       confine_open with openat2 and with the walk,
 *                                   over a small tree of tricky symlinks: both
 *                                   must agree, and never leave the root
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/internal.h"

static char tree_root[PATH_MAX];
static int tree_fd = -1;
static struct stat outside;

static void tree_cleanup(void)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree_root);
	if (tree_root[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tree_root);
}

/* root/{a/f, a/l1 -> ../a/f, a/up -> .., a/out -> ../.., a/abs -> /, a/dir -> ../a/,
 * a/fslash -> f/, loop -> loop, b -> a/up/a} with the root inside a parent
 * that holds "secret", which no accepted path may reach. */
static int tree(void)
{
	if (tree_fd >= 0)
		return tree_fd;
	const char *base = getenv("TMPDIR");
	snprintf(tree_root, sizeof tree_root, "%s/cfs-fuzz-agent-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tree_root))
		abort();
	atexit(tree_cleanup);
	char p[PATH_MAX + 64];
#define AT(x) (snprintf(p, sizeof p, "%s/%s", tree_root, x), p)
	if (mkdir(AT("root"), 0755) || mkdir(AT("root/a"), 0755))
		abort();
	close(open(AT("secret"), O_CREAT | O_WRONLY, 0600));
	close(open(AT("root/a/f"), O_CREAT | O_WRONLY, 0600));
	static const char *const links[][2] = {
		{ "../a/f", "root/a/l1" }, { "..", "root/a/up" }, { "../..", "root/a/out" },
		{ "/", "root/a/abs" }, { "../a/", "root/a/dir" }, { "f/", "root/a/fslash" },
		{ "loop", "root/loop" }, { "a/up/a", "root/b" }, { "../secret", "root/s" },
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i][0], AT(links[i][1])))
			abort();
	stat(AT("secret"), &outside);
	tree_fd = open(AT("root"), O_PATH | O_DIRECTORY);
	if (tree_fd < 0)
		abort();
	return tree_fd;
}

static void fuzz_confine(const char *path, size_t len)
{
	struct confine c1 = { .rootfd = tree(), .walk = false };
	struct confine c2 = { .rootfd = tree(), .walk = true };
	int f1 = -1, f2 = -1;
	int r1 = confine_open(&c1, path, len, O_PATH, &f1);
	int r2 = confine_open(&c2, path, len, O_PATH, &f2);
	if (r1 == -ENOSYS)
		r1 = r2;   /* no openat2 here: nothing to compare with */
	if (r1 != r2) {
		fprintf(stderr, "openat2 %d, walk %d for \"%.*s\"\n", r1, r2, (int)len, path);
		abort();
	}
	if (!r1 && f1 >= 0 && f2 >= 0) {
		struct stat s1, s2;
		if (fstat(f1, &s1) || fstat(f2, &s2) || s1.st_ino != s2.st_ino)
			abort();
		if (s1.st_ino == outside.st_ino && s1.st_dev == outside.st_dev)
			abort();   /* escaped the root */
	}
	if (f1 >= 0)
		close(f1);
	if (f2 >= 0)
		close(f2);
	int d;
	char name[NAME_MAX + 1];
	if (confine_parent(&c2, path, len, &d, name) == 0)
		close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	size_t len = size - 1;
	switch (data[0] % 6) {
	case 0: {
		struct agent_conf *c = NULL;
		struct cfs_err err;
		if (agent_conf_parse(s, "fuzz.conf", &c, &err) == 0)
			agent_conf_free(c);
		break;
	}
	case 1: {
		char **argv = NULL;
		int argc;
		struct cfs_err err;
		if (agent_argv_split(s, &argv, &argc, &err) == 0)
			agent_argv_free(argv);
		break;
	}
	case 2: {
		struct query q;
		if (agent_query_parse(s, &q) == 0) {
			for (int i = 0; i < q.n; i++)
				confine_check(q.kv[i].val, q.kv[i].len);
			agent_query_free(&q);
		}
		break;
	}
	case 3: {
		cJSON *j = cJSON_CreateObject();
		agent_git_parse_status(s, len, j);
		char *out = cJSON_PrintUnformatted(j);
		free(out);
		cJSON_Delete(j);
		break;
	}
	case 4: {
		cJSON *j = cJSON_CreateObject();
		agent_json_bytes(j, "name", s, len);
		char *out = cJSON_PrintUnformatted(j);
		cJSON *back = out ? cJSON_Parse(out) : NULL;
		if (out && !back)
			abort();   /* whatever the bytes, the JSON is valid */
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(back, "name");
		if (agent_utf8_valid(s, len) && (!cJSON_IsString(n) || strcmp(n->valuestring, s)))
			abort();   /* and a UTF-8 name comes back as it went */
		cJSON_Delete(back);
		free(out);
		cJSON_Delete(j);
		break;
	}
	default:
		if (len <= 512)
			fuzz_confine(s, len);
		break;
	}
	free(s);
	return 0;
}
