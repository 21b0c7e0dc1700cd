/** data/manifest: the instruction JSONL format, its per-line errors, and the atomic writer. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestError, readManifest, writeManifest, type ManifestEntry } from '../data/manifest/index';
import { ConfigError } from '../dsl/config';

let dir = '';
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'omni-manifest-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const turns = [
  { from: 'human' as const, value: '<video>\n<audio>\nDescribe the emotion.' },
  { from: 'gpt' as const, value: 'The person seems cheerful.' },
];
const good = (id: string, extra: Partial<ManifestEntry> = {}): ManifestEntry => ({ id, video: `clips/${id}.mp4`, conversations: turns, ...extra });

describe('manifest', () => {
  it('round-trips through the writer and resolves media paths against its folder', async () => {
    const file = join(dir, 'm.jsonl');
    const entries = [
      good('a', { audio: 'audio/a.wav', labels: { emotion: 'happy', open_vocab: ['cheerful'], clues: ['raised mouth corners'], valence: 0.8, arousal: 0.1 }, split: 'train' }),
      good('b', { split: 'test' }),
      { id: 'c', conversations: turns },
    ];
    expect(await writeManifest(file, entries)).toBe(3);
    // no temporary file is left behind
    expect(readdirSync(dir)).toEqual(['m.jsonl']);
    const m = await readManifest(file);
    expect(m.issues).toEqual([]);
    expect(m.items.map((i) => i.entry)).toEqual(entries);
    expect(m.items[0]).toMatchObject({ line: 1, video: join(dir, 'clips/a.mp4'), audio: join(dir, 'audio/a.wav') });
    expect(m.items[2].video).toBeUndefined();
  });

  it('reports every bad line with its number and field', async () => {
    const file = join(dir, 'bad.jsonl');
    const lines = [
      JSON.stringify(good('ok')),
      '{"id": "x", ',
      JSON.stringify({ ...good('y'), conversations: [{ from: 'user', value: 'hi' }] }),
      JSON.stringify(good('z', { labels: { valence: 3 } })),
      JSON.stringify({ ...good('w'), lables: {} }),
      JSON.stringify({ conversations: turns }),
      '',
      JSON.stringify(good('ok')),
      JSON.stringify(good('v', { split: 'dev' as never })),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const err = await readManifest(file).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestError);
    const issues = (err as ManifestError).issues;
    expect(issues.map((i) => [i.line, i.field])).toEqual([
      [2, ''],
      [3, 'conversations[0].from'],
      [4, 'labels.valence'],
      [5, 'lables'],
      [6, 'id'],
      [8, 'id'],
      [9, 'split'],
    ]);
    expect(issues[0].message).toMatch(/^invalid JSON/);
    expect(issues[5].message).toContain('already used on line 1');
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toContain(`${file}: 7 bad lines`);
    expect(msg).toContain(`line 3: field 'conversations[0].from' expected "human" or "gpt", got "user"`);
    expect(msg).toContain(`line 4: field 'labels.valence' expected a number in [-1, 1], got 3`);
    expect(msg).toContain(`line 5: unknown field 'lables'`);
    // skip mode keeps the good lines
    const m = await readManifest(file, { onBadLine: 'skip' });
    expect(m.items.map((i) => i.entry.id)).toEqual(['ok']);
    expect(m.issues).toHaveLength(7);
  });

  it('rejects missing and empty manifests by name', async () => {
    await expect(readManifest(join(dir, 'none.jsonl'))).rejects.toThrow(`${join(dir, 'none.jsonl')}: no such manifest file`);
    writeFileSync(join(dir, 'empty.jsonl'), '\n');
    await expect(readManifest(join(dir, 'empty.jsonl'))).rejects.toThrow('the manifest has no entries');
  });

  it('the writer validates before touching the file', async () => {
    const file = join(dir, 'w.jsonl');
    await writeManifest(file, [good('keep')]);
    const before = readFileSync(file, 'utf8');
    const bad = { ...good('bad'), conversations: [] } as ManifestEntry;
    await expect(writeManifest(file, [good('a'), bad])).rejects.toThrow(ConfigError);
    await expect(writeManifest(file, [good('a'), bad])).rejects.toThrow(/entry 2 \(bad\).*field 'conversations' expected a non-empty array of turns/);
    await expect(writeManifest(file, [good('a'), good('a')])).rejects.toThrow('duplicate id "a"');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
