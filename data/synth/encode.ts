/**
 * Writing one clip: frames rendered one at a time and piped to ffmpeg as rawvideo on stdin,
 * the audio as s16le on a second pipe (fd 3), muxed to h264 + aac in mp4. One encoder thread
 * per clip (clips run in parallel instead) and bit-exact flags, so a seed gives the same bytes.
 * The file appears under its name only when complete (temp file + rename).
 */
import { rename, unlink } from 'node:fs/promises';
import { UserError } from '../../cli/errors';
import { lastLine } from '../media/errors';
import { mediaTools, runTool, writeAll } from '../media/tools';
import { renderFrame, type Scene } from './frame';
import { ESPEAK_RATE } from './voice';

export async function encodeClip(path: string, scene: Scene, frames: number, audio: Int16Array): Promise<void> {
  const tmp = `${path}.part`;
  const args = [
    '-v', 'error', '-nostdin', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${scene.width}x${scene.height}`, '-framerate', String(scene.fps), '-i', 'pipe:0',
    '-f', 's16le', '-ar', String(ESPEAK_RATE), '-ac', '1', '-i', 'pipe:3',
    '-map', '0:v:0', '-map', '1:a:0',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p', '-threads', '1',
    '-c:a', 'aac', '-b:a', '48k', '-ar', '16000',
    '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact',
    '-movflags', '+faststart', '-f', 'mp4', tmp,
  ];
  const feed = async ([video, sound]: NodeJS.WritableStream[]) => {
    const bytes = new Uint8Array(audio.buffer, audio.byteOffset, audio.byteLength);
    await Promise.all([
      writeAll(sound, bytes, true),
      (async () => {
        // a fresh buffer per frame: the pipe may still hold the previous one
        for (let i = 0; i < frames; i++) await writeAll(video, renderFrame(scene, i));
        await writeAll(video, new Uint8Array(0), true);
      })(),
    ]);
  };
  const r = await runTool(mediaTools().ffmpeg, args, { feed, extraInputs: 1 });
  if (r.code !== 0) {
    await unlink(tmp).catch(() => {});
    throw new UserError(`${path}: ffmpeg could not encode the clip: ${lastLine(r.stderr) || `exit code ${r.code}`}`, 1);
  }
  await rename(tmp, path);
}
