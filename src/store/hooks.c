/* The store's database handed to the audit log: the commit hook, and runs
 * of a caller's function under the store's lock. */
#include "store_int.h"

void vv_store_set_commit_hook(vv_store *s, vv_store_commit_hook fn, void *ctx)
{
	s->hook = fn;
	s->hook_ctx = ctx;
}

int vv_store_with_db(vv_store *s, bool tx, int (*fn)(struct sqlite3 *db, void *ctx), void *ctx, const char *op)
{
	int rc;

	if (!s || !fn)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op ? op : "with_db");
	vv_store_lock(s);
	if (tx) {
		if ((rc = vv_store_begin(s, op)))
			goto out;
		s->in_with_db = true;
		rc = fn(s->db, ctx);
		if (!rc)
			rc = vv_store_commit(s, op);
		s->in_with_db = false;
		if (rc)
			vv_store_rollback(s);
	} else {
		rc = fn(s->db, ctx);
		/* fn must leave no transaction open behind the store's back */
		if (!sqlite3_get_autocommit(s->db)) {
			vv_store_rollback(s);
			if (!rc)
				rc = vv_errf(VV_ERR_INTERNAL, "store: %s left a transaction open", op);
		}
	}
out:
	vv_store_unlock(s);
	return rc;
}
