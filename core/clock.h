/* The clocks, in seconds as doubles. */
#ifndef WM_CLOCK_H
#define WM_CLOCK_H

/* Monotonic wall-clock seconds (for rates, ETAs and timeouts). */
double wm_now(void);
/* CPU seconds of the whole process, all threads: unlike wall time, barely moved by
 * other processes competing for the cores. */
double wm_cpu_now(void);
/* CPU seconds of the calling thread. */
double wm_thread_cpu_now(void);

#endif
