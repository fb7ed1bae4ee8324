/* Procedural shape families of the objects3d world (private to envs/). Each instance
 * is a deterministic function of (family, instance, detail). */
#ifndef ENV_O3_SHAPES_H
#define ENV_O3_SHAPES_H

#include "render/mesh.h"

/* Every family, of both sets (the mixed set first, then the asymmetric one). */
int o3_shape_count(void);
/* Class sets, in the order of the env.classes key: the 20 original families (many of
 * them surfaces of revolution or tubes, whose turn about their own axis cannot be
 * seen), and 16 families with a canonical orientation and no rotational symmetry.
 * Class c of a world with set s is family o3_set_first(s) + c. */
enum { O3_SET_MIXED = 0, O3_SET_ASYMMETRIC = 1 };
int o3_set_first(int set);
int o3_set_count(int set);
const char *o3_shape_name(int family);
/* Segments around a curved part for views of `size` pixels (level of detail). */
int o3_shape_detail(int size);
/* Builds instance `instance` of `family` into out (cleared first): upright along +y,
 * coloured, normalised to the unit sphere. */
void o3_shape_build(int family, int instance, int detail, RdMesh *out);

#endif
