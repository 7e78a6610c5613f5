// Kerberos credentials from a keytab for child processes (nsupdate -g, …): `kinit -k -t` into a
// credential cache of our own, in a private directory, handed to children through KRB5CCNAME in
// their environment only (the proxy's own environment and the system default cache stay
// untouched).
//
// - One kinit at a time: callers that need a ticket while one is being obtained wait for it.
// - Renewed before expiry: the ticket-granting ticket's end time is read from the cache file
//   (ccache.ts) and a fresh one is obtained once a quarter of its lifetime (at most 5 minutes) is
//   left, by a timer and, should the timer be late, by the next caller.
// - Each kinit writes a new file that is then renamed over the live one, so a child reading the
//   cache never sees it half-written.
// - `invalidate(generation)` lets a caller whose child failed with an expired or rejected ticket
//   get a fresh one; callers that failed on the same ticket share one kinit.

import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../core/logging-types.ts';
import { run, SpawnError } from '../../core/spawn.ts';
import { parseCredentialCache, ticketGrantingTicket } from './ccache.ts';

export type KerberosFailure = 'keytab' | 'principal' | 'kdc' | 'timeout' | 'other';

export class KerberosError extends Error {
  readonly reason: KerberosFailure;
  constructor(message: string, reason: KerberosFailure) {
    super(message);
    this.name = 'KerberosError';
    this.reason = reason;
  }
}

export interface KerberosCredentialsOptions {
  keytab: string;
  principal: string;
  /** Setting names used in error messages (defaults: keytab, principal). */
  keytabSetting?: string;
  principalSetting?: string;
  /** Environment of kinit and of the children besides KRB5CCNAME (e.g. KRB5_CONFIG). */
  env?: Record<string, string>;
  log: Logger;
  /** Upper bound of one kinit run when the caller's deadline is further away. */
  kinitTimeoutMs?: number;
  /** Used when the cache cannot be read back: renew after this long. */
  fallbackLifetimeMs?: number;
  /** A ticket younger than this is not replaced when refused (default 10 s). */
  refusalGraceMs?: number;
}

export interface KerberosTicket {
  /** Environment for a child process using the ticket: KRB5CCNAME plus the configured env. */
  env: Record<string, string>;
  /** Pass to invalidate() when the child reports an expired or rejected ticket. */
  generation: number;
  expiresAt: number;
  obtainedAt: number;
}

export interface KerberosStats {
  kinits: number;
  kinitFailures: number;
}

/** Lead time before expiry at which a ticket is renewed: a quarter of its lifetime, 5 min at most. */
export function renewalLeadMs(lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.max(0, lifetimeMs) / 4);
}

/** Classify kinit's complaint (MIT krb5 messages) into a reason and a sentence for the operator. */
export function describeKinitFailure(stderr: string, o: { keytab: string; principal: string; keytabSetting: string; principalSetting: string }): {
  reason: KerberosFailure;
  text: string;
} {
  const line = stderr.trim().split('\n').filter(Boolean).pop()?.replace(/^kinit: /, '') ?? '';
  const detail = line ? ` (kinit: ${line})` : '';
  if (/Key table file .* not found|No such file or directory|Permission denied|Bad format in keytab|Unsupported key table format/i.test(stderr)) {
    return { reason: 'keytab', text: `the keytab ${o.keytab} (${o.keytabSetting}) cannot be read${detail}` };
  }
  if (/Keytab contains no suitable keys/i.test(stderr)) {
    return { reason: 'keytab', text: `the keytab ${o.keytab} (${o.keytabSetting}) holds no key for ${o.principal} (${o.principalSetting})${detail}` };
  }
  if (/not found in Kerberos database/i.test(stderr)) {
    return { reason: 'principal', text: `the KDC does not know the principal ${o.principal} (${o.principalSetting})${detail}` };
  }
  if (/Preauthentication failed|Password incorrect|integrity check failed|Key version/i.test(stderr)) {
    return {
      reason: 'keytab',
      text: `the KDC rejected the key of ${o.principal} in ${o.keytab} (an outdated keytab? re-export it)${detail}`,
    };
  }
  if (/Cannot contact any KDC|Cannot find KDC|Cannot resolve network address for KDC|Connection refused|Resource temporarily unavailable/i.test(stderr)) {
    return { reason: 'kdc', text: `the KDC of the realm cannot be reached${detail}` };
  }
  if (/Clock skew too great/i.test(stderr)) {
    return { reason: 'other', text: `the clocks of this host and the KDC differ too much${detail}` };
  }
  return { reason: 'other', text: line ? `kinit failed: ${line}` : 'kinit failed without a message' };
}

