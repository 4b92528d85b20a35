/*
 * registry_endpoints.h - private to api/: the model registry's rows of the
 * MLflow endpoint table in mlflow.c ({auth, method, path, NULL, registry op,
 * captures, need}; auth R reads, W changes; need: the resource and
 * permission, the macros in mlflow.c).
 *
 * Methods are MLflow's own: update is PATCH, delete and delete-tag are DELETE
 * with a JSON body, searches are GET, get-latest-versions is sent as POST
 * first and GET second by the client, and registered-models/alias is one path
 * with three methods (POST set, DELETE delete, GET get-by-alias).  The
 * legacy registered-models/list of MLflow 1.x clients is kept.
 */
#ifndef MW_API_REGISTRY_ENDPOINTS_H
#define MW_API_REGISTRY_ENDPOINTS_H

/* clang-format off */
#define REGISTRY_ENDPOINTS                                                                            \
	{W, "POST", "registered-models/create", NULL, mw_registry_rm_create, {0}, NEW_RM},            \
	{R, "GET", "registered-models/get", NULL, mw_registry_rm_get, {0}, RM_R},                     \
	{W, "POST", "registered-models/rename", NULL, mw_registry_rm_rename, {0}, RM_W},              \
	{W, "PATCH", "registered-models/update", NULL, mw_registry_rm_update, {0}, RM_W},             \
	{W, "DELETE", "registered-models/delete", NULL, mw_registry_rm_delete, {0}, RM_M},            \
	{R, "GET", "registered-models/search", NULL, mw_registry_rm_search, {0}, RM_LIST},            \
	{R, "GET", "registered-models/list", NULL, mw_registry_rm_list, {0}, RM_LIST},                \
	{R, "POST", "registered-models/get-latest-versions", NULL, mw_registry_rm_latest_versions,    \
	 {0}, RM_R},                                                                                  \
	{R, "GET", "registered-models/get-latest-versions", NULL, mw_registry_rm_latest_versions,     \
	 {0}, RM_R},                                                                                  \
	{W, "POST", "registered-models/set-tag", NULL, mw_registry_rm_set_tag, {0}, RM_W},            \
	{W, "DELETE", "registered-models/delete-tag", NULL, mw_registry_rm_delete_tag, {0}, RM_W},    \
	{W, "POST", "registered-models/alias", NULL, mw_registry_rm_set_alias, {0}, RM_W},            \
	{W, "DELETE", "registered-models/alias", NULL, mw_registry_rm_delete_alias, {0}, RM_W},       \
	{R, "GET", "registered-models/alias", NULL, mw_registry_rm_get_by_alias, {0}, RM_R},          \
	{W, "POST", "model-versions/create", NULL, mw_registry_mv_create, {0}, RM_W},                 \
	{R, "GET", "model-versions/get", NULL, mw_registry_mv_get, {0}, RM_R},                        \
	{W, "PATCH", "model-versions/update", NULL, mw_registry_mv_update, {0}, RM_W},                \
	{W, "DELETE", "model-versions/delete", NULL, mw_registry_mv_delete, {0}, RM_M},               \
	{W, "POST", "model-versions/transition-stage", NULL, mw_registry_mv_transition, {0}, RM_W},   \
	{R, "GET", "model-versions/search", NULL, mw_registry_mv_search, {0}, MV_LIST},               \
	{R, "GET", "model-versions/get-download-uri", NULL, mw_registry_mv_download_uri, {0}, RM_R},  \
	{W, "POST", "model-versions/set-tag", NULL, mw_registry_mv_set_tag, {0}, RM_W},               \
	{W, "DELETE", "model-versions/delete-tag", NULL, mw_registry_mv_delete_tag, {0}, RM_W},

/* clang-format on */

#endif
