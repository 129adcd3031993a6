/* Shapes every route file repeats, written once: answer with the one message a call returned,
 * answer with a paged list, read a list request's parameters, and compare a media type.
 *
 * Memory: each answer releases the call's ctx; the JSON it builds is owned by the response. */
#ifndef OD_GATEWAY_ROUTE_UTIL_H
#define OD_GATEWAY_ROUTE_UTIL_H

#include <jansson.h>
#include <stdint.h>

#include "gateway.h"
#include "rpc.h"

/* A reply message (or one item of a list) as a new JSON value; the route's mapping function
 * behind a file-local adapter, so that the message type is checked where it is named. */
typedef json_t *(*api_message_json)(const void *message);

/* Answers ok_status with map(ctx->reply), or the call's error (api_rpc_error). Releases ctx. */
void api_reply_object(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx,
                      unsigned ok_status, api_message_json map);

/* Answers a list call {"data": [map(item), ...], "total", "page", "limit"} from the reply's
 * `repeated ... data` and `int64 total` fields (every List*Reply has them), or the call's
 * error. Releases ctx. */
void api_reply_list(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx,
                    int page, int limit, api_message_json map);

/* The list parameters (api_list_params) written into a list request: page, limit, and search
 * ("" when absent; it points into the query string). -1 after answering 400. */
int api_list_request(struct api_request *req, struct api_response *res, int32_t *page,
                     int32_t *limit, char **search);

/* 1 when content_type (a Content-Type header) names the media type `want`, parameters aside,
 * compared case-insensitively; 0 otherwise. */
int api_media_type_is(const char *content_type, const char *want);

#endif
