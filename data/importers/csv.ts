/**
 * A small RFC 4180 CSV reader that keeps line numbers: fields may be quoted, quotes inside quoted
 * fields are doubled, quoted fields may hold commas and newlines (EMER's descriptions do), CRLF or
 * LF line ends, a UTF-8 BOM is dropped. A quote inside an unquoted field is kept as text (as
 * Python's csv module does). Each record carries the line it starts on, so importers can report
 * bad rows by line number; an unterminated quote is reported the same way.
 */

export interface CsvRecord {
  /** 1-based line where the record starts */
  line: number;
  fields: string[];
}

export interface CsvIssue {
  line: number;
  message: string;
}

export function parseCsv(text: string, delimiter = ','): { records: CsvRecord[]; issues: CsvIssue[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: CsvRecord[] = [];
  const issues: CsvIssue[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let atFieldStart = true;
    let ended = false;
    while (i < n) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          quoted = false;
          i++;
          continue;
        }
        if (c === '\n') line++;
        field += c;
        i++;
        continue;
      }
      if (c === '"' && atFieldStart) {
        quoted = true;
        atFieldStart = false;
        i++;
        continue;
      }
      if (c === delimiter) {
        fields.push(field);
        field = '';
        atFieldStart = true;
        i++;
        continue;
      }
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (c === '\n' || c === '\r') {
        i++;
        line++;
        ended = true;
        break;
      }
      field += c;
      atFieldStart = false;
      i++;
    }
    if (quoted) {
      issues.push({ line: start, message: 'a quoted field is not closed before the end of the file' });
      break;
    }
    fields.push(field);
    // blank lines are not records
    if (!(fields.length === 1 && fields[0].trim() === '')) records.push({ line: start, fields });
    if (!ended) break;
  }
  return { records, issues };
}

/**
 * Python's repr of a list of strings, as EMER-OV stores its label sets:
 * `['pleasurable', 'self-deprecating']`, `["don't know", 'sad']`, `[]`. Returns the strings, or a
 * message saying what is wrong.
 */
export function parsePyStringList(s: string): string[] | string {
  const t = s.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return `expected a list like ['happy', 'relaxed'], got ${JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s)}`;
  const out: string[] = [];
  let i = 1;
  const end = t.length - 1;
  const skipSpace = () => {
    while (i < end && /\s/.test(t[i])) i++;
  };
  skipSpace();
  if (i === end) return out;
  for (;;) {
    skipSpace();
    const q = t[i];
    if (q !== "'" && q !== '"') return `expected a quoted string at character ${i + 1} of ${JSON.stringify(t)}`;
    i++;
    let v = '';
    while (i < end && t[i] !== q) {
      if (t[i] === '\\' && i + 1 < end) {
        const e = t[i + 1];
        v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
        i += 2;
        continue;
      }
      v += t[i++];
    }
    if (i >= end) return `a string is not closed in ${JSON.stringify(t)}`;
    i++; // closing quote
    out.push(v);
    skipSpace();
    if (i === end) return out;
    if (t[i] !== ',') return `expected ',' or ']' at character ${i + 1} of ${JSON.stringify(t)}`;
    i++;
    skipSpace();
    if (i === end) return out; // trailing comma
  }
}
