/* term.h - the little terminal handling `notmodctl top` needs: whether to
 * draw a screen at all, its size, keys without Enter, and putting the
 * terminal back however the program ends. ANSI/VT100 sequences only, so
 * notmodctl needs no curses library. */
#ifndef NM_TERM_H
#define NM_TERM_H

#include <stdbool.h>

/* Is stdout a terminal that understands cursor movement (not TERM=dumb)? */
bool nm_term_is_screen(void);

/* Switches to the alternate screen with the cursor hidden and, when stdin
 * is a terminal, reads keys one at a time without echo. nm_term_leave
 * undoes it; it also runs at exit. */
void nm_term_enter(void);
void nm_term_leave(void);

/* The terminal's size, 80x24 when it cannot be asked. */
void nm_term_size(int *cols, int *rows);

/* Waits up to timeout_s for a key; returns it, 0 on time-out or when the
 * wait was interrupted (a signal: the size changed, or a request to quit),
 * -1 when stdin has nothing more to give. */
int nm_term_key(double timeout_s);

/* Set by SIGINT, SIGTERM and SIGHUP once nm_term_enter ran: time to stop
 * and put the terminal back. */
bool nm_term_should_quit(void);

#endif
