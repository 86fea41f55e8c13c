/* preload.c - see preload.h. */
#include "preload.h"

#include <string.h>

/* ld.so splits LD_PRELOAD at these (glibc elf/rtld.c:
 * handle_preload_list, strcspn (p, " :")). */
static bool is_sep(char c)
{
    return c == ' ' || c == ':';
}

/* The file name of s (n bytes): what follows its last '/'. */
static const char *base_of(const char *s, size_t n, size_t *base_len)
{
    size_t i = n;
    while (i > 0 && s[i - 1] != '/')
        i--;
    *base_len = n - i;
    return s + i;
}

bool nm_preload_names_lib(const char *entry, size_t len, const char *lib)
{
    if (len == 0 || lib == NULL || lib[0] == '\0')
        return false;
    size_t lib_len = strlen(lib);
    if (len == lib_len && memcmp(entry, lib, len) == 0)
        return true;
    size_t entry_base_len, lib_base_len;
    const char *entry_base = base_of(entry, len, &entry_base_len);
    const char *lib_base = base_of(lib, lib_len, &lib_base_len);
    return entry_base_len > 0 && entry_base_len == lib_base_len &&
           memcmp(entry_base, lib_base, lib_base_len) == 0;
}

/* Appends n bytes of s to out (*used so far, room for a NUL kept). */
static bool put(char *out, size_t cap, size_t *used, const char *s, size_t n)
{
    if (n >= cap - *used)
        return false;
    memcpy(out + *used, s, n);
    *used += n;
    return true;
}

int nm_preload_strip(const char *list, size_t len, const char *lib, char *out,
                     size_t cap, size_t *out_len)
{
    if (cap == 0)
        return NM_E_NOSPACE;
    size_t used = 0;
    int removed = 0;
    bool has_kept = false;
    size_t i = 0;
    while (i < len && is_sep(list[i]))
        i++;
    const char *lead = list;
    size_t lead_len = i;
    const char *sep = lead; /* the separators before the next entry */
    size_t sep_len = lead_len;
    while (i < len) {
        size_t start = i;
        while (i < len && !is_sep(list[i]))
            i++;
        size_t entry_len = i - start;
        if (nm_preload_names_lib(list + start, entry_len, lib)) {
            removed++;
        } else {
            bool is_ok = has_kept ? put(out, cap, &used, sep, sep_len)
                                  : put(out, cap, &used, lead, lead_len);
            if (!is_ok || !put(out, cap, &used, list + start, entry_len))
                return NM_E_NOSPACE;
            has_kept = true;
        }
        sep = list + i;
        while (i < len && is_sep(list[i]))
            i++;
        sep_len = (size_t)(list + i - sep);
    }
    /* sep is now the list's trailing separators (or its leading ones,
     * for a list of separators only, which keeps no entry). */
    if (has_kept && !put(out, cap, &used, sep, sep_len))
        return NM_E_NOSPACE;
    out[used] = '\0';
    *out_len = used;
    return removed;
}

#define PRELOAD_VAR "LD_PRELOAD="
#define PRELOAD_VAR_LEN (sizeof(PRELOAD_VAR) - 1)

int nm_preload_strip_env(char *const envp[], const char *lib, char **out,
                         size_t cap, char *buf, size_t buf_cap)
{
    size_t n = 0;
    size_t used = 0;
    int removed = 0;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        char *var = envp[i];
        if (n + 2 > cap) /* this one and the closing NULL */
            return NM_E_NOSPACE;
        if (strncmp(var, PRELOAD_VAR, PRELOAD_VAR_LEN) != 0) {
            out[n++] = var;
            continue;
        }
        if (buf_cap - used <= PRELOAD_VAR_LEN)
            return NM_E_NOSPACE;
        char *dst = buf + used;
        memcpy(dst, PRELOAD_VAR, PRELOAD_VAR_LEN);
        const char *list = var + PRELOAD_VAR_LEN;
        size_t list_len;
        int r = nm_preload_strip(list, strlen(list), lib, dst + PRELOAD_VAR_LEN,
                                 buf_cap - used - PRELOAD_VAR_LEN, &list_len);
        if (r < 0)
            return r;
        if (r == 0) { /* not ours to change: the caller's own string */
            out[n++] = var;
            continue;
        }
        removed += r;
        if (list_len == 0)
            continue; /* nothing left: the variable goes */
        out[n++] = dst;
        used += PRELOAD_VAR_LEN + list_len + 1;
    }
    if (n + 1 > cap)
        return NM_E_NOSPACE;
    out[n] = NULL;
    return removed;
}
