/* A progress report for long work: a redrawn bar with rate and ETA when stderr is a
 * terminal, plain periodic lines otherwise (logs, CI). */
#ifndef WM_PROGRESS_H
#define WM_PROGRESS_H

#include <stdint.h>

typedef struct {
    char label[64];
    char unit[24];
    int64_t total;
    int64_t done;
    int64_t start; /* where this run began counting (a resumed job's earlier work) */
    double t_start, t_last_draw;
    int tty;
    double interval; /* seconds between plain lines */
    int active;
} WmProgress;

void wm_progress_start(WmProgress *p, const char *label, int64_t total, const char *unit);
/* After wm_progress_start: the work begins at `done` (a resumed job), so the rate and
 * the ETA count only what this run does; with nothing left the report draws nothing. */
void wm_progress_from(WmProgress *p, int64_t done);
/* Records progress; draws at most 10 times a second (terminal) or every
 * `interval` seconds (plain lines, default 5). extra may be NULL ("loss 0.512"). */
void wm_progress_update(WmProgress *p, int64_t done, const char *extra);
void wm_progress_finish(WmProgress *p, const char *extra);

#endif
