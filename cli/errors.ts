/**
 * How the CLI ends. Errors the user can fix (bad arguments, a broken config or file, no GPU
 * adapter) become one line on stderr and a non-zero exit code: a stack trace there would only
 * hide the message. Anything else is a bug of ours, so it keeps its stack and exits 70
 * (EX_SOFTWARE in sysexits.h). OMNI_DEBUG=1 shows stacks for every error.
 */

export class UserError extends Error {
  override name = 'UserError';
  /** 2 (usage or input) unless the caller says otherwise */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Error classes, by name, whose messages are written for users (matched by name, not by
 * import, so that errors.ts does not pull in the modules that define them). */
const USER_FACING = new Set(['UserError', 'ConfigError', 'SafetensorsError', 'TuneFileError', 'ShapeError', 'DeviceError', 'InputError', 'RunError', 'WeightsError', 'CheckpointError', 'GradError', 'MediaError']);
/** Of those, the ones caused by the user's input (exit 2 by default); the others exit 1. */
const INPUT_ERRORS = new Set(['UserError', 'ConfigError', 'InputError', 'RunError', 'WeightsError']);

export const EXIT_BUG = 70;

function isUserFacing(e: unknown): e is Error & { exitCode?: unknown } {
  if (!(e instanceof Error) || !e.name.endsWith('Error')) return false;
  return USER_FACING.has(e.name) || (e as { userFacing?: unknown }).userFacing === true;
}

function debugLevel(): number {
  const n = Number(process.env.OMNI_DEBUG ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** Runs a CLI body and returns its exit code; never throws. */
export async function runCli(
  fn: () => Promise<number | void>,
  writeErr: (text: string) => void = (text) => void process.stderr.write(text),
): Promise<number> {
  try {
    return (await fn()) ?? 0;
  } catch (e) {
    if (isUserFacing(e)) {
      // One line, whatever the message holds, so scripts can grep it.
      writeErr(`omni-emotion: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
      if (debugLevel() >= 1 && e.stack) writeErr(`${e.stack}\n`);
      const code = e.exitCode;
      if (typeof code === 'number' && Number.isInteger(code) && code > 0) return code;
      return INPUT_ERRORS.has(e.name) ? 2 : 1;
    }
    const detail = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    writeErr(`omni-emotion: internal error (a bug, please report it):\n${detail}\n`);
    return EXIT_BUG;
  }
}
