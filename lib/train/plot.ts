/** The loss curve of a run as an SVG picture (Vega-Lite, rendered headless). */
import * as fs from 'node:fs';

export interface CurvePoint {
  step: number;
  loss: number;
  kind: 'train' | 'eval';
}

export async function writeLossCurve(file: string, points: readonly CurvePoint[], title: string): Promise<void> {
  // Loaded lazily: Vega is only needed at the end of a run.
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 640,
    height: 320,
    background: 'white',
    data: { values: points as unknown as Record<string, unknown>[] },
    mark: { type: 'line', point: false },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
      y: { field: 'loss', type: 'quantitative', title: 'masked-token cross-entropy', scale: { zero: false } },
      color: { field: 'kind', type: 'nominal', title: null },
    },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  fs.writeFileSync(file, svg);
}
