/* Wavefront OBJ: a mesh the reader accepts has faces, finite positions, unit or zero
 * normals and every index inside its vertex array. */
#include <math.h>

#include "core/err.h"
#include "render/mesh.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(obj) {
    RdMesh m;
    char err[512] = "";
    int rc = rd_obj_parse((const char *)data, size, "fuzz.obj", &m, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(strstr(err, "fuzz.obj") != NULL, "error does not name the file: '%s'", err);
        return 0;
    }
    FUZZ_CHECK(m.nv > 0 && m.nt > 0 && m.nv <= RD_MESH_MAX_VERTS && m.nt <= RD_MESH_MAX_TRIS,
               "%d vertices, %d triangles", m.nv, m.nt);
    for (int i = 0; i < 3 * m.nt; i++)
        FUZZ_CHECK(m.idx[i] < (uint32_t)m.nv, "index %u of %d vertices", m.idx[i], m.nv);
    for (int i = 0; i < 3 * m.nv; i++)
        FUZZ_CHECK(isfinite(m.pos[i]) && isfinite(m.nrm[i]), "vertex %d not finite", i / 3);
    rd_mesh_free(&m);
    return 0;
}
