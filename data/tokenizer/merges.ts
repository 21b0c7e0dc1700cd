/**
 * BPE merges by rank. A pair of token ids is looked up in an open-addressing table of typed
 * arrays rather than a Map: a Qwen2 word costs a few dozen lookups and there are 151k merges,
 * so the lookup is most of the encoding time.
 */

export class MergeTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rankAt: Int32Array;
  private readonly mask: number;
  /** the token id a merge of this rank produces */
  readonly merged: Int32Array;

  /** `pairs[rank] = [left id, right id, merged id]`. A pair listed twice keeps its last rank,
   * as in the Rust library (its merge map is built by inserting in order). */
  constructor(pairs: readonly (readonly [number, number, number])[]) {
    let size = 1024;
    while (size < pairs.length * 2) size *= 2;
    this.mask = size - 1;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rankAt = new Int32Array(size);
    this.merged = new Int32Array(pairs.length).fill(-1);
    pairs.forEach(([a, b, m], rank) => {
      const slot = this.slot(a, b);
      const previous = this.left[slot] === -1 ? -1 : this.rankAt[slot];
      if (previous >= 0) this.merged[previous] = -1;
      this.left[slot] = a;
      this.right[slot] = b;
      this.rankAt[slot] = rank;
      this.merged[rank] = m;
    });
  }

  /** The slot holding (a, b), or the empty slot where it would go. */
  private slot(a: number, b: number): number {
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77)) & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  /** The rank of merging a then b, or -1 when they do not merge. */
  rank(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.left[i] === -1 ? -1 : this.rankAt[i];
  }
}

/** Above this many symbols a word is merged with a heap; below, a linear scan is faster. */
const HEAP_FROM = 64;

/**
 * Merges `symbols` in place by rank: the lowest-ranked adjacent pair first and, among equal
 * ranks, the leftmost, until no pair merges. This is the order of the Rust library's
 * `Word::merge_all` (a heap keyed on rank, then position).
 */
export function mergeWord(symbols: number[], table: MergeTable): number[] {
  if (symbols.length < 2) return symbols;
  return symbols.length < HEAP_FROM ? mergeByScan(symbols, table) : mergeByHeap(symbols, table);
}

function mergeByScan(s: number[], table: MergeTable): number[] {
  // ranks[i] is the rank of the pair (s[i], s[i + 1]); only the two around a merge change.
  const ranks: number[] = new Array(s.length - 1);
  for (let i = 0; i < s.length - 1; i++) ranks[i] = table.rank(s[i], s[i + 1]);
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i < ranks.length; i++) {
      const r = ranks[i];
      if (r >= 0 && (best < 0 || r < best)) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return s;
    s[at] = table.merged[best];
    s.splice(at + 1, 1);
    ranks.splice(at, 1);
    if (at > 0) ranks[at - 1] = table.rank(s[at - 1], s[at]);
    if (at < ranks.length) ranks[at] = table.rank(s[at], s[at + 1]);
  }
}

/** Heap entries pack rank and position in one number, ordered by rank then position. */
const POS = 2 ** 26;

function mergeByHeap(s: number[], table: MergeTable): number[] {
  const n = s.length;
  if (n >= POS) throw new RangeError(`a pre-tokenized word of ${n} bytes is too long to merge`);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new MinHeap();
  for (let i = 0; i + 1 < n; i++) {
    const r = table.rank(s[i], s[i + 1]);
    if (r >= 0) heap.push(r * POS + i);
  }
  while (heap.size > 0) {
    const top = heap.pop();
    const rank = Math.floor(top / POS);
    const pos = top - rank * POS;
    const right = next[pos];
    // A stale entry: its pair has since changed. Ranks are unique per pair, so comparing the
    // rank is comparing the pair.
    if (!alive[pos] || right < 0 || table.rank(s[pos], s[right]) !== rank) continue;
    s[pos] = table.merged[rank];
    alive[right] = 0;
    next[pos] = next[right];
    if (next[pos] >= 0) prev[next[pos]] = pos;
    const before = prev[pos];
    if (before >= 0) {
      const r = table.rank(s[before], s[pos]);
      if (r >= 0) heap.push(r * POS + before);
    }
    if (next[pos] >= 0) {
      const r = table.rank(s[pos], s[next[pos]]);
      if (r >= 0) heap.push(r * POS + pos);
    }
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(s[i]);
  return out;
}

class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop() as number;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1] < a[l] ? l + 1 : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
