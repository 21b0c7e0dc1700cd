/**
 * Selecting parameters by dotted-path patterns: `*` matches one path segment, `**` any number;
 * a pattern also selects everything under a matching prefix (`encoder` selects `encoder.*.w`).
 */
export type Patterns = string | readonly string[];

function toRegex(pattern: string): RegExp {
  const segs = pattern.split('.');
  let re = '';
  segs.forEach((seg, i) => {
    if (seg === '**') {
      // leading: any number of whole segments before the rest; inner/trailing: any number after
      re += i === 0 ? '(?:[^.]+\\.)*' : '(?:\\.[^.]+)*';
      return;
    }
    const sep = i === 0 || segs[i - 1] === '**' ? '' : '\\.';
    const leadingStar = i > 0 && segs[i - 1] === '**' && i - 1 > 0 ? '\\.' : '';
    re += sep + leadingStar + seg.replace(/[|\\{}()[\]^$+?]/g, '\\$&').replace(/\*/g, '[^.]*');
  });
  return new RegExp(`^${re}(?:\\..*)?$`);
}

export function matcher(patterns: Patterns): (path: string) => boolean {
  const list = (typeof patterns === 'string' ? [patterns] : [...patterns]).map(toRegex);
  return (path) => list.some((r) => r.test(path));
}

/** Trainable = matches `train` (default: everything) and not `freeze`. */
export function trainableSelector(train?: Patterns, freeze?: Patterns): (path: string) => boolean {
  const t = train === undefined ? () => true : matcher(train);
  const f = freeze === undefined ? () => false : matcher(freeze);
  return (p) => t(p) && !f(p);
}
