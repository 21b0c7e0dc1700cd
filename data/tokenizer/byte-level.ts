/**
 * GPT-2's byte-level alphabet: every byte gets a printable character, so a vocabulary of
 * strings can hold any byte sequence (`Ġ` is the space byte). Printable Latin-1 bytes map to
 * themselves; the other 68 take code points from U+0100 in byte order.
 */

function buildByteToChar(): string[] {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : next++);
  }
  return chars;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, which is text like any other here; invalid sequences
// become U+FFFD per maximal subpart, as Rust's String::from_utf8_lossy does.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The bytes a vocabulary token stands for. Like Hugging Face's ByteLevel decoder, a token
 * holding a character outside the alphabet (an added token such as "<think>" is fine, one
 * with a real space is not) stands for its own UTF-8 text instead. */
export function tokenBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  let n = 0;
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return utf8(token);
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** UTF-8, written out rather than through TextEncoder: pieces are a few characters long and
 * this runs once per word the cache has not seen. */
export function utf8Bytes(s: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate has no UTF-8; TextEncoder substitutes the same
      }
    }
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return bytes;
}
