/* run.c - `notmodctl run`: starts a program with libnotmod.so preloaded,
 * keeping any LD_PRELOAD already set. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notmodctl.h"

/* Set by CMakeLists.txt from the install layout; these defaults only
 * serve a build made without it. */
#ifndef NM_INSTALL_LIBDIR
#define NM_INSTALL_LIBDIR "/usr/local/lib"
#endif
#ifndef NM_BINDIR_TO_LIBDIR
#define NM_BINDIR_TO_LIBDIR "../lib"
#endif

static const char run_usage[] =
    "usage: notmodctl run [--socket PATH] -- PROGRAM [ARGS...]\n"
    "Runs PROGRAM with libnotmod.so preloaded (appended to LD_PRELOAD).\n"
    "The library is looked for next to notmodctl (a build tree), then in\n"
    "the install's library directory, " NM_INSTALL_LIBDIR ",\n"
    "then in " NM_BINDIR_TO_LIBDIR " from notmodctl's directory (an install\n"
    "moved elsewhere); $NOTMOD_LIB, when set, wins.\n"
    "  --socket PATH   sets NOTMOD_SOCKET for the program\n";

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Writes the real path of dir/libnotmod.so into out when it is a file. */
static bool lib_in(const char *dir, char *out)
{
    char cand[PATH_MAX];
    int n = snprintf(cand, sizeof(cand), "%s/libnotmod.so", dir);
    return n > 0 && (size_t)n < sizeof(cand) && is_file(cand) &&
           realpath(cand, out) != NULL;
}

/* Finds libnotmod.so; writes its absolute path into out (PATH_MAX bytes).
 * Beside notmodctl first, so that a build tree's notmodctl runs that
 * tree's shim even where a package is installed; then the library
 * directory this notmodctl was configured to be installed with. */
static bool find_lib(char *out, size_t cap)
{
    const char *env = getenv("NOTMOD_LIB");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return is_file(out);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = NULL;
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
    }
    if (slash && lib_in(self, out))
        return true;
    if (lib_in(NM_INSTALL_LIBDIR, out))
        return true;
    if (slash) {
        char rel[PATH_MAX];
        int k = snprintf(rel, sizeof(rel), "%s/%s", self, NM_BINDIR_TO_LIBDIR);
        if (k > 0 && (size_t)k < sizeof(rel) && lib_in(rel, out))
            return true;
    }
    return false;
}

/* The file execvp would run, for the setuid check; false if not found. */
static bool resolve(const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return true;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, cap, "%.*s/%s", (int)n, path, prog);
        if (access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* Appends lib to LD_PRELOAD unless it is there already. */
static int add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return setenv("LD_PRELOAD", lib, 1);
    if (strstr(old, lib))
        return 0;
    size_t n = strlen(old) + strlen(lib) + 2;
    char *v = malloc(n);
    if (!v)
        return -1;
    snprintf(v, n, "%s:%s", old, lib);
    int rc = setenv("LD_PRELOAD", v, 1);
    free(v);
    return rc;
}

int nm_ctl_run(int argc, char **argv)
{
    const char *socket_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(run_usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            socket_path = argv[++i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            break; /* the program, given without "--" */
        }
    }
    if (i >= argc || argv[i][0] == '-') {
        fprintf(stderr, "notmodctl: run: missing PROGRAM (usage: notmodctl "
                        "run [--socket PATH] -- PROGRAM ARGS...)\n");
        return EXIT_USAGE;
    }
    char lib[PATH_MAX];
    if (!find_lib(lib, sizeof(lib))) {
        fprintf(stderr, "notmodctl: libnotmod.so not found (next to "
                        "notmodctl, in " NM_INSTALL_LIBDIR
                        ", or " NM_BINDIR_TO_LIBDIR " from notmodctl; or set "
                        "NOTMOD_LIB)\n");
        return EXIT_FAILED;
    }
    char prog[PATH_MAX];
    struct stat sb;
    if (resolve(argv[i], prog, sizeof(prog)) && stat(prog, &sb) == 0 &&
        (sb.st_mode & (S_ISUID | S_ISGID)))
        fprintf(stderr,
                "notmodctl: warning: %s is setuid/setgid; the "
                "loader ignores LD_PRELOAD for it\n",
                prog);
    if (add_preload(lib) != 0 ||
        (socket_path && setenv("NOTMOD_SOCKET", socket_path, 1) != 0)) {
        fprintf(stderr, "notmodctl: run: cannot set the environment\n");
        return EXIT_FAILED;
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "notmodctl: cannot run %s: %s\n", argv[i], strerror(errno));
    return EXIT_FAILED;
}
