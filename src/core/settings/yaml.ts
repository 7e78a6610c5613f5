// Reading settings files the way Ruby's Psych does: YAML 1.1 scalars (`yes`/`on` are booleans,
// `0777` is octal), plain scalars starting with `:` are Ruby symbols (we keep their name), and
// keys are accepted with or without their leading colon.

import { readFile } from 'node:fs/promises';
import { parseDocument, visit, isPair, YAMLParseError, Scalar } from 'yaml';
import { SettingsError } from '../errors.ts';

/** Plain (unquoted) scalar values like `:dns_nsupdate` are Ruby symbols: keep the name. */
function stripSymbols(doc: ReturnType<typeof parseDocument>): void {
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key') return; // keys keep their colon so `:x` can win over `x`
      const parent = path[path.length - 1];
      if (isPair(parent) && parent.key === node) return;
      // Only identifier-like symbols (`:dns_nsupdate`); Psych would also turn `::1` into `:1`,
      // which breaks an unquoted IPv6 bind_host, so that is one quirk not reproduced.
      if (node.type === Scalar.PLAIN && typeof node.value === 'string' && /^:[A-Za-z_][\w]*$/.test(node.value)) {
        node.value = node.value.slice(1);
      }
    },
  });
}

export function parseSettingsYaml(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { version: '1.1', uniqueKeys: false });
    if (parsed.errors.length > 0) throw parsed.errors[0];
    stripSymbols(parsed);
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new SettingsError(file, undefined, `invalid YAML${where}: ${msg}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SettingsError(file, undefined, 'expected a mapping of settings at the top level');
  }
  return normaliseKeys(doc as Record<string, unknown>, file);
}

/** Strip one leading colon from every top-level key; `:x` and `x` are the same setting. */
function normaliseKeys(obj: Record<string, unknown>, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const name = key.startsWith(':') ? key.slice(1) : key;
    if (name in out && key.startsWith(':') === false) continue; // the colon form wins
    if (name === '__proto__') throw new SettingsError(file, key, 'is not a valid setting name');
    out[name] = deepNormalise(value);
  }
  return out;
}

function deepNormalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deepNormalise);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const name = k.startsWith(':') ? k.slice(1) : k;
      if (name === '__proto__') continue;
      out[name] = deepNormalise(v);
    }
    return out;
  }
  return value;
}

/** Read and parse one settings file. `undefined` when it does not exist. */
export async function readSettingsFile(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new SettingsError(path, undefined, `cannot read file: ${(err as Error).message}`);
  }
  return parseSettingsYaml(text, path);
}
