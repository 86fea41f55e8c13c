/* hooks_ssl.h - the exported SSL_* hooks (hooks_ssl.c): the doors through
 * which the plaintext of a server's own TLS passes. The constructor in
 * hooks_io.c switches them on; until then, and in a process where the shim
 * is disabled, they only pass calls to the real libssl. */
#ifndef NM_SHIM_HOOKS_SSL_H
#define NM_SHIM_HOOKS_SSL_H

/* The shim is active in this process: TLS connections may be followed. */
void nm_hooks_ssl_enable(void);

/* The server closes or shuts down fd, the ciphertext socket of a followed
 * TLS connection, before SSL_shutdown or SSL_free: a close-delimited
 * response ends here, and what is held or owed goes out through the SSL
 * before the socket goes (with a bound, as at close). */
void nm_hooks_ssl_socket_ends(int fd);

/* In the child after fork (pthread_atfork): reset the locks. */
void nm_hooks_ssl_after_fork_child(void);

#endif
