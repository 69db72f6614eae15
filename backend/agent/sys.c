/* sys.c — GET /v1/health and GET /v1/info: the host's state. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/util.h"

#ifndef CFS_VERSION
#define CFS_VERSION "0"
#endif

/* Values of /proc/meminfo, in bytes. */
static void meminfo(uint64_t *total, uint64_t *avail, uint64_t *swap_total, uint64_t *swap_free)
{
	*total = *avail = *swap_total = *swap_free = 0;
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof line, f)) {
		unsigned long long kb;
		char key[64];
		if (sscanf(line, "%63[^:]: %llu", key, &kb) != 2)
			continue;
		if (!strcmp(key, "MemTotal"))
			*total = kb * 1024;
		else if (!strcmp(key, "MemAvailable"))
			*avail = kb * 1024;
		else if (!strcmp(key, "SwapTotal"))
			*swap_total = kb * 1024;
		else if (!strcmp(key, "SwapFree"))
			*swap_free = kb * 1024;
	}
	fclose(f);
}

static int64_t uptime_s(void)
{
	struct sysinfo si;
	return sysinfo(&si) == 0 ? (int64_t)si.uptime : 0;
}

void agent_route_health(struct agent *a, const struct query *q, struct wire_response *rs)
{
	(void)q;
	double load[3] = { 0, 0, 0 };
	uint64_t mt, ma, st, sf;
	struct statvfs vfs;
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = 0;
	meminfo(&mt, &ma, &st, &sf);
	if (fstatvfs(a->confine.rootfd, &vfs) < 0)
		memset(&vfs, 0, sizeof vfs);
	cJSON *j = cJSON_CreateObject();
	if (j) {
		static const char *const lk[] = { "load1", "load5", "load15" };
		for (int i = 0; i < 3; i++) {
			char num[32];
			snprintf(num, sizeof num, "%.2f", load[i]);
			cJSON_AddRawToObject(j, lk[i], num);
		}
		agent_json_u64(j, "mem_total", mt);
		agent_json_u64(j, "mem_available", ma);
		agent_json_u64(j, "swap_total", st);
		agent_json_u64(j, "swap_free", sf);
		agent_json_u64(j, "disk_total", (uint64_t)vfs.f_blocks * vfs.f_frsize);
		agent_json_u64(j, "disk_free", (uint64_t)vfs.f_bfree * vfs.f_frsize);
		agent_json_u64(j, "disk_avail", (uint64_t)vfs.f_bavail * vfs.f_frsize);
		agent_json_u64(j, "disk_files", vfs.f_files);
		agent_json_u64(j, "disk_files_free", vfs.f_ffree);
		agent_json_i64(j, "uptime", uptime_s());
		agent_json_i64(j, "time", cfs_now_ms());
	}
	agent_reply_json(rs, 200, j);
}

/* PRETTY_NAME of os-release, unquoted; "" when unknown. */
static void os_pretty(char *out, size_t n)
{
	out[0] = '\0';
	FILE *f = fopen("/etc/os-release", "re");
	if (!f)
		f = fopen("/usr/lib/os-release", "re");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		char *v = line + 12;
		v[strcspn(v, "\r\n")] = '\0';
		size_t l = strlen(v);
		char quote = (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0]) ? v[0] : 0;
		if (quote) {
			v[l - 1] = '\0';
			v++;
		}
		size_t o = 0;
		for (char *p = v; *p && o + 1 < n; p++) {
			if (quote == '"' && *p == '\\' && p[1])
				p++;   /* shell-style escapes inside double quotes */
			out[o++] = *p;
		}
		out[o] = '\0';
		break;
	}
	fclose(f);
}

static cJSON *names(const struct agent_named_path *list, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(list[i].name));
	return arr;
}

void agent_route_info(struct agent *a, const struct query *q, struct wire_response *rs)
{
	(void)q;
	char host[256] = "", os[256];
	struct utsname u;
	if (gethostname(host, sizeof host - 1) < 0)
		host[0] = '\0';
	if (uname(&u) < 0)
		memset(&u, 0, sizeof u);
	os_pretty(os, sizeof os);
	cJSON *j = cJSON_CreateObject();
	if (j) {
		agent_json_bytes(j, "hostname", host, strlen(host));
		agent_json_bytes(j, "os", os, strlen(os));
		cJSON_AddStringToObject(j, "kernel", u.release);
		cJSON_AddStringToObject(j, "arch", u.machine);
		agent_json_i64(j, "uptime", uptime_s());
		cJSON_AddStringToObject(j, "version", CFS_VERSION);
		cJSON_AddStringToObject(j, "env_id", a->env_id);
		agent_json_bytes(j, "root", a->root, strlen(a->root));
		cJSON_AddBoolToObject(j, "running_as_root", a->is_root);
		cJSON *cmds = cJSON_AddArrayToObject(j, "commands");
		for (size_t i = 0; cmds && i < a->conf->ncmds; i++)
			cJSON_AddItemToArray(cmds, cJSON_CreateString(a->conf->cmds[i].name));
		cJSON_AddItemToObject(j, "logs", names(a->conf->logs, a->conf->nlogs));
		cJSON_AddItemToObject(j, "config", names(a->conf->configs, a->conf->nconfigs));
		agent_json_i64(j, "time", cfs_now_ms());
	}
	agent_reply_json(rs, 200, j);
}
