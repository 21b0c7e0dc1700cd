/**
 * Writing a manifest atomically: every entry is validated first, the lines go to a temporary
 * file in the same folder, and a rename replaces the target, so a reader never sees half a
 * manifest and a failed write leaves the old one intact.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeOrThrow } from '../../dsl/config';
import { UserError } from '../../cli/errors';
import { ManifestEntry } from './schema';

/** Serialises one entry with a fixed key order, so equal entries give equal bytes. */
export function manifestLine(e: ManifestEntry): string {
  const labels = e.labels && {
    ...(e.labels.emotion !== undefined ? { emotion: e.labels.emotion } : {}),
    ...(e.labels.open_vocab !== undefined ? { open_vocab: e.labels.open_vocab } : {}),
    ...(e.labels.clues !== undefined ? { clues: e.labels.clues } : {}),
    ...(e.labels.valence !== undefined ? { valence: e.labels.valence } : {}),
    ...(e.labels.arousal !== undefined ? { arousal: e.labels.arousal } : {}),
  };
  return JSON.stringify({
    id: e.id,
    ...(e.video !== undefined ? { video: e.video } : {}),
    ...(e.audio !== undefined ? { audio: e.audio } : {}),
    conversations: e.conversations.map((c) => ({ from: c.from, value: c.value })),
    ...(labels ? { labels } : {}),
    ...(e.split !== undefined ? { split: e.split } : {}),
  });
}

export async function writeManifest(file: string, entries: Iterable<ManifestEntry>): Promise<number> {
  const lines: string[] = [];
  const ids = new Set<string>();
  for (const e of entries) {
    const label = `${file}: entry ${lines.length + 1}${typeof e?.id === 'string' ? ` (${e.id})` : ''}`;
    decodeOrThrow(ManifestEntry, e, label);
    if (ids.has(e.id)) throw new UserError(`${label}: duplicate id "${e.id}"`);
    ids.add(e.id);
    lines.push(manifestLine(e));
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    for (let i = 0; i < lines.length; i += 1000) await fh.write(lines.slice(i, i + 1000).map((l) => `${l}\n`).join(''));
    await fh.sync(); // the data is on disk before the rename makes it visible
    await fh.close();
    await rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  return lines.length;
}
