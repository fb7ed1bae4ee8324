/* The [model], [optim], [train] and [eval] sections of a run's configuration. The
 * defaults are the CPU-sized choices; configs/ holds the presets (quick, default,
 * paper) and the paper's values are noted in the help text. */
#ifndef SJ_CONFIG_H
#define SJ_CONFIG_H

#include "core/config.h"

#define SJ_MODEL_FIELDS(X, S)                                                                      \
    X(S, ENUM, encoder, "small", 0, 0, "small|resnet18|resnet18-cifar", "view encoder (paper: resnet18)") \
    X(S, INT, width, "32", 4, 128, NULL, "small encoder: channels of the first stage (x2 per stage, 4 stages)") \
    X(S, BOOL, zero_init_residual, "true", 0, 0, NULL, "each residual block's last batch-norm weight starts at 0, so the untrained encoder is its shortcut path (paper, torchvision's zero_init_residual); false: at 1") \
    X(S, INT, pool_grid, "1", 1, 8, NULL, "encoder output: the average of each cell of a g x g grid over its last feature map, flattened (g*g times the channels, so where things lie in the view is kept); 1: one global average (paper)") \
    X(S, INT, action_emb, "128", 1, 4096, NULL, "action embedding size (paper 128)")               \
    X(S, INT, layers, "3", 1, 24, NULL, "transformer layers (paper 3)")                            \
    X(S, INT, heads, "4", 1, 64, NULL, "attention heads (paper 4)")                                \
    X(S, INT, ffn_ratio, "4", 1, 16, NULL, "transformer feed-forward width / model width (paper 4)") \
    X(S, REAL, dropout, "0.1", 0, 0.9, NULL, "transformer dropout (paper 0.1)")                     \
    X(S, INT, pred_hidden, "1024", 1, 16384, NULL, "predictor hidden width (paper 1024)")          \
    X(S, ENUM, action_cond, "both", 0, 0, "both|transformer|predictor|none", "where actions condition the model (ablations)") \
    X(S, BOOL, ema, "true", 0, 0, NULL, "EMA target encoder (false: stop-gradient on the online encoder)") \
    X(S, REAL, ema_base, "0.996", 0, 1, NULL, "EMA momentum at the start of the cosine schedule (paper 0.996)") \
    X(S, REAL, var_weight, "0", 0, 1000, NULL, "weight of a VICReg variance hinge on each batch of online encodings, added to the loss that trains (0: off, as the paper); the logged loss stays the prediction loss alone") \
    X(S, REAL, cov_weight, "0", 0, 1000, NULL, "weight of a VICReg covariance penalty on each batch of online encodings, added to the loss (0: off, as the paper)") \
    X(S, STR, pixel_mean, "0.5 0.5 0.5", 0, 0, NULL, "per-channel pixel mean (RGB, pixels in [0,1])") \
    X(S, STR, pixel_std, "0.25 0.25 0.25", 0, 0, NULL, "per-channel pixel std (RGB)")           \
    X(S, ENUM, precision, "fp32", 0, 0, "fp32|bf16", "bf16: products in bfloat16 with float sums and float weights (needs AVX512_BF16)")

#define SJ_OPTIM_FIELDS(X, S)                                                                      \
    X(S, REAL, lr, "4e-4", 0, 10, NULL, "peak learning rate (paper 4e-4)")                         \
    X(S, REAL, weight_decay, "1e-3", 0, 10, NULL, "AdamW weight decay, not on biases and norms (paper 1e-3)") \
    X(S, REAL, warmup, "0.05", 0, 1, NULL, "linear warm-up as a share of all steps, then cosine")  \
    X(S, REAL, min_lr, "0", 0, 10, NULL, "learning rate at the end of the cosine")                 \
    X(S, REAL, pred_lr_scale, "1", 0, 100, NULL, "the predictor's learning rate / lr, on the same schedule (1: one rate for all, as the paper)") \
    X(S, REAL, beta1, "0.9", 0, 1, NULL, "AdamW beta1")                                           \
    X(S, REAL, beta2, "0.999", 0, 1, NULL, "AdamW beta2")                                         \
    X(S, REAL, eps, "1e-8", 0, 1, NULL, "AdamW epsilon")

