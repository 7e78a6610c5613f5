// Parsing of the updates pull hosts post (spec remote-execution.md §5.7). The whole body is checked
// before any of it is applied: a malformed update is refused with 400 naming the field, and the job
// keeps running (the reference failed the job instead: §8.8).

import type { OutputEntry } from '../dynflow/types.ts';
import { asInteger } from './validate.ts';

export interface ParsedUpdate {
  readonly output: Omit<OutputEntry, 'id'>[];
  /** Exit code of the script when the update carries one. */
  readonly exitCode?: number;
}

export class UpdateError extends Error {}

const STREAMS = new Set(['stdout', 'stderr', 'debug']);

function outputType(v: unknown, field: string): OutputEntry['output_type'] {
  if (v === undefined || v === null) return 'stdout';
  if (typeof v !== 'string' || !STREAMS.has(v)) throw new UpdateError(`${field}: must be one of stdout, stderr, debug`);
  return v as OutputEntry['output_type'];
}

function exitCodeOf(v: unknown, field: string): number {
  const n = asInteger(v);
  if (n === undefined) throw new UpdateError(`${field}: must be an integer`);
  return n;
}

function timestampOf(v: unknown, field: string, arrival: number): number {
  if (v === undefined || v === null) return arrival;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  throw new UpdateError(`${field}: must be a time (ISO 8601 or epoch seconds)`);
}

/** `body`: the raw request body. Throws UpdateError with the field and the reason. */
export function parseUpdate(body: unknown, arrival = Date.now() / 1000): ParsedUpdate {
  let data: unknown = body;
  if (Buffer.isBuffer(body)) {
    try {
      data = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new UpdateError(`body: not valid JSON (${(err as Error).message})`);
    }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UpdateError('body: must be a JSON object');
  const d = data as Record<string, unknown>;
  if (d.version !== undefined && d.version !== null) {
    if (String(d.version) !== '1') throw new UpdateError(`version: unsupported version ${JSON.stringify(d.version)} (known: 1)`);
    if (!Array.isArray(d.updates)) throw new UpdateError('updates: must be an array');
    const output: Omit<OutputEntry, 'id'>[] = [];
    let exitCode: number | undefined;
    d.updates.forEach((u: unknown, i: number) => {
      const field = `updates[${i}]`;
      if (typeof u !== 'object' || u === null || Array.isArray(u)) throw new UpdateError(`${field}: must be an object`);
      const up = u as Record<string, unknown>;
      const timestamp = timestampOf(up.timestamp, `${field}.timestamp`, arrival);
      if (up.type === 'output') {
        if (typeof up.content !== 'string') throw new UpdateError(`${field}.content: must be a string`);
        output.push({ output_type: outputType(up.stream, `${field}.stream`), output: up.content, timestamp });
      } else if (up.type === 'exit') {
        exitCode = exitCodeOf(up.exit_code, `${field}.exit_code`);
      } else {
        throw new UpdateError(`${field}.type: must be output or exit, got ${JSON.stringify(up.type)}`);
      }
    });
    return { output, exitCode };
  }
  // Unversioned (legacy): {output: text | [text…], type, exit_code}.
  const type = outputType(d.type, 'type');
  const lines = d.output === undefined || d.output === null ? [] : Array.isArray(d.output) ? d.output : [d.output];
  const output = lines.map((line: unknown, i) => {
    if (typeof line !== 'string') throw new UpdateError(Array.isArray(d.output) ? `output[${i}]: must be a string` : 'output: must be a string or a list of strings');
    return { output_type: type, output: line, timestamp: arrival };
  });
  const exitCode = d.exit_code === undefined || d.exit_code === null ? undefined : exitCodeOf(d.exit_code, 'exit_code');
  return { output, exitCode };
}
