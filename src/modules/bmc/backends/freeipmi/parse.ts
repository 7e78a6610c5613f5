// Parsers for FreeIPMI's text output (FreeIPMI 1.6 formats).

import { normaliseKey } from '../ipmi-config.ts';
import type { SensorReading } from '../../provider.ts';
import { BmcError } from '../../errors.ts';

/** `ipmipower --stat` → `127.0.0.1: on` → `on` (the text after the last colon). */
export function parseIpmipowerStatus(out: string): string {
  const line = out.split('\n').find((l) => l.trim() !== '');
  if (line === undefined || !line.includes(':')) throw BmcError.failed(`unexpected ipmipower output: ${out.trim().slice(0, 200)}`);
  return line.slice(line.lastIndexOf(':') + 1).trim().toLowerCase();
}

/** `bmc-config --checkout`: `Key   Value` lines inside `Section … EndSection`, keys normalised. */
export function parseCheckout(out: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || /^(Section|EndSection)\b/.test(line)) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m) map[normaliseKey(m[1])] = m[2].trim();
  }
  return map;
}

export type FruMap = Record<string, Record<string, string>>;

/** `ipmi-fru`: devices keyed by name (`default_fru_device`), `FRU ` prefixes dropped from fields. */
export function parseIpmiFru(out: string): FruMap {
  const frus: FruMap = {};
  let current: Record<string, string> | undefined;
  for (const line of out.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (/^FRU Inventory Device$/i.test(key)) {
      current = frus[normaliseKey(value.replace(/\(ID\s*\w+\)/i, ''))] = {};
      continue;
    }
    if (current && key !== '') current[normaliseKey(key.replace(/^FRU\s+/i, ''))] = value;
  }
  return frus;
}

/** `ipmi-sensors` table (`ID | Name | Type | Reading | Units | Event`), keyed by normalised name. */
export function parseIpmiSensors(out: string): Record<string, SensorReading> {
  const sensors: Record<string, SensorReading> = {};
  for (const line of out.split('\n')) {
    if (!line.includes('|')) continue;
    const cols = line.split('|').map((c) => c.trim());
    if (cols[0] === 'ID' || cols[1] === undefined || cols[1] === '') continue;
    const na = (v: string | undefined): string | null => (v === undefined || v === '' || v === 'N/A' ? null : v);
    sensors[normaliseKey(cols[1])] = {
      name: cols[1],
      type: na(cols[2]),
      value: na(cols[3]),
      unit: na(cols[4]),
      status: na(cols[5]?.replace(/^'|'$/g, '')),
    };
  }
  return sensors;
}
