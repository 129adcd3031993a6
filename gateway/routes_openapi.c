/* GET /v1/openapi.json: the API's OpenAPI 3.1 document (docs/openapi.json), compiled into the
 * gateway at build time (cmake/EmbedFileHelpers.cmake). A public route: no API key, limited
 * per address like every caller without one. tests/unit/test_openapi_coverage.c checks that
 * the document and the route tables describe the same routes. */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static void openapi_get(struct api_request *req, struct api_response *res)
{
    (void)req;
    /* the response owns its text (malloc'd): a copy of the constant */
    res->text = malloc(openapi_json_len);
    if (res->text == NULL) {
        api_error(res, 500, "out of memory", NULL);
        return;
    }
    memcpy(res->text, openapi_json, openapi_json_len);
    res->text_len = openapi_json_len;
    res->content_type = "application/json";
    res->status = 200;
}

const struct route openapi_routes[] = {
    {"GET", "/v1/openapi.json", openapi_get, NULL},
    {NULL, NULL, NULL, NULL},
};