export class KerberosCredentials {
  readonly stats: KerberosStats = { kinits: 0, kinitFailures: 0 };
  private readonly opts: KerberosCredentialsOptions;
  private readonly dir: string;
  private readonly cachePath: string;
  private generation = 0;
  private ticket: KerberosTicket | undefined;
  private renewAt = 0;
  /** Past this a ticket is too close to its end to be handed out: callers wait for a new one. */
  private mustRenewAt = 0;
  private inFlight: Promise<KerberosTicket> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Stops a kinit still running at close (a hung KDC must not hold up shutdown). */
  private readonly stopping = new AbortController();

  private constructor(opts: KerberosCredentialsOptions, dir: string) {
    this.opts = opts;
    this.dir = dir;
    this.cachePath = join(dir, 'ccache');
  }

  /** Creates the private directory (mode 0700, by mkdtemp); no kinit yet. */
  static async create(opts: KerberosCredentialsOptions): Promise<KerberosCredentials> {
    if (!/^[^\s@-][^\s@]*(@[^\s@]+)?$/.test(opts.principal)) {
      throw new KerberosError(`${opts.principalSetting ?? 'principal'}: '${opts.principal}' is not a Kerberos principal (name[/instance][@REALM])`, 'principal');
    }
    const dir = await mkdtemp(join(tmpdir(), 'smart-proxy-krb5-'));
    return new KerberosCredentials(opts, dir);
  }

  get principal(): string {
    return this.opts.principal;
  }

  private now(): number {
    return Date.now();
  }

  /**
   * A ticket valid for a while yet. Past the renewal time a still valid ticket is returned at once
   * while a new one is obtained in the background; only a caller without a usable ticket waits.
   */
  async acquire(deadline: number, signal?: AbortSignal): Promise<KerberosTicket> {
    const t = this.ticket;
    const now = this.now();
    if (t && now < this.renewAt) return t;
    if (t && now < this.mustRenewAt) {
      this.renewInBackground();
      return t;
    }
    return this.kinit(deadline, signal);
  }

  /**
   * The ticket of `generation` was refused (expired, revoked): get a new one, unless another
   * caller already has since.
   */
  async invalidate(generation: number, deadline: number, signal?: AbortSignal): Promise<KerberosTicket> {
    const t = this.ticket;
    if (t && this.now() < this.mustRenewAt) {
      // Another caller renewed it already; or it is brand new, and a refusal is then not the
      // ticket's fault (a misconfigured server must not cost a kinit per request).
      if (t.generation !== generation || this.now() - t.obtainedAt < (this.opts.refusalGraceMs ?? 10_000)) return t;
    }
    return this.kinit(deadline, signal);
  }

  /** Join the kinit in flight, or start one. */
  private kinit(deadline: number, signal?: AbortSignal): Promise<KerberosTicket> {
    if (this.closed) return Promise.reject(new KerberosError('Kerberos credentials are closed (the proxy is stopping)', 'other'));
    this.inFlight ??= this.runKinit(deadline, signal).finally(() => {
      this.inFlight = undefined;
    });
    // A caller with a nearer deadline than the kinit's own stops waiting at its deadline.
    return withDeadline(this.inFlight, deadline, () => new KerberosError(`no Kerberos ticket for ${this.opts.principal} within the deadline (kinit still running: is the KDC slow?)`, 'timeout'));
  }

