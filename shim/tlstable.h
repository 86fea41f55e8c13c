/* tlstable.h - the TLS connections the shim knows, keyed by the server's
 * SSL * (Apache's mod_ssl feeds OpenSSL through BIOs of its own: there may
 * be no fd behind an SSL). OpenSSL forbids using one SSL from two threads
 * at once, so an entry belongs to the thread using its SSL and only the
 * table itself is locked. Used by hooks_ssl.c. */
#ifndef NM_SHIM_TLSTABLE_H
#define NM_SHIM_TLSTABLE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether the HTTP inside a TLS connection is followed. */
enum nm_tls_verdict {
    NM_TLS_UNDECIDED, /* no application data read yet */
    NM_TLS_FOLLOW,    /* an HTTP/1.x server connection the shim follows */
    NM_TLS_ASIDE,     /* passed through untouched for life */
};

struct nm_tls {
    const void *ssl; /* the key: the server's SSL * */
    struct nm_tls *next;
    int rfd, wfd;          /* the ciphertext socket(s); -1 when not a socket */
    uint8_t verdict;       /* enum nm_tls_verdict */
    bool has_early_data;   /* 0-RTT data was accepted: replayable */
    const char *aside_why; /* with NM_TLS_ASIDE, for the log */
};

/* The entry of ssl, or NULL when the shim does not know it. */
struct nm_tls *nm_tls_get(const void *ssl);

/* The entry of ssl, made when missing; NULL when memory is short. */
struct nm_tls *nm_tls_get_or_add(const void *ssl);

/* Takes ssl's entry out of the table (SSL_free, or a new SSL at the
 * address of one freed unseen); NULL when there was none. The caller
 * frees it with nm_tls_free. */
struct nm_tls *nm_tls_take(const void *ssl);
void nm_tls_free(struct nm_tls *t);

/* Entries in the table (for the log and the tests). */
uint64_t nm_tls_count(void);

/* In the child after fork: the lock's holder may not exist there. */
void nm_tls_after_fork_child(void);

#endif
