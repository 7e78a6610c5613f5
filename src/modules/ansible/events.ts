// ansible-runner's events (its `-j` stream: one JSON object per line, the same objects it would
// write to artifacts/<ident>/job_events) turned into per-host output and exit statuses, as
// Foreman's Ansible provider expects them (spec plugins.md §3.4 step 4).

import type { ExitStatus, OutputEntry } from '../dynflow/types.ts';

/** One event as ansible-runner emits it (only the keys read here). */
export interface RunnerEvent {
  readonly event?: string;
  readonly uuid?: string;
  readonly stdout?: string;
  readonly created?: string;
  readonly event_data?: {
    readonly host?: string;
    readonly remote_addr?: string;
    readonly ignore_errors?: boolean | null;
    readonly failures?: Record<string, number>;
    readonly dark?: Record<string, number>;
    readonly rescued?: Record<string, number>;
    readonly processed?: Record<string, number>;
  };
}

export type Entry = Omit<OutputEntry, 'id'>;

/** Output of one event: for one host, or for all (`host` undefined). */
export interface Routed {
  readonly host: string | undefined;
  readonly entry: Entry;
}

/** Exit status of a host whose connection failed (the plugin's value). */
export const UNREACHABLE = 1;
/** Exit status of a host with a failed task, and of every host of a cancelled or timed-out run. */
export const FAILED = 2;
/** Exit status of the hosts left without one when ansible-runner reports an error event. */
export const RUNNER_ERROR = 4;

const ANSI = /\u001b\[[0-9;]*m/g;

/** ansible-runner's `created` is UTC without a zone. */
export function eventTime(created: string | undefined): number {
  if (created) {
    const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(created) ? created : `${created}Z`);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  return Date.now() / 1000;
}

export class EventRouter {
  private readonly hosts: ReadonlySet<string>;
  private readonly statuses = new Map<string, number>();
  private stats: RunnerEvent['event_data'] | undefined;
  private errorEvent = false;

  constructor(hosts: Iterable<string>) {
    this.hosts = new Set(hosts);
  }

  /** The host an event belongs to, or undefined (broadcast: play and task headers, unknown hosts). */
  private hostOf(event: RunnerEvent): string | undefined {
    const name = event.event_data?.host || event.event_data?.remote_addr;
    return name && this.hosts.has(name) ? name : undefined;
  }

  /** Whether any event arrived (ansible-runner started the playbook). */
  sawEvents = false;

  /** Route one event; records the host statuses it implies. */
  handle(event: RunnerEvent): Routed[] {
    this.sawEvents = true;
    const timestamp = eventTime(event.created);
    const stdout = typeof event.stdout === 'string' ? event.stdout : '';
    const host = this.hostOf(event);
    if (host !== undefined) {
      switch (event.event) {
        case 'runner_on_ok':
          if (!this.statuses.has(host)) this.statuses.set(host, 0);
          break;
        case 'runner_on_unreachable':
          this.statuses.set(host, UNREACHABLE);
          break;
        case 'runner_on_failed':
          if (event.event_data?.ignore_errors !== true) this.statuses.set(host, FAILED);
          break;
      }
      return stdout === '' ? [] : [{ host, entry: { output_type: 'stdout', output: `${stdout}\n`, timestamp } }];
    }
    if (event.event === 'error') this.errorEvent = true;
    if (event.event === 'playbook_on_stats') {
      this.stats = event.event_data;
      return this.splitRecap(stdout, timestamp);
    }
    return stdout === '' ? [] : [{ host: undefined, entry: { output_type: 'stdout', output: `${stdout}\n`, timestamp } }];
  }

  /** The PLAY RECAP: its header to everyone, each host's line to that host only. */
  private splitRecap(stdout: string, timestamp: number): Routed[] {
    const lines = stdout.replace(/\r/g, '').split('\n');
    while (lines.length > 0 && lines[0]?.trim() === '') lines.shift();
    const out: Routed[] = [];
    const [header, ...rows] = lines;
    if (header !== undefined) out.push({ host: undefined, entry: { output_type: 'stdout', output: `\n${header}\n`, timestamp } });
    for (const row of rows) {
      if (row.trim() === '') continue;
      // The line starts with the host name (coloured), then spaces and ':'. Exact match: a host
      // name that is a prefix of another's does not take its line.
      const name = row.replace(ANSI, '').split(/\s+:\s/)[0]?.trim();
      const host = name !== undefined && this.hosts.has(name) ? name : undefined;
      out.push({ host, entry: { output_type: 'stdout', output: `${row}\n`, timestamp } });
    }
    return out;
  }

  /**
   * The final exit status of a host. A cancelled or timed-out run fails every host. Otherwise the
   * recap decides for the hosts it lists (unreachable 1, failed 2, else 0 — a rescued failure is
   * a success), so one host's failure never changes another's status (spec §3.5: wrong exit codes
   * of multi-host jobs). Hosts the recap does not list keep what their events said; an `error`
   * event fails those still at 0; a failed run without any status fails with its exit code.
   */
  exitStatus(host: string, run: { readonly code: number | null; readonly aborted: boolean }): ExitStatus {
    if (run.aborted) return FAILED;
    const stats = this.stats;
    if (stats?.processed && host in stats.processed) {
      if ((stats.dark?.[host] ?? 0) > 0) return UNREACHABLE;
      if ((stats.failures?.[host] ?? 0) > 0) return FAILED;
      return this.errorEvent ? RUNNER_ERROR : 0;
    }
    const own = this.statuses.get(host);
    if (this.errorEvent && (own === undefined || own === 0)) return RUNNER_ERROR;
    if (own !== undefined && own !== 0) return own;
    if (stats) return 0; // the recap exists and no play targeted this host
    if (run.code === 0) return own ?? 0;
    return run.code === null ? 'EXCEPTION' : run.code;
  }

  /** Whether the recap lists the host (for the note on hosts no play targeted). */
  processed(host: string): boolean | undefined {
    if (!this.stats) return undefined;
    return !!this.stats.processed && host in this.stats.processed;
  }
}
