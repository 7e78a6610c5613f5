// Foreman's side of the remote-execution benches: launch host tasks on the proxy the way Foreman
// does (POST /dynflow/tasks/launch over HTTPS with its client certificate, in batches of 100 hosts,
// its default proxy batch size), and a stand-in Foreman that receives the completion callbacks and
// resolves once every host has reported. Also the small /proc readers the benches share.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fetchUrl, type TlsMaterial } from '../../test/lib/https-client.ts';
import { startStandInForeman, type StandInForeman } from '../../test/lib/standin-foreman.ts';

export const RUN_SCRIPT_ACTION = 'Proxy::RemoteExecution::Ssh::Actions::RunScript';
export const FOREMAN_BATCH = 100;
const CLOCK_TICKS = 100;

/** utime + stime of one live process, seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
}

export function processRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A failure message with ids, addresses and paths replaced, so that failures can be counted by kind. */
export function genericText(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>')
    .replace(/\/\S+/g, '<path>')
    .replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, '<addr>')
    .slice(0, 200);
}

interface CallbackBody {
  callback?: { task_id?: string };
  data?: { exit_status?: number | string; result?: { output_type: string; output: string }[] };
}

export interface CallbackTally {
  readonly foreman: StandInForeman;
  ok: number;
  failed: number;
  firstError?: string;
  /** Failed hosts by the last line of their output, with ids, addresses and paths made generic. */
  failureKinds: Record<string, number>;
  sampleOutput: string;
  /** Resolves when `expected` distinct tasks have called back. */
  readonly allDone: Promise<void>;
  /** Epoch ms of the last new callback. */
  lastAt: number;
}

/** A stand-in Foreman counting callbacks; a callback counts as ok with exit 0 and `hello` in stdout. */
export async function startCallbackTally(expected: number): Promise<CallbackTally> {
  const seen = new Set<string>();
  let resolveDone: () => void = () => undefined;
  const tally = {
    ok: 0,
    failed: 0,
    firstError: undefined as string | undefined,
    failureKinds: {} as Record<string, number>,
    sampleOutput: '',
    allDone: new Promise<void>((resolve) => (resolveDone = resolve)),
    lastAt: 0,
  };
  const foreman = await startStandInForeman((req) => {
    if (req.path === '/foreman_tasks/api/tasks/callback') {
      const body = JSON.parse(req.body.toString('utf8')) as CallbackBody;
      const id = body.callback?.task_id ?? '';
      if (!seen.has(id)) {
        seen.add(id);
        tally.lastAt = Date.now();
        const output = (body.data?.result ?? []).filter((e) => e.output_type === 'stdout').map((e) => e.output).join('');
        if (body.data?.exit_status === 0 && output.includes('hello')) {
          tally.ok++;
          if (!tally.sampleOutput) tally.sampleOutput = output.trim();
        } else {
          tally.failed++;
          const lines = (body.data?.result ?? []).map((e) => e.output).join('').trim().split('\n');
          tally.firstError ??= `exit ${body.data?.exit_status}: ${lines.join(' | ').slice(0, 600)}`;
          const kind = `exit ${body.data?.exit_status}: ${genericText(lines[lines.length - 1] ?? '')}`;
          tally.failureKinds[kind] = (tally.failureKinds[kind] ?? 0) + 1;
        }
        if (seen.size >= expected) resolveDone();
      }
    }
    // what Foreman answers
    return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"message":"processing"}' };
  });
  return Object.assign(tally, { foreman });
}

/**
 * Launch `count` host tasks in batches of FOREMAN_BATCH; `actionInput(i)` is host i's input
 * (`callback` and `proxy_url` are added here). Resolves when every batch was accepted.
 */
export async function launchHosts(proxyBase: string, tls: TlsMaterial, count: number, actionInput: (i: number) => Record<string, unknown>): Promise<void> {
  for (let first = 0; first < count; first += FOREMAN_BATCH) {
    const input: Record<string, unknown> = {};
    for (let i = first; i < Math.min(count, first + FOREMAN_BATCH); i++) {
      input[randomUUID()] = {
        action_class: RUN_SCRIPT_ACTION,
        action_input: { ...actionInput(i), proxy_url: proxyBase, callback: { task_id: randomUUID(), step_id: 3 } },
      };
    }
    const res = await fetchUrl(`${proxyBase}/dynflow/tasks/launch`, {
      method: 'POST',
      tls,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'ssh', input, options: {} }),
      timeoutMs: 60_000,
    });
    if (res.status !== 200 || !res.body.includes('"success"')) throw new Error(`launch answered ${res.status}: ${res.body.slice(0, 500)}`);
  }
}
