// Parsers for ipmitool's text output (ipmitool 1.8.x formats).

import { normaliseKey } from '../ipmi-config.ts';
import type { SensorReading } from '../../provider.ts';
import { BmcError } from '../../errors.ts';

/** `Chassis Power is on` → `on`. */
export function parsePowerStatus(out: string): string {
  const m = /Chassis Power is\s+(\w+)/i.exec(out);
  if (!m) throw BmcError.failed(`unexpected power status output: ${out.trim().slice(0, 200)}`);
  return m[1].toLowerCase();
}

export type KeyValues = Record<string, string | string[]>;

/**
 * `Key   : value` blocks (`lan print`, `bmc info`, `chassis status`). Continuation lines (a blank
 * key, or an indented line without a colon) turn the value into a list.
 */
export function parseKeyValues(out: string): KeyValues {
  const map: KeyValues = {};
  let last: string | undefined;
  const append = (v: string): void => {
    if (last === undefined || v === '') return;
    const cur = map[last];
    map[last] = Array.isArray(cur) ? [...cur, v] : cur === '' ? [v] : [cur, v];
  };
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) {
      append(line.trim());
      continue;
    }
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === '') {
      append(value);
      continue;
    }
    last = key;
    map[key] = value;
  }
  return map;
}

/** `lan print` as the reference's map: keys lower-cased, spaces → `_`, dots removed. */
export function parseLanPrint(out: string): Record<string, string | string[]> {
  const kv = parseKeyValues(out);
  const map: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(kv)) map[normaliseKey(k)] = v;
  return map;
}

export type FruMap = Record<string, Record<string, string>>;

/** `fru` output: a map keyed by FRU device name (`builtin_fru_device`), fields normalised. */
export function parseFru(out: string): FruMap {
  const frus: FruMap = {};
  let current: Record<string, string> | undefined;
  for (const line of out.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (/^FRU Device Description$/i.test(key)) {
      const name = normaliseKey(value.replace(/\(ID\s*\w+\)/i, ''));
      current = frus[name] = {};
      continue;
    }
    if (current && key !== '') current[normaliseKey(key)] = value;
  }
  return frus;
}

const SENSOR_COLUMNS = [
  'name', 'value', 'unit', 'status',
  'lower_nonrec', 'lower_crit', 'lower_noncrit', 'upper_noncrit', 'upper_crit', 'upper_nonrec',
] as const;

/** `sensor` table (`name | reading | unit | status | thresholds…`), keyed by normalised name. */
export function parseSensors(out: string): Record<string, SensorReading> {
  const sensors: Record<string, SensorReading> = {};
  for (const line of out.split('\n')) {
    if (!line.includes('|')) continue;
    const cols = line.split('|').map((c) => c.trim());
    if (cols[0] === '') continue;
    const fields: Record<string, string | null> = {};
    SENSOR_COLUMNS.forEach((col, i) => {
      const v = cols[i];
      fields[col] = v === undefined || v === '' || v === 'na' ? null : v;
    });
    sensors[normaliseKey(cols[0])] = { ...fields, name: cols[0] } as SensorReading;
  }
  return sensors;
}
