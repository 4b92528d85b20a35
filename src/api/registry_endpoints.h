/*
 * registry_endpoints.h - private to api/: the model registry's rows of the
 * MLflow endpoint table in mlflow.c ({method, path, NULL, registry op, captures}).
 */
#ifndef MW_API_REGISTRY_ENDPOINTS_H
#define MW_API_REGISTRY_ENDPOINTS_H

#define REGISTRY_ENDPOINTS /* none yet */

#endif
