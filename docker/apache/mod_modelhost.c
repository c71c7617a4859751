/*
 * mod_modelhost: every request is the WSGI application's, except Apache's own error documents.
 *
 * Apache maps every request to a file before handling it: the core turns the URL into a file
 * name below the DocumentRoot (translate-name), then stats that name and each parent directory
 * to find where the file ends and PATH_INFO begins (map-to-storage, the "directory walk"), and
 * mod_wsgi repeats that for PATH_TRANSLATED. modelhost serves no files from the DocumentRoot,
 * so that work is pure cost (on container storage drivers such as fuse-overlayfs each stat is a
 * round trip to a user-space daemon), and it answers requests the application should answer:
 *   - a URL path longer than the file system's PATH_MAX (4096 bytes) cannot become a file
 *     name, and the core refuses it with a 403, where the application answers 404;
 *   - the core answers TRACE itself in map-to-storage (TraceEnable Off: a 405 without the
 *     Allow header), where the application answers its 405 with Allow and never echoes.
 * This module answers both phases for every request except the error documents Apache serves
 * from /.modelhost-errors/ through ErrorDocument (an internal redirect with REDIRECT_STATUS
 * set), and leaves the core to translate what is not a path (OPTIONS *). A client asking for /.modelhost-errors/ itself reaches the application like any other
 * path. /server-status is still Apache's handler (<Location> sections, <If> sections and
 * server-wide settings apply as before); no <Directory> or .htaccess configuration is consulted
 * for the application's paths (modelhost has none). PATH_INFO stays empty and
 * mod_wsgi-express's handler passes the whole path to the application.
 *
 * An ErrorDocument redirect also drops the Allow header Apache would send with its own 405
 * (RFC 9110 requires one): the fixup below puts it on the error document, from the methods
 * the refused request's handler declared.
 */
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

static const char error_documents[] = "/.modelhost-errors/";

/* An ErrorDocument that Apache serves from disk: the internal redirect to /.modelhost-errors/. */
static int is_error_document(const request_rec *r)
{
    return r->prev != NULL && r->uri != NULL
        && strncmp(r->uri, error_documents, sizeof(error_documents) - 1) == 0
        && apr_table_get(r->subprocess_env, "REDIRECT_STATUS") != NULL;
}

static int modelhost_translate_name(request_rec *r)
{
    /* The core translates what is not a plain path (OPTIONS *, a proxy request) as usual. */
    if (r->proxyreq != PROXYREQ_NONE || r->uri == NULL || r->uri[0] != '/' || is_error_document(r)) {
        return DECLINED;
    }
    /* The application's paths are not files: all of them name the (empty) DocumentRoot. */
    r->filename = apr_pstrdup(r->pool, ap_document_root(r));
    r->canonical_filename = r->filename;
    return OK;
}

static int modelhost_map_to_storage(request_rec *r)
{
    return is_error_document(r) ? DECLINED : OK;
}

/* The Allow header of an Apache-made 405, which the ErrorDocument redirect does not carry. */
static int modelhost_fixups(request_rec *r)
{
    const request_rec *refused = r->prev;
    apr_int64_t mask;
    const char *allow = NULL;
    int method;

    if (!is_error_document(r) || refused->status != HTTP_METHOD_NOT_ALLOWED) {
        return DECLINED;
    }
    mask = refused->allowed | (refused->allowed_methods ? refused->allowed_methods->method_mask : 0);
    for (method = 0; method < M_INVALID; method++) {
        const char *name;

        if (!(mask & (AP_METHOD_BIT << method))) {
            continue;
        }
        /* HEAD shares GET's method number; naming it by number could give either. */
        name = method == M_GET ? "GET, HEAD" : ap_method_name_of(r->pool, method);
        if (name != NULL) {
            allow = allow ? apr_pstrcat(r->pool, allow, ", ", name, NULL) : name;
        }
    }
    /* An empty Allow says the resource allows no method (RFC 9110, section 10.2.1). */
    apr_table_setn(r->headers_out, "Allow", allow ? allow : "");
    return DECLINED;
}

static void modelhost_register_hooks(apr_pool_t *pool)
{
    (void)pool;
    ap_hook_translate_name(modelhost_translate_name, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(modelhost_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_fixups(modelhost_fixups, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(modelhost) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    modelhost_register_hooks
};
