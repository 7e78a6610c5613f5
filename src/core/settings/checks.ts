// The reference's setting validators (spec README §3.5). A failure is not fatal to the process:
// it marks the module's group failed with exactly the reference's message.

import { access, constants } from 'node:fs/promises';
import type { SettingsSpec, Settings } from '../module.ts';

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function urlProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return `Setting '${name}' is expected to contain a url`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return `Setting '${name}' is missing a scheme`;
  if (!URL.canParse(value)) return `Setting '${name}' contains an invalid url`;
  return undefined;
}

const empty = (v: unknown): boolean => v === null || v === undefined || v === '';

/** First failing check's message, or undefined when all pass. */
export async function runChecks(spec: SettingsSpec, settings: Settings): Promise<string | undefined> {
  for (const [name, decl] of Object.entries(spec)) {
    const value = settings[name];
    const checks = new Set(decl.checks ?? []);
    if ('default' in decl && decl.default !== undefined) checks.add('presence');
    if (checks.has('presence') && empty(value)) return `Parameter '${name}' is expected to have a non-empty value`;
    if (checks.has('boolean') && typeof value !== 'boolean') return `Setting '${name}' is expected to be true/false`;
    if (checks.has('url')) {
      const p = urlProblem(name, value);
      if (p) return p;
    }
    if (checks.has('optional_url') && !empty(value)) {
      const p = urlProblem(name, value);
      if (p) return p;
    }
    if (checks.has('readable')) {
      const hasDefault = 'default' in decl && decl.default !== undefined;
      if ((hasDefault || !empty(value)) && !(typeof value === 'string' && (await readable(value)))) {
        return `File at '${String(value ?? '')}' defined in '${name}' parameter doesn't exist or is unreadable`;
      }
    }
  }
  return undefined;
}
