/* report.h - `kvsim report`: query a sweep database and write, per plot, the
 * data (.csv), a gnuplot script (.gp) and the rendered PNG and SVG, plus an
 * index.md that opens with the published-claims table.
 *
 * Everything is written under out_dir with names kvsim chooses; index.md is
 * written to a temporary file and renamed, so a report is never half written.
 * Without gnuplot, the .csv, .gp and index.md are still written.
 */
#ifndef REPORT_H
#define REPORT_H

#include "scenario.h"

typedef struct {
    int plots;               /* plot files sets written (.csv + .gp) */
    int images;              /* PNG + SVG rendered */
    bool gnuplot_missing;
    char index_path[700];
    char warning[512];       /* a gnuplot failure, if any (the report is still written) */
} report_info;

int report_write(const scenario *s, const char *db_path, const char *out_dir, const char *archs_dir,
                 const char *version, report_info *info, sim_err *e);

#endif
