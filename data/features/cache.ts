/**
 * The feature cache: every sample of a manifest decoded and preprocessed once, so that training
 * epochs read tensors and never run ffmpeg, the face detector or the log-mel again.
 *
 *   DIR/index.json                       which sample is where, its shapes and meta, the options
 *   DIR/shard-<stamp>-<n>.safetensors    up to `shardSize` samples (or `shardBytes`), one tensor
 *                                        per sample and field: `<id>.pixel_values`, `<id>.face_values`,
 *                                        `<id>.input_features` (F32)
 *
 * A sample is valid while its key matches: a hash of the feature options (preset sizes, crop
 * rules, detector, preprocessing version) and of each media file's absolute path, size and mtime.
 * `buildFeatureCache` reuses valid samples and extracts the others; a changed file or option
 * rebuilds just what it changes. A cache folder holds one option set: opening it with other
 * options invalidates every entry. Entries of ids that are not in the manifest are kept (train and
 * val manifests may share a folder).
 *
 * Bad media is never fatal: the item is skipped and listed (id, manifest line, file, the
 * MediaError kind and message), and the next build retries it. Shards and the index are written
 * atomically (temporary file, then rename), the index after every shard, so an interrupted build
 * keeps what it finished. Shards no entry refers to are deleted at the end. One build at a time
 * per folder (a lock file holds the builder's pid).
 */
