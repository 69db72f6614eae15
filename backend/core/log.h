/* log.h — printf-checked logging to stderr (or syslog when daemonized). */
#ifndef CFS_LOG_H
#define CFS_LOG_H

enum cfs_log_level { CFS_LOG_ERR, CFS_LOG_WARN, CFS_LOG_INFO, CFS_LOG_DEBUG };

void cfs_log_init(const char *ident, int use_syslog, enum cfs_log_level max);
void cfs_log(enum cfs_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   cfs_log(CFS_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  cfs_log(CFS_LOG_WARN, __VA_ARGS__)
#define log_info(...)  cfs_log(CFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) cfs_log(CFS_LOG_DEBUG, __VA_ARGS__)

#endif
