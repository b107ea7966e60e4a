/* replay.c - run a fuzz target's LLVMFuzzerTestOneInput on files, without
 * libFuzzer: `make test` links each tests/fuzz/fuzz_*.c with this into
 * tests/bin/replay_* (normal flags; under `make asan`, with the sanitizers)
 * and reruns every input kept in tests/fuzz/regress/TARGET/.
 *
 * usage: replay_spec FILE...   one "PASS fuzz-regress/<file>" line per file
 * that ran to completion; a crash kills the program (a non-zero exit). The
 * last line is "replay: N passed, M failed". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int pass = 0, fail = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { printf("FAIL fuzz-regress/%s: cannot open\n", argv[i]); fail++; continue; }
        size_t cap = 1 << 16, n = 0, k;
        uint8_t *buf = malloc(cap);
        while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
            n += k;
            if (n == cap) {
                uint8_t *nb = realloc(buf, cap *= 2);
                if (!nb) { free(buf); buf = NULL; }
                buf = nb;
            }
        }
        fclose(f);
        if (!buf) { printf("FAIL fuzz-regress/%s: out of memory\n", argv[i]); fail++; continue; }
        /* An exact-size copy, so ASan sees a read past the input's end. */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) { free(buf); printf("FAIL fuzz-regress/%s: out of memory\n", argv[i]); fail++; continue; }
        memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        printf("PASS fuzz-regress/%s\n", argv[i]);
        pass++;
    }
    printf("replay: %d passed, %d failed\n", pass, fail);
    return fail != 0;
}
