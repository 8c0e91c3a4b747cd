/** Learning-rate schedules: linear warmup, then linear or cosine decay to 0 (or constant). */
export type ScheduleKind = 'linear' | 'cosine' | 'constant';

/**
 * The learning rate at `step`. `timeProgress` (0..1, the share of a time budget spent) moves the run
 * on to where its clock says it should be when that is further than its steps are, so that a run cut
 * by its clock still warms up and ends annealed.
 */
export function learningRate(step: number, totalSteps: number, peak: number, warmupSteps: number, kind: ScheduleKind, timeProgress = 0): number {
  const at = Math.max(step, timeProgress * totalSteps);
  if (at < warmupSteps) return (peak * Math.min(at + 1, warmupSteps)) / warmupSteps;
  if (kind === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (at - warmupSteps) / span);
  return kind === 'linear' ? peak * (1 - progress) : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}
