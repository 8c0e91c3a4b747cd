/**
 * Training entry points: a config in, a run directory out. The loop is lib/train/loop.ts; each
 * model variant is a task (ChatBERT-IMR: imr-task.ts).
 */
import type { ChatBertConfig } from '../config/schema';
import type { ImrBatch } from '../imr/batch';
import { checkImrFits, createImrTask } from './imr-task';
import type { ContrastiveBatch } from '../native';
import { RaTrainingRun } from './ra-task';
import { EdTrainingRun } from './ed-task';
import type { CrossEncoderBatch, EdTrainBatch } from '../native';
import { RerankTrainingRun } from './rerank-task';
import { TrainingRun, type TrainOptions, type TrainResult } from './loop';

export { TrainingDivergedError, TrainingRun } from './loop';
export type { EvalLog, StepLog, TaskStepResult, TrainOptions, TrainResult, TrainTask, TrainerEvents } from './loop';
export { chatbertMeta, encodeExamples, objectiveOf } from './imr-task';
export { RaTrainingRun, trainRa, writeRaPool, raChatbertMeta } from './ra-task';
export { EdTrainingRun, edChatbertMeta } from './ed-task';
export { RerankTrainingRun, rerankChatbertMeta } from './rerank-task';

/** Trains ChatBERT-IMR. Emits 'start', 'step', 'eval', 'checkpoint', 'message'. */
export class ImrTrainingRun extends TrainingRun<ImrBatch> {
  constructor(config: ChatBertConfig, options: TrainOptions<ImrBatch> = {}) {
    if (!config.model.init_from) checkImrFits(config, config.model.max_position_embeddings);
    super(config, createImrTask, options);
  }
}

export function trainImr(config: ChatBertConfig, options: TrainOptions<ImrBatch> = {}): Promise<TrainResult> {
  return new ImrTrainingRun(config, options).run();
}

/** The run for a config, by its model.type. */
export function trainingRunFor(config: ChatBertConfig, options: TrainOptions = {}): TrainingRun<unknown> {
  switch (config.model.type) {
    case 'imr':
      return new ImrTrainingRun(config, options as TrainOptions<ImrBatch>) as TrainingRun<unknown>;
    case 'ra':
      return new RaTrainingRun(config, options as TrainOptions<ContrastiveBatch>) as TrainingRun<unknown>;
    case 'ed':
      return new EdTrainingRun(config, options as TrainOptions<EdTrainBatch>) as TrainingRun<unknown>;
    case 'rerank':
      return new RerankTrainingRun(config, options as TrainOptions<CrossEncoderBatch>) as TrainingRun<unknown>;
  }
}
