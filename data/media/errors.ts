/**
 * Errors about one media file. Every message starts with the file name, so a dataset loader
 * that logs and skips bad items (see `safeDecode`) still tells the user which file to fix.
 * `userFacing` makes cli/errors.ts print it as one line instead of a stack trace.
 */
import { type Either, left, right } from 'fp-ts/lib/Either';
import { basename } from 'node:path';

export type MediaErrorKind =
  | 'missing' // no such file
  | 'empty' // zero bytes
  | 'corrupt' // ffmpeg or our WAV parser could not read it
  | 'no-audio' // readable, but has no audio stream
  | 'no-video' // readable, but has no video stream
  | 'unsupported' // a valid file in a format we do not read (e.g. a WAV codec)
  | 'tool'; // ffmpeg/ffprobe missing or failed for a reason that is not the file's fault

export class MediaError extends Error {
  override name = 'MediaError';
  readonly userFacing = true;
  constructor(
    readonly kind: MediaErrorKind,
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Runs a decode and turns a MediaError into a Left, so one bad file is reported and skipped
 * instead of ending a whole dataset pass. Other errors (our bugs) still throw. */
export async function safeDecode<T>(decode: () => Promise<T>): Promise<Either<MediaError, T>> {
  try {
    return right(await decode());
  } catch (e) {
    if (e instanceof MediaError) return left(e);
    throw e;
  }
}

/** The last meaningful line of ffmpeg's stderr, trimmed to one short line for messages. */
export function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[lines.length - 1] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** Classifies an ffmpeg failure by what it printed. */
export function ffmpegError(file: string, stderr: string, what: string): MediaError {
  const name = basename(file);
  // ffmpeg prefixes many lines with the path; ours already starts the message.
  stderr = stderr.split(`${file}: `).join('');
  if (/does not contain any stream|Stream map .* matches no streams|matches no streams/i.test(stderr)) {
    return new MediaError(what === 'audio' ? 'no-audio' : 'no-video', file, `has no ${what} stream`);
  }
  if (/No such file or directory/i.test(stderr)) return new MediaError('missing', file, 'no such file');
  if (/Invalid data found|moov atom not found|could not find codec parameters|Invalid argument|End of file|error reading header/i.test(stderr)) {
    return new MediaError('corrupt', file, `cannot be decoded (corrupt or not a media file): ${lastLine(stderr) || name}`);
  }
  return new MediaError('corrupt', file, `ffmpeg failed to decode ${what}: ${lastLine(stderr) || 'no message'}`);
}
