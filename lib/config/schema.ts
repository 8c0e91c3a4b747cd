/**
 * The schema of training configs (configs/*.yaml). Every section is strict: an unknown key is an
 * error that names it, as is a wrong type or an out-of-range value.
 */
import { z } from 'zod';

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
/** A seed: a whole number JavaScript holds exactly (2^64 would become another number, echoed negative by the addon). */
const seedInt = nonNegInt.max(Number.MAX_SAFE_INTEGER, { message: `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}` });
const prob = z.number().min(0).lt(1);

export const modelSchema = z
  .object({
    type: z.enum(['imr', 'ra', 'ed', 'rerank']).default('imr'),
    /** A Hugging Face DistilBERT directory (config.json, model.safetensors, vocab.txt), or null for random init. */
    init_from: z.string().nullable().default(null),
    /** 'bert-base-uncased' (30,522 pieces), 'pruned' (the pieces the training data uses), or a vocab.txt path. */
    vocab: z.string().default('bert-base-uncased'),
    dim: posInt.default(768),
    n_layers: posInt.default(6),
    n_heads: posInt.default(12),
    hidden_dim: posInt.default(3072),
    max_position_embeddings: posInt.default(512),
    dropout: prob.default(0.1),
    attention_dropout: prob.default(0.1),
  })
  .strict();

export const dataSchema = z
  .object({
    /** embedded | dailydialog | personachat | jsonl:<path> */
    sources: z.array(z.string().regex(/^(embedded|dailydialog|personachat|jsonl:.+)$/, 'must be embedded, dailydialog, personachat or jsonl:<path>')).min(1).default(['embedded']),
    /** Where downloaded datasets live (npm run data -- download NAME puts them there). */
    /** Where downloaded data sets live; null = $CHATBERT_HOME/data. */
    data_dir: z.string().nullable().default(null),
    max_turns: posInt.default(5),
    /** Token budget of [CLS] + context + [SEP]s. */
    max_context_tokens: z.number().int().min(8).default(256),
    /** Prepend the responder's persona sentences to the context. */
    persona: z.boolean().default(true),
    /**
     * Training only: each persona sentence the reply takes no rare word from (one in at most 1% of
     * the replies) is left out with this probability (seeded, once per example), so that a model
     * trained on personas of three to five sentences also reads the one or two a user gives it.
     */
    persona_dropout: z.number().min(0).max(1).default(0),
    /** Use at most this many training examples (null = all). */
    max_train_examples: posInt.nullable().default(null),
    max_eval_examples: posInt.default(2000),
    /** Seed of the embedded corpus generator. */
    embedded_seed: seedInt.default(0),
  })
  .strict();

/**
 * A bi-encoder learned beside a generative model's own loss (imr.bi_encoder, ed.bi_encoder): each
 * batch's contexts and replies are also encoded apart (the reply laid out as ChatBERT-RA lays it
 * out, [UNK] as its role marker), mean-pooled, and each context must pick its own reply among the
 * batch's. The model then scores replies itself by the dot product of the two vectors.
 */
export const biEncoderSchema = z
  .object({
    /** The bi-encoder loss's weight (per pair) beside the model's own loss (per token). */
    loss_weight: z.number().min(0).default(1),
    /**
     * Share of each batch's examples that also train the bi-encoder (a per-row draw; each adds a
     * context and a reply input). Below 1, a micro-batch whose draw picks no row takes its first,
     * so that every data-parallel rank has pairs to gather: then 2 ranks differ from 1 process.
     */
    share: z.number().gt(0).max(1).default(1),
    /** Token budget of a reply's input ([CLS] [UNK] reply [SEP]). */
    max_candidate_tokens: z.number().int().min(4).default(32),
  })
  .strict();

