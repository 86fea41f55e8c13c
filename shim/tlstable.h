/* tlstable.h - the TLS connections the shim knows, keyed by the server's
 * SSL * (Apache's mod_ssl feeds OpenSSL through BIOs of its own: there may
 * be no fd behind an SSL). OpenSSL forbids using one SSL from two threads
 * at once, so an entry belongs to the thread using its SSL and only the
 * table itself is locked. Used by hooks_ssl.c. */
#ifndef NM_SHIM_TLSTABLE_H
#define NM_SHIM_TLSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the HTTP inside a TLS connection is followed. */
enum nm_tls_verdict {
    NM_TLS_UNDECIDED, /* no application data read yet */
    NM_TLS_FOLLOW,    /* an HTTP/1.x server connection the shim follows */
    NM_TLS_ASIDE,     /* passed through untouched for life */
};

struct nm_conn; /* the connection logic's state (conn.h), opaque here */

/* A real SSL_write the shim made that returned WANT_WRITE/WANT_READ: OpenSSL
 * keeps the record it built and must be called again with the same
 * length, before any other write (transport_tls.c). */
struct nm_tls_pending {
    char *buf; /* the shim's copy of what that call offered, or NULL */
    size_t len;
};

/* A server write the shim failed with WANT_WRITE after consuming done of
 * its len bytes: the retry (same contents) feeds only the rest. */
struct nm_tls_memo {
    const void *buf;
    size_t len, done;
    bool is_set;
};

struct nm_tls {
    const void *ssl; /* the key: the server's SSL * */
    struct nm_tls *next;
    int rfd, wfd;          /* the ciphertext socket(s); -1 when not a socket */
    uint8_t verdict;       /* enum nm_tls_verdict */
    bool has_early_data;   /* 0-RTT data was accepted: replayable */
    const char *aside_why; /* with NM_TLS_ASIDE, for the log */
    struct nm_conn *conn;  /* with NM_TLS_FOLLOW: the connection followed */
    struct nm_tls_pending pending;
    struct nm_tls_memo memo;
    int last_want; /* the last real write: 0 done, else its SSL_ERROR_WANT_* */
};

/* The entry of ssl, or NULL when the shim does not know it. */
struct nm_tls *nm_tls_get(const void *ssl);

/* The entry of ssl, made when missing; NULL when memory is short. */
struct nm_tls *nm_tls_get_or_add(const void *ssl);

/* Takes ssl's entry out of the table (SSL_free, or a new SSL at the
 * address of one freed unseen); NULL when there was none. The caller
 * forgets its connection first and frees it with nm_tls_free. */
struct nm_tls *nm_tls_take(const void *ssl);
void nm_tls_free(struct nm_tls *t);

/* fd is t's ciphertext socket (SSL_set_fd, a socket BIO). */
void nm_tls_set_fd(struct nm_tls *t, int fd);

/* The entry whose ciphertext socket is fd, or NULL. */
struct nm_tls *nm_tls_of_fd(int fd);

/* Entries in the table (for the log and the tests). */
uint64_t nm_tls_count(void);

/* In the child after fork: the lock's holder may not exist there. */
void nm_tls_after_fork_child(void);

#endif
