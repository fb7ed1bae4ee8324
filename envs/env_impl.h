/* What a world implements behind envs/env.h. Private to envs/. */
#ifndef ENV_IMPL_H
#define ENV_IMPL_H

#include "envs/env.h"

typedef struct {
    const char *name;
    /* Fills e->spec and e->impl; returns WM_OK or an error with the reason in err. */
    int (*create)(Env *e, const EnvConfig *cfg, char *err, size_t errsz);
    void (*destroy)(Env *e);
    int (*reset)(Env *e, int lane, uint64_t seed, int split);
    int (*step)(Env *e, int lane, const float *action);
    int (*observe)(Env *e, int n, const int *lanes, EnvObs *outs);
    void (*latent)(const Env *e, int lane, float *latent);
    int (*scene)(const Env *e, int lane, EnvScene *out); /* may be NULL */
} EnvVtable;

struct Env {
    const EnvVtable *vt;
    EnvConfig cfg;
    EnvSpec spec;
    int lanes;
    void *impl;
};

extern const EnvVtable env_objects3d_vtable;
extern const EnvVtable env_saccade_vtable;

#endif
