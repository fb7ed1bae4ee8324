/* The inverse warm-up's objective (train.inverse_steps): from the encodings of two
 * consecutive views, a head (inverse.0: Linear 2D -> H, ReLU, inverse.2: Linear H -> A)
 * regresses the relative action between them, in the form of the equivariance target
 * (the batch's probe_targets, else the actions), by mean squared error. The gradient
 * reaches the online encoder, which learns what the action changed in the view; no
 * label is read. The head's tensors live in a registry the caller owns (the trainer's
 * probe registry, so that checkpoints keep them); the caller zeroes the gradients and
 * steps the optimiser. */
#ifndef SJ_INVERSE_H
#define SJ_INVERSE_H

#include "model/sj_model.h"
#include "model/sj_train.h"
#include "nn/nn.h"

typedef struct {
    int D, A, H, views, pairs; /* encodings, action dims, hidden units, views per sequence, pairs */
    NnLinearP l0, l2;
    float *xin, *pre, *h, *out, *target, *dout, *dh, *dpre, *dxin, *dz;
} SjInverse;

/* Registers the head in p for batches of up to B sequences whose first `views` views
 * it reads (views >= 2) and sizes its buffers: call before the store of p is created. */
void sj_inverse_register(SjInverse *iv, NnParams *p, const SjModel *m, int H, int B, int views);
void sj_inverse_free(SjInverse *iv);

/* One batch (b->n <= B sequences of b->t >= views views): encodes the first `views` of
 * each in training mode, predicts each of their views-1 actions from the encodings of
 * the two views it joins, and adds the gradients of the mean squared error to the
 * head's (in s->grad, s the store of the registry) and the encoder's (the model's other
 * gradients 0). Returns the loss; the predictions and targets, [pairs, A] row
 * b*(views-1) + k, stay in iv->out and iv->target until the next call. */
double sj_inverse_grad(SjInverse *iv, SjModel *m, NnStore *s, const SjBatch *b);

#endif