export const imrSchema = z
  .object({
    max_response_length: posInt.default(64),
    /** How the model learns where a reply ends: end tokens fill the slot after the reply and are trained, or a length head predicts the length. */
    end_mode: z.enum(['end_token', 'length_head']).default('end_token'),
    mask_ratio_min: z.number().gt(0).max(1).default(0.1),
    mask_ratio_max: z.number().gt(0).max(1).default(1.0),
    /** Weight each masked token's loss by 1/t (t = the example's mask ratio). */
    inverse_t_weighting: z.boolean().default(false),
    length_loss_weight: z.number().min(0).default(0.1),
    /**
     * Share of training rows seen without their context ([CLS] slot [SEP] alone), so that the model
     * also learns the context-free reply distribution that the guidance decoding option pushes away
     * from (classifier-free guidance's condition dropout).
     */
    context_dropout: z.number().min(0).lt(1).default(0),
    /**
     * A copy head (pointer-generator): each reply position may copy a token of the context by
     * attending to it, mixed with the vocabulary by a learned gate. A value the persona or the other
     * speaker names ("pizza", "kenya") is then pointed at instead of regenerated, where the frequent
     * value wins (bench/RESULTS.md, tenth stop).
     */
    copy_head: z.boolean().default(false),
    /**
     * The trained model's decoding defaults (option names as chat takes them, e.g. {repetitionPenalty:
     * 10, bestOf: 4}), saved in its config.json: chat, eval and the server use them unless told
     * otherwise (Hugging Face's generation_config.json).
     */
    generation: z.record(z.union([z.number(), z.string(), z.boolean()])).default({}),
    /**
     * ChatBERT-RA grounds IMR: the best reply of an RA model's pool goes into the context as a hint
     * (training never retrieves an example's own reply). null = off.
     */
    grounding: z
      .object({
        /** The RA model directory (with its pool), or run:NAME for $CHATBERT_HOME/runs/NAME/model. */
        retriever: z.string().min(1),
        /** Token budget of the hint (it counts against data.max_context_tokens, at most half of it). */
        max_tokens: z.number().int().min(1).default(24),
      })
      .strict()
      .nullable()
      .default(null),
    /**
     * The model also learns to rank replies (biEncoderSchema), with the masked-token model's
     * weights: eval's --imr-score bi_encoder ranks candidates with it, and the bestOf decoding
     * option picks among drafts with it. null = off.
     */
    bi_encoder: biEncoderSchema
      .extend({
        /**
         * Which layer's output is mean-pooled into the vectors, counted from the top: 1 the last
         * layer, 2 (default) the one below it, which leaves the last layer's gradient to the
         * masked tokens. (At the tiny sizes the replies still fall apart into repeated words either
         * way unless stop_gradient keeps the two apart: bench/RESULTS.md, fifth and sixth stops.)
         */
        layers_from_top: z.number().int().min(1).default(2),
        /**
         * Transformer layers of the bi-encoder's own, between that layer's output and the pooling
         * (0 = none): a ranking head on the masked-token model's states.
         */
        tower_layers: z.number().int().min(0).max(64).default(0),
        /**
         * Keep the bi-encoder's gradient out of the shared layers: the masked-token loss alone
         * trains them and the tower alone learns to rank, so ranking cannot cost reply quality
         * (which it does at the tiny sizes when the two share the gradient).
         */
        stop_gradient: z.boolean().default(false),
        /**
         * Peak learning rate of the tower (same schedule as training.lr); null = training.lr.
         * Only with stop_gradient, where the tower has an optimizer of its own.
         */
        tower_lr: z.number().positive().max(1).nullable().default(null),
      })
      .strict()
      .refine((b) => b.tower_lr === null || (b.stop_gradient && b.tower_layers > 0), { message: 'tower_lr needs a tower of its own: tower_layers > 0 and stop_gradient', path: ['tower_lr'] })
      .nullable()
      .default(null),
    /**
     * Sequence-level distillation: a teacher answers every training context once (cached in the run
     * directory) and the student trains on its replies mixed with the references. null = off.
     */
    distill: z
      .object({
        /** A trained ED, RA or IMR model directory, or run:NAME for $CHATBERT_HOME/runs/NAME/model. */
        teacher: z.string().min(1),
        /** Share of teacher replies among the training examples: 0 references only, 0.5 both replies of every context, 1 teacher only. */
        mix: z.number().min(0).max(1).default(0.5),
        /**
         * Contexts the teacher answers at a time. 128: ed_tiny answered in 3.0-3.8 ms per reply
         * against 4.1-5.7 at 256 on a 2-core CPU (bench/RESULTS.md, eleventh stop).
         */
        batch_size: posInt.default(128),
        /**
         * Which examples train imr.bi_encoder's pairs: the references only (the default: the bi-encoder
         * ranks human replies, and a teacher's replies are easy to tell from them), or all.
         */
        pairs: z.enum(['references', 'all']).default('references'),
        /**
         * Where the reference takes a word from the context (the persona's food, the place the other
         * speaker named) and the teacher's reply leaves it out, train on the reference instead: a
         * teacher's stock reply ("i could eat pancakes every day" to a pizza persona) would teach the
         * student to ignore the context (bench/RESULTS.md, tenth stop).
         */
        grounded: z.boolean().default(false),
        /** The teacher's decoding settings (ED/IMR option names, e.g. {iterations: 16}); none for RA. */
        options: z.record(z.union([z.number(), z.string(), z.boolean()])).default({}),
      })
      .strict()
      .nullable()
      .default(null),
  })
  .strict()
  .refine((c) => c.mask_ratio_min <= c.mask_ratio_max, { message: 'mask_ratio_min must be <= mask_ratio_max', path: ['mask_ratio_min'] });

