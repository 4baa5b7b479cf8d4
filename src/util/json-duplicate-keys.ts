// JSON.parse keeps the last of two equal keys, so `{"url":"file:///etc/passwd","url":"https://…"}` reads as
// the second url while anything else reading the text (a log, a proxy's filter) may see the first. A body
// with a duplicate key is refused instead. JSON.parse cannot tell, so this scans the text once more.

/** Where a duplicate key sits: the key as JSON.parse reads it, and the path to its object (`$`, `$.a[2]`). */
export interface DuplicateKey {
  key: string;
  path: string;
}

interface ObjectFrame {
  kind: 'object';
  keys: Set<string>;
  /** The key whose value is being read, for paths. */
  key: string;
  expectingKey: boolean;
}

interface ArrayFrame {
  kind: 'array';
  index: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The first key repeated within one object of `text`, or `undefined`. `text` must be JSON that JSON.parse
 * accepted. Keys are compared as JSON.parse decodes them, so `"u\u0072l"` repeats `"url"`.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Array<ObjectFrame | ArrayFrame> = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.expectingKey) {
        const raw = text.slice(i + 1, end);
        // Most keys have no escape to decode; the rest are decoded exactly as JSON.parse would.
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.keys.has(key)) return { key, path: pathOf(stack) };
        top.keys.add(key);
        top.key = key;
        top.expectingKey = false;
      }
      i = end;
    } else if (char === 0x7b /* { */) {
      stack.push({ kind: 'object', keys: new Set(), key: '', expectingKey: true });
    } else if (char === 0x5b /* [ */) {
      stack.push({ kind: 'array', index: 0 });
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      stack.pop();
    } else if (char === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.expectingKey = true;
      else if (top) top.index += 1;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opened at `start`: a quote after an even run of backslashes. */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

// The innermost frame is the object holding the duplicate: its own current key is not part of its path.
function pathOf(stack: ReadonlyArray<ObjectFrame | ArrayFrame>): string {
  let path = '$';
  for (const frame of stack.slice(0, -1)) {
    path += frame.kind === 'array' ? `[${frame.index}]` : /^[A-Za-z_$][\w$]*$/.test(frame.key) ? `.${frame.key}` : `[${JSON.stringify(frame.key)}]`;
  }
  return path;
}
