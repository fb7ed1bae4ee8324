/* The interrupt flag (see signal.h). */
#include "core/signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

void wm_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int wm_interrupted(void) { return (int)got_signal; }
void wm_signals_reset(void) { got_signal = 0; }
