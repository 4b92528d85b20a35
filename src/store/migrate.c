/*
 * migrate.c - the numbered schema migrations, the same runner for every
 * backend.
 *
 * A backend describes its schema as data (struct mw_store_migrations): the
 * statement that creates schema_migrations in its dialect, and the list of
 * migrations, migration v being steps[v - 1].  At open the runner reads the
 * highest version recorded in schema_migrations and applies every later
 * migration in order, each in a transaction of its own together with its
 * schema_migrations row (and the backend's optional seed for that version),
 * so a crash leaves the database at a whole version.  A database whose
 * version is higher than the backend knows was written by a newer mw and is
 * refused, never downgraded; a negative version is a damaged table.
 *
 * The runner only sends the backend's own SQL and one INSERT made of two
 * integers, through the backend's hooks (struct mw_store_sql and the
 * writer's struct mw_store_txn), so it knows no dialect.
 */
#include "store/backend.h"

#include <stdio.h>

int mw_store_migrate(const struct mw_store_txn *txn, const struct mw_store_sql *sql, void *tx,
		     const struct mw_store_migrations *m, int *version, struct mw_err *err)
{
	int rc = sql->exec(tx, m->table_sql, err);
	if (rc)
		return rc;
	int64_t cur = 0;
	if ((rc = sql->query_int(tx, "SELECT coalesce(max(version), 0) FROM schema_migrations",
				 &cur, err)))
		return rc;
	if (cur < 0)
		return mw_err_set(err, MW_E_IO,
				  "database schema version %lld is not valid: the schema_migrations "
				  "table is damaged",
				  (long long)cur);
	if (cur > m->n)
		return mw_err_set(err, MW_E_IO,
				  "database schema version %lld is newer than this mw (%d): upgrade mw",
				  (long long)cur, m->n);
	for (int v = (int)cur + 1; v <= m->n; v++) {
		if ((rc = txn->begin(tx, err)))
			return rc;
		rc = sql->exec(tx, m->steps[v - 1], err);
		int64_t now = mw_now_ms();
		if (!rc) {
			char ins[128];
			snprintf(ins, sizeof ins, "INSERT INTO schema_migrations VALUES (%d, %lld)",
				 v, (long long)now);
			rc = sql->exec(tx, ins, err);
		}
		if (!rc && m->seed)
			rc = m->seed(tx, v, now, err);
		if (rc) {
			txn->rollback(tx);
			return rc;
		}
		if ((rc = txn->commit(tx, err))) {
			txn->rollback(tx);
			return rc;
		}
		mw_info("store: applied migration %d", v);
	}
	*version = m->n;
	return 0;
}
