import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../lib/checkpoint/safetensors';
import { parseConfig } from '../lib/config/load';
import { TrainingRun, TrainTask } from '../lib/train/loop';
import { tmpDir } from './helpers';

/**
 * training.metric_for_best_model: the loop keeps (in model/) the evaluation that is best by the named
 * metric. A scripted task makes the loss and the accuracy disagree about which evaluation is best.
 */
const SCRIPT = [
  { loss: 3.0, inBatchAccuracy: 0.1 },
  { loss: 2.0, inBatchAccuracy: 0.2 }, // best loss
  { loss: 2.5, inBatchAccuracy: 0.4 }, // best accuracy
  { loss: 2.2, inBatchAccuracy: 0.3 },
];

function scriptedTask(): TrainTask<number> {
  let evals = 0;
  let lastStep = 0;
  return {
    info: { device: 'cpu', parameters: 1, vocabSize: 1, trainExamples: 8, validationExamples: 4, lossName: 'scripted', evalMetrics: ['inBatchAccuracy'] },
    lengths: Array.from({ length: 8 }, () => 4),
    makeBatch: (indices) => indices.length,
    step: async () => ({ loss: 1, reportLoss: 1, gradNorm: 1, tokens: 4, finite: true, extra: {} }),
    evaluate: async () => {
      const s = SCRIPT[evals++];
      lastStep = evals;
      return { loss: s.loss, extra: { inBatchAccuracy: s.inBatchAccuracy } };
    },
    // The saved model says which evaluation it came from; the weights and optimizer files are
    // stand-ins whole enough for --resume to take the checkpoint.
    saveModel: async (dir) => {
      fs.writeFileSync(path.join(dir, 'eval.txt'), String(lastStep));
      fs.writeFileSync(path.join(dir, 'config.json'), '{}');
      await writeSafetensors(path.join(dir, 'model.safetensors'), { w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    },
    saveOptimizer: (file) => writeSafetensors(file, { m: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }),
    loadOptimizer: async () => undefined,
    joinGroup: async () => undefined,
    dispose: () => undefined,
  };
}

function config(training: Record<string, unknown>) {
  return parseConfig({
    name: 'scripted',
    model: { type: 'ra', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32 },
    data: { sources: ['embedded'] },
    training: { max_steps: 4, batch_size: 2, eval_every: 1, checkpoint_every: 0, log_every: 1, device: 'cpu', ...training },
  });
}

async function savedEval(training: Record<string, unknown>) {
  const runDir = path.join(tmpDir(), 'run');
  const r = await new TrainingRun(config(training), async () => scriptedTask(), { runDir }).run();
  return { eval: Number(fs.readFileSync(path.join(runDir, 'model', 'eval.txt'), 'utf8')), r };
}

describe('training.metric_for_best_model', () => {
  test('by default the lowest evaluation loss is kept', async () => {
    const { eval: e, r } = await savedEval({});
    expect(e).toBe(2);
    expect(r.bestEvalLoss).toBe(2.0);
  });

  test('an accuracy keeps the highest one, and the loss reported is that model\'s', async () => {
    const { eval: e, r } = await savedEval({ metric_for_best_model: 'inBatchAccuracy' });
    expect(e).toBe(3);
    expect(r.state.bestMetric).toBe(0.4);
    expect(r.bestEvalLoss).toBe(2.5);
  });

  test('greater_is_better: false turns the comparison round', async () => {
    expect((await savedEval({ metric_for_best_model: 'inBatchAccuracy', greater_is_better: false })).eval).toBe(1);
  });

  test('early stopping counts evaluations without a better metric', async () => {
    // By accuracy, evaluation 4 is the first not to improve; by loss, evaluations 3 and 4 are.
    const byLoss = await savedEval({ early_stopping_patience: 2 });
    expect(byLoss.r.stoppedBy).toBe('early_stopping');
    const byAccuracy = await savedEval({ metric_for_best_model: 'inBatchAccuracy', early_stopping_patience: 2 });
    expect(byAccuracy.r.stoppedBy).not.toBe('early_stopping');
  });

  test('a resumed run that picks by another metric compares afresh', async () => {
    const runDir = path.join(tmpDir(), 'run');
    await new TrainingRun(config({}), async () => scriptedTask(), { runDir, stopAfterSteps: 2 }).run();
    expect(fs.readFileSync(path.join(runDir, 'model', 'eval.txt'), 'utf8')).toBe('2'); // loss 2.0
    // The resumed task's first evaluation (accuracy 0.1) is the first by accuracy: it is kept.
    await new TrainingRun(config({ metric_for_best_model: 'inBatchAccuracy', max_steps: 3 }), async () => scriptedTask(), { runDir, resume: true }).run();
    expect(fs.readFileSync(path.join(runDir, 'model', 'eval.txt'), 'utf8')).toBe('1');
  });

  test('a metric the evaluation does not report is refused before training, by name', async () => {
    await expect(savedEval({ metric_for_best_model: 'bleu' })).rejects.toThrow(/metric_for_best_model: scripted's evaluation reports no "bleu"; it reports loss, inBatchAccuracy/);
  });
});
