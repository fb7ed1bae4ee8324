/* The seq-JEPA model (Ghaemi, Muller, Bakhtiari 2025) on the nn engine:
 *
 *   z_i   = f(x_i)                          encoder (ResNet), i = 1..M observed views
 *   e_i   = BN(W_a a_i)                      action projection (no bias; BN affine=False)
 *   tok_i = [z_i | e_i], e_M := 0            the last observed token carries no action
 *   z_AGG = LN(Transformer([AGG; tok_1..M]))[AGG]   post-norm, no positional embedding
 *   z_hat = Pred([z_AGG | e_M])              Linear(no bias) -> BN -> ReLU -> Linear
 *   loss  = mean(1 - cos(z_hat, f_target(x_{M+1})))   f_target: EMA of f, no gradient
 *           (+ an optional VICReg variance-covariance term on the batch's z, off by default)
 *
 * a_i is the relative action from view i to view i+1. Tensor names follow the
 * PyTorch module names (encoder.*, action_proj.0.weight, action_proj.1.running_*,
 * transformer_encoder.transformer_encoder.layers.N.*, transformer_encoder.norm.*,
 * agg_token, predictor.{0,1,3}.*, target_encoder.*) of the authors' SeqJEPA_Transforms
 * and SeqJEPA_PLS, whose transformer wrapper owns the stack and the final norm, so
 * checkpoints load into PyTorch by name. Files that name the final norm
 * transformer_encoder.transformer_encoder.norm.* (as written before) load too. */
#ifndef SJ_MODEL_H
#define SJ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/safetensors.h"
#include "nn/nn.h"
#include "model/sj_config.h"

typedef struct SjModel SjModel;

typedef struct {
    int img_h, img_w;
    int action_dim;
    int n_classes; /* for the on-line class probe */
} SjShape;

/* Builds the model into *out and initialises every tensor from seed (PyTorch's
 * default init rules; the target encoder starts as a copy of the online one). A
 * config that cannot be built returns its status with the reason in err and *out NULL:
 * WM_ERR_ARG for heads not dividing the width or images too small for the encoder,
 * WM_ERR_PARSE for a pixel_mean that is not three numbers. */
int sj_model_create(const SjModelConfig *cfg, const SjShape *shape, uint64_t seed, SjModel **out, char *err,
                    size_t errsz);
void sj_model_destroy(SjModel *m);
/* Encoder output width D, token width E = D + action_emb. */
int sj_model_enc_dim(const SjModel *m);
int sj_model_agg_dim(const SjModel *m);
const SjShape *sj_model_shape(const SjModel *m);
/* The config the model was built from (for an untrained twin: sj_model_create). */
const SjModelConfig *sj_model_config(const SjModel *m);
/* Trainable parameter count (online side: encoder, action projection, transformer,
 * [AGG], predictor). */
size_t sj_model_param_count(const SjModel *m);
/* FLOPs of one training step on B sequences of M observed views: forward and
 * backward (2x forward, less the input gradients never formed: the encoder's stem and
 * the action projection) of the encoder, transformer, action projection and predictor,
 * and the target encoder's forward. */
double sj_model_step_flops(const SjModel *m, int B, int M);
/* Bytes of activation memory bound so far. */
size_t sj_model_bound_bytes(const SjModel *m);

/* Sizes the activation memory for batches of up to max_b sequences of up to max_m
 * observed views; with_grad for training. Call before the step or eval functions
 * (again to grow). Never called inside a step. */
void sj_model_bind(SjModel *m, int max_b, int max_m, int with_grad);

typedef struct {
    double loss;         /* the prediction loss */
    double reg;          /* the variance-covariance term (model.var_weight, cov_weight), or 0 */
    double grad_norm;
    const float *z_agg;  /* [B, E] this step's aggregates (valid until the next call) */
    const float *z;      /* [B*M, D] this step's encodings, row b*M + i */
    const float *z_tgt;  /* [B, D] target encodings of view M+1 */
} SjStepOut;

