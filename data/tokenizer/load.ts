/**
 * Reading a tokenizer.json, plain or gzip-compressed (our bundled vocabulary is 11 MB as JSON,
 * 2 MB gzipped). Every failure is a ConfigError whose message starts with the file name.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '../../dsl/config';
import { BpeTokenizer, type BpeOptions } from './bpe';

function fileError(path: string, why: string, expected: string, actual: unknown): ConfigError {
  return new ConfigError(`${path}: ${why}`, { file: path, issues: [{ path: '', expected, actual, message: why }] });
}

/** The parsed JSON of a .json or .json.gz file (gzip is recognised by its magic bytes). */
export function readJsonFile(path: string): unknown {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a folder, not a file' : err.message;
    throw fileError(path, `cannot read the tokenizer file: ${why}`, 'a readable file', err.code);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw fileError(path, `is not a valid gzip file: ${(e as Error).message}`, 'gzip', null);
    }
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') throw fileError(path, 'the file is empty (expected JSON)', 'JSON', text);
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8 quotes the text around the error, newlines included: keep the message on one line.
    throw fileError(path, `invalid JSON: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}`, 'JSON', text.slice(0, 60));
  }
}

export function loadTokenizerFile(path: string, options: BpeOptions = {}): BpeTokenizer {
  return BpeTokenizer.fromJson(readJsonFile(path), path, options);
}
