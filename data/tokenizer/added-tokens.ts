/**
 * Added tokens (`<|im_start|>`, `<|endoftext|>`, ...) are cut out of the text before anything
 * else runs, so their characters never reach the pre-tokenizer or the merges. Matching is
 * leftmost-longest, as the Rust library's Aho-Corasick automaton does; `lstrip`, `rstrip` and
 * `single_word` follow its `find_matches`.
 */

export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  readonly lstrip?: boolean;
  readonly rstrip?: boolean;
  readonly singleWord?: boolean;
}

/** A piece of text, or the id of an added token found in it. */
export type Piece = string | number;

const SPACE_AT_END = /\p{White_Space}*$/u;
const SPACE_AT_START = /^\p{White_Space}*/u;
// The Rust `regex` crate's Unicode `\w`.
const WORD_AT_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const WORD_AT_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

export class AddedTokenMatcher {
  private readonly byContent = new Map<string, AddedToken>();
  private readonly re: RegExp | null;

  constructor(tokens: readonly AddedToken[]) {
    for (const t of tokens) if (t.content !== '' && !this.byContent.has(t.content)) this.byContent.set(t.content, t);
    // Longest first: at the leftmost position where any token matches, the regex takes the
    // first alternative that fits, which is then the longest.
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.re = contents.length === 0 ? null : new RegExp(contents.map(escapeRegExp).join('|'), 'gu');
  }

  /** Splits `text` into plain text and added-token ids, in order; empty text is dropped.
   * With `skipSpecial`, special tokens are left in the text (and what they covered is not
   * matched again, as in the Rust library's `encode_special_tokens`). */
  split(text: string, skipSpecial = false): Piece[] {
    const out: Piece[] = [];
    if (this.re === null) {
      if (text !== '') out.push(text);
      return out;
    }
    let done = 0;
    for (const m of text.matchAll(this.re)) {
      const token = this.byContent.get(m[0]) as AddedToken;
      let start = m.index;
      let stop = start + m[0].length;
      if (skipSpecial && token.special) continue;
      if (token.singleWord && (WORD_AT_END.test(text.slice(0, start)) || WORD_AT_START.test(text.slice(stop)))) continue;
      if (token.lstrip) start = Math.max(done, start - (SPACE_AT_END.exec(text.slice(0, start)) as RegExpExecArray)[0].length);
      if (token.rstrip) stop += (SPACE_AT_START.exec(text.slice(stop)) as RegExpExecArray)[0].length;
      if (start < done) continue; // an rstrip before took this text already
      if (start > done) out.push(text.slice(done, start));
      out.push(token.id);
      done = stop;
    }
    if (done < text.length) out.push(text.slice(done));
    return out;
  }

  get(content: string): AddedToken | undefined {
    return this.byContent.get(content);
  }
}