/* One training forward and backward on B sequences: views uint8 [B, T, H, W, 3],
 * actions float [B, T-1, A], T >= M+1; views 0..M-1 are observed, view M is the
 * target. Gradients are left in the model for sj_model_update. rng draws dropout. */
void sj_model_train_step(SjModel *m, const uint8_t *views, const float *actions, int B, int T,
                         int M, WmRng *rng, SjStepOut *out);
/* AdamW's betas, epsilon and weight decay (the learning rate comes per step). */
void sj_model_set_optim(SjModel *m, const SjOptimConfig *o);
/* AdamW step with learning rate lr, then the target encoder's EMA with momentum tau
 * (tau 0 copies the online encoder: the no-EMA, stop-gradient variant). */
void sj_model_update(SjModel *m, double lr, double tau);

/* The encoder alone, for training objectives on its encodings (the trainer's inverse
 * warm-up): encodes the first K views of each of B sequences of T views (uint8
 * [B, T, H, W, 3]) in training mode (batch statistics over the B*K views, running
 * statistics updated) and zeroes every gradient; returns z [B*K, D], row b*K + k, valid
 * until the next call. sj_model_encode_backward then adds the encoder's gradients of
 * dz [B*K, D] (the other parameters' stay 0). */
const float *sj_model_encode_train(SjModel *m, const uint8_t *views, int B, int T, int K);
void sj_model_encode_backward(SjModel *m, const float *dz);
/* AdamW step with learning rate lr on the online encoder alone (the action projection,
 * transformer, [AGG] and predictor are left as they are: no decay), then the target
 * encoder set to the online one (weights and running statistics). */
void sj_model_update_encoder(SjModel *m, double lr);
/* Clears AdamW's moments and step count: the next update starts a fresh optimiser. */
void sj_model_reset_optim(SjModel *m);

/* Eval-mode encodings of n views (uint8 [n, H, W, 3]) into z [n, D]. */
void sj_model_encode(SjModel *m, const uint8_t *views, int n, float *z);
/* Eval-mode aggregate of B sequences of M encodings z [B, M, D] and the M-1 actions
 * between them [B, M-1, A] into z_agg [B, E]. Ablations at inference: zero_actions
 * zeroes every action embedding, zero_features every encoding. */
enum { SJ_ZERO_ACTIONS = 1, SJ_ZERO_FEATURES = 2 };
void sj_model_aggregate(SjModel *m, const float *z, const float *actions, int B, int M, int flags,
                        float *z_agg);
/* Eval-mode prediction z_hat [B, D] from z_agg [B, E] and the next action [B, A]. */
void sj_model_predict(SjModel *m, const float *z_agg, const float *action, int B, float *z_hat);
/* Encodings of n views by the target (EMA) encoder, the training loss's target. */
void sj_model_encode_target(SjModel *m, const uint8_t *views, int n, float *z);

/* Copies every tensor, buffer and counter of src (online and target; not the optimiser
 * state) into dst, a model built with the same config and shape: a snapshot that
 * another thread can evaluate while src trains. */
void sj_model_copy_weights(SjModel *dst, const SjModel *src);

/* Checkpoint tensors (online and target) into a writer (data referenced: keep m alive
 * until the writer saves), and back (all or nothing; errors name the tensor). */
void sj_model_save(const SjModel *m, WmStWriter *w);
int sj_model_load(SjModel *m, const WmStFile *f, char *err, size_t errsz);
/* Optimiser state (AdamW moments and step) for exact resumption. */
void sj_model_save_optim(const SjModel *m, WmStWriter *w, int64_t *step_store);
int sj_model_load_optim(SjModel *m, const WmStFile *f, char *err, size_t errsz);

/* The registries and storage, for tests that compare with PyTorch. */
const NnParams *sj_model_params(const SjModel *m, int target);
NnStore *sj_model_store(SjModel *m, int target);

#endif
