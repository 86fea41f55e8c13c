/* symbols.c - resolution of the real libc functions (see symbols.h). */
#include "symbols.h"

#include <dlfcn.h>

struct nm_real_fns nm_real;

int nm_symbols_resolve(void)
{
#define NM_RESOLVE_(ret, name, params, args, fallback)                         \
    nm_real.name = (__typeof__(nm_real.name))dlsym(RTLD_NEXT, #name);
    NM_REAL_FUNCS(NM_RESOLVE_)
#undef NM_RESOLVE_
    /* Our own write behind us: the shim is loaded twice. */
    return nm_real.write != NULL && nm_real.write == &write ? -1 : 0;
}
