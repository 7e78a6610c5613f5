// Type checks for loaded settings. Each returns the coerced value or throws a SettingsError that
// names the file and the key.

import { SettingsError } from '../errors.ts';

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

export function asString(file: string, key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new SettingsError(file, key, `expected a string, got ${describe(value)}`);
}

export function asInteger(file: string, key: string, value: unknown, min = -Infinity, max = Infinity): number {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new SettingsError(file, key, `expected an integer, got ${describe(value)}`);
  }
  if (n < min || n > max) throw new SettingsError(file, key, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function asNumber(file: string, key: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new SettingsError(file, key, `expected a number, got ${describe(value)}`);
  }
  return n;
}

export function asBoolean(file: string, key: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  throw new SettingsError(file, key, `expected true or false (YAML yes/no/on/off also work), got ${describe(value)}`);
}

export function asList(file: string, key: string, value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value === null || value === undefined) return [];
  if (typeof value === 'object') throw new SettingsError(file, key, `expected a list, got ${describe(value)}`);
  return [value];
}

export function asStringList(file: string, key: string, value: unknown): string[] {
  return asList(file, key, value).map((v, i) => asString(file, `${key}[${i}]`, v));
}
