/** Learning-rate schedules: linear warmup, then linear or cosine decay to 0 (or constant). */
export type ScheduleKind = 'linear' | 'cosine' | 'constant';

export function learningRate(step: number, totalSteps: number, peak: number, warmupSteps: number, kind: ScheduleKind): number {
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  if (kind === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return kind === 'linear' ? peak * (1 - progress) : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}
