/**
 * The loss curve of a run as a small SVG picture: train and eval losses against the optimizer
 * step, axes with round ticks, the y axis labelled by the task's objective. Written by hand (a few
 * dozen lines) rather than through a plotting stack of tens of megabytes.
 */
import * as fs from 'node:fs';

export interface CurvePoint {
  step: number;
  loss: number;
  kind: 'train' | 'eval';
}

/** About `n` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = { train: '#4c78a8', eval: '#f58518' } as const;

export function lossCurveSvg(points: readonly CurvePoint[], title: string, yLabel: string): string {
  const W = 720, H = 380, L = 70, R = 90, T = 40, B = 50;
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const xs = finite.map((p) => p.step), ys = finite.map((p) => p.loss);
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  let y0 = finite.length ? Math.min(...ys) : 0, y1 = finite.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1, 8))
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`, `<text x="${sx(t)}" y="${H - B + 15}" text-anchor="middle">${t}</text>`);
  for (const t of niceTicks(y0, y1, 6))
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`, `<text x="${L - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  parts.push(
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">optimizer step</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  (['train', 'eval'] as const).forEach((kind, i) => {
    const pts = finite.filter((p) => p.kind === kind);
    if (!pts.length) return;
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${sx(p.step).toFixed(1)},${sy(p.loss).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[kind]}" stroke-width="1.5"/>`);
    if (pts.length < 40) for (const p of pts) parts.push(`<circle cx="${sx(p.step).toFixed(1)}" cy="${sy(p.loss).toFixed(1)}" r="2.5" fill="${COLORS[kind]}"/>`);
    parts.push(`<line x1="${W - R + 10}" x2="${W - R + 28}" y1="${T + 10 + i * 18}" y2="${T + 10 + i * 18}" stroke="${COLORS[kind]}" stroke-width="2"/>`, `<text x="${W - R + 32}" y="${T + 14 + i * 18}">${kind}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

export async function writeLossCurve(file: string, points: readonly CurvePoint[], title: string, yLabel = 'loss'): Promise<void> {
  await fs.promises.writeFile(file, lossCurveSvg(points, title, yLabel));
}
