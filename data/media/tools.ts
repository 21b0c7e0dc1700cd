/**
 * Finding and running ffmpeg/ffprobe. The Debian binaries are preferred (scripts/setup-media.sh
 * installs them); OMNI_FFMPEG overrides; the npm package @ffmpeg-installer/ffmpeg is a fallback
 * for machines without root (it is not a dependency: 66 MB, used only when someone installs it).
 * Output is streamed to a callback chunk by chunk; only a bounded tail of stderr is kept.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { UserError } from '../../cli/errors';

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this folder
    }
  }
  return null;
}

function fromNpm(): string | null {
  try {
    const p = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return null; // not installed
  }
}

let cached: { ffmpeg: string; ffprobe: string | null } | undefined;

/** The ffmpeg binary to use, and ffprobe if one sits beside it or on PATH (the npm build has none). */
export function mediaTools(): { ffmpeg: string; ffprobe: string | null } {
  if (cached) return cached;
  const ffmpeg = process.env.OMNI_FFMPEG || onPath('ffmpeg') || fromNpm();
  if (!ffmpeg) {
    throw new UserError('ffmpeg not found: run scripts/setup-media.sh (Debian: apt-get install ffmpeg), or set OMNI_FFMPEG to its path', 1);
  }
  let ffprobe: string | null = join(dirname(ffmpeg), 'ffprobe');
  try {
    accessSync(ffprobe, constants.X_OK);
  } catch {
    ffprobe = onPath('ffprobe');
  }
  cached = { ffmpeg, ffprobe };
  return cached;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the last STDERR_TAIL bytes of stderr */
  stderr: string;
}

const STDERR_TAIL = 16 * 1024;

export interface RunOptions {
  /** receives stdout as it arrives; return false to stop reading (the process is then killed) */
  onStdout?: (chunk: Buffer) => boolean | void;
  /** writes the process's input: gets the writable pipes, in order stdin, fd 3, fd 4 ... */
  feed?: (pipes: NodeJS.WritableStream[]) => Promise<void>;
  /** how many extra input pipes (fd 3 upwards) to open for `feed` */
  extraInputs?: number;
}

/** Spawns a tool and resolves when it exits (never rejects for a non-zero exit: callers
 * classify failures from stderr; it rejects only if the binary cannot be started). */
export function runTool(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const extra = opts.extraInputs ?? 0;
    const stdio: ('pipe' | 'ignore')[] = [opts.feed ? 'pipe' : 'ignore', 'pipe', 'pipe', ...Array<'pipe'>(extra).fill('pipe')];
    const child = spawn(bin, args, { stdio });
    let stderr = '';
    let stopped = false;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr += s;
      if (stderr.length > 2 * STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (stopped || !opts.onStdout) return;
      if (opts.onStdout(chunk) === false) {
        stopped = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', (e) => reject(new UserError(`cannot run ${bin}: ${e.message}`, 1)));
    if (opts.feed) {
      const pipes = [child.stdin!, ...Array.from({ length: extra }, (_, i) => child.stdio[3 + i] as NodeJS.WritableStream)];
      // A tool that exits early closes its pipes: EPIPE then is not our error, its exit code says why.
      for (const p of pipes) p.on('error', () => {});
      opts.feed(pipes).catch(() => child.kill('SIGKILL'));
    }
    child.on('close', (code, signal) => resolve({ code, signal: stopped ? null : signal, stderr: stderr.slice(-STDERR_TAIL) }));
  });
}

/** Writes a buffer to a pipe, waiting for it to drain (backpressure); `end` closes it after. */
export async function writeAll(pipe: NodeJS.WritableStream, data: Uint8Array, end = false): Promise<void> {
  if (end) {
    pipe.end(data);
    await once(pipe, 'finish');
  } else if (!pipe.write(data)) {
    await once(pipe, 'drain');
  }
}
