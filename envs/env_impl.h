/* What a world implements behind envs/env.h. Private to envs/. */
#ifndef ENV_IMPL_H
#define ENV_IMPL_H

#include "envs/env.h"

typedef struct {
    const char *name;
    EnvTraits traits;
    /* Fills e->spec and e->impl; returns WM_OK or an error with the reason in err. */
    int (*create)(Env *e, const EnvConfig *cfg, char *err, size_t errsz);
    void (*destroy)(Env *e);
    int (*reset)(Env *e, int lane, uint64_t seed, int split);
    int (*step)(Env *e, int lane, const float *action);
    int (*observe)(Env *e, int n, const int *lanes, EnvObs *outs);
    void (*latent)(const Env *e, int lane, float *latent);
    int (*scene)(const Env *e, int lane, EnvScene *out); /* may be NULL */
    /* the action algebra and state placement of env.h */
    void (*compose)(const EnvConfig *cfg, int action_dim, const float *actions, int n, float *out);
    void (*relative)(const EnvConfig *cfg, const float *from, const float *to, float *out);
    int (*sample_state)(const EnvConfig *cfg, WmRng *r, double *latent); /* may be NULL */
    void (*state_action)(const EnvConfig *cfg, const double *from, const double *to, float *out);
    int (*set_state)(Env *e, int lane, const double *latent);
    void (*get_state)(const Env *e, int lane, double *latent);
    const char *(*class_name)(const Env *e, int label);
    EnvConfigInfo (*config_info)(const EnvConfig *cfg);
    void (*view)(const Env *e, int lane, struct RdView *view); /* may be NULL */
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

/* The vtable of world `kind` (an ENV_KIND_*). */
const EnvVtable *env_vtable(int kind);

#endif
