// Rack-style parameter parsing. Foreman's RestClient encodes Ruby hashes the Rack way
// (`a[]=1&a[]=2`, `h[k]=v`) and sends nil or an empty array as a bare key with no `=`,
// which Rack reads as nil. Handlers read the merge of query, form body and path params.

export type ParamValue = string | null | ParamValue[] | { [key: string]: ParamValue };
export type Params = Record<string, ParamValue>;

const MAX_PAIRS = 1000;
const MAX_DEPTH = 8;

function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** Split `a[b][]` into ['a', 'b', '']. Malformed brackets keep the raw name as one key. */
function splitKey(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const parts = [name.slice(0, open)];
  let i = open;
  while (i < name.length && parts.length <= MAX_DEPTH) {
    if (name[i] !== '[') return [name];
    const close = name.indexOf(']', i);
    if (close < 0) return [name];
    parts.push(name.slice(i + 1, close));
    i = close + 1;
  }
  return i === name.length ? parts : [name];
}

function isMap(v: ParamValue | undefined): v is { [key: string]: ParamValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function assign(target: { [key: string]: ParamValue }, path: string[], value: ParamValue): void {
  const [head, ...rest] = path;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  if (rest[0] === '') {
    // `a[]` appends; `a[][k]` builds a list of maps (each new when the key repeats).
    let list = target[head];
    if (!Array.isArray(list)) list = target[head] = [];
    if (rest.length === 1) {
      list.push(value);
      return;
    }
    const last = list[list.length - 1];
    const childPath = rest.slice(1);
    if (isMap(last) && !(childPath[0] in last)) assign(last, childPath, value);
    else {
      const fresh: { [key: string]: ParamValue } = {};
      list.push(fresh);
      assign(fresh, childPath, value);
    }
    return;
  }
  let child = target[head];
  if (!isMap(child)) child = target[head] = {};
  assign(child, rest, value);
}

/** Parse `application/x-www-form-urlencoded` or a query string the way Rack does. */
export function parseRackQuery(input: string): Params {
  const out: Params = Object.create(null) as Params;
  if (input === '') return out;
  const pairs = input.split(/[&;]/);
  let count = 0;
  for (const pair of pairs) {
    if (pair === '') continue;
    if (++count > MAX_PAIRS) break;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? null : decode(pair.slice(eq + 1));
    const name = decode(rawName);
    if (name === '' || name === '__proto__' || name.startsWith('__proto__[')) continue;
    const path = splitKey(name).map((p) => (p === '__proto__' ? '_proto_' : p));
    assign(out, path, value);
  }
  return out;
}

/** The value of a single-valued parameter as a string, or undefined when absent or nil. */
export function str(params: Params, key: string): string | undefined {
  const v = params[key];
  return typeof v === 'string' ? v : undefined;
}
