/* exec_bench.c - what a preloaded library costs a process that never
 * touches a socket: CPU per fork + exec + exit of a program (default
 * /bin/true), bare against LD_PRELOAD=<lib>, alternating one of each so
 * that both see the same machine. The CPU is the child's own, from wait4
 * (the kernel's precise runtime, user + system), so nothing the parent
 * does counts. Prints "name value unit" lines for tools/bench/bench.py:
 * exec_bare_us, exec_preload_us (medians), exec_ratio (median of the
 * per-pair ratios of 100-exec batches).
 * Usage: exec_bench LIB [EXECS [PROGRAM]] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 100

extern char **environ;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* envp without LD_PRELOAD, plus preload when given. */
static char **make_env(const char *preload)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (preload != NULL) {
        size_t len = strlen(preload) + 12;
        env[k] = malloc(len);
        snprintf(env[k], len, "LD_PRELOAD=%s", preload);
    }
    return env;
}

/* One fork + exec + exit: the child's CPU in µs, or -1. */
static double one_exec(const char *prog, char **env)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)prog, NULL};
        execve(prog, argv, env);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* A batch of BATCH execs: mean µs per exec, or -1. */
static double batch(const char *prog, char **env)
{
    double sum = 0;
    for (int i = 0; i < BATCH; i++) {
        double us = one_exec(prog, env);
        if (us < 0)
            return -1;
        sum += us;
    }
    return sum / BATCH;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: exec_bench LIB [EXECS [PROGRAM]]\n");
        return 2;
    }
    int execs = argc > 2 ? atoi(argv[2]) : 4000;
    const char *prog = argc > 3 ? argv[3] : "/bin/true";
    int pairs = execs / (2 * BATCH) > 0 ? execs / (2 * BATCH) : 1;
    char **bare_env = make_env(NULL), **lib_env = make_env(argv[1]);
    double *bare = calloc((size_t)pairs, sizeof(double));
    double *lib = calloc((size_t)pairs, sizeof(double));
    double *ratio = calloc((size_t)pairs, sizeof(double));
    for (int p = 0; p < pairs; p++) {
        /* ABBA: the second of two batches is not always the same one. */
        bool lib_first = p % 2 == 1;
        if (lib_first)
            lib[p] = batch(prog, lib_env);
        bare[p] = batch(prog, bare_env);
        if (!lib_first)
            lib[p] = batch(prog, lib_env);
        if (bare[p] <= 0 || lib[p] <= 0) {
            fprintf(stderr, "exec_bench: %s failed\n", prog);
            return 1;
        }
        ratio[p] = lib[p] / bare[p];
    }
    printf("exec_bare_us %.1f\n", median(bare, pairs));
    printf("exec_preload_us %.1f\n", median(lib, pairs));
    printf("exec_ratio %.3f\n", median(ratio, pairs));
    return 0;
}
