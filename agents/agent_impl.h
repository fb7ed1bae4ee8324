/* What the agent files share behind agents/agent.h: the Agent, its lanes, and the
 * policies of one world family (agents/object.c, agents/glimpse.c), which agent.c
 * dispatches to by the family the env spec names. Private to agents/. */
#ifndef AG_AGENT_IMPL_H
#define AG_AGENT_IMPL_H

#include <pthread.h>

#include "agents/agent.h"
#include "core/rng.h"

#define AG_QUEUE_CAP 256

typedef struct {
    WmRng rng;
    int n_views, t, begun;
    int loop_len; /* this sequence's loop length */
    int path_pos;
    double axis[3]; /* object walk: current rotation axis */
    float *loop;    /* the loop's outgoing actions, to undo */
    int loop_cap;
    float *ior;     /* glimpse: the fixation map with earlier fixations inhibited */
    AgEvent *queue; /* human */
    int qhead, qcount;
} AgLane;

typedef struct AgFamily AgFamily;

struct Agent {
    AgentConfig cfg;
    EnvConfig ecfg;
    EnvLayout lay; /* the world's family and layout (env_spec's) */
    const AgFamily *fam;
    int kind, lanes, adim;
    int s;         /* glimpse: scene side */
    int32_t shift; /* glimpse: walk step in grid units */
    float *path;
    int path_n;
    AgLane *lane;
    float *ior_maps;
    AgEvent *queues;
    int has_mutex;
    pthread_mutex_t mu;
};

/* The policies of one world family. */
struct AgFamily {
    const char *worlds; /* the worlds of the family, for messages: "objects3d" */
    int auto_kind;      /* what kind = auto runs */
    unsigned kinds;     /* the kinds it runs: bit k for kind k (AG_KINDS) */
    /* Checks the config against the spec once kind is resolved; may fill Agent fields. */
    int (*create)(Agent *a, const EnvSpec *spec, char *err, size_t errsz);
    /* One action of a path file (v: action_dim numbers), normalised in place. */
    int (*path_action)(const Agent *a, double *v, const char *file, int line, char *err,
                       size_t errsz);
    int (*begin)(Agent *a, int lane, Env *env);
    /* The kinds other than loop, path and human. */
    int (*next)(Agent *a, int lane, Env *env, float *action);
    /* loop: one outgoing step, and the action that undoes `out` */
    int (*loop_step)(Agent *a, int lane, Env *env, float *action);
    void (*undo)(const Agent *a, const float *out, float *action);
    /* path: the action taken for file action src from the lane's state */
    void (*path_step)(Agent *a, int lane, Env *env, const float *src, float *action);
    void (*identity)(const Agent *a, float *action);
    /* human: whether the event fits, and the action it makes */
    int (*event_ok)(const Agent *a, const AgEvent *ev);
    void (*event)(Agent *a, int lane, Env *env, const AgEvent *ev, float *action);
};

#define AG_KIND_BIT(k) (1u << (k))

extern const AgFamily ag_object_family;
extern const AgFamily ag_glimpse_family;

/* agents/human.c: the next queued event of a lane (0 when none). */
int ag_human_pop(Agent *a, int lane, AgEvent *ev);

#endif
