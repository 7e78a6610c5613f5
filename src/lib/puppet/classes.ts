// Puppet Server `environment_classes` responses → the proxy's two class listings (spec puppet.md
// §1.4, §1.5).

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface PuppetClassEntry {
  name: string;
  module: string | null;
  params: Record<string, Json>;
}

/** `$::x::y` → `${::x::y}`: Foreman shows defaults that reference variables in this form. */
export function interpolationForm(value: Json): Json {
  return typeof value === 'string' && value.startsWith('$') ? `\${${value.slice(1)}}` : value;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function files(response: unknown): Record<string, Json>[] {
  if (!isObject(response) || !Array.isArray(response.files)) {
    throw new Error('unexpected Puppet API response: no files list');
  }
  return response.files.filter(isObject);
}

function classList(file: Record<string, Json>): Record<string, Json>[] {
  return Array.isArray(file.classes) ? file.classes.filter(isObject) : [];
}

function paramList(cls: Record<string, Json>): Record<string, Json>[] {
  return Array.isArray(cls.params) ? cls.params.filter(isObject) : [];
}

/** Split `a::b::c` into module `a` and name `b::c`; a name without `::` has no module. */
export function splitClassName(full: string): { module: string | null; name: string } {
  const i = full.indexOf('::');
  return i < 0 ? { module: null, name: full } : { module: full.slice(0, i), name: full.slice(i + 2) };
}

/**
 * Legacy format: `[{ "<full name>": { name, module, params: { p: default } } }]`. Files that failed
 * to parse are skipped. A default is `default_literal`, falling back to `default_source` when the
 * literal is absent, null or false (the reference's truthiness, kept for identical output).
 */
export function legacyClasses(response: unknown): Record<string, PuppetClassEntry>[] {
  const out: Record<string, PuppetClassEntry>[] = [];
  for (const file of files(response)) {
    for (const cls of classList(file)) {
      if (typeof cls.name !== 'string') continue;
      const params: [string, Json][] = [];
      for (const p of paramList(cls)) {
        if (typeof p.name !== 'string') continue;
        const literal = p.default_literal;
        const value = literal === undefined || literal === null || literal === false ? (p.default_source ?? null) : literal;
        params.push([p.name, interpolationForm(value)]);
      }
      const { module, name } = splitClassName(cls.name);
      out.push(Object.fromEntries([[cls.name, { name, module, params: Object.fromEntries(params) }]]));
    }
  }
  return out;
}

/**
 * Per-file format with parse errors: error entries pass through unchanged; class entries keep
 * Puppet's parameter list, with a `$`-prefixed `default_source` put in `${…}` form.
 */
export function classesAndErrors(response: unknown): Json[] {
  return files(response).map((file): Json => {
    if ('error' in file) return file;
    const classes = classList(file).map((cls) => ({
      name: cls.name ?? null,
      params: paramList(cls).map((p) =>
        typeof p.default_source === 'string' && p.default_source.startsWith('$')
          ? { ...p, default_source: interpolationForm(p.default_source) }
          : p,
      ),
    }));
    return { path: file.path ?? null, classes };
  });
}

/** Puppet's environment names (`[a-z0-9_]+`); anything else cannot exist there. */
export function environmentNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > 255) return 'must be at most 255 characters long';
  if (!/^[A-Za-z0-9_]+$/.test(name)) return "may contain only letters, digits and '_'";
  return undefined;
}

export interface EnvironmentInfo {
  name: string;
  paths: string[];
}

/** `GET /puppet/v3/environments` body → environments with a module path, in Puppet's order. */
export function environmentList(response: unknown): EnvironmentInfo[] {
  if (!isObject(response) || !isObject(response.environments)) {
    throw new Error('No environments list in Puppet API response');
  }
  const out: EnvironmentInfo[] = [];
  for (const [name, env] of Object.entries(response.environments)) {
    if (!isObject(env) || !isObject(env.settings) || !Array.isArray(env.settings.modulepath)) continue;
    out.push({ name, paths: env.settings.modulepath.filter((p): p is string => typeof p === 'string') });
  }
  return out;
}
