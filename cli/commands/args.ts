/** Option parsers and checks the verbs share: one message for each kind of bad argument. */
import { InvalidArgumentError } from 'commander';
import { UserError } from '../errors';
import { BACKENDS } from '../../runtime/gpu';
import type { BackendName } from '../../runtime/gpu';

/** An integer option >= min (with `signed`, a leading minus is accepted before the bound check). */
export function intArg(min: number, signed = false) {
  const pattern = signed ? /^-?\d+$/ : /^\d+$/;
  return (value: string): number => {
    const n = Number(value);
    if (!pattern.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    return n;
  };
}

/** Any finite number. */
export function numArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

export function checkBackend(b: string | undefined): BackendName | undefined {
  if (b && !(BACKENDS as readonly string[]).includes(b)) throw new UserError(`--backend ${b}: expected one of ${BACKENDS.join(', ')}`);
  return b as BackendName | undefined;
}

/** Seconds as "42s" or "3m05s" for progress lines ("?" when unknown). */
export const formatSeconds = (s: number): string => (!Number.isFinite(s) ? '?' : s < 90 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);
