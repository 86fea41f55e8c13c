/* preload.h - LD_PRELOAD lists (ld.so(8): entries separated by spaces or
 * colons): one library's entries taken out of a list, and out of an
 * environment about to be given to exec. The shim's exec hooks use it to
 * spare a program that inherits no socket the cost of loading the shim.
 * Pure: no I/O, no allocation (a vfork child runs it on its stack). */
#ifndef NM_PRELOAD_H
#define NM_PRELOAD_H

#include "nm.h"

/* Does entry (len bytes, one item of a list) name the library the loader
 * opened as lib (its path as dladdr reports it): the same string, or the
 * same file name after the last '/' (a bare name found on the library
 * path, "$LIB" expanded, another spelling of the directory)? Never for an
 * empty entry or an empty lib. */
bool nm_preload_names_lib(const char *entry, size_t len, const char *lib);

/* Writes list (len bytes) without the entries naming lib into out (cap
 * bytes, NUL-terminated), its length into *out_len. Kept entries keep
 * their order and the separators before them; the first one kept takes
 * the list's leading separators, and the trailing ones stay. A list left
 * with no entry is written empty. Returns how many entries were taken
 * out, or NM_E_NOSPACE when out is too small. */
int nm_preload_strip(const char *list, size_t len, const char *lib, char *out,
                     size_t cap, size_t *out_len);

/* envp with lib's entries taken out of every LD_PRELOAD= variable: its
 * pointers copied into out (cap slots, the closing NULL included), each
 * changed variable written into buf (buf_cap bytes) and dropped when no
 * entry is left; every other variable keeps its pointer and place.
 * Returns how many entries were taken out (0: envp needs no change, out
 * is not to be used), or NM_E_NOSPACE when out or buf is too small. */
int nm_preload_strip_env(char *const envp[], const char *lib, char **out,
                         size_t cap, char *buf, size_t buf_cap);

#endif
