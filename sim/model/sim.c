/* sim.c - the shared error helper. */
#include "sim.h"
#include <stdarg.h>
#include <stdio.h>

int sim_fail(sim_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
