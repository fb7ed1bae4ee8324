/* What the 3DIEBench layout's writer and reader share: file names and the latent
 * conversion (see ds_3die.h). */
#include "data/ds_3die.h"

#include <stdio.h>

#include "core/fs.h"
#include "core/quat.h"

const char *ds3_index_file(int split, int labels) {
    static const char *const names[DS_SPLITS][2] = {{"train_images.npy", "train_labels.npy"},
                                                    {"val_images.npy", "val_labels.npy"}};
    return names[split][labels != 0];
}

int ds3_is_layout(const char *dir) {
    char p[1200];
    for (int s = 0; s < DS_SPLITS; s++)
        for (int l = 0; l < 2; l++)
            if (!wm_path_join(p, sizeof p, dir, ds3_index_file(s, l)) && wm_path_exists(p)) return 1;
    return 0;
}

void ds3_latent_to_o3(const double in[DS3_LATENT_DIM], double out[ENV_O3_LATENT_DIM]) {
    wm_quat_from_euler_xyz(out + ENV_O3_LAT_QW, in[DS3_ROT_X], in[DS3_ROT_Y], in[DS3_ROT_Z]);
    wm_quat_canon(out + ENV_O3_LAT_QW);
    out[ENV_O3_LAT_FLOOR_HUE] = in[DS3_FLOOR_HUE];
    out[ENV_O3_LAT_SPOT_THETA] = in[DS3_SPOT_THETA];
    out[ENV_O3_LAT_SPOT_PHI] = in[DS3_SPOT_PHI];
    out[ENV_O3_LAT_SPOT_HUE] = in[DS3_SPOT_HUE];
    out[ENV_O3_LAT_TX] = out[ENV_O3_LAT_TY] = out[ENV_O3_LAT_TZ] = 0;
}

void ds3_latent_from_o3(const double in[ENV_O3_LATENT_DIM], double out[DS3_LATENT_DIM]) {
    double e[3];
    wm_quat_to_euler_xyz(in + ENV_O3_LAT_QW, e);
    out[DS3_ROT_X] = e[0], out[DS3_ROT_Y] = e[1], out[DS3_ROT_Z] = e[2];
    out[DS3_FLOOR_HUE] = in[ENV_O3_LAT_FLOOR_HUE];
    out[DS3_SPOT_THETA] = in[ENV_O3_LAT_SPOT_THETA];
    out[DS3_SPOT_PHI] = in[ENV_O3_LAT_SPOT_PHI];
    out[DS3_SPOT_HUE] = in[ENV_O3_LAT_SPOT_HUE];
}
