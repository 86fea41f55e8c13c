/* symbols.c - lookup of the real libc functions (see symbols.h). */
#include "symbols.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nm_real_fns nm_real;

static bool may_look_up;
static uint64_t absent_mask; /* entries dlsym did not find */
_Static_assert(NM_SYM_COUNT <= 64, "absent_mask has a bit per entry");
/* > 0 while this thread is inside dlsym: a hook it reaches (an allocator
 * reading a file) takes the raw syscall. */
static __thread int looking_up;

void nm_symbols_allow_lookup(void)
{
    __atomic_store_n(&may_look_up, true, __ATOMIC_RELEASE);
}

/* The entries' names, and where each starts. Writable on purpose: .data
 * shares its page with what the loader writes anyway, where the names in
 * .rodata, at the far end of the text, cost every program that calls a
 * hooked function one more page fault (2-8 us here: tools/bench/
 * RESULTS.md, "Loading the shim, cheaper"). */
#define NM_REAL_NAME_FIELD_(ret, name, params, args, fallback)                 \
    char name[sizeof(#name)];
#define NM_REAL_NAME_(ret, name, params, args, fallback) #name,
#define NM_REAL_NAME_AT_(ret, name, params, args, fallback)                    \
    offsetof(struct names, name),
static struct names {
    NM_REAL_FUNCS(NM_REAL_NAME_FIELD_)
} names = {NM_REAL_FUNCS(NM_REAL_NAME_)};
static uint16_t name_at[] = {NM_REAL_FUNCS(NM_REAL_NAME_AT_)};
#undef NM_REAL_NAME_FIELD_
#undef NM_REAL_NAME_
#undef NM_REAL_NAME_AT_

void *nm_symbols_lookup(int index)
{
    uint64_t bit = (uint64_t)1 << index;
    if (!__atomic_load_n(&may_look_up, __ATOMIC_ACQUIRE) || looking_up > 0 ||
        (__atomic_load_n(&absent_mask, __ATOMIC_RELAXED) & bit))
        return NULL;
    looking_up++;
    void *fn = dlsym(RTLD_NEXT, (const char *)&names + name_at[index]);
    looking_up--;
    if (fn == NULL)
        __atomic_fetch_or(&absent_mask, bit, __ATOMIC_RELAXED);
    return fn;
}

int nm_symbols_resolve(void)
{
#define NM_RESOLVE_(ret, name, params, args, fallback)                         \
    (void)nm_real_fn_##name();
    NM_REAL_FUNCS(NM_RESOLVE_)
#undef NM_RESOLVE_
    /* Our own write behind us: the shim is loaded twice. The global
     * scope's write is asked for here, not taken as &write: that was a
     * symbol lookup at every load. */
    return nm_real.write != NULL &&
                   nm_real.write == dlsym(RTLD_DEFAULT, "write")
               ? -1
               : 0;
}
