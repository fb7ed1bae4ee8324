/* SIGINT / SIGTERM as a flag that long loops poll, so they can save and stop
 * cleanly instead of dying mid-write. */
#ifndef WM_SIGNAL_H
#define WM_SIGNAL_H

/* Installs handlers for SIGINT and SIGTERM that set the flag. */
void wm_signals_install(void);
/* The signal number received (0 while none). */
int wm_interrupted(void);
/* Clears the flag (tests). */
void wm_signals_reset(void);

#endif
