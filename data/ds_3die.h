/* The 3DIEBench folder layout, both ways: `seqjepa gen --layout 3diebench` writes an
 * objects3d world in it (ds_3die_gen.c), and datasets in it (ours, or the published
 * 3DIEBench) are read for training and evaluation through data/dataset.h
 * (ds_3die_read.c, which needs nothing of the generator).
 *
 *   DIR/SYNSET/OBJECT/image_{i}.jpg    view i of the object, RGB JPEG
 *   DIR/SYNSET/OBJECT/latent_{i}.npy   float64 [7], the view's latent in this order:
 *       rot_x rot_y rot_z   Euler angles in radians, extrinsic XYZ (about the world's X,
 *                           then Y, then Z axis; scipy's Rotation.from_euler("xyz")),
 *                           each drawn in [-pi/2, pi/2]
 *       floor_hue           in [0, 1]
 *       spot_theta          the spot light's angle from the vertical, in [0, pi/4]
 *       spot_phi            its azimuth, in [0, 2 pi]
 *       spot_hue            in [0, 1]
 *   DIR/{train,val}_images.npy  '<U' strings [N], one object folder per row written
 *                               "/SYNSET/OBJECT/" (the authors' code drops the first
 *                               character and joins the rest to the dataset root)
 *   DIR/{train,val}_labels.npy  int64 [N], the class of each row: the rank of its
 *                               SYNSET among the sorted synsets
 *
 * Each view draws every latent independently (the 3DIEBench protocol); a sequence is
 * views of one object, the action between two views the relative transform of their
 * latents. The authors' dataset classes draw views with np.random.choice(50, ...), so
 * they need 50 views per object. */
#ifndef DS_3DIE_H
#define DS_3DIE_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "envs/objects3d.h"

enum {
    DS3_ROT_X = 0,
    DS3_ROT_Y,
    DS3_ROT_Z,
    DS3_FLOOR_HUE,
    DS3_SPOT_THETA,
    DS3_SPOT_PHI,
    DS3_SPOT_HUE,
    DS3_LATENT_DIM
};

/* Views per object read at most (a bound on the latent files probed). */
#define DS3_MAX_VIEWS 4096
/* The views per object the authors' dataset classes draw from. */
#define DS3_AUTHORS_VIEWS 50

/* "train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy". */
const char *ds3_index_file(int split, int labels);
/* Whether dir holds any of the four index files (then it is read in this layout). */
int ds3_is_layout(const char *dir);

/* The objects3d latent (q w x y z, colours, t) of a 3DIEBench latent (t zero), and
 * back (the Euler angles of q; t dropped). */
void ds3_latent_to_o3(const double in[DS3_LATENT_DIM], double out[ENV_O3_LATENT_DIM]);
void ds3_latent_from_o3(const double in[ENV_O3_LATENT_DIM], double out[DS3_LATENT_DIM]);

/* ---- reading (ds_3die_read.c; data/dataset.h's ds_open_as calls it) ---- */

typedef struct Ds3 Ds3;

/* What a folder in this layout amounts to as a dataset: a config (objects3d world,
 * iid agent, gen counts), its spec, the objects per split and the views per object. */
typedef struct {
    DsConfig cfg;
    EnvSpec spec;
    int64_t count[DS_SPLITS];
    int views;
} Ds3Info;

/* Opens dir: both index files of each split (rows checked: folder paths, labels in
 * [0, 64)), the views per object (the first object's latent_{i}.npy counted), and that
 * object's first view read. DS_OPEN_VERIFY also checks that every object folder holds
 * its last view and reads every view of the first object. want gives what the folder
 * does not fix: env.size (views are resampled to it: central square, area average)
 * and env.color_actions (actions then also carry the colour and light deltas); NULL
 * takes the defaults. Makes *out, or returns the status with the reason (naming the
 * file and row) in err and *out NULL. */
int ds3_open(const char *dir, int mode, const EnvConfig *want, Ds3Info *info, Ds3 **out, char *err, size_t errsz);
void ds3_close(Ds3 *d);
/* Views views[0..t-1] of object s of a split into row `row` of b (pixels, latents,
 * the actions between consecutive views, label, instance = s). Reads and decodes the
 * files; errors name the file. */
int ds3_copy(const Ds3 *d, int split, int64_t s, const int *views, AgBatch *b, int row,
             char *err, size_t errsz);
/* ds3_copy of objects objs[0..n-1] into rows 0..n-1, row i taking views
 * views[i*b->t ..], decoded on up to 8 threads; the error is the lowest failing row's. */
int ds3_copy_batch(const Ds3 *d, int split, int n, const int64_t *objs, const int *views, AgBatch *b,
                   char *err, size_t errsz);

/* ---- writing (ds_3die_gen.c) ---- */

typedef struct {
    const DsConfig *cfg; /* objects3d; gen.train_seqs and gen.val_seqs count objects */
    const char *dir;     /* created (with its parents) when absent */
    int force;           /* replace a folder in this layout (nothing else) */
    int quiet;           /* no progress bar */
} Ds3GenSetup;

typedef struct {
    int64_t objects[DS_SPLITS];
    int views;
    int64_t bytes;  /* written */
    double seconds; /* wall time */
} Ds3GenResult;

/* Writes the objects of the world's training split (instances in order, classes
 * within each) to train_*, of its held-out split to val_*, gen.views views each, every
 * view's latent drawn as env_sample_state does from (gen.seed, class, instance, view).
 * The tree is built in a hidden sibling folder and renamed into place when complete:
 * an error or a signal leaves dir as it was. A non-empty dir is refused unless force
 * and it holds this layout. SYNSET is the class number in 8 decimal digits, OBJECT the
 * instance number in 32 hexadecimal digits (ShapeNet's widths). */
int ds3_generate(const Ds3GenSetup *su, Ds3GenResult *res, char *err, size_t errsz);

#endif
