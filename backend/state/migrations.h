/* migrations.h — the schema, as forward-only numbered migrations. */
#ifndef CFS_MIGRATIONS_H
#define CFS_MIGRATIONS_H

struct cfs_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct cfs_migration cfs_migrations[];
extern const unsigned cfs_migrations_count;

#endif
