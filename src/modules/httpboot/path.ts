// The file an HTTP boot URL designates, relative to the boot root (spec httpboot.md §2 step 1):
// percent-decoded per segment, `.`/`..` resolved lexically and clamped at the root, as the
// reference does. An encoded separator (`%2F`, `%5C`) or NUL inside a segment is refused rather
// than decoded into a separator, so no spelling reaches another directory than it shows.

export type BootPath = { ok: true; relative: string } | { ok: false };

export function bootRequestPath(rawPath: string): BootPath {
  const out: string[] = [];
  for (const raw of rawPath.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { ok: false };
    }
    if (seg.includes('/') || seg.includes('\\') || seg.includes('\0')) return { ok: false };
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return { ok: false };
  return { ok: true, relative: out.join('/') };
}
