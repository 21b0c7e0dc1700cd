/**
 * A Hugging Face `Split` regex, run in JavaScript with the meaning it has in the Rust library,
 * which compiles it with Oniguruma. Three differences matter for the patterns byte-level
 * vocabularies ship (GPT-2, Qwen2, Llama 3):
 *  - `\s` is Unicode White_Space in Oniguruma; JavaScript's `\s` adds U+FEFF and lacks U+0085.
 *    `\d` and `\w` are Unicode-aware in Oniguruma and ASCII-only in JavaScript.
 *  - `(?i:...)` groups do not parse in Node 20. A top-level alternative that is such a group is
 *    compiled as its own regex with the `i` flag and searched alongside the rest (see `split`).
 *  - `\p{L}` needs the `u` flag.
 * The fuzz test against the Rust tokenizer (test/tokenizer.test.ts) is what shows these are all.
 */

/** Oniguruma's class escapes as JavaScript; each is valid both inside and outside a class. */
const CLASS_ESCAPES: Record<string, string> = {
  s: '\\p{White_Space}',
  S: '\\P{White_Space}',
  d: '\\p{Nd}',
  D: '\\P{Nd}',
};
/** Oniguruma's `\w` as its manual states it for Unicode (Letter, Mark, Number, Connector
 * Punctuation); no shipped byte-level pattern uses it, so the fuzz test does not cover it. */
const WORD = '\\p{L}\\p{M}\\p{N}\\p{Pc}';

export class PatternError extends Error {}

function translateEscapes(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\' && i + 1 < source.length) {
      const e = source[++i];
      const cls = CLASS_ESCAPES[e];
      if (cls !== undefined) out += cls;
      else if (e === 'w') out += inClass ? WORD : `[${WORD}]`;
      else if (e === 'W') {
        if (inClass) throw new PatternError('\\W inside a character class is not supported');
        out += `[^${WORD}]`;
      } else out += c + e;
      continue;
    }
    if (inClass && c === ']') inClass = false;
    else if (!inClass && c === '[') inClass = true;
    out += c;
  }
  return out;
}

/** Splits at top-level `|`, outside groups and character classes. */
function alternatives(source: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(source.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(source.slice(start));
  return parts;
}

/** The body of `(?i:body)` when the alternative is exactly one such group. */
function caseInsensitiveBody(alt: string): string | null {
  if (!alt.startsWith('(?i:') || !alt.endsWith(')')) return null;
  const body = alt.slice(4, -1);
  // The group must close at the very end: the body's own parentheses balance.
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return null;
  }
  return depth === 0 ? body : null;
}

export class SplitPattern {
  /** Alternatives in order, consecutive ones with the same flags joined into one regex. */
  private readonly groups: RegExp[];

  constructor(source: string) {
    const groups: { body: string[]; ignoreCase: boolean }[] = [];
    for (const alt of alternatives(source)) {
      const body = caseInsensitiveBody(alt);
      const ignoreCase = body !== null;
      const last = groups[groups.length - 1];
      if (last && last.ignoreCase === ignoreCase) last.body.push(body ?? alt);
      else groups.push({ body: [body ?? alt], ignoreCase });
    }
    this.groups = groups.map(({ body, ignoreCase }) => {
      const js = translateEscapes(body.join('|'));
      try {
        return new RegExp(js, ignoreCase ? 'giu' : 'gu');
      } catch (e) {
        throw new PatternError(`cannot compile it in JavaScript (as /${js}/): ${(e as Error).message}`);
      }
    });
  }

  /**
   * Isolated splitting: every match and every stretch between matches is a piece. The regex
   * groups are searched separately; the leftmost match wins and, at equal positions, the group
   * earlier in the pattern, which is exactly what one regex with ordered alternation does.
   * Each group's next match is kept until the scan passes it, so the search stays linear.
   */
  split(text: string, out: string[]): void {
    const groups = this.groups;
    const pending: (RegExpExecArray | null | undefined)[] = new Array(groups.length).fill(undefined);
    let pos = 0;
    while (pos < text.length) {
      let best: RegExpExecArray | null = null;
      for (let g = 0; g < groups.length; g++) {
        let m = pending[g];
        if (m === undefined || (m !== null && m.index < pos)) pending[g] = m = nextNonEmpty(groups[g], text, pos);
        if (m !== null && (best === null || m.index < best.index)) best = m;
      }
      if (best === null) break;
      if (best.index > pos) out.push(text.slice(pos, best.index));
      out.push(best[0]);
      pos = best.index + best[0].length;
    }
    if (pos < text.length) out.push(text.slice(pos));
  }
}

/** Empty matches split nothing in the Rust library, so they are skipped. */
function nextNonEmpty(re: RegExp, text: string, from: number): RegExpExecArray | null {
  re.lastIndex = from;
  let m = re.exec(text);
  while (m !== null && m[0].length === 0) {
    re.lastIndex = m.index + ((text.codePointAt(m.index) ?? 0) > 0xffff ? 2 : 1);
    m = re.exec(text);
  }
  return m;
}
