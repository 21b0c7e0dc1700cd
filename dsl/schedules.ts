/** Learning-rate schedules: pure host-side functions of the step (no recompile when lr changes). */
import * as t from 'io-ts';

export const ScheduleConfig = t.intersection([
  t.type({ kind: t.union([t.literal('constant'), t.literal('linear'), t.literal('cosine')]) }),
  t.partial({ warmupSteps: t.number, totalSteps: t.number, minLrRatio: t.number }),
]);
export type ScheduleConfig = t.TypeOf<typeof ScheduleConfig>;

/** The multiplier of the base learning rate at a 0-based step. */
export function lrFactor(s: ScheduleConfig, step: number): number {
  const warm = s.warmupSteps ?? 0;
  if (warm > 0 && step < warm) return (step + 1) / warm;
  if (s.kind === 'constant') return 1;
  const total = s.totalSteps ?? 1;
  const minR = s.minLrRatio ?? 0;
  const progress = Math.min(1, Math.max(0, (step - warm) / Math.max(1, total - warm)));
  if (s.kind === 'linear') return minR + (1 - minR) * (1 - progress);
  return minR + (1 - minR) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
