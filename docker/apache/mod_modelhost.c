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
 * set), and leaves the core to translate what is not a path (OPTIONS *). A client asking for
 * /.modelhost-errors/ itself reaches the application like any other path. /server-status is
 * still Apache's handler (<Location> sections, <If> sections and server-wide settings apply as
 * before); no <Directory> or .htaccess configuration is consulted for the application's paths
 * (modelhost has none).
 *
 * It does so only in the server or virtual host whose configuration says where the paths go,
 * so loading it into an Apache that serves other sites as well changes nothing for them:
 *   ModelhostRoute DocumentRoot         every path names the (empty) DocumentRoot; a SetHandler
 *                                       hands it to a handler script. PATH_INFO stays empty and
 *                                       mod_wsgi-express's handler passes the whole path on
 *                                       (the container, modelhost.conf).
 *   ModelhostRoute WSGIScript <file>    every path is the WSGI script <file>, with the whole
 *                                       path as PATH_INFO: what `WSGIScriptAlias / <file>` maps,
 *                                       with one stat of the script instead of the walk (a
 *                                       system Apache, system-apache.conf.example).
 *   ModelhostRoute Off                  the default: the module leaves the server alone.
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

module AP_MODULE_DECLARE_DATA modelhost_module;

static const char error_documents[] = "/.modelhost-errors/";

/* Where a server's paths go (ModelhostRoute). */
enum route { ROUTE_UNSET, ROUTE_OFF, ROUTE_DOCUMENT_ROOT, ROUTE_WSGI_SCRIPT };

typedef struct {
    enum route route;
    const char *script;   /* ROUTE_WSGI_SCRIPT: the WSGI script file */
} modelhost_config;

static void *modelhost_create_server_config(apr_pool_t *pool, server_rec *s)
{
    (void)s;
    return apr_pcalloc(pool, sizeof(modelhost_config));
}

/* A virtual host without ModelhostRoute routes as the main server does. */
static void *modelhost_merge_server_config(apr_pool_t *pool, void *base, void *add)
{
    (void)pool;
    return ((modelhost_config *)add)->route == ROUTE_UNSET ? base : add;
}

static const char *modelhost_set_route(cmd_parms *cmd, void *dummy, const char *where, const char *script)
{
    modelhost_config *config = ap_get_module_config(cmd->server->module_config, &modelhost_module);

    (void)dummy;
    if (!strcasecmp(where, "DocumentRoot") && script == NULL) {
        config->route = ROUTE_DOCUMENT_ROOT;
    }
    else if (!strcasecmp(where, "WSGIScript") && script != NULL) {
        config->route = ROUTE_WSGI_SCRIPT;
        config->script = ap_server_root_relative(cmd->pool, script);
        if (config->script == NULL) {
            return apr_pstrcat(cmd->pool, "ModelhostRoute: invalid path ", script, NULL);
        }
    }
    else if (!strcasecmp(where, "Off") && script == NULL) {
        config->route = ROUTE_OFF;
    }
    else {
        return "ModelhostRoute takes DocumentRoot, WSGIScript /path/to/script.wsgi, or Off";
    }
    return NULL;
}

static enum route route_of(const request_rec *r)
{
    const modelhost_config *config = ap_get_module_config(r->server->module_config, &modelhost_module);

    return config->route;
}

/* An ErrorDocument that Apache serves from disk: the internal redirect to /.modelhost-errors/. */
static int is_error_document(const request_rec *r)
{
    return r->prev != NULL && r->uri != NULL
        && strncmp(r->uri, error_documents, sizeof(error_documents) - 1) == 0
        && apr_table_get(r->subprocess_env, "REDIRECT_STATUS") != NULL;
}

static int modelhost_translate_name(request_rec *r)
{
    const modelhost_config *config = ap_get_module_config(r->server->module_config, &modelhost_module);

    if (config->route != ROUTE_DOCUMENT_ROOT && config->route != ROUTE_WSGI_SCRIPT) {
        return DECLINED;
    }
    /* The core translates what is not a plain path (OPTIONS *, a proxy request) as usual. */
    if (r->proxyreq != PROXYREQ_NONE || r->uri == NULL || r->uri[0] != '/' || is_error_document(r)) {
        return DECLINED;
    }
    if (config->route == ROUTE_DOCUMENT_ROOT) {
        /* The application's paths are not files: all of them name the (empty) DocumentRoot. */
        r->filename = apr_pstrdup(r->pool, ap_document_root(r));
        r->canonical_filename = r->filename;
        return OK;
    }
    /* As mod_wsgi maps `WSGIScriptAlias / <script>`: the script runs with SCRIPT_NAME empty and
     * the whole path as PATH_INFO, by the handler the alias names. The note is how an alias
     * says so (mod_alias's ScriptAlias sets it too); mod_wsgi reads it as "script aliased", so
     * no Options ExecCGI is needed. The daemon process group comes from WSGIProcessGroup. */
    r->filename = apr_pstrdup(r->pool, config->script);
    r->canonical_filename = r->filename;
    r->path_info = apr_pstrdup(r->pool, r->uri);
    r->handler = "wsgi-script";
    apr_table_setn(r->notes, "alias-forced-type", r->handler);
    return OK;
}

static int modelhost_map_to_storage(request_rec *r)
{
    const modelhost_config *config = ap_get_module_config(r->server->module_config, &modelhost_module);

    if (config->route != ROUTE_DOCUMENT_ROOT && config->route != ROUTE_WSGI_SCRIPT) {
        return DECLINED;
    }
    if (is_error_document(r)) {
        return DECLINED;
    }
    /* mod_wsgi runs a WSGI script only when the request names a file it can find: one stat of
     * the script, where the directory walk would stat every folder above it too. Missing, the
     * file type stays unknown and mod_wsgi answers 404 and logs why. */
    if (config->route == ROUTE_WSGI_SCRIPT && r->filename != NULL && !strcmp(r->filename, config->script)) {
        if (apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool) != APR_SUCCESS) {
            r->finfo.filetype = APR_NOFILE;
        }
    }
    return OK;
}

/* The Allow header of an Apache-made 405, which the ErrorDocument redirect does not carry. */
static int modelhost_fixups(request_rec *r)
{
    const request_rec *refused = r->prev;
    apr_int64_t mask;
    const char *allow = NULL;
    int method;

    if (route_of(r) == ROUTE_UNSET || route_of(r) == ROUTE_OFF || !is_error_document(r)
        || refused->status != HTTP_METHOD_NOT_ALLOWED) {
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

static const command_rec modelhost_commands[] = {
    AP_INIT_TAKE12("ModelhostRoute", modelhost_set_route, NULL, RSRC_CONF,
                   "Where this server's paths go: DocumentRoot, WSGIScript /path/to/script.wsgi, or Off"),
    {NULL}
};

AP_DECLARE_MODULE(modelhost) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL,
    modelhost_create_server_config, modelhost_merge_server_config,
    modelhost_commands,
    modelhost_register_hooks
};
