/**
 * data/importers on small hand-written files in the public formats (no real data set is here):
 * EMER-V2 reasons (name, chinese, english), EMER-OV label sets (name, openset as a Python list),
 * DFEW's single_{train,test}set_k.csv (video_name, label 1..7) and MAFW's set_k/{train,test}.txt
 * (`<clip> <class>`). Good rows become manifest entries; bad rows are reported by file and line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../data/manifest/index';
import {
  DFEW_PROMPT, EMER_OV_PROMPT, EMER_PROMPT, ImportError, MAFW_ANSWER, MAFW_CLASSES, MAFW_PROMPT, importDfew, importEmer, importMafw, parseCsv, parsePyStringList, writeImported,
} from '../data/importers/index';

let dir = '';
const put = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'omni-importers-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// EMER-V2 (final-EMER-reason.csv): quoted English with commas and doubled quotes, a newline inside quotes, CRLF ends
const REASONS = [
  'name,chinese,english',
  'sample_00000000,在视频中，他很高兴。,"In the video, he smiles and says ""How would I know!"", which sounds humorous."',
  'sample_00000007,她很愉快。,"In the audio, the voice is loud,\nwith a hint of laughter."',
  'sample_00000021,,',
  'sample_00000033,他很紧张。',
  ',空,"no name"',
  'sample_00000007,重复,"duplicate"',
  'sample_00000039,她很生气。,"She is angry, pointing at him."',
].join('\r\n');

// EMER-OV (check-openset.csv): one label unquoted by the CSV, an item with an apostrophe in double quotes
const OPENSET = [
  'name,openset',
  `sample_00000000,"['pleasurable', 'self-deprecating', 'relaxed', 'humorous']"`,
  `sample_00000007,['joyful']`,
  `sample_00000039,"[""don't care"", 'angry', 'angry']"`,
  `sample_00000055,"['concerned', 'worried']"`,
  `sample_00000068,"['unease' 'anxiety']"`,
  `sample_00000070,[]`,
].join('\n');

describe('CSV and Python lists', () => {
  it('parses quoted fields, doubled quotes, embedded newlines, CRLF and a BOM, with start lines', () => {
    const { records, issues } = parseCsv('\uFEFFa,b\r\n"x, y","he said ""hi"""\r\n"multi\nline",z\n\nlast,"');
    expect(records.map((r) => [r.line, r.fields])).toEqual([
      [1, ['a', 'b']],
      [2, ['x, y', 'he said "hi"']],
      [3, ['multi\nline', 'z']],
    ]);
    expect(issues).toEqual([{ line: 6, message: 'a quoted field is not closed before the end of the file' }]);
    expect(parseCsv('a,b\nc,d').records.map((r) => r.fields)).toEqual([['a', 'b'], ['c', 'd']]);
    expect(parseCsv('x,a"b\n').records[0].fields).toEqual(['x', 'a"b']);
  });

  it("reads Python's repr of a list of strings", () => {
    expect(parsePyStringList("['a', 'b c', 'self-deprecating']")).toEqual(['a', 'b c', 'self-deprecating']);
    expect(parsePyStringList(`["don't", 'x\\'y']`)).toEqual(["don't", "x'y"]);
    expect(parsePyStringList('[]')).toEqual([]);
    expect(parsePyStringList("['a',]")).toEqual(['a']);
    expect(parsePyStringList('happy, sad')).toMatch(/expected a list/);
    expect(parsePyStringList("['a' 'b']")).toMatch(/expected ',' or ']'/);
    expect(parsePyStringList("['a]")).toMatch(/not closed/);
    expect(parsePyStringList("['a")).toMatch(/expected a list/);
  });
});

describe('EMER and EMER-OV', () => {
  it('joins descriptions and label sets by name and reports every bad row by file and line', async () => {
    const reasons = put('final-EMER-reason.csv', REASONS);
    const openset = put('check-openset.csv', OPENSET);
    const err = await importEmer({ reasons, openset, mediaDir: join(dir, 'mer2023') }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ImportError);
    const issues = (err as ImportError).issues.map((i) => [i.file === reasons ? 'reasons' : 'openset', i.line, i.message]);
    expect(issues).toEqual([
      ['openset', 5, 'sample_00000055 has no description in ' + reasons],
      ['openset', 6, expect.stringMatching(/^openset: expected ',' or '\]'/)],
      ['openset', 7, 'openset: the label list is empty'],
      ['reasons', 5, 'empty english description'],
      ['reasons', 6, 'expected 3 fields, got 2'],
      ['reasons', 7, 'empty name'],
      ['reasons', 8, 'name sample_00000007 was already on line 3'],
    ]);
    expect((err as Error).message).toMatch(/^7 bad rows: .*final-EMER-reason.csv line 5: empty english description/);
    const r = await importEmer({ reasons, openset, mediaDir: join(dir, 'mer2023'), onBadLine: 'skip' });
    expect(r.issues).toHaveLength(7);
    expect(r.entries.map((e) => e.id)).toEqual(['sample_00000000', 'sample_00000007', 'sample_00000039']);
    expect(r.entries[0]).toEqual({
      id: 'sample_00000000',
      video: join(dir, 'mer2023', 'sample_00000000.mp4'),
      conversations: [
        { from: 'human', value: `<video>\n<audio>\n${EMER_PROMPT}` },
        { from: 'gpt', value: 'In the video, he smiles and says "How would I know!", which sounds humorous.' },
      ],
      labels: { open_vocab: ['pleasurable', 'self-deprecating', 'relaxed', 'humorous'] },
      split: 'test',
    });
    expect(r.entries[1].conversations[1].value).toBe('In the audio, the voice is loud,\nwith a hint of laughter.');
    expect(r.entries[2].labels).toEqual({ open_vocab: ["don't care", 'angry'] });
    const zh = await importEmer({ reasons, mediaDir: dir, language: 'chinese', onBadLine: 'skip', ext: '.avi' });
    expect(zh.entries[0].conversations[1].value).toBe('在视频中，他很高兴。');
    expect(zh.entries[0].video).toBe(join(dir, 'sample_00000000.avi'));
  });

  it('makes open-vocabulary answers from the label file alone', async () => {
    const openset = put('ov-only.csv', OPENSET.split('\n').slice(0, 4).join('\n'));
    const r = await importEmer({ openset, mediaDir: dir });
    expect(r.entries.map((e) => [e.id, e.conversations[1].value])).toEqual([
      ['sample_00000000', 'pleasurable, self-deprecating, relaxed, humorous'],
      ['sample_00000007', 'joyful'],
      ['sample_00000039', "don't care, angry"],
    ]);
    expect(r.entries[0].conversations[0].value).toBe(`<video>\n<audio>\n${EMER_OV_PROMPT}`);
  });

  it('names a file without the expected columns, and a missing file', async () => {
    const bad = put('bad-header.csv', 'id,text\nx,y\n');
    await expect(importEmer({ reasons: bad, mediaDir: dir })).rejects.toThrow(/bad-header.csv: line 1: the header has no 'name', 'english' column \(it has 'id', 'text'\)/);
    await expect(importEmer({ openset: join(dir, 'nope.csv'), mediaDir: dir })).rejects.toThrow(/nope.csv: no such label file/);
  });
});

describe('DFEW', () => {
  const CSV = ['video_name,label', '1,1', '00002,4', '17,7', '5,8', 'abc,2', '17,3', '23,happy', '42'].join('\n');

  it('reads a fold file into classification instructions with the class word as the answer', async () => {
    const file = put('single_trainset_3.csv', CSV);
    const err = await importDfew(file, { mediaDir: join(dir, 'DFEW', 'clips') }).then(() => null, (e: unknown) => e);
    expect((err as ImportError).issues.map((i) => [i.line, i.message])).toEqual([
      [5, 'label "8" is not one of 1..7 (happy, sad, neutral, angry, surprise, disgust, fear)'],
      [6, 'video_name "abc" is not a clip number (1..99999)'],
      [7, 'clip 00017 was already on line 4'],
      [9, 'expected 2 fields, got 1'],
    ]);
    const r = await importDfew(file, { mediaDir: join(dir, 'DFEW', 'clips'), onBadLine: 'skip' });
    expect(r.entries.map((e) => [e.id, e.conversations[1].value, e.labels?.emotion, e.split])).toEqual([
      ['dfew-00001', 'happy', 'happy', 'train'],
      ['dfew-00002', 'angry', 'angry', 'train'],
      ['dfew-00017', 'fear', 'fear', 'train'],
      ['dfew-00023', 'happy', 'happy', 'train'],
    ]);
    expect(r.entries[0].video).toBe(join(dir, 'DFEW', 'clips', '00001.mp4'));
    expect(r.entries[0].conversations[0].value).toBe(`<video>\n<audio>\n${DFEW_PROMPT}`);
    expect(DFEW_PROMPT.endsWith('?\nhappy ,surprise ,neutral ,angry ,disgust ,sad ,fear')).toBe(true);
    // the test split from a testset file; extra columns are fine
    const test = put('single_testset_1.csv', 'video_name,label,note\n9,2,x\n');
    expect((await importDfew(test, { mediaDir: dir })).entries[0]).toMatchObject({ id: 'dfew-00009', split: 'test', labels: { emotion: 'sad' } });
  });

  it('checks that the media exist when asked', async () => {
    mkdirSync(join(dir, 'dfew-media'), { recursive: true });
    writeFileSync(join(dir, 'dfew-media', '00001.mp4'), 'x');
    const file = put('single_testset_2.csv', 'video_name,label\n1,1\n2,2\n');
    const r = await importDfew(file, { mediaDir: join(dir, 'dfew-media'), checkMedia: true, onBadLine: 'skip' });
    expect(r.entries.map((e) => e.id)).toEqual(['dfew-00001']);
    expect(r.issues).toEqual([{ file, line: 3, message: `media file not found: ${join(dir, 'dfew-media', '00002.mp4')}` }]);
  });
});

describe('MAFW', () => {
  it('reads `<clip> <class>` lines, answers with the option words, and reports bad lines', async () => {
    mkdirSync(join(dir, 'set_1'), { recursive: true });
    const file = put(join('set_1', 'test.txt'), ['00019.mp4 anger', '00020.mp4 Happiness', '', '00021.mp4 contempt', '00022.mp4 joy', '00023.mp4 fear extra', '00019.mp4 sadness', '00030 helplessness'].join('\n'));
    const err = await importMafw(file, { mediaDir: join(dir, 'MAFW', 'clips') }).then(() => null, (e: unknown) => e);
    expect((err as ImportError).issues.map((i) => [i.line, i.message])).toEqual([
      [5, `class "joy" is not one of ${MAFW_CLASSES.join(', ')}`],
      [6, "expected '<clip file> <class>', got 3 fields"],
      [7, 'clip 00019.mp4 was already on line 1'],
    ]);
    const r = await importMafw(file, { mediaDir: join(dir, 'MAFW', 'clips'), onBadLine: 'skip' });
    expect(r.entries.map((e) => [e.id, e.conversations[1].value, e.split, e.video])).toEqual([
      ['mafw-00019', 'angry', 'test', join(dir, 'MAFW', 'clips', '00019.mp4')],
      ['mafw-00020', 'happy', 'test', join(dir, 'MAFW', 'clips', '00020.mp4')],
      ['mafw-00021', 'contemptuous', 'test', join(dir, 'MAFW', 'clips', '00021.mp4')],
      ['mafw-00030', 'helpless', 'test', join(dir, 'MAFW', 'clips', '00030.mp4')],
    ]);
    expect(r.entries[0].conversations[0].value).toBe(`<video>\n<audio>\n${MAFW_PROMPT}`);
    // every option word of the prompt is some class's answer, and the reverse
    const options = MAFW_PROMPT.split('\n')[1].split(',').map((w) => w.trim());
    expect(options.sort()).toEqual(Object.values(MAFW_ANSWER).sort());
  });

  it('writes a manifest with media paths relative to it, which reads back', async () => {
    const file = put('train.txt', '00001.mp4 neutral\n00002.mp4 anxiety\n');
    const r = await importMafw(file, { mediaDir: join(dir, 'MAFW', 'clips') });
    const out = join(dir, 'MAFW', 'train.jsonl');
    mkdirSync(join(dir, 'MAFW'), { recursive: true });
    expect(await writeImported(out, r.entries)).toBe(2);
    const m = await readManifest(out);
    expect(m.items.map((i) => [i.entry.video, i.video, i.entry.split, i.entry.labels?.emotion])).toEqual([
      ['clips/00001.mp4', join(dir, 'MAFW', 'clips', '00001.mp4'), 'train', 'neutral'],
      ['clips/00002.mp4', join(dir, 'MAFW', 'clips', '00002.mp4'), 'train', 'anxious'],
    ]);
  });
});
