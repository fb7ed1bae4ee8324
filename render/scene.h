/* Batched offscreen rendering of object views: an object on a floor, lit by a fixed
 * sun and a movable coloured spot light, seen by a fixed camera (the objects3d
 * world's studio). Many views go through one pass: every view is one layer of an
 * array render target, all objects are drawn by one multi-draw, all floors by one
 * instanced draw, and all layers come back in one readback. A view's pixels depend
 * only on the view, never on its position in a batch or on the worker that drew it.
 *
 * RdScene draws on the calling thread's current context. RdFarm owns worker threads,
 * each with its own headless context and RdScene, and splits a batch among them:
 * that is the fast path on CPU rasterisers (one worker per core). */
#ifndef RD_SCENE_H
#define RD_SCENE_H

#include <stddef.h>
#include <stdint.h>

#include "render/ctx.h"
#include "render/mesh.h"

/* The studio (world units; the object is normalised to the unit sphere). */
#define RD_CAM_DIST       2.5f     /* camera distance from the origin */
#define RD_CAM_ELEV_DEG   20.0f    /* camera elevation above the horizon, looking at the origin */
#define RD_CAM_FOV_DEG    52.0f    /* vertical field of view */
#define RD_FLOOR_Y        (-1.05f) /* floor plane height */
#define RD_SPOT_DIST      4.0f     /* spot light distance from the origin, aimed at it */
#define RD_SPOT_OUTER_DEG 24.0f
#define RD_SPOT_INNER_DEG 14.0f

typedef struct RdView {
    uint64_t mesh_key;  /* names the mesh in the GPU cache: equal keys, equal meshes */
    const RdMesh *mesh; /* CPU data (used when the key is not resident); NULL: no object */
    float rot[9];       /* object rotation, row-major (object to world) */
    float trans[3];     /* object position */
    float floor_rgb[3]; /* floor albedo in [0,1] */
    float spot_theta;   /* spot light angle from the vertical (radians) */
    float spot_phi;     /* spot light azimuth (radians, from +x towards +z) */
    float spot_rgb[3];  /* spot light colour */
    uint8_t *out;       /* size*size*3 bytes, RGB, top row first */
} RdView;

/* Zero means default. */
typedef struct {
    int size;           /* view side in pixels, 8..4096 */
    int batch;          /* views per pass (default: about 2 MB of target, at most 256) */
    const char *assets; /* folder holding shaders/ (default "assets") */
    int no_layers;      /* draw one layer at a time (the path for GL without layered
                           vertex output; forced here for tests) */
    int mesh_vertices;  /* GPU mesh cache capacity in vertices (default 2^20) */
} RdSceneDesc;

typedef struct RdScene RdScene;

/* Makes the renderer into *out on the current context, or returns why not with the
 * reason in err and *out NULL: WM_ERR_RANGE for a size outside 8..4096, WM_ERR_IO for
 * shaders missing from the assets folder, WM_ERR_GL when OpenGL fails. */
int rd_scene_create(const RdSceneDesc *d, RdScene **out, char *err, size_t errsz);
void rd_scene_destroy(RdScene *s);
/* Renders n views (any n; split into passes internally) into their out buffers. */
int rd_scene_render(RdScene *s, const RdView *views, int n, char *err, size_t errsz);
/* The render target of the last pass (layer i = the i-th view of that pass), e.g. for
 * rd_screenshot_png. */
const RdTarget *rd_scene_target(const RdScene *s);
int rd_scene_batch(const RdScene *s);
int rd_scene_layered(const RdScene *s);

/* Where a world point lands in a size x size view: pixel coordinates with (0,0) the
 * top-left corner of the top-left pixel. Returns 0 when the point is behind the
 * camera. */
int rd_scene_project(int size, const float world[3], float *px, float *py);
/* The camera's view-projection matrix (column-major, OpenGL clip space, y up). */
void rd_scene_view_proj(float vp[16]);

/* Worker threads with one headless context each. */
typedef struct {
    int workers; /* 0: one per core on a CPU rasteriser (at most one per independent
                    screen), 1 on a GPU */
    RdSceneDesc scene;
} RdFarmDesc;

typedef struct RdFarm RdFarm;

/* Starts the workers into *out, or returns the status the first failing worker's
 * context or scene gave (see rd_ctx_create, rd_scene_create) with its reason in err. */
int rd_farm_create(const RdFarmDesc *d, RdFarm **out, char *err, size_t errsz);
void rd_farm_destroy(RdFarm *f);
/* Renders n views, split in contiguous runs among the workers; returns when all are
 * written. Not reentrant: one call at a time per farm. */
int rd_farm_render(RdFarm *f, const RdView *views, int n, char *err, size_t errsz);
int rd_farm_workers(const RdFarm *f);

#endif
