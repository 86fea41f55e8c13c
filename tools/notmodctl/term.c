/* term.c - see term.h. */
#include "term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static bool is_raw, is_entered;
static volatile sig_atomic_t quit_requested;
static bool has_stdin = true;

bool nm_term_is_screen(void)
{
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb") != 0;
}

static void on_quit(int sig)
{
    (void)sig;
    quit_requested = 1;
}

/* SIGWINCH only needs to interrupt the wait so the screen is redrawn. */
static void on_winch(int sig)
{
    (void)sig;
}

void nm_term_enter(void)
{
    if (is_entered)
        return;
    is_entered = true;
    /* No SA_RESTART: a signal must cut the wait for a key short. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios raw = saved;
        /* ISIG stays: ^C still quits, through on_quit. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        is_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs("\033[?1049h\033[?25l", stdout);
    fflush(stdout);
    atexit(nm_term_leave);
}

void nm_term_leave(void)
{
    if (!is_entered)
        return;
    is_entered = false;
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    if (is_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    is_raw = false;
}

void nm_term_size(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
        ws.ws_row > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

int nm_term_key(double timeout_s)
{
    if (quit_requested)
        return 0;
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    int ms = (int)(timeout_s * 1000 + 0.5);
    int n = poll(&p, has_stdin ? 1 : 0, ms < 0 ? 0 : ms);
    if (n <= 0)
        return 0; /* time-out, or EINTR */
    unsigned char c;
    ssize_t r = read(STDIN_FILENO, &c, 1);
    if (r == 1)
        return c;
    if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        has_stdin = false; /* no keys from here on: just the timer */
        return -1;
    }
    return 0;
}

bool nm_term_should_quit(void)
{
    return quit_requested != 0;
}
