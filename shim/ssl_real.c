/* ssl_real.c - finding the server's libssl (see ssl_real.h).
 *
 * Three places are tried, in order, at the first interposed call:
 * 1. dlsym(RTLD_NEXT): a server linked with libssl, or one that loaded it
 *    into the global scope (Apache loads mod_ssl with RTLD_GLOBAL);
 * 2. dlopen("libssl.so.3", RTLD_NOLOAD): an interpreter that loaded it from
 *    an extension with RTLD_LOCAL (python's _ssl, ruby's openssl.so) still
 *    calls the preloaded SSL_*, but RTLD_NEXT cannot see that libssl;
 * 3. the object that made the call, opened again with RTLD_NOLOAD: dlsym on
 *    its handle searches its own dependencies, so a private libssl of
 *    another soname (libssl.so.1.1) is found, and then stood aside from.
 * Resolution runs once per process, under a lock, after the constructor:
 * dlsym and dlopen may allocate, which is safe by then. */
#include "ssl_real.h"

#include "log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct nm_ssl_fns nm_ssl;

#define LIB_UNRESOLVED (-1)
static _Atomic int lib_state = LIB_UNRESOLVED;
static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool is_missing_logged;

/* Our own hook, which a search from the main program's scope finds: the
 * global scope's SSL_read, asked for when resolving (taking &SSL_read
 * was a symbol lookup at every load of the shim). */
static void *own_hook;

static void *find(void *handle, const char *name)
{
    void *p = dlsym(handle, name);
    return p == own_hook ? NULL : p;
}

/* Fills nm_ssl from handle; true when SSL_read was found there. */
static bool fill_from(void *handle)
{
    void *read = find(handle, "SSL_read");
    if (read == NULL)
        return false;
#define GET(field, name)                                                       \
    nm_ssl.field = (__typeof__(nm_ssl.field))find(handle, name)
    GET(read, "SSL_read");
    GET(read_ex, "SSL_read_ex");
    GET(peek, "SSL_peek");
    GET(peek_ex, "SSL_peek_ex");
    GET(write, "SSL_write");
    GET(write_ex, "SSL_write_ex");
    GET(sendfile, "SSL_sendfile");
    GET(new_, "SSL_new");
    GET(free, "SSL_free");
    GET(set_fd, "SSL_set_fd");
    GET(set_bio, "SSL_set_bio");
    GET(shutdown, "SSL_shutdown");
    GET(clear, "SSL_clear");
    GET(read_early_data, "SSL_read_early_data");
    GET(get0_alpn_selected, "SSL_get0_alpn_selected");
    GET(is_server, "SSL_is_server");
    GET(get_rfd, "SSL_get_rfd");
    GET(get_wfd, "SSL_get_wfd");
    GET(get_error, "SSL_get_error");
    GET(pending, "SSL_pending");
    GET(ctrl, "SSL_ctrl");
    GET(version_num, "OpenSSL_version_num");
    GET(err_set_mark, "ERR_set_mark");
    GET(err_pop_to_mark, "ERR_pop_to_mark");
#undef GET
    return true;
}

/* Everything the shim calls on a connection it follows. */
static bool has_all(void)
{
    return nm_ssl.read && nm_ssl.read_ex && nm_ssl.peek && nm_ssl.peek_ex &&
           nm_ssl.write && nm_ssl.write_ex && nm_ssl.new_ && nm_ssl.free &&
           nm_ssl.set_fd && nm_ssl.set_bio && nm_ssl.shutdown && nm_ssl.clear &&
           nm_ssl.get0_alpn_selected && nm_ssl.is_server && nm_ssl.get_rfd &&
           nm_ssl.get_wfd && nm_ssl.get_error && nm_ssl.pending &&
           nm_ssl.ctrl && nm_ssl.version_num && nm_ssl.err_set_mark &&
           nm_ssl.err_pop_to_mark;
}

static bool fill_from_caller(const void *caller)
{
    Dl_info info;
    if (caller == NULL || dladdr(caller, &info) == 0 || info.dli_fname == NULL)
        return false;
    /* "" names the main program; its handle searches the global scope,
     * which RTLD_NEXT already did. */
    if (info.dli_fname[0] == '\0')
        return false;
    void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (h == NULL)
        return false;
    bool ok = fill_from(h);
    dlclose(h); /* NOLOAD took a reference: give it back */
    return ok;
}

/* how: where libssl was found, for the log. */
static enum nm_ssl_lib classify(const char *how)
{
    if (!has_all()) {
        nm_log(NM_LOG_WARN, "libssl lacks functions OpenSSL 3 has: TLS "
                            "connections pass through untouched");
        return NM_SSL_FOREIGN;
    }
    unsigned long v = nm_ssl.version_num();
    if ((v >> 28) != 3) {
        nm_log(NM_LOG_WARN,
               "libssl is not OpenSSL 3 (version number 0x%lx): TLS "
               "connections pass through untouched",
               v);
        return NM_SSL_FOREIGN;
    }
    nm_log(NM_LOG_INFO, "OpenSSL 0x%lx found (%s): following HTTP inside TLS",
           v, how);
    return NM_SSL_OPENSSL_3;
}

static enum nm_ssl_lib resolve_locked(const void *caller)
{
    own_hook = dlsym(RTLD_DEFAULT, "SSL_read");
    if (fill_from(RTLD_NEXT))
        return classify("global scope");
    void *h = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
    if (h != NULL) {
        bool ok = fill_from(h);
        /* The reference NOLOAD took is kept: libssl is NODELETE anyway,
         * and the pointers must outlive any dlclose by the server. */
        if (ok)
            return classify("libssl.so.3, loaded locally");
        dlclose(h);
    }
    if (fill_from_caller(caller))
        return classify("through the calling object");
    return NM_SSL_MISSING;
}

enum nm_ssl_lib nm_ssl_resolve(const void *caller)
{
    int s = atomic_load_explicit(&lib_state, memory_order_acquire);
    if (s != LIB_UNRESOLVED)
        return (enum nm_ssl_lib)s;
    pthread_mutex_lock(&resolve_lock);
    s = atomic_load_explicit(&lib_state, memory_order_relaxed);
    if (s == LIB_UNRESOLVED) {
        s = (int)resolve_locked(caller);
        if (s != NM_SSL_MISSING)
            atomic_store_explicit(&lib_state, s, memory_order_release);
    }
    pthread_mutex_unlock(&resolve_lock);
    /* Not cached: a later caller may be an object whose libssl is found. */
    if (s == NM_SSL_MISSING && !atomic_exchange(&is_missing_logged, true))
        nm_log(NM_LOG_ERROR, "an SSL_* function was called but no libssl "
                             "could be found behind it: such calls fail");
    return (enum nm_ssl_lib)s;
}

void nm_ssl_after_fork_child(void)
{
    pthread_mutex_init(&resolve_lock, NULL);
}
