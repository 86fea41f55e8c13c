/* ssl_real.h - the server's own libssl, reached through function pointers
 * found at the first interposed SSL_* call (libssl is often loaded after
 * the shim's constructor, by Apache's mod_ssl, or privately, by python's
 * _ssl with RTLD_LOCAL). The shim never links libssl: a process without
 * it loads nothing more. Used by hooks_ssl.c and transport_tls.c. */
#ifndef NM_SHIM_SSL_REAL_H
#define NM_SHIM_SSL_REAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* OpenSSL's types, opaque to the shim (no OpenSSL header is needed). */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;

/* OpenSSL 3 ABI constants the shim uses (openssl/ssl.h, stable in 3.x;
 * tests/unit/test_ssl_abi.c checks them against the installed header). */
#define NM_SSL_ERROR_WANT_READ 2
#define NM_SSL_ERROR_WANT_WRITE 3
#define NM_SSL_MODE_ENABLE_PARTIAL_WRITE 0x1L
#define NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER 0x2L
#define NM_SSL_CTRL_MODE 33
#define NM_SSL_CTRL_CLEAR_MODE 78
#define NM_SSL_READ_EARLY_DATA_SUCCESS 1

struct nm_ssl_fns {
    /* interposed by hooks_ssl.c */
    int (*read)(SSL *, void *, int);
    int (*read_ex)(SSL *, void *, size_t, size_t *);
    int (*peek)(SSL *, void *, int);
    int (*peek_ex)(SSL *, void *, size_t, size_t *);
    int (*write)(SSL *, const void *, int);
    int (*write_ex)(SSL *, const void *, size_t, size_t *);
    ssize_t (*sendfile)(SSL *, int, off_t, size_t, int);
    SSL *(*new_)(SSL_CTX *);
    void (*free)(SSL *);
    int (*set_fd)(SSL *, int);
    void (*set_bio)(SSL *, BIO *, BIO *);
    int (*shutdown)(SSL *);
    int (*clear)(SSL *);
    int (*read_early_data)(SSL *, void *, size_t, size_t *);
    /* called by the shim only */
    void (*get0_alpn_selected)(const SSL *, const unsigned char **,
                               unsigned int *);
    int (*is_server)(const SSL *);
    int (*get_rfd)(const SSL *);
    int (*get_wfd)(const SSL *);
    int (*get_error)(const SSL *, int);
    int (*pending)(const SSL *);
    long (*ctrl)(SSL *, int, long, void *);
    unsigned long (*version_num)(void); /* OpenSSL_version_num, libcrypto */
    int (*err_set_mark)(void);
    int (*err_pop_to_mark)(void);
};

/* Valid once nm_ssl_resolve returned anything but NM_SSL_MISSING. */
extern struct nm_ssl_fns nm_ssl;

enum nm_ssl_lib {
    NM_SSL_MISSING,   /* no libssl found behind the hooks: calls fail */
    NM_SSL_FOREIGN,   /* found, but not OpenSSL 3: pass everything through */
    NM_SSL_OPENSSL_3, /* OpenSSL 3 with every function the shim needs */
};

/* Finds the real functions on the first call (later calls cost one
 * atomic load). caller: the return address of the hook, for a libssl
 * loaded privately under another name (found through the calling object).
 * Logs once what it found when it is not OpenSSL 3. */
enum nm_ssl_lib nm_ssl_resolve(const void *caller);

/* In the child after fork: the lock's holder may not exist there. */
void nm_ssl_after_fork_child(void);

#endif
