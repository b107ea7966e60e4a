/* check.h - a tiny test harness: one PASS/FAIL line per check, stable check
 * names, and a summary line "NAME: N passed, M failed"; main returns
 * check_done(), which is non-zero on any failure. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <math.h>
#include <string.h>

static int check_pass, check_fail;

#define CHECK(name, cond) do {                                                    \
        if (cond) { check_pass++; printf("PASS %s\n", name); }                      \
        else { check_fail++; printf("FAIL %s  (%s:%d: %s)\n", name, __FILE__, __LINE__, #cond); } \
    } while (0)

/* Exact integer equality, printing both values on failure. */
#define CHECK_EQ(name, got, want) do {                                            \
        unsigned long long g_ = (unsigned long long)(got), w_ = (unsigned long long)(want); \
        if (g_ == w_) { check_pass++; printf("PASS %s\n", name); }                  \
        else { check_fail++; printf("FAIL %s  got %llu, want %llu  (%s:%d)\n", name, g_, w_, __FILE__, __LINE__); } \
    } while (0)

/* |got - want| <= tol, printing both on failure. */
#define CHECK_CLOSE(name, got, want, tol) do {                                    \
        double g_ = (double)(got), w_ = (double)(want);                             \
        if (fabs(g_ - w_) <= (tol)) { check_pass++; printf("PASS %s  (%.6g vs %.6g)\n", name, g_, w_); } \
        else { check_fail++; printf("FAIL %s  got %.9g, want %.9g +- %g  (%s:%d)\n", name, g_, w_, (double)(tol), __FILE__, __LINE__); } \
    } while (0)

static int check_done(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_pass, check_fail);
    return check_fail != 0;
}

#endif