  private async runKinit(deadline: number, signal?: AbortSignal): Promise<KerberosTicket> {
    const o = this.opts;
    const names = { keytab: o.keytab, principal: o.principal, keytabSetting: o.keytabSetting ?? 'keytab', principalSetting: o.principalSetting ?? 'principal' };
    const fresh = join(this.dir, `ccache.${this.generation + 1}`);
    const timeoutMs = Math.max(1, Math.min(o.kinitTimeoutMs ?? 30_000, deadline - this.now()));
    const started = this.now();
    this.stats.kinits++;
    try {
      let r;
      try {
        const stop = signal ? AbortSignal.any([signal, this.stopping.signal]) : this.stopping.signal;
        r = await run('kinit', ['-k', '-t', o.keytab, '-c', `FILE:${fresh}`, o.principal], { env: { ...o.env }, timeoutMs, signal: stop });
      } catch (err) {
        if (this.stopping.signal.aborted || signal?.aborted) throw new KerberosError('kinit stopped: the proxy is shutting down', 'other');
        if (err instanceof SpawnError) throw new KerberosError(`cannot run kinit (${err.message}): install the MIT Kerberos client (krb5-user / krb5-workstation)`, 'other');
        throw err;
      }
      if (r.timedOut) {
        throw new KerberosError(`kinit for ${o.principal} did not finish within ${Math.ceil(timeoutMs / 1000)} s: the KDC does not answer`, 'timeout');
      }
      if (r.code !== 0) {
        const d = describeKinitFailure(r.stderr, names);
        throw new KerberosError(`cannot get a Kerberos ticket for ${o.principal}: ${d.text}`, d.reason);
      }
      let expiresAt: number;
      let lifetime: number;
      try {
        const tgt = ticketGrantingTicket(parseCredentialCache(await readFile(fresh)));
        if (!tgt) throw new Error('no ticket-granting ticket in it');
        expiresAt = tgt.end;
        lifetime = tgt.end - Math.min(tgt.start, started);
      } catch (err) {
        lifetime = o.fallbackLifetimeMs ?? 10 * 60_000;
        expiresAt = started + lifetime;
        o.log.warn(`krb5: cannot read the expiry from the new credential cache (${(err as Error).message}); renewing after ${lifetime / 1000} s`);
      }
      await rename(fresh, this.cachePath);
      this.generation++;
      this.ticket = {
        env: { ...o.env, KRB5CCNAME: `FILE:${this.cachePath}` },
        generation: this.generation,
        expiresAt,
        obtainedAt: this.now(),
      };
      const lead = renewalLeadMs(lifetime);
      this.renewAt = expiresAt - lead;
      this.mustRenewAt = expiresAt - Math.min(lead / 2, 30_000);
      this.schedule();
      o.log.debug(`krb5: ticket for ${o.principal} obtained, valid until ${new Date(expiresAt).toISOString()}`);
      return this.ticket;
    } catch (err) {
      this.stats.kinitFailures++;
      await rm(fresh, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Renew in the background when the lead time is reached, so requests rarely wait for kinit. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.closed) return;
    const delay = Math.max(0, Math.min(this.renewAt - this.now(), 0x7fffffff));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renewInBackground();
    }, delay);
    this.timer.unref();
  }

  private renewInBackground(): void {
    if (this.closed || this.inFlight) return;
    this.kinit(this.now() + (this.opts.kinitTimeoutMs ?? 30_000)).catch((err: Error) => {
      // The next request tries again (and reports the failure to its caller).
      this.opts.log.warn(`krb5: renewing the ticket of ${this.opts.principal} failed: ${err.message}`);
    });
  }

  /** Stop renewing and remove the private directory with the cache. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopping.abort();
    await this.inFlight?.catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function withDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  const ms = deadline - Date.now();
  if (ms <= 0) return Promise.reject(onTimeout());
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
