/*
 * mod_modelhost: no file-system walk for requests the WSGI application answers.
 *
 * Apache maps every request to a file before handling it (the "directory walk"): it stats
 * DocumentRoot + the URL path and then each parent directory to find where the file ends and
 * PATH_INFO begins, and mod_wsgi repeats that for PATH_TRANSLATED. modelhost serves no files
 * from the DocumentRoot, so those stat calls (a dozen per request) are pure cost; on container
 * storage drivers such as fuse-overlayfs each one is a round trip to a user-space daemon.
 *
 * This module answers the map-to-storage phase for every request except the two that Apache
 * serves from disk itself: its error documents (/.modelhost-errors/) and /server-status.
 * <Location> sections, <If> sections and server-wide settings apply as before; no <Directory>
 * or .htaccess configuration is consulted for the application's paths (modelhost has none).
 * PATH_INFO stays empty and mod_wsgi-express's handler passes the whole path to the app.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

static int modelhost_map_to_storage(request_rec *r)
{
    static const char errors[] = "/.modelhost-errors/";

    if (r->uri == NULL || strncmp(r->uri, errors, sizeof(errors) - 1) == 0
            || strcmp(r->uri, "/server-status") == 0) {
        return DECLINED; /* the core's walk: these are files or Apache's own handler */
    }
    return OK;
}

static void modelhost_register_hooks(apr_pool_t *pool)
{
    (void)pool;
    ap_hook_map_to_storage(modelhost_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(modelhost) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    modelhost_register_hooks
};
