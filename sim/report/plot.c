/* plot.c - see plot.h. */
#include "plot.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

void plot_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'') fputs("''", f);
        else if (c < 0x20 || c == 0x7f) fputc(' ', f);
        else if (c == '`') fputs("\xe2\x80\x98", f);   /* shown as a left quote (U+2018); never a command */
        else fputc(c, f);
    }
    fputc('\'', f);
}

void plot_slug(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[o++] = c;
        else if (o && out[o - 1] != '-') out[o++] = '-';
    }
    while (o && out[o - 1] == '-') o--;
    if (!o) out[o++] = 'x';
    out[o] = 0;
}

bool plot_have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path) return false;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l && l + 10 < sizeof buf) {
            memcpy(buf, p, l);
            strcpy(buf + l, "/gnuplot");
            if (access(buf, X_OK) == 0) return true;
        }
        if (!c) break;
        p = c + 1;
    }
    return false;
}

int plot_render(const char *dir, const char *script, sim_err *e)
{
    int errp[2];
    if (pipe(errp)) return sim_fail(e, SIM_EIO, "pipe failed");
    pid_t pid = fork();
    if (pid < 0) { close(errp[0]); close(errp[1]); return sim_fail(e, SIM_EIO, "fork failed"); }
    if (pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); }
        if (chdir(dir)) _exit(126);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    char msg[400];
    size_t got = 0;
    ssize_t r;
    while ((r = read(errp[0], msg + got, sizeof msg - 1 - got)) > 0) {
        got += (size_t)r;
        if (got == sizeof msg - 1) {   /* keep draining */
            char sink[256];
            while (read(errp[0], sink, sizeof sink) > 0) {}
            break;
        }
    }
    msg[got] = 0;
    close(errp[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strstr(msg, "rror"))
        return sim_fail(e, SIM_EIO, "gnuplot %s failed: %s", script, got ? msg : "(no message)");
    return SIM_OK;
}
