/**
 * `omni-emotion faces IMAGE|VIDEO [--json] [--frames N] [--input-size S] [--score-threshold T]`:
 * the faces face-api's tiny face detector finds (models/face/tiny-face-detector.ts) in an image,
 * or in N frames sampled uniformly from a video, and for each face the 7 expression probabilities
 * of face-api's expression net (models/face/expression-net.ts) on face-api's crop of the box.
 * Images are decoded with sharp (the same libjpeg-turbo as PIL), frames with ffmpeg.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { extname } from 'node:path';
import { UserError } from '../errors';
import { BACKENDS, type BackendName } from '../../runtime/gpu';
import type { SetExit } from './verb';
import { checkBackend, numArg } from './args';

const IMAGE_EXTS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff', '.avif']);

interface Flags {
  json?: boolean;
  frames: number;
  inputSize: number;
  scoreThreshold: number;
  expressions: boolean;
  backend?: string;
}

interface FaceOut {
  box: number[];
  score: number;
  expressions?: Record<string, number>;
}

interface FrameOut {
  index: number;
  time: number;
  faces: FaceOut[];
}

function intArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}


const r2 = (v: number) => Math.round(v * 100) / 100;

export function registerFaces(program: Command, setExit: SetExit): void {
  program
    .command('faces')
    .summary('detect faces in an image or video frames, with 7-class expression probabilities')
    .argument('<media>', 'an image (jpg, png, ...) or a video')
    .option('--json', 'print one JSON object')
    .option('--frames <count>', 'frames sampled from a video', intArg, 8)
    .option('--input-size <pixels>', 'detector input side, a multiple of 32', intArg, 416)
    .option('--score-threshold <score>', 'minimum detection score in (0, 1)', numArg, 0.5)
    .option('--no-expressions', 'boxes only')
    .option('--backend <name>', `one of ${BACKENDS.join(', ')}`)
    .action(async (media: string, o: Flags) => {
      checkBackend(o.backend);
      if (o.inputSize % 32 !== 0) throw new UserError(`--input-size ${o.inputSize}: expected a multiple of 32`);
      if (!(o.scoreThreshold > 0 && o.scoreThreshold < 1)) throw new UserError(`--score-threshold ${o.scoreThreshold}: expected a number in (0, 1)`);
      const backend = o.backend as BackendName | undefined;
      const { loadTinyFaceDetector, faceCrop } = await import('../../models/face/tiny-face-detector');
      const { loadExpressionNet } = await import('../../models/face/expression-net');
      const { frames, width, height } = await readMedia(media, o.frames);
      const detector = loadTinyFaceDetector({ backend });
      const net = o.expressions ? loadExpressionNet({ backend }) : undefined;
      const out: FrameOut[] = [];
      for (const f of frames) {
        const boxes = await detector.detectFaces(f.rgb, width, height, { inputSize: o.inputSize, scoreThreshold: o.scoreThreshold });
        const faces: FaceOut[] = [];
        for (const b of boxes) {
          const face: FaceOut = { box: b.box.map(r2), score: Math.round(b.score * 1e4) / 1e4 };
          if (net) {
            const crop = faceCrop(b.box, width, height);
            if (crop.width > 0 && crop.height > 0) {
              const p = await net.predictExpressions(f.rgb, width, height, crop);
              face.expressions = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4]));
            }
          }
          faces.push(face);
        }
        out.push({ index: f.index, time: r2(f.time), faces });
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ file: media, width, height, frames: out })}\n`);
      } else {
        for (const f of out) {
          process.stdout.write(`${frames.length > 1 || f.time > 0 ? `frame ${f.index} (${f.time.toFixed(2)}s)` : media}: ${f.faces.length} face${f.faces.length === 1 ? '' : 's'}\n`);
          for (const face of f.faces) {
            let line = `  [${face.box.map((v) => Math.round(v)).join(', ')}] score ${face.score.toFixed(2)}`;
            if (face.expressions) {
              const ranked = Object.entries(face.expressions).sort((a, b) => b[1] - a[1]);
              line += `  ${ranked[0][0]} ${ranked[0][1].toFixed(2)} (${ranked.slice(1, 3).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`;
            }
            process.stdout.write(`${line}\n`);
          }
        }
      }
      setExit(0);
    });
}

async function readMedia(file: string, count: number): Promise<{ frames: { index: number; time: number; rgb: Uint8Array }[]; width: number; height: number }> {
  if (IMAGE_EXTS.has(extname(file).toLowerCase())) {
    const { default: sharp } = await import('sharp');
    const { checkFile } = await import('../../data/media/probe');
    await checkFile(file);
    let decoded;
    try {
      decoded = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new UserError(`${file}: cannot be decoded as an image (${(e as Error).message})`);
    }
    const { data, info } = decoded;
    return { frames: [{ index: 0, time: 0, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }], width: info.width, height: info.height };
  }
  const { decodeFrames } = await import('../../data/media/frames');
  const f = await decodeFrames(file, { count });
  const n = f.width * f.height * 3;
  return {
    frames: Array.from({ length: f.count }, (_, i) => ({ index: f.indices[i], time: f.times[i], rgb: f.data.subarray(i * n, (i + 1) * n) })),
    width: f.width,
    height: f.height,
  };
}