import { open, readFile, readdir, rename, rm, stat, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { safeDecode, type MediaErrorKind } from '../media/index';
import { readManifest, type Manifest, type ManifestItem } from '../manifest/index';
import { openSafetensors, writeSafetensorsAtomic, type TensorToWrite } from '../../runtime/safetensors';
import { UserError } from '../../cli/errors';
import type { BackendName } from '../../runtime/gpu';
import { featureOptions, optionsKey, sha256, type FeatureOptions } from './options';
import { FEATURE_FIELDS, computeFeatures, decodeMedia, featureTensors, type DecodedMedia, type FeatureField, type FeatureMeta, type Features, type MediaSources } from './extract';
import type { FaceDetector } from './preprocess';
import { tinyFaceDetector } from './detector';

export const INDEX_NAME = 'index.json';
const FORMAT = 'omni-emotion-feature-cache';
const VERSION = 1;

export interface CacheEntry {
  key: string;
  shard: string;
  fields: Partial<Record<FeatureField, number[]>>;
  meta: FeatureMeta;
}

interface CacheIndex {
  format: typeof FORMAT;
  version: number;
  optionsKey: string;
  options: FeatureOptions;
  entries: Record<string, CacheEntry>;
}

export interface CacheFailure {
  id: string;
  /** the manifest line */
  line: number;
  file?: string;
  kind: MediaErrorKind | 'no-media';
  message: string;
}

export interface CacheProgress {
  done: number;
  total: number;
  id: string;
  reused: number;
  built: number;
  failed: number;
  elapsed: number;
  /** items extracted per second (reused ones not counted) */
  itemsPerSecond: number;
  /** seconds left at that speed */
  eta: number;
}

export interface BuildOptions {
  /** the cache folder (created if needed) */
  dir: string;
  /** default: the tiny preset's */
  features?: FeatureOptions;
  /** default: the tiny face detector; null: centre crops only */
  detector?: FaceDetector | null;
  backend?: BackendName;
  /** samples per shard (default 32) */
  shardSize?: number;
  /** bytes per shard before it is written regardless of shardSize (default 512 MiB) */
  shardBytes?: number;
}

export interface BuildResult {
  cache: FeatureCache;
  total: number;
  reused: number;
  built: number;
  failed: CacheFailure[];
  seconds: number;
}

export interface CachedSample {
  id: string;
  input_features?: Float32Array;
  pixel_values?: Float32Array;
  face_values?: Float32Array;
  shapes: Partial<Record<FeatureField, number[]>>;
  meta: FeatureMeta;
}

// ------------------------------------------------------------------ small helpers

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(value)}\n`);
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readIndex(dir: string): Promise<CacheIndex | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, INDEX_NAME), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const j = JSON.parse(text) as CacheIndex;
    if (j.format !== FORMAT || j.version !== VERSION || typeof j.entries !== 'object' || j.entries === null) return undefined;
    return j;
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function lock(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new UserError(`${dir}: another feature-cache build (pid ${pid}) is using this folder`);
      await rm(file, { force: true }); // stale: its builder is gone
    }
  }
  throw new UserError(`${dir}: cannot take the cache lock (${file})`);
}

interface Fingerprint {
  key: string;
  sources: MediaSources;
}

/** The sample's key, or a failure when a media file is missing. */
async function fingerprint(item: ManifestItem, optsKey: string): Promise<Fingerprint | CacheFailure> {
  const sources: MediaSources = {};
  if (item.video !== undefined) sources.video = item.video;
  if (item.audio !== undefined && item.audio !== item.video) sources.audio = item.audio;
  if (sources.video === undefined && sources.audio === undefined) return { id: item.entry.id, line: item.line, kind: 'no-media', message: `${item.entry.id}: the manifest entry names no video or audio file` };
  const parts: unknown[] = [optsKey];
  for (const file of [sources.video, sources.audio]) {
    if (file === undefined) {
      parts.push(null);
      continue;
    }
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      parts.push([resolve(file), s.size, s.mtimeMs]);
    } catch {
      return { id: item.entry.id, line: item.line, file, kind: 'missing', message: `${file}: no such file` };
    }
  }
  return { key: sha256(JSON.stringify(parts)).slice(0, 32), sources };
}

const bytesOf = (f: Features) => FEATURE_FIELDS.reduce((n, k) => n + (f[k]?.byteLength ?? 0), 0);

// ------------------------------------------------------------------ building

export async function buildFeatureCache(manifest: Manifest | string, opts: BuildOptions, progress?: (p: CacheProgress) => void): Promise<BuildResult> {
  const start = performance.now();
  const m = typeof manifest === 'string' ? await readManifest(manifest) : manifest;
  const o = opts.features ?? featureOptions('tiny');
  const detector = opts.detector === undefined ? tinyFaceDetector(opts.backend) : opts.detector;
  const oKey = optionsKey(o, detector?.name ?? 'none');
  const shardSize = opts.shardSize ?? 32;
  const shardBytes = opts.shardBytes ?? 512 * 2 ** 20;
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new UserError(`feature cache: shardSize must be a positive integer, got ${shardSize}`);
  const dir = opts.dir;
  await mkdir(dir, { recursive: true });
  const unlock = await lock(dir);
  try {
    const old = await readIndex(dir);
    const entries: Record<string, CacheEntry> = old && old.optionsKey === oKey ? { ...old.entries } : {};
    const index = (): CacheIndex => ({ format: FORMAT, version: VERSION, optionsKey: oKey, options: o, entries });
    const failed: CacheFailure[] = [];
    const todo: { item: ManifestItem; fp: Fingerprint }[] = [];
    let reused = 0;
    let built = 0;
    let done = 0;
    const total = m.items.length;
    let buildStart = 0;
    const report = (id: string) => {
      done++;
      if (!progress) return;
      const elapsed = (performance.now() - start) / 1000;
      const rate = built > 0 ? built / ((performance.now() - buildStart) / 1000) : 0;
      progress({ done, total, id, reused, built, failed: failed.length, elapsed, itemsPerSecond: rate, eta: rate > 0 ? (total - done) / rate : Number.NaN });
    };
    for (const item of m.items) {
      const fp = await fingerprint(item, oKey);
      const id = item.entry.id;
      if ('kind' in fp) {
        delete entries[id];
        failed.push(fp);
        report(id);
        continue;
      }
      const e = entries[id];
      if (e && e.key === fp.key && existsSync(join(dir, e.shard))) {
        reused++;
        report(id);
      } else todo.push({ item, fp });
    }

    // Extraction: the next item's ffmpeg decode overlaps this item's preprocessing.
    buildStart = performance.now();
    let pending: { tensors: Record<string, TensorToWrite>; entries: [string, Omit<CacheEntry, 'shard'>][]; bytes: number } = { tensors: {}, entries: [], bytes: 0 };
    let shardNo = 0;
    const stamp = Date.now().toString(36);
    const flush = async () => {
      if (pending.entries.length === 0) return;
      let name: string;
      do name = `shard-${stamp}-${String(shardNo++).padStart(5, '0')}.safetensors`;
      while (existsSync(join(dir, name)));
      writeSafetensorsAtomic(join(dir, name), pending.tensors, { format: FORMAT, samples: String(pending.entries.length) });
      for (const [id, e] of pending.entries) entries[id] = { ...e, shard: name };
      pending = { tensors: {}, entries: [], bytes: 0 };
      await writeJsonAtomic(join(dir, INDEX_NAME), index());
    };
    const decode = (k: number) => (k < todo.length ? safeDecode(() => decodeMedia(todo[k].fp.sources, o)) : undefined);
    let next = decode(0);
    void next?.catch(() => {}); // awaited below; this only keeps a failure from being "unhandled" meanwhile
    for (let k = 0; k < todo.length; k++) {
      const { item, fp } = todo[k];
      const id = item.entry.id;
      const current = await next!;
      next = decode(k + 1);
      void next?.catch(() => {});
      const r = current._tag === 'Right' ? await safeDecode(() => computeFeatures(current.right as DecodedMedia, o, { detector, backend: opts.backend })) : current;
      if (r._tag === 'Left') {
        delete entries[id];
        failed.push({ id, line: item.line, file: r.left.file, kind: r.left.kind, message: r.left.message });
      } else {
        const f = r.right;
        Object.assign(pending.tensors, featureTensors(f, `${id}.`));
        pending.entries.push([id, { key: fp.key, fields: f.shapes, meta: f.meta }]);
        pending.bytes += bytesOf(f);
        built++;
        if (pending.entries.length >= shardSize || pending.bytes >= shardBytes) await flush();
      }
      report(id);
    }
    await flush();
    await writeJsonAtomic(join(dir, INDEX_NAME), index());
    // garbage: shards nothing refers to any more, and temporary files of interrupted writes
    const used = new Set(Object.values(entries).map((e) => e.shard));
    for (const f of await readdir(dir)) {
      if ((/^shard-.*\.safetensors$/.test(f) && !used.has(f)) || /^shard-.*\.safetensors\.tmp-/.test(f) || /^index\.json\.tmp-/.test(f)) await rm(join(dir, f), { force: true });
    }
    const cache = await FeatureCache.open(dir);
    return { cache, total, reused, built, failed, seconds: (performance.now() - start) / 1000 };
  } finally {
    await unlock();
  }
}

// ------------------------------------------------------------------ reading

interface OpenShard {
  fh: FileHandle;
  dataStart: number;
  tensors: Map<string, { dtype: string; shape: number[]; begin: number; end: number }>;
}

/** An open shard and its readers: an evicted shard closes when its last read is done. */
interface ShardSlot {
  ready: Promise<OpenShard>;
  users: number;
  evicted: boolean;
}

const MAX_OPEN = 8;

const closeSlot = (slot: ShardSlot) => void slot.ready.then((o) => o.fh.close()).catch(() => {});

export class FeatureCache {
  private readonly shards = new Map<string, ShardSlot>();

  private constructor(
    readonly dir: string,
    readonly options: FeatureOptions,
    private readonly entries: Record<string, CacheEntry>,
  ) {}

  static async open(dir: string): Promise<FeatureCache> {
    const idx = await readIndex(dir);
    if (!idx) throw new UserError(`${join(dir, INDEX_NAME)}: no feature cache here (build it with buildFeatureCache or \`omni-emotion features --manifest M --cache ${dir}\`)`);
    return new FeatureCache(dir, idx.options, idx.entries);
  }

  get size(): number {
    return Object.keys(this.entries).length;
  }

  ids(): string[] {
    return Object.keys(this.entries);
  }

  has(id: string): boolean {
    return Object.hasOwn(this.entries, id);
  }

  entry(id: string): CacheEntry | undefined {
    return Object.hasOwn(this.entries, id) ? this.entries[id] : undefined;
  }

  /** Takes a reader's hold on a shard (synchronously, so eviction cannot close it under a read). */
  private acquire(name: string): ShardSlot {
    let slot = this.shards.get(name);
    if (slot) {
      this.shards.delete(name); // most recently used last
    } else {
      // evict the least recently used shard with no reader; a shard being read closes after its reads
      while (this.shards.size >= MAX_OPEN) {
        const [oldest, old] = [...this.shards.entries()].find(([, sl]) => sl.users === 0) ?? this.shards.entries().next().value!;
        this.shards.delete(oldest);
        old.evicted = true;
        if (old.users === 0) closeSlot(old);
      }
      const file = join(this.dir, name);
      const ready = (async () => {
        const st = openSafetensors(file); // validates the header
        const tensors = new Map([...st.tensors].map(([k, e]) => [k, { dtype: e.dtype, shape: e.shape, begin: e.begin, end: e.end }]));
        st.close();
        const fh = await open(file, 'r');
        const head = Buffer.alloc(8);
        await fh.read(head, 0, 8, 0);
        return { fh, dataStart: 8 + Number(head.readBigUInt64LE(0)), tensors };
      })();
      slot = { ready, users: 0, evicted: false };
      const mine = slot;
      ready.catch(() => {
        if (this.shards.get(name) === mine) this.shards.delete(name);
      });
    }
    this.shards.set(name, slot);
    slot.users++;
    return slot;
  }

  private release(slot: ShardSlot): void {
    slot.users--;
    if (slot.evicted && slot.users === 0) closeSlot(slot);
  }

  /** The cached tensors of a sample, or undefined when it is not in the cache. */
  async get(id: string): Promise<CachedSample | undefined> {
    const e = this.entry(id);
    if (!e) return undefined;
    const slot = this.acquire(e.shard);
    try {
      return await this.read(id, e, await slot.ready);
    } finally {
      this.release(slot);
    }
  }

  private async read(id: string, e: CacheEntry, s: OpenShard): Promise<CachedSample> {
    const out: CachedSample = { id, shapes: e.fields, meta: e.meta };
    for (const field of FEATURE_FIELDS) {
      const shape = e.fields[field];
      if (!shape) continue;
      const name = `${id}.${field}`;
      const t = s.tensors.get(name);
      const file = join(this.dir, e.shard);
      if (!t) throw new UserError(`${file}: tensor '${name}' is missing (the cache is damaged: rebuild it)`);
      if (t.dtype !== 'F32' || t.shape.join(',') !== shape.join(',')) throw new UserError(`${file}: tensor '${name}' is ${t.dtype}[${t.shape.join(', ')}], the index says F32[${shape.join(', ')}] (rebuild the cache)`);
      const buf = new ArrayBuffer(t.end - t.begin);
      const { bytesRead } = await s.fh.read(new Uint8Array(buf), 0, buf.byteLength, s.dataStart + t.begin);
      if (bytesRead !== buf.byteLength) throw new UserError(`${file}: tensor '${name}' is truncated (rebuild the cache)`);
      out[field] = new Float32Array(buf);
    }
    return out;
  }

  /** Closes the open shards (reads still running finish first). */
  async close(): Promise<void> {
    const all = [...this.shards.values()];
    this.shards.clear();
    for (const slot of all) {
      slot.evicted = true;
      if (slot.users === 0) closeSlot(slot);
    }
    await Promise.all(all.map((slot) => slot.ready.catch(() => {})));
  }
}
