/* banned.h: the C library calls ergrid refuses to compile, and why.
 *
 * meson.build force-includes this header (-include) into every C file of the
 * project: libraries, services, tests, fuzz targets and bench. A banned call
 * then fails to compile with "sorry_<name>_is_banned_see_banned_h undeclared"
 * at the call site (git's banned.h does the same).
 *
 * Everything here is easy to misuse even when it looks right: no bound on the
 * destination, hidden static state that threads overwrite, or the process's
 * time zone leaking into wire data. The replacement for each is named below.
 *
 * Because -include puts this header before anything a file includes itself,
 * the system headers that declare the banned names are included first: their
 * prototypes (and glibc's _FORTIFY_SOURCE wrappers, which may be macros) must
 * be seen before the names become macros, or they would not parse. Feature
 * macros therefore have to come from the command line (-D_GNU_SOURCE is a
 * project argument); a file that defines one itself is too late. */
#ifndef ERGRID_BANNED_H
#define ERGRID_BANNED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BANNED(func) sorry_##func##_is_banned_see_banned_h

/* Unbounded copies and appends: use snprintf, or memcpy with a checked length. */
#undef strcpy
#define strcpy(...) BANNED(strcpy)
#undef strcat
#define strcat(...) BANNED(strcat)
#undef stpcpy
#define stpcpy(...) BANNED(stpcpy)
/* Bounded but silently unterminated (strncpy) or bounded by the wrong length
 * (strncat): use snprintf. */
#undef strncpy
#define strncpy(...) BANNED(strncpy)
#undef strncat
#define strncat(...) BANNED(strncat)
#undef stpncpy
#define stpncpy(...) BANNED(stpncpy)

/* No size for the output buffer: use snprintf / vsnprintf. */
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
/* No size at all (removed in C11; glibc still has it for old code): use fgets. */
#undef gets
#define gets(...) BANNED(gets)

/* strtok keeps hidden state across calls and threads, and strtok_r writes
 * into its input: split with strchr / strcspn and explicit lengths. */
#undef strtok
#define strtok(...) BANNED(strtok)
#undef strtok_r
#define strtok_r(...) BANNED(strtok_r)

/* Results in a static buffer that another thread overwrites: use gmtime_r
 * and strftime. The _r text forms take a buffer without its size. localtime
 * and mktime also depend on the process's time zone; wire times are UTC. */
#undef gmtime
#define gmtime(...) BANNED(gmtime)
#undef localtime
#define localtime(...) BANNED(localtime)
#undef ctime
#define ctime(...) BANNED(ctime)
#undef ctime_r
#define ctime_r(...) BANNED(ctime_r)
#undef asctime
#define asctime(...) BANNED(asctime)
#undef asctime_r
#define asctime_r(...) BANNED(asctime_r)
#undef mktime
#define mktime(...) BANNED(mktime)

/* A temporary name another process can take first: use mkstemp / mkdtemp. */
#undef tmpnam
#define tmpnam(...) BANNED(tmpnam)
#undef tmpnam_r
#define tmpnam_r(...) BANNED(tmpnam_r)
#undef tempnam
#define tempnam(...) BANNED(tempnam)
#undef mktemp
#define mktemp(...) BANNED(mktemp)

#endif
