/**
 * Parity with the reference DistilBertForMaskedLM: the fixture (scripts/parity/make_fixture.py)
 * holds a small random checkpoint, padded inputs and the expected logits and hidden states.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistilBertMLM, readSafetensors, runtimeInfo } from '../lib';
import { maxAbsDiff } from './helpers';

const dir = path.join(__dirname, 'fixtures', 'parity');
const inputs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8')) as { input_ids: number[][]; attention_mask: number[][] };

async function check(device: string) {
  const model = await DistilBertMLM.load(dir, { device });
  try {
    const { tensors } = await readSafetensors(path.join(dir, 'expected.safetensors'));
    const B = inputs.input_ids.length, T = inputs.input_ids[0].length;
    const batch = {
      inputIds: Int32Array.from(inputs.input_ids.flat()),
      attentionMask: Uint8Array.from(inputs.attention_mask.flat()),
      batch: B,
      seqLen: T,
    };
    const logits = await model.logits(batch);
    const hidden = await model.hiddenStates(batch);
    expect(tensors.logits.shape).toEqual([B, T, model.config.vocab_size]);
    expect(maxAbsDiff(logits, tensors.logits.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(hidden, tensors.last_hidden_state.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    // The tied projection is absent from the file and was tied, not left random.
    expect(model.loadReport.unexpected).toEqual([]);
  } finally {
    model.dispose();
  }
}

test('CPU logits and hidden states match the reference within 1e-4 (float32)', () => check('cpu'));

const cuda = runtimeInfo().cuda;
(cuda ? test : test.skip)(`CUDA logits match the reference within 1e-4 (${cuda ? 'GPU present' : 'skipped: no CUDA device on this machine'})`, () => check('cuda'));
