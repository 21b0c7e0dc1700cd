/**
 * `omni-emotion features MEDIA --out F.safetensors [--audio FILE] [--preset tiny|small|paper] [--frames N]`:
 * one clip's encoder inputs (data/features/extract.ts) written atomically as safetensors:
 * `input_features` [n_mels, frames], `pixel_values` [T, 3, S, S], `face_values` [T, 3, Sf, Sf],
 * with the clip's meta (frame times, face boxes, fallbacks) as JSON in the file's metadata.
 *
 * `omni-emotion features --manifest M.jsonl --cache DIR [--preset ...]`: the feature cache of a
 * whole manifest (data/features/cache.ts); bad media are listed and skipped, the exit code is 0
 * unless nothing could be extracted.
 */
import type { Command } from 'commander';
import { UserError } from '../errors';
import { BACKENDS, type BackendName } from '../../runtime/gpu';
import type { SetExit } from './verb';
import { checkBackend, formatSeconds, intArg, numArg } from './args';

interface Flags {
  out?: string;
  audio?: string;
  manifest?: string;
  cache?: string;
  preset: string;
  frames?: number;
  frameSize?: number;
  faceSize?: number;
  faceMargin?: number;
  scoreThreshold?: number;
  detect: boolean;
  shardSize?: number;
  backend?: string;
  json?: boolean;
}




export function registerFeatures(program: Command, setExit: SetExit): void {
  program
    .command('features')
    .summary("extract the encoders' inputs (log-mel, SigLIP frames, face crops) of a clip or a manifest")
    .argument('[media]', 'a video (its audio track is used unless --audio is given)')
    .option('--out <file>', 'safetensors file to write (with MEDIA)')
    .option('--audio <file>', 'take the audio from this file instead')
    .option('--manifest <file>', 'build the feature cache of a JSONL manifest instead (with --cache)')
    .option('--cache <dir>', 'the feature cache folder (with --manifest)')
    .option('--preset <name>', 'tiny | small | paper: the sizes the model preset expects', 'tiny')
    .option('--frames <count>', 'frames per clip (default: the preset\'s)', intArg(1))
    .option('--frame-size <pixels>', "SigLIP input side (default: the preset's)", intArg(1))
    .option('--face-size <pixels>', "face crop side (default: the preset's; 112 for the face-api expression encoder)", intArg(1))
    .option('--face-margin <fraction>', 'margin added around the face box, in total (FaceXFormer: 0.5)', numArg)
    .option('--score-threshold <score>', 'face detector threshold in (0, 1) (default 0.3)', numArg)
    .option('--no-detect', 'no face detector: centre crops for the face path')
    .option('--shard-size <count>', 'samples per cache shard (with --manifest; default 32)', intArg(1))
    .option('--backend <name>', `one of ${BACKENDS.join(', ')}`)
    .option('--json', 'print the result as one JSON object')
    .action(async (media: string | undefined, o: Flags) => {
      checkBackend(o.backend);
      const backend = o.backend as BackendName | undefined;
      const { featureOptions, PRESETS } = await import('../../data/features/options');
      if (!(PRESETS as readonly string[]).includes(o.preset)) throw new UserError(`--preset ${o.preset}: expected one of ${PRESETS.join(', ')}`);
      const face: Record<string, number> = {};
      if (o.faceMargin !== undefined) face.margin = o.faceMargin;
      if (o.scoreThreshold !== undefined) face.scoreThreshold = o.scoreThreshold;
      const sizes = { ...(o.frames !== undefined ? { frames: o.frames } : {}), ...(o.frameSize !== undefined ? { frameSize: o.frameSize } : {}), ...(o.faceSize !== undefined ? { faceSize: o.faceSize } : {}) };
      const opts = featureOptions(o.preset as 'tiny' | 'small' | 'paper', { ...sizes, face });
      const detector = o.detect ? undefined : null;
      if (o.manifest !== undefined || o.cache !== undefined) {
        if (media !== undefined || o.out !== undefined) throw new UserError('give either MEDIA with --out, or --manifest with --cache');
        if (o.manifest === undefined || o.cache === undefined) throw new UserError('--manifest and --cache go together');
        setExit(await buildCache(o.manifest, o.cache, opts, detector, backend, o));
        return;
      }
      if (media === undefined) throw new UserError('give a media file (or --manifest M --cache DIR)');
      if (o.out === undefined) throw new UserError('--out F.safetensors is required with MEDIA');
      const { extractFeatures, writeFeatures } = await import('../../data/features/extract');
      const t0 = performance.now();
      const f = await extractFeatures({ video: media, ...(o.audio !== undefined ? { audio: o.audio } : {}) }, opts, { detector, backend });
      writeFeatures(o.out, f, opts);
      const seconds = (performance.now() - t0) / 1000;
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ out: o.out, shapes: f.shapes, meta: f.meta, seconds })}\n`);
      } else {
        const shapes = Object.entries(f.shapes).map(([k, s]) => `${k} [${s.join(', ')}]`).join(', ');
        const notes = [
          f.meta.faceFallback ? 'no face found: centre crops' : `face in ${f.meta.facesDetected}/${f.meta.faceSources.length} frames`,
          ...(f.meta.audioMissing ? ['no audio stream: silence'] : []),
        ];
        process.stdout.write(`wrote ${o.out}: ${shapes} (${notes.join('; ')}) in ${seconds.toFixed(1)}s\n`);
      }
      setExit(0);
    });
}

async function buildCache(manifest: string, dir: string, opts: import('../../data/features/options').FeatureOptions, detector: null | undefined, backend: BackendName | undefined, o: Flags): Promise<number> {
  const { buildFeatureCache } = await import('../../data/features/cache');
  const tty = process.stderr.isTTY === true;
  let lastShown = 0;
  const r = await buildFeatureCache(manifest, { dir, features: opts, detector, backend, ...(o.shardSize !== undefined ? { shardSize: o.shardSize } : {}) }, (p) => {
    const line = `item ${p.done}/${p.total}  built ${p.built}  reused ${p.reused}  failed ${p.failed}  ${p.itemsPerSecond.toFixed(2)} items/s  ETA ${formatSeconds(p.eta)}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (p.done === p.total || p.done - lastShown >= Math.max(1, Math.ceil(p.total / 10))) {
      lastShown = p.done;
      process.stderr.write(`${line}\n`);
    }
  });
  if (tty) process.stderr.write('\n');
  await r.cache.close();
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ cache: dir, total: r.total, built: r.built, reused: r.reused, failed: r.failed, seconds: r.seconds })}\n`);
  } else {
    for (const f of r.failed) process.stderr.write(`skipped ${f.id} (line ${f.line}): ${f.message}\n`);
    process.stdout.write(`feature cache ${dir}: ${r.built} built, ${r.reused} reused, ${r.failed.length} skipped of ${r.total} in ${r.seconds.toFixed(1)}s\n`);
  }
  return r.failed.length === r.total && r.total > 0 ? 1 : 0;
}