/** ChatBERT-RA (retrieval): a bi-encoder trained with in-batch negatives (model.type: ra). */
export const raSchema = z
  .object({
    /** Sentence vector: the masked mean of the last hidden states, or the [CLS] state. */
    pooling: z.enum(['mean', 'cls']).default('mean'),
    /** Token budget of a candidate reply, [CLS] [MASK] ... [SEP] included. */
    max_candidate_tokens: z.number().int().min(4).default(32),
    /** Do not use a copy of a row's own reply text elsewhere in the batch as a negative. */
    dedupe_negatives: z.boolean().default(true),
    /** Sources whose training-split responses make the pool written beside the model (null = data.sources). */
    pool_sources: z.array(z.string().regex(/^(embedded|dailydialog|personachat|jsonl:.+)$/, 'must be embedded, dailydialog, personachat or jsonl:<path>')).min(1).nullable().default(null),
    /** At most this many pool candidates (a seeded sample; null = all distinct responses). */
    pool_max_candidates: posInt.nullable().default(null),
  })
  .strict();

/** ChatBERT-ED (encoder-decoder): the DistilBERT of `model` encodes the context, this decoder writes the reply (model.type: ed). */
export const edSchema = z
  .object({
    /** The autoregressive decoder (pre-LN GPT blocks with cross-attention to the encoder), under GPT-2's names as in its checkpoint and the C++. */
    decoder: z
      .object({
        n_embd: posInt.default(512),
        n_layer: posInt.default(4),
        n_head: posInt.default(8),
        n_inner: posInt.default(2048),
        n_positions: posInt.default(256),
        dropout: prob.default(0.1),
      })
      .strict()
      .default({})
      .refine((d) => d.n_embd % d.n_head === 0, { message: 'n_embd must be divisible by n_head', path: ['n_embd'] }),
    /** Reply tokens trained on (longer replies are cut); the decoder needs one more position for [BOS]. */
    max_response_length: posInt.default(128),
    /** Train the decoder only; the encoder keeps its (pretrained) weights. */
    freeze_encoder: z.boolean().default(false),
    /** Peak learning rate of the encoder (same schedule as training.lr, which the decoder uses); null = training.lr. */
    encoder_lr: z.number().positive().max(1).nullable().default(null),
    label_smoothing: z.number().min(0).lt(1).default(0),
    /**
     * The encoder also learns to rank replies (biEncoderSchema; its last states, mean-pooled):
     * eval's --ed-score bi_encoder ranks candidates with it. null = off.
     */
    bi_encoder: biEncoderSchema.nullable().default(null),
  })
  .strict()
  .refine((c) => c.max_response_length + 1 <= c.decoder.n_positions, {
    message: 'max_response_length + 1 ([BOS]) must be <= decoder.n_positions',
    path: ['max_response_length'],
  })
  .refine((c) => !(c.bi_encoder && c.freeze_encoder), { message: 'bi_encoder trains the encoder, which freeze_encoder keeps frozen', path: ['bi_encoder'] });