#define SJ_TRAIN_FIELDS(X, S)                                                                      \
    X(S, INT, steps, "1000", 0, 100000000, NULL, "optimiser steps of seq-JEPA, after the train.inverse_steps of the warm-up (0: the warm-up alone)") \
    X(S, INT, batch, "64", 2, 65536, NULL, "sequences per step (paper 512)")                       \
    X(S, INT, m_train, "3", 1, 64, NULL, "observed views per sequence; the target is view M+1 (paper 1 or 3)") \
    X(S, INT, m_min, "0", 0, 64, NULL, "0: every step observes train.m_train views; 1..m_train: each step observes M views, M drawn uniformly from m_min..m_train per step (from train.seed and the step, the same on every rank), the target view M+1") \
    X(S, INT, seed, "0", 0, 2147483647, NULL, "run seed: data, initialisation and dropout streams derive from it") \
    X(S, INT, log_every, "10", 1, 1000000, NULL, "steps between CSV log rows")                     \
    X(S, INT, ckpt_every, "0", 0, 100000000, NULL, "steps between checkpoints (0: only at the end)") \
    X(S, REAL, probe_lr, "1e-3", 0, 10, NULL, "learning rate of the on-line probes")              \
    X(S, INT, inverse_steps, "0", 0, 100000000, NULL, "steps of an inverse-dynamics warm-up before the train.steps seq-JEPA steps: the online encoder and a head (Linear, ReLU, Linear) regress each relative action, in the form of the equivariance target, from the encodings of the two views it joins; no label is read. Then the target encoder is set to the online one and AdamW starts afresh; train.out/inverse/ keeps the model as the warm-up left it (0: none, as the paper)") \
    X(S, REAL, inverse_lr, "2e-3", 0, 10, NULL, "peak learning rate of the inverse warm-up (linear warm-up over optim.warmup of its steps, then cosine to optim.min_lr)") \
    X(S, INT, inverse_hidden, "256", 1, 16384, NULL, "hidden width of the inverse warm-up's head") \
    X(S, STR, out, "runs/default", 0, 0, NULL, "run folder: log.csv, checkpoints, eval")          \
    X(S, INT, ghost, "1", 1, 65536, NULL, "batch-norm statistics over this many equal sub-batches of each rank's share (ghost batches): R ranks x G ghosts normalise over batch/(R*G) sequences, as R*G ranks would; like train.ranks not stored in checkpoints") \
    X(S, INT, ranks, "0", 0, 65536, NULL, "processes the run must have (mpirun -np; 0: as many as started); how a run is spread, not stored in checkpoints") \
    X(S, BOOL, check_ranks, "false", 0, 0, NULL, "debug: after every step check that all ranks hold bit-identical parameters, moments and buffers")

#define SJ_EVAL_FIELDS(X, S)                                                                       \
    X(S, INT, m_max, "5", 1, 64, NULL, "largest M of the z_AGG probes (top-1 for M = 1..m_max)") \
    X(S, INT, train_seqs, "2048", 8, 10000000, NULL, "probe training sequences (train split objects)") \
    X(S, INT, test_seqs, "512", 8, 10000000, NULL, "probe test sequences (held-out objects)")      \
    X(S, INT, mlp_hidden, "1024", 1, 16384, NULL, "rotation regressor hidden width (paper MLP 2x1024)") \
    X(S, INT, mlp_epochs, "60", 1, 100000, NULL, "rotation regressor epochs")                      \
    X(S, INT, seed, "1", 0, 2147483647, NULL, "evaluation data and probe seed")                    \
    X(S, INT, retr_m_max, "4", 1, 16, NULL, "next-view retrieval: observed views M = 1..retr_m_max") \
    X(S, INT, retr_k, "7", 1, 63, NULL, "next-view retrieval: distractors (other poses of the same object) per query") \
    X(S, INT, retr_seqs, "512", 8, 1000000, NULL, "next-view retrieval: held-out sequences")       \
    X(S, INT, retr_pool, "40", 1, 1000, NULL, "next-view retrieval: views after view M+1 from which the distractors are the first retr_k the action a_M could have led to") \
    X(S, REAL, supervised_pose, "-1", -1, 1, NULL, "pose R^2 of a supervised reader of one view on this data, shown as the upper-bound column (-1: none)") \
    X(S, STR, supervised_source, "", 0, 0, NULL, "where supervised_pose was measured (command, commit), shown beside it")

WM_CFG_STRUCT(SjModelConfig, SJ_MODEL_FIELDS);
WM_CFG_STRUCT(SjOptimConfig, SJ_OPTIM_FIELDS);
WM_CFG_STRUCT(SjTrainConfig, SJ_TRAIN_FIELDS);
WM_CFG_STRUCT(SjEvalConfig, SJ_EVAL_FIELDS);
WM_CFG_FIELDS_DECL(SjModelConfig);
WM_CFG_FIELDS_DECL(SjOptimConfig);
WM_CFG_FIELDS_DECL(SjTrainConfig);
WM_CFG_FIELDS_DECL(SjEvalConfig);

enum { SJ_ENC_SMALL = 0, SJ_ENC_RESNET18, SJ_ENC_RESNET18_CIFAR };
enum { SJ_PREC_FP32 = 0, SJ_PREC_BF16 };
enum { SJ_COND_BOTH = 0, SJ_COND_TRANSFORMER, SJ_COND_PREDICTOR, SJ_COND_NONE };

/* Parses "a b c" (spaces or commas) into three finite numbers; std entries must be
 * positive. Returns WM_OK or an error naming the key. */
int sj_parse_rgb(const char *text, const char *key, int positive, float out[3], char *err, size_t errsz);

#endif
