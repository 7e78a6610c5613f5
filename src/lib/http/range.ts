// Single-range `Range: bytes=…` parsing (RFC 9110 §14). Multi-range requests are answered with
// the whole file, which the RFC allows and boot loaders never send anyway.

export type RangeResult = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const m = /^\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*$/i.exec(header);
  if (!m) return { kind: 'none' }; // unknown unit, several ranges, garbage: ignore the header
  const [, a, b] = m;
  if (a === '' && b === '') return { kind: 'none' };
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return { kind: 'none' }; // invalid range spec: ignore
  }
  if (start >= size || size === 0) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end };
}
