/*
 * shape.c - MLflow's protobuf-JSON shape of the tracking records
 * (store/tracking.h): Experiment, Run (RunInfo, RunData, RunInputs,
 * RunOutputs), Metric and LoggedModel.
 *
 * The shapes follow MLflow's field presence rules, which the API tests
 * check byte for byte: ids are strings, absent optional strings and empty
 * arrays are omitted, a metric value is a number or "NaN" / "Infinity" /
 * "-Infinity", and fields come in the order MLflow's server writes them.
 * Every function returns a new reference.
 */
#include "track/track.h"

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

/* o[k] = arr, or nothing when arr is empty (MLflow omits empty repeated fields). */
static void set_arr(json_t *o, const char *k, json_t *arr)
{
	if (json_array_size(arr))
		json_object_set_new(o, k, arr);
	else
		json_decref(arr);
}

json_t *mw_track_kv_json(const struct mw_kv *kv, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		set_str(o, "key", kv[i].key);
		json_object_set_new(o, "value", json_string(kv[i].value ? kv[i].value : ""));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *mw_track_metric_json(const struct mw_metric *m)
{
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(m->key));
	json_object_set_new(o, "value", mw_json_double(m->value));
	json_object_set_new(o, "timestamp", json_integer(m->timestamp));
	json_object_set_new(o, "step", json_integer(m->step));
	set_str(o, "run_id", m->run_id);
	set_str(o, "dataset_name", m->dataset_name);
	set_str(o, "dataset_digest", m->dataset_digest);
	set_str(o, "model_id", m->model_id);
	return o;
}

json_t *mw_track_metrics_json(const struct mw_metric *m, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, mw_track_metric_json(&m[i]));
	return arr;
}

json_t *mw_track_experiment_json(const struct mw_experiment *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "experiment_id", json_string(e->experiment_id));
	set_str(o, "name", e->name);
	set_str(o, "artifact_location", e->artifact_location);
	set_str(o, "lifecycle_stage", e->lifecycle_stage);
	json_object_set_new(o, "creation_time", json_integer(e->creation_time));
	json_object_set_new(o, "last_update_time", json_integer(e->last_update_time));
	set_arr(o, "tags", mw_track_kv_json(e->tags, e->ntags));
	return o;
}

json_t *mw_track_run_info_json(const struct mw_run_info *i)
{
	json_t *o = json_object();
	set_str(o, "run_id", i->run_id);
	set_str(o, "run_uuid", i->run_id);
	set_str(o, "run_name", i->run_name);
	set_str(o, "experiment_id", i->experiment_id);
	set_str(o, "user_id", i->user_id);
	set_str(o, "status", i->status);
	if (i->has_start_time)
		json_object_set_new(o, "start_time", json_integer(i->start_time));
	if (i->has_end_time)
		json_object_set_new(o, "end_time", json_integer(i->end_time));
	set_str(o, "artifact_uri", i->artifact_uri);
	set_str(o, "lifecycle_stage", i->lifecycle_stage);
	return o;
}

json_t *mw_track_dataset_inputs_json(const struct mw_dataset_input *d, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *di = json_object();
		set_arr(di, "tags", mw_track_kv_json(d[i].tags, d[i].ntags));
		json_t *ds = json_object();
		set_str(ds, "name", d[i].name);
		set_str(ds, "digest", d[i].digest);
		set_str(ds, "source_type", d[i].source_type);
		set_str(ds, "source", d[i].source);
		set_str(ds, "schema", d[i].schema);
		set_str(ds, "profile", d[i].profile);
		json_object_set_new(di, "dataset", ds);
		json_array_append_new(arr, di);
	}
	return arr;
}

json_t *mw_track_run_json(const struct mw_run *r)
{
	json_t *run = json_object();
	json_object_set_new(run, "info", mw_track_run_info_json(&r->info));
	json_t *data = json_object();
	set_arr(data, "metrics", mw_track_metrics_json(r->metrics, r->nmetrics));
	set_arr(data, "params", mw_track_kv_json(r->params, r->nparams));
	set_arr(data, "tags", mw_track_kv_json(r->tags, r->ntags));
	json_object_set_new(run, "data", data);

	json_t *inputs = json_object();
	set_arr(inputs, "dataset_inputs", mw_track_dataset_inputs_json(r->datasets, r->ndatasets));
	json_t *mins = json_array();
	for (size_t i = 0; i < r->nmodel_inputs; i++) {
		json_t *mi = json_object();
		set_str(mi, "model_id", r->model_inputs[i].model_id);
		json_array_append_new(mins, mi);
	}
	set_arr(inputs, "model_inputs", mins);
	json_object_set_new(run, "inputs", inputs);

	json_t *outputs = json_object();
	json_t *mouts = json_array();
	for (size_t i = 0; i < r->nmodel_outputs; i++) {
		json_t *mo = json_object();
		set_str(mo, "model_id", r->model_outputs[i].model_id);
		json_object_set_new(mo, "step", json_integer(r->model_outputs[i].step));
		json_array_append_new(mouts, mo);
	}
	set_arr(outputs, "model_outputs", mouts);
	json_object_set_new(run, "outputs", outputs);
	return run;
}

json_t *mw_track_logged_model_json(const struct mw_logged_model *m)
{
	json_t *info = json_object();
	set_str(info, "model_id", m->model_id);
	json_object_set_new(info, "experiment_id", json_string(m->experiment_id));
	set_str(info, "name", m->name);
	set_str(info, "artifact_uri", m->artifact_uri);
	json_object_set_new(info, "creation_timestamp_ms", json_integer(m->creation_timestamp_ms));
	json_object_set_new(info, "last_updated_timestamp_ms",
			    json_integer(m->last_updated_timestamp_ms));
	set_str(info, "status", m->status);
	set_str(info, "model_type", m->model_type);
	set_str(info, "source_run_id", m->source_run_id);
	set_str(info, "status_message", m->status_message);
	set_arr(info, "tags", mw_track_kv_json(m->tags, m->ntags));
	json_t *data = json_object();
	set_arr(data, "params", mw_track_kv_json(m->params, m->nparams));
	set_arr(data, "metrics", mw_track_metrics_json(m->metrics, m->nmetrics));
	json_t *o = json_object();
	json_object_set_new(o, "info", info);
	json_object_set_new(o, "data", data);
	return o;
}
