/* The evaluation report: one Markdown page (report.md) with PNG figures drawn by the
 * program on core/canvas.h: the training loss against its references, the probes
 * beside their controls, next-view retrieval against M, and PCA of
 * z and z_AGG coloured by class; overview.png holds the four figures in one. */
#ifndef CLI_REPORT_H
#define CLI_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "run/pipeline.h"
#include "core/canvas.h"

/* The files rpt_write puts in its folder. */
#define RPT_FILE "report.md"
#define RPT_FIGURES "loss.png", "probes.png", "retrieval.png", "pca.png", "overview.png"

typedef struct {
    const char *dir;          /* output folder (exists) */
    const char *ckpt;         /* the checkpoint evaluated */
    int64_t step;             /* its training step */
    const char *run_dir;      /* folder holding its log.csv (the loss curve; may lack one) */
    const PlEvalTable *table; /* the model and its controls */
    const PlEvalData *data;   /* the evaluation sequences (labels colour the PCA) */
    const char *setup_md;     /* a paragraph on how the probes were run */
    const char *config_text;  /* the resolved config, shown at the end */
} RptInput;

/* Writes report.md and the figures into in->dir (each file atomically); path gets
 * report.md's path. Errors name the file. */
int rpt_write(const RptInput *in, char *path, size_t pathsz, char *err, size_t errsz);

/* A run's training loss curve from DIR/log.csv into steps/loss (at most cap points);
 * returns the number read (0 when the file is missing or empty). */
int rpt_read_loss(const char *dir, double *steps, double *loss, int cap);
/* DIR/NAME as a PNG. */
int rpt_save_png(const WmCanvas *c, const char *dir, const char *name, char *err, size_t errsz);

#endif
