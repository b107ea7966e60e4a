/* units.c - see units.h. */
#include "units.h"
#include <stdio.h>
#include <string.h>
#include <ctype.h>

static void si(double v, const char *unit, char *buf, size_t len)
{
    static const char *const p[] = {"", "k", "M", "G", "T", "P", "E", "Z"};
    int i = 0;
    while (v >= 1000.0 && i < 7) { v /= 1000.0; i++; }
    if (i == 0) snprintf(buf, len, "%.0f %s", v, unit);
    else snprintf(buf, len, "%.3f %s%s", v, p[i], unit);
}

void units_bytes(u64 b, char *buf, size_t len)
{
    if (b < 1000) { snprintf(buf, len, "%llu B", (unsigned long long)b); return; }
    static const char *const bin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)b;
    int i = -1;
    while (v >= 1024.0 && i < 5) { v /= 1024.0; i++; }
    char dec[32];
    si((double)b, "B", dec, sizeof dec);
    snprintf(buf, len, "%s (%.3f %s)", dec, v, bin[i < 0 ? 0 : i]);
}

void units_flops(u64 f, char *buf, size_t len) { si((double)f, "FLOP", buf, len); }
void units_flops_wide(u128 f, char *buf, size_t len) { si((double)f, "FLOP", buf, len); }

void units_count(u64 n, char *buf, size_t len)
{
    si((double)n, "", buf, len);
    size_t l = strlen(buf);
    if (l && buf[l - 1] == ' ') buf[l - 1] = 0;
}

void units_commas(u64 n, char *buf, size_t len)
{
    char t[32];
    int l = snprintf(t, sizeof t, "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < l && (size_t)o + 2 < len; i++) {
        if (i && (l - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = t[i];
    }
    buf[o] = 0;
}

int units_parse_ctx(const char *s, u64 *out, sim_err *e)
{
    u64 v = 0;
    int digits = 0;
    const char *p = s;
    for (; *p; p++) {
        if (*p == '_' || *p == ',') continue;
        if (!isdigit((unsigned char)*p)) break;
        if (v > (1ull << 40)) goto big;
        v = v * 10 + (u64)(*p - '0');
        digits++;
    }
    if (!digits) goto bad;
    if (*p) {
        u64 mul;
        switch (*p) {
        case 'k': case 'K': mul = 1ull << 10; break;
        case 'm': case 'M': mul = 1ull << 20; break;
        case 'g': case 'G': mul = 1ull << 30; break;
        default: goto bad;
        }
        if (p[1]) goto bad;
        if (v > (1ull << 40) / mul) goto big;
        v *= mul;
    }
    if (v == 0) return sim_fail(e, SIM_EINVAL, "context '%s': must be at least 1 token", s);
    if (v > (1ull << 40)) goto big;
    *out = v;
    return SIM_OK;
big:
    return sim_fail(e, SIM_EINVAL, "context '%s': larger than 2^40 tokens, the supported maximum", s);
bad:
    return sim_fail(e, SIM_EINVAL, "context '%s': expected a number of tokens like 4096, 4k, 128k or 1M", s);
}
