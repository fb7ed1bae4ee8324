/* Procedural shape families of the objects3d world (private to envs/). Each instance
 * is a deterministic function of (family, instance, detail). */
#ifndef ENV_O3_SHAPES_H
#define ENV_O3_SHAPES_H

#include "render/mesh.h"

int o3_shape_count(void);
const char *o3_shape_name(int family);
/* Segments around a curved part for views of `size` pixels (level of detail). */
int o3_shape_detail(int size);
/* Builds instance `instance` of `family` into out (cleared first): upright along +y,
 * coloured, normalised to the unit sphere. */
void o3_shape_build(int family, int instance, int detail, RdMesh *out);

#endif
