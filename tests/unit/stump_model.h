/*
 * stump_model.h - a one-tree XGBoost JSON model for unit tests that serve a
 * model (test_serve.c, test_app.c): a stump on feature 0 of 2 features,
 * reg:squarederror with base score 0.5, so the prediction is 0.5 + lo for
 * x0 < 0 and 0.5 + hi otherwise, and an answer tells which model computed it.
 */
#ifndef MW_TEST_STUMP_MODEL_H
#define MW_TEST_STUMP_MODEL_H

#include <stdio.h>

/* Write <dir>/model.json; returns 0, or -1 when the file cannot be written. */
static int write_stump_model(const char *dir, double lo, double hi)
{
	char path[1024];
	snprintf(path, sizeof path, "%.1000s/model.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"learner\":{\"attributes\":{},\"feature_names\":[],\"feature_types\":[],"
		"\"gradient_booster\":{\"name\":\"gbtree\",\"model\":{\"gbtree_model_param\":"
		"{\"num_parallel_tree\":\"1\",\"num_trees\":\"1\",\"size_leaf_vector\":\"0\"},"
		"\"tree_info\":[0],\"trees\":[{\"base_weights\":[0,0,0],\"categories\":[],"
		"\"categories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],"
		"\"default_left\":[1,0,0],\"id\":0,\"left_children\":[1,-1,-1],"
		"\"loss_changes\":[0,0,0],\"parents\":[0,0,0],\"right_children\":[2,-1,-1],"
		"\"split_conditions\":[0.0,%g,%g],\"split_indices\":[0,0,0],\"split_type\":[0,0,0],"
		"\"sum_hessian\":[0,0,0],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":"
		"\"2\",\"num_nodes\":\"3\",\"size_leaf_vector\":\"0\"}}]}},"
		"\"learner_model_param\":{\"base_score\":\"0.5\",\"boost_from_average\":\"1\","
		"\"num_class\":\"0\",\"num_feature\":\"2\",\"num_target\":\"1\"},"
		"\"objective\":{\"name\":\"reg:squarederror\"}},\"version\":[1,7,4]}\n",
		lo, hi);
	return fclose(f) ? -1 : 0;
}

#endif
