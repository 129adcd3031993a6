#include "route_util.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

void api_reply_object(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx,
                      unsigned ok_status, api_message_json map)
{
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
    } else {
        res->status = ok_status;
        res->body = map(ctx->reply);
    }
    rpc_ctx_release(ctx);
}

/* The field `name` of msg's type when it has that label and type, else NULL. */
static const ProtobufCFieldDescriptor *route_field(const ProtobufCMessage *msg, const char *name,
                                                   ProtobufCLabel label, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    return f != NULL && f->label == label && f->type == type ? f : NULL;
}

void api_reply_list(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx,
                    int page, int limit, api_message_json map)
{
    const ProtobufCFieldDescriptor *data_field, *total_field;
    const char *base = (const char *)ctx->reply;

    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
        rpc_ctx_release(ctx);
        return;
    }
    data_field = route_field(ctx->reply, "data", PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE);
    total_field = route_field(ctx->reply, "total", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT64);
    if (data_field == NULL || total_field == NULL) {
        api_rpc_error(req, res, OD__STATUS__INTERNAL, "list reply without data and total");
        rpc_ctx_release(ctx);
        return;
    }
    /* where protobuf-c keeps a repeated message field: the count at quantifier_offset, the
     * array of message pointers at offset */
    size_t n = *(const size_t *)(base + data_field->quantifier_offset);
    ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + data_field->offset);
    int64_t total = *(const int64_t *)(base + total_field->offset);
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, map(items[i]));
    api_list_reply(res, data, total, page, limit);
    rpc_ctx_release(ctx);
}

int api_list_request(struct api_request *req, struct api_response *res, int32_t *page,
                     int32_t *limit, char **search)
{
    int p, l;
    const char *s;

    if (api_list_params(req, res, &p, &l, &s) != 0)
        return -1;
    *page = p;
    *limit = l;
    *search = (char *)(s != NULL ? s : "");
    return 0;
}

int api_media_type_is(const char *content_type, const char *want)
{
    size_t len = strlen(want);
    while (*content_type == ' ')
        content_type++;
    if (strncasecmp(content_type, want, len) != 0)
        return 0;
    content_type += len;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    return *content_type == '\0' || *content_type == ';';
}