export const trainingSchema = z
  .object({
    epochs: posInt.default(10),
    /** Stop after this many optimizer steps (null = epochs decide). */
    max_steps: posInt.nullable().default(null),
    /** Stop after this many minutes of training (null = no limit); a checkpoint is written. */
    max_minutes: z.number().positive().nullable().default(null),
    /**
     * Fit the learning-rate schedule to max_minutes: the decay follows the share of the time spent
     * when it is ahead of the share of steps done, and max_minutes then counts the whole run, across
     * resumes. A run cut by its clock (a slower machine) still ends annealed, with fewer steps.
     */
    fit_schedule_to_max_minutes: z.boolean().default(false),
    batch_size: posInt.default(32),
    grad_accum: posInt.default(1),
    lr: z.number().positive().max(1).default(5e-5),
    // The optimizer's defaults are the addon's (native/binding/adamw_options.cpp): unset = those.
    weight_decay: z.number().min(0).max(1).optional(),
    adam_beta1: prob.optional(),
    adam_beta2: prob.optional(),
    adam_eps: z.number().positive().optional(),
    warmup_ratio: z.number().min(0).max(1).default(0.1),
    schedule: z.enum(['linear', 'cosine', 'constant']).default('linear'),
    clip_norm: z.number().min(0).optional(),
    seed: seedInt.default(42),
    /** Evaluate every N optimizer steps (0 = only at the end of each epoch). */
    eval_every: nonNegInt.default(500),
    /**
     * What picks the saved model (model/) among the evaluations, as Hugging Face's Trainer names it:
     * the evaluation loss, or a metric the variant's evaluation reports beside it (RA inBatchAccuracy,
     * a bi-encoder's pairAccuracy, ED perplexity, ...). Early stopping watches it too.
     */
    metric_for_best_model: z.string().min(1).default('loss'),
    /** Whether a larger metric_for_best_model is better; unset: false for loss and perplexity, true for the others (accuracies). */
    greater_is_better: z.boolean().optional(),
    /** Stop when metric_for_best_model has not improved for this many evaluations (0 = never). */
    early_stopping_patience: nonNegInt.default(0),
    checkpoint_every: nonNegInt.default(1000),
    keep_checkpoints: posInt.default(3),
    log_every: posInt.default(10),
    /** bf16 autocast (CUDA only; ignored on the CPU). */
    bf16: z.boolean().default(true),
    /** cpu, cuda, cuda:N, auto */
    device: z.string().default('auto'),
    /** Length-bucketed batching: examples are sorted by length within windows of this many batches. */
    bucket_batches: posInt.default(50),
  })
  .strict()
  .refine((t) => !t.fit_schedule_to_max_minutes || t.max_minutes !== null, { message: 'fit_schedule_to_max_minutes needs max_minutes', path: ['fit_schedule_to_max_minutes'] });

/**
 * ChatBERT-RA's cross-encoder (model.type: rerank): context and candidate in one input, a score
 * head on [CLS], trained to pick each context's own reply among group_size candidates, and used to
 * re-rank the bi-encoder's top_k. It starts from the bi-encoder's weights (and vocabulary) unless
 * model.init_from says otherwise; data.* and ra.max_candidate_tokens shape its inputs.
 */
export const rerankSchema = z
  .object({
    /** The bi-encoder it re-ranks for (a directory with its pool, or run:NAME); it also finds the hard negatives. */
    retriever: z.string().min(1).nullable().default(null),
    /** Candidates per context in training: its own reply and group_size - 1 others. */
    group_size: z.number().int().min(2).max(64).default(8),
    /** How many of the others are the bi-encoder's best wrong replies (the rest are random replies). */
    hard_negatives: z.number().int().min(0).default(4),
    /** How many of the bi-encoder's best candidates are re-ranked at chat and evaluation time. */
    top_k: z.number().int().min(1).max(1000).default(20),
  })
  .strict()
  .refine((c) => c.hard_negatives <= c.group_size - 1, { message: 'hard_negatives must be <= group_size - 1', path: ['hard_negatives'] });

export const configSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    model: modelSchema.default({}),
    data: dataSchema.default({}),
    imr: imrSchema.default({}),
    ed: edSchema.default({}),
    ra: raSchema.default({}),
    rerank: rerankSchema.default({}),
    training: trainingSchema.default({}),
    /** Run directory (checkpoints, metrics.jsonl, loss curve). */
    output_dir: z.string().optional(),
  })
  .strict();

export type ChatBertConfig = z.infer<typeof configSchema>;
