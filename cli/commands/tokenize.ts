/**
 * `omni-emotion tokenize [--tokenizer FILE | --bytes] [--chat] [--json] TEXT`: the ids a text
 * encodes to, for checking what the model is fed. The default tokenizer is the bundled Qwen2
 * one; FILE is a Hugging Face tokenizer.json, plain or .json.gz. With --chat, TEXT is the user
 * turn of the ChatML template (it may hold <video> and <audio>), ending with the prompt for the
 * assistant's answer; placeholders print as their sentinel ids (-200, -300).
 */
import type { Command } from 'commander';
import { UserError } from '../errors';
import { ByteTokenizer } from '../../data/tokenizer/bytes';
import { encodeChat, PLACEHOLDERS } from '../../data/tokenizer/chat';
import { loadTokenizerFile } from '../../data/tokenizer/load';
import { loadQwen2Tokenizer } from '../../data/tokenizer/qwen2';
import type { Tokenizer } from '../../data/tokenizer/types';
import type { SetExit } from './verb';

interface Options {
  tokenizer?: string;
  bytes?: boolean;
  chat?: boolean;
  json?: boolean;
}

export function registerTokenize(program: Command, setExit: SetExit): void {
  program
    .command('tokenize')
    .summary('print the token ids of a text')
    .argument('<text>', 'the text to encode')
    .option('--tokenizer <file>', 'a Hugging Face tokenizer.json or .json.gz (default: the bundled Qwen2 tokenizer)')
    .option('--bytes', "the tiny preset's byte tokenizer")
    .option('--chat', 'encode TEXT as the user turn of the ChatML template')
    .option('--json', 'print one JSON object: ids and tokens (and labels and placeholders with --chat)')
    .action((text: string, opts: Options) => {
      setExit(tokenize(text, opts));
    });
}

function chooseTokenizer(opts: Options): Tokenizer {
  if (opts.bytes && opts.tokenizer !== undefined) throw new UserError('--bytes and --tokenizer exclude each other');
  if (opts.bytes) return new ByteTokenizer();
  return opts.tokenizer === undefined ? loadQwen2Tokenizer() : loadTokenizerFile(opts.tokenizer);
}

export function tokenize(text: string, opts: Options): number {
  const tok = chooseTokenizer(opts);
  const encoded = opts.chat ? encodeChat(tok, [{ role: 'user', content: text }]) : { ids: tok.encode(text) };
  if (opts.json) {
    const placeholder = new Map<number, string>(Object.values(PLACEHOLDERS).map((p) => [p.id, p.text]));
    const tokens = encoded.ids.map((id) => tok.idToToken(id) ?? placeholder.get(id) ?? null);
    process.stdout.write(`${JSON.stringify({ ...encoded, tokens })}\n`);
  } else {
    process.stdout.write(`${encoded.ids.join(' ')}\n`);
  }
  return 0;
}
