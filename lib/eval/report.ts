/** The evaluation's outputs: a table (terminal and Markdown), the JSON record, the Markdown report. */
import { BLEU_SMOOTHING_EPSILON, ROUGE_L_BETA } from './metrics';
import type { EvalData } from './data';
import type { ModelEvalResult } from './suite';

/** What each column means; written into eval.json and eval.md so the numbers carry their definitions. */
export const METRIC_DEFINITIONS: Record<string, string> = {
  bleu: `corpus BLEU-1/2/4 (Papineni et al. 2002), uniform weights, brevity penalty, lower-cased word tokens with punctuation split off; smoothing: Chen & Cherry (2014) method 1 (a zero n-gram count becomes ${BLEU_SMOOTHING_EPSILON}, as NLTK's method1)`,
  rougeL: `ROUGE-L F-measure from the longest common subsequence, beta = ${ROUGE_L_BETA} (as pycocoevalcap), mean over replies`,
  f1: 'unigram F1 as ParlAI computes it: lower-case, punctuation and the articles a/an/the removed, whitespace collapsed; token-overlap precision/recall/F1, max over references, mean over replies',
  distinct: 'distinct-n (Li et al. 2016): unique n-grams / all n-grams over all replies',
  perplexity: 'per variant, labelled: ED a true teacher-forced perplexity; IMR a masked pseudo-perplexity (each reply token masked in turn); RA has none',
  hits1: 'hits@1: the gold reply scores strictly highest among the example\'s candidates (ties are misses)',
  checker: "embedded corpus only: share of replies the corpus's appropriateness checker accepts",
  nonWords: 'non-word rate: share of reply words (word pieces joined, punctuation left out) that never occur as a word in the training split of the same data (its replies, contexts and personas)',
  baselines: 'baseline rows: echo (the last turn repeated), constant (always "i don\'t know ."), random (a training reply drawn at random, seeded): the same examples and metrics, to show what a number is worth',
  replyWords: 'mean words per reply (punctuation not counted)',
  repliesPerSecond: 'replies per second over the whole reply pass, batches included',
};

const f = (x: number | null | undefined, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits));
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);

/** Display names: the run name, or the directory when two models would share one. */
function names(results: readonly ModelEvalResult[]): string[] {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.model, (counts.get(r.model) ?? 0) + 1);
  return results.map((r) => ((counts.get(r.model) ?? 0) > 1 ? r.dir : r.model));
}

/** One row per model, padded so it reads on a terminal and is still a Markdown table. */
export function resultsTable(results: readonly ModelEvalResult[], data: EvalData): string {
  const head = ['model', 'variant', 'BLEU-1', 'BLEU-2', 'BLEU-4', 'ROUGE-L', 'F1', 'distinct-1', 'distinct-2', 'perplexity', `hits@1/${data.candidatesPerExample}`, 'checker ok', 'non-words', 'reply words', 'replies/s'];
  const display = names(results);
  const rows = results.map((r, i) => {
    const m = r.metrics;
    const ppl = m.perplexity === null ? '-' : `${f(m.perplexity, 2)}${r.variant === 'imr' ? ' (pseudo)' : ''}`;
    return [display[i], r.variant === 'baseline' ? '-' : r.variant, f(m.bleu1), f(m.bleu2), f(m.bleu4), f(m.rougeL), f(m.f1), f(m.distinct1), f(m.distinct2), ppl, pct(m.hits1), pct(m.checkerAccuracy), pct(m.nonWordRate), `${f(m.meanReplyWords, 1)} (ref ${f(m.meanReferenceWords, 1)})`, f(m.repliesPerSecond, 1)];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface EvalReport {
  data: string;
  n: number;
  available: number;
  seed: number;
  candidates: { source: EvalData['candidateSource']; perExample: number };
  checkerRandomBaseline: number | null;
  options: Record<string, unknown>;
  definitions: Record<string, string>;
  results: ModelEvalResult[];
  /** The trivial baselines (echo, constant, random training reply) on the same examples. */
  baselines: ModelEvalResult[];
}

export function headline(report: EvalReport): string {
  return (
    `${report.data}: ${report.n} examples (seeded sample of ${report.available}, seed ${report.seed}); ` +
    `hits@1 among ${report.candidates.perExample} candidates (${report.candidates.source === 'dataset' ? "the dataset's own" : 'gold + random replies of the split'})` +
    (report.checkerRandomBaseline !== null ? `; checker on random replies: ${pct(report.checkerRandomBaseline)}` : '')
  );
}

export function markdownReport(report: EvalReport, data: EvalData, table: string): string {
  const display = names(report.results);
  const notes = [
    ...Object.entries(report.definitions).map(([k, v]) => `- **${k}**: ${v}`),
    ...report.results.flatMap((r, i) => [
      ...(r.metrics.perplexityLabel ? [`- ${display[i]} perplexity: ${r.metrics.perplexityLabel}`] : []),
      ...(r.metrics.candidateScoreLabel ? [`- ${display[i]} candidate score: ${r.metrics.candidateScoreLabel}`] : []),
      ...(r.metrics.decodingDefaults ? [`- ${display[i]} decodes with its recipe's defaults ${JSON.stringify(r.metrics.decodingDefaults)} under the settings below`] : []),
      ...(r.metrics.nonWordExamples?.length ? [`- ${display[i]} non-words, e.g.: ${r.metrics.nonWordExamples.join(', ')}`] : []),
    ]),
  ];
  const shown = Math.min(...report.results.map((r) => r.samples.length));
  const examples: string[] = [];
  for (let i = 0; i < shown; i++) {
    const e = data.examples[i];
    examples.push(`### Example ${i + 1}`, '', ...e.context.slice(-3).map((t, j, a) => `> ${a.length - j === 1 ? '**last turn**' : 'turn'}: ${t}`), '');
    examples.push(`- reference: ${e.response}`);
    report.results.forEach((r, m) => {
      const s = r.samples[i];
      examples.push(`- **${display[m]}** (${r.variant}): ${s.reply || '(empty)'}${s.ok === undefined ? '' : s.ok ? ' ✓' : ' ✗'}`);
    });
    examples.push('');
  }
  return [
    `# ChatBERT evaluation: ${report.data}`,
    '',
    headline(report),
    '',
    table,
    '',
    '## Definitions',
    '',
    ...notes,
    '',
    `Settings: ${JSON.stringify(report.options)}. Timings: ${report.results.map((r, i) => `${display[i]} on ${r.device}: replies ${r.seconds.replies.toFixed(1)}s, candidates ${r.seconds.candidates.toFixed(1)}s, perplexity ${r.seconds.perplexity.toFixed(1)}s`).join('; ')}.`,
    '',
    '## Example conversations',
    '',
    ...examples,
  ].join('\n');
}
