/*
 * sqlite_registry.c - the model registry in the SQLite backend.
 * (placeholder: every operation answers NOT_IMPLEMENTED until written)
 */
#include "store/sqlite_int.h"

int sqr_rm_create(void *impl, const char *a0, const char *a1, const struct mw_kv *a2, size_t a3, const char *a4, int64_t a5, json_t **a6, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	(void)a5;
	(void)a6;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_get(void *impl, const char *a0, json_t **a1, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_rename(void *impl, const char *a0, const char *a1, int64_t a2, json_t **a3, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_update(void *impl, const char *a0, const char *a1, int64_t a2, json_t **a3, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_delete(void *impl, const char *a0, int64_t a1, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_search(void *impl, const struct mw_filter *a0, const struct mw_order *a1, size_t a2, const struct mw_page *a3, json_t **a4, bool *a5, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	(void)a5;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_set_tag(void *impl, const char *a0, const char *a1, const char *a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_delete_tag(void *impl, const char *a0, const char *a1, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_set_alias(void *impl, const char *a0, const char *a1, int64_t a2, bool a3, const struct mw_audit *a4, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_delete_alias(void *impl, const char *a0, const char *a1, const struct mw_audit *a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_get_by_alias(void *impl, const char *a0, const char *a1, json_t **a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_alias_previous(void *impl, const char *a0, const char *a1, int64_t *a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_latest_versions(void *impl, const char *a0, const char *const *a1, size_t a2, json_t **a3, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_rm_history(void *impl, const char *a0, json_t **a1, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_create(void *impl, const struct mw_mv_create *a0, json_t **a1, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_get(void *impl, const char *a0, int64_t a1, json_t **a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_update(void *impl, const char *a0, int64_t a1, const char *a2, int64_t a3, json_t **a4, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_delete(void *impl, const char *a0, int64_t a1, const struct mw_audit *a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_transition(void *impl, const char *a0, int64_t a1, const char *a2, bool a3, const struct mw_audit *a4, json_t **a5, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	(void)a5;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_search(void *impl, const struct mw_filter *a0, const struct mw_order *a1, size_t a2, const struct mw_page *a3, json_t **a4, bool *a5, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	(void)a5;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_set_tag(void *impl, const char *a0, int64_t a1, const char *a2, const char *a3, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_delete_tag(void *impl, const char *a0, int64_t a1, const char *a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_set_card(void *impl, const char *a0, int64_t a1, const char *a2, const char *a3, int64_t a4, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	(void)a3;
	(void)a4;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}

int sqr_mv_get_card(void *impl, const char *a0, int64_t a1, json_t **a2, struct mw_err *err)
{
	(void)impl;
	(void)a0;
	(void)a1;
	(void)a2;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the model registry is not implemented yet");
}
