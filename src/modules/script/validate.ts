// Checks of one host's action_input (spec remote-execution.md §2.4), made before anything is stored:
// the first problem names the field and the reason. Values that pass are still only ever handed to
// the host as data (the runner quotes them); these checks keep obviously broken input from reaching
// a connection at all.

import { isIP } from 'node:net';
import { checkRemoteDir, checkUserName, SshInputError } from '../../lib/ssh/quote.ts';

export type FieldProblem = { field: string; message: string };

export const EFFECTIVE_USER_METHODS = ['sudo', 'su', 'dzdo'] as const;

// A DNS name (labels of letters, digits, `-` and `_`, dots between) or an IP address. A leading
// `-` would read as an option to any tool the value reaches.
const HOST_NAME = /^(?!-)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** The value as an integer (Foreman sends numbers, sometimes as numeric strings), or undefined. */
export function asInteger(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

export function isHostName(v: string): boolean {
  return v.length <= 253 && (isIP(v) !== 0 || HOST_NAME.test(v));
}

export function validateActionInput(input: Record<string, unknown>): FieldProblem | undefined {
  const hostname = input.hostname;
  if (!isSet(hostname)) return { field: 'hostname', message: 'is required' };
  if (typeof hostname !== 'string') return { field: 'hostname', message: 'must be a string' };
  if (!isHostName(hostname)) return { field: 'hostname', message: `'${printable(hostname)}' is not a host name or IP address` };

  if (typeof input.script !== 'string') return { field: 'script', message: input.script === undefined ? 'is required' : 'must be a string' };

  if (isSet(input.ssh_port)) {
    const port = asInteger(input.ssh_port);
    if (port === undefined || port < 1 || port > 65535) return { field: 'ssh_port', message: `must be a port number (1-65535), got ${printable(String(input.ssh_port))}` };
  }
  for (const field of ['ssh_user', 'effective_user'] as const) {
    const v = input[field];
    if (!isSet(v)) continue;
    if (typeof v !== 'string') return { field, message: 'must be a string' };
    const problem = sshInputProblem(() => checkUserName(field, v));
    if (problem) return problem;
  }
  const method = input.effective_user_method;
  if (isSet(method) && !(EFFECTIVE_USER_METHODS as readonly unknown[]).includes(method)) {
    return { field: 'effective_user_method', message: `effective_user_method '${printable(String(method))}' not supported` };
  }
  const dir = input.remote_working_dir;
  if (isSet(dir)) {
    if (typeof dir !== 'string') return { field: 'remote_working_dir', message: 'must be an absolute path' };
    const problem = sshInputProblem(() => checkRemoteDir('remote_working_dir', dir));
    if (problem) return problem;
  }
  for (const field of ['execution_timeout_interval', 'time_to_pickup'] as const) {
    const v = input[field];
    if (!isSet(v)) continue;
    const n = asInteger(v);
    if (n === undefined || n < 0) return { field, message: `must be a whole number of seconds, got ${printable(String(v))}` };
  }
  const secrets = input.secrets;
  if (isSet(secrets) && (typeof secrets !== 'object' || Array.isArray(secrets))) return { field: 'secrets', message: 'must be an object' };
  const names = input.alternative_names;
  if (isSet(names)) {
    if (typeof names !== 'object' || Array.isArray(names)) return { field: 'alternative_names', message: 'must be an object' };
    for (const key of ['consumer_uuid', 'fqdn'] as const) {
      const v = (names as Record<string, unknown>)[key];
      if (isSet(v) && (typeof v !== 'string' || /[\0-\x20\x7f/#+]/.test(v))) return { field: `alternative_names.${key}`, message: 'must be a host identity without spaces, `/`, `#` or `+`' };
    }
  }
  return undefined;
}

/** The SSH runner's own check of a value it puts on a command line, as a field problem. */
function sshInputProblem(check: () => void): FieldProblem | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    if (err instanceof SshInputError) return { field: err.field, message: err.message.slice(err.field.length + 2) };
    throw err;
  }
}

/** A value shown in a message: control characters escaped, long values cut. */
export function printable(v: string): string {
  const cut = v.length > 80 ? `${v.slice(0, 80)}…` : v;
  return cut.replace(/[\0-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
