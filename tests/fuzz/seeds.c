/* Writes the seed files of the fuzz corpora that the program's own writers make
 * (safetensors, .npy, images, OBJ meshes); make_seeds.sh adds a generated dataset, its
 * manifest and records, a checkpoint's header and the configs.
 *   usage: fuzz_seeds CORPUS_ROOT   (writes into CORPUS_ROOT/<harness>/seed-*) */
#include <stb/stb_image_write.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/png.h"
#include "core/safetensors.h"
#include "envs/o3_shapes.h"
#include "render/mesh.h"
#include "tests/fuzz/fuzz.h"

static char root[512];

static const char *at(const char *harness, const char *name) {
    static char p[1024];
    char dir[700], err[256];
    snprintf(dir, sizeof dir, "%s/%s", root, harness);
    FUZZ_CHECK(wm_mkdirs(dir, err, sizeof err) == WM_OK, "%s", err);
    snprintf(p, sizeof p, "%s/seed-%s", dir, name);
    return p;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        char err_[512];                                                                            \
        (void)err_;                                                                                \
        FUZZ_CHECK((call) == WM_OK, "%s", #call);                                                  \
    } while (0)

static void write_obj(const char *path, const RdMesh *m, int style) {
    WmBuf b = {0};
    wm_buf_printf(&b, "# %d vertices, %d triangles\no shape\n", m->nv, m->nt);
    for (int i = 0; i < m->nv; i++)
        wm_buf_printf(&b, "v %.6g %.6g %.6g\n", m->pos[3 * i], m->pos[3 * i + 1], m->pos[3 * i + 2]);
    if (style > 0)
        for (int i = 0; i < m->nv; i++)
            wm_buf_printf(&b, "vn %.6g %.6g %.6g\n", m->nrm[3 * i], m->nrm[3 * i + 1], m->nrm[3 * i + 2]);
    if (style == 2) wm_buf_puts(&b, "vt 0 0\n");
    for (int t = 0; t < m->nt; t++) {
        wm_buf_puts(&b, "f");
        for (int k = 0; k < 3; k++) {
            long v = (long)m->idx[3 * t + k] + 1;
            if (style == 0) wm_buf_printf(&b, " %ld", v - 1 - m->nv); /* relative (negative) */
            else if (style == 1) wm_buf_printf(&b, " %ld//%ld", v, v);
            else wm_buf_printf(&b, " %ld/1/%ld", v, v);
        }
        wm_buf_puts(&b, "\n");
    }
    OK(wm_write_file_atomic(path, b.data, b.len, err_, sizeof err_));
    wm_buf_free(&b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_ROOT\n");
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);

    /* safetensors: every dtype, a scalar, an empty tensor, metadata */
    uint8_t u8[3] = {1, 2, 255};
    int32_t i32[4] = {-1, 0, 1, 2147483647};
    int64_t i64[1] = {-5};
    float f32[6] = {0.5f, -1, 2, 3, 1e-30f, 6};
    double f64[1] = {3.25};
    size_t s3[1] = {3}, s22[2] = {2, 2}, s1[1] = {1}, s23[2] = {2, 3}, s04[2] = {0, 4};
    WmStWriter *w = wm_st_writer_create();
    wm_st_writer_add(w, "enc.conv.w", WM_F32, 2, s23, f32);
    wm_st_writer_add(w, "bytes", WM_U8, 1, s3, u8);
    wm_st_writer_add(w, "ints", WM_I32, 2, s22, i32);
    wm_st_writer_add(w, "step", WM_I64, 1, s1, i64);
    wm_st_writer_add(w, "scale", WM_F64, 0, NULL, f64);
    wm_st_writer_add(w, "empty", WM_F32, 2, s04, f32);
    wm_st_writer_meta(w, "format", "seqjepa-checkpoint");
    wm_st_writer_meta(w, "config", "[train]\nsteps = 3\nout = \"r\\u00e9sum\xc3\xa9\"\n");
    wm_st_writer_meta(w, "shape", "8 8 2 10");
    OK(wm_st_writer_save(w, at("safetensors", "writer.safetensors"), err_, sizeof err_));
    wm_st_writer_destroy(w);
    w = wm_st_writer_create();
    OK(wm_st_writer_save(w, at("safetensors", "empty.safetensors"), err_, sizeof err_));
    wm_st_writer_destroy(w);

    /* npy: every dtype, a scalar, an empty array, many dimensions */
    size_t s8[8] = {1, 2, 1, 1, 1, 1, 1, 3};
    OK(wm_npy_write(at("npy", "u8.npy"), WM_U8, 1, s3, u8, err_, sizeof err_));
    OK(wm_npy_write(at("npy", "i32.npy"), WM_I32, 2, s22, i32, err_, sizeof err_));
    OK(wm_npy_write(at("npy", "i64.npy"), WM_I64, 1, s1, i64, err_, sizeof err_));
    OK(wm_npy_write(at("npy", "f32-8d.npy"), WM_F32, 8, s8, f32, err_, sizeof err_));
    OK(wm_npy_write(at("npy", "f64-scalar.npy"), WM_F64, 0, NULL, f64, err_, sizeof err_));
    OK(wm_npy_write(at("npy", "empty.npy"), WM_F32, 2, s04, f32, err_, sizeof err_));

    /* images: PNG through the program's writer (grey, RGB, RGBA), JPEG, BMP, TGA */
    uint8_t px[6 * 5 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
    OK(wm_png_write(at("image", "grey.png"), 6, 5, 1, px, 0, err_, sizeof err_));
    OK(wm_png_write(at("image", "rgb.png"), 6, 5, 3, px, 0, err_, sizeof err_));
    OK(wm_png_write(at("image", "rgba.png"), 5, 6, 4, px, 0, err_, sizeof err_));
    FUZZ_CHECK(stbi_write_jpg(at("image", "rgb.jpg"), 6, 5, 3, px, 90), "jpg");
    FUZZ_CHECK(stbi_write_bmp(at("image", "rgb.bmp"), 6, 5, 3, px), "bmp");
    FUZZ_CHECK(stbi_write_tga(at("image", "rgba.tga"), 5, 6, 4, px), "tga");

    /* OBJ: procedural shapes written with relative indices, v//n and v/t/n corners */
    RdMesh m = {0};
    for (int style = 0; style < 3; style++) {
        o3_shape_build(style, 0, 4, &m);
        rd_mesh_simplify(&m, 24);
        char name[64];
        snprintf(name, sizeof name, "%s-%d.obj", o3_shape_name(style), style);
        write_obj(at("obj", name), &m, style);
    }
    rd_mesh_free(&m);
    return 0;
}
