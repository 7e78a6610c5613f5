// The dns_nsupdate_gss provider's logic: RFC 2136 updates signed with GSS-TSIG (RFC 3645), sent by
// `nsupdate -g` (README: why not natively). The update carries the same RFC 2136 prerequisites as
// dns_nsupdate, so the server checks for a conflict atomically; only when they fail does a lookup
// (native, unsigned, as dns_nsupdate's) tell "the same record" from "another one". The zone is
// found natively too (SOA query, remembered) and named in the script.
//
// Each run gets the Kerberos ticket through KRB5CCNAME in its environment (lib/krb5). When the
// server or the KDC rejects the ticket (expired, revoked), a fresh one is obtained and the update
// is sent once more, within the same deadline.

import type { Logger } from '../../../../core/logging-types.ts';
import { run, SpawnError } from '../../../../core/spawn.ts';
import { DnsError as DnsLibError } from '../../../../lib/dns/errors.ts';
import { RCODE, RCODE_NAMES, TYPE, typeName } from '../../../../lib/dns/message.ts';
import { canonicalName } from '../../../../lib/dns/name.ts';
import { rdataToText } from '../../../../lib/dns/rdata.ts';
import type { Prerequisite, UpdateOp } from '../../../../lib/dns/update.ts';
import { DnsUpdateRefused } from '../../../../lib/dns/updater.ts';
import { KerberosError, type KerberosCredentials, type KerberosTicket } from '../../../../lib/krb5/credentials.ts';
import { DnsNsupdateProvider } from '../dns_nsupdate/nsupdate.ts';
import { DnsError } from '../../errors.ts';
import type { DnsProvider } from '../../provider.ts';

export interface NsupdateGssOptions {
  server: { host: string; port: number };
  ttl: number;
  /** Deadline of one whole operation (kinit, zone lookup, update, retry). */
  timeoutMs: number;
  /** Per-try timeouts of the zone and conflict-check lookups (global dns_resolv_timeouts). */
  lookupTimeoutsMs: readonly number[];
  credentials: KerberosCredentials;
  log: Logger;
  signal?: AbortSignal;
  /** The nsupdate program (default: `nsupdate` from PATH). */
  nsupdate?: string;
}

export interface NsupdateGssStats {
  updates: number;
  /** Updates sent a second time after a fresh ticket. */
  ticketRetries: number;
}

/** How one nsupdate run ended. */
export type NsupdateOutcome =
  | { kind: 'ok' }
  | { kind: 'rcode'; rcode: number; name: string }
  /** GSS-API refused the credentials: expired, missing or no longer valid — worth a fresh ticket. */
  | { kind: 'ticket'; detail: string }
  | { kind: 'gss'; detail: string }
  | { kind: 'unreachable'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'other'; detail: string };

/**
 * GSS failures a fresh ticket may cure: an expired or missing ticket, and named's "TKEY is
 * unacceptable", which is also its answer to a service ticket issued before the server's key
 * changed (Active Directory rotates a DC's machine-account key every 30 days by default).
 */
const TICKET_PROBLEM = /expired|No credentials|credentials cache|Ticket not yet valid|TKEY is unacceptable/i;

/** Read nsupdate's verdict from its exit status and stderr (BIND 9 wording). */
export function nsupdateOutcome(code: number | null, stderr: string, timedOut: boolean): NsupdateOutcome {
  if (timedOut) return { kind: 'timeout' };
  const failed = /update failed: ([A-Z]+)/.exec(stderr);
  if (failed) {
    const entry = Object.entries(RCODE_NAMES).find(([, n]) => n === failed[1]);
    return { kind: 'rcode', rcode: entry ? Number(entry[0]) : -1, name: failed[1] };
  }
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const detail = lines.join('; ');
  const gss = lines.find((l) => /GSSAPI error|tkey|gss/i.test(l));
  if (gss) return TICKET_PROBLEM.test(gss) ? { kind: 'ticket', detail: gss } : { kind: 'gss', detail: gss };
  if (code === 0 && lines.length === 0) return { kind: 'ok' };
  if (/could not reach any name server|Communication with .* failed|connection refused|timed out|network unreachable|host unreachable/i.test(stderr)) {
    return { kind: 'unreachable', detail };
  }
  if (code === 0) return { kind: 'ok' };
  return { kind: 'other', detail: detail || `nsupdate exited with status ${code}` };
}

function prerequisiteLines(p: Prerequisite): string[] {
  switch (p.kind) {
    case 'rrsetAbsent':
      return [`prereq nxrrset ${canonicalName(p.name)}. ${typeName(p.type)}`];
    case 'rrsetExists':
      return [`prereq yxrrset ${canonicalName(p.name)}. ${typeName(p.type)}`];
    case 'nameNotInUse':
      return [`prereq nxdomain ${canonicalName(p.name)}.`];
    case 'nameInUse':
      return [`prereq yxdomain ${canonicalName(p.name)}.`];
    case 'rrsetExistsWithValues':
      return p.data.map((d) => `prereq yxrrset ${canonicalName(p.name)}. IN ${typeName(p.type)} ${rdataToText(p.type, d)}`);
  }
}

function updateLine(u: UpdateOp): string {
  switch (u.kind) {
    case 'add':
      return `update add ${canonicalName(u.name)}. ${u.ttl} IN ${typeName(u.type)} ${rdataToText(u.type, u.data)}`;
    case 'deleteRRset':
      return `update delete ${canonicalName(u.name)}. IN ${typeName(u.type)}`;
    case 'deleteName':
      return `update delete ${canonicalName(u.name)}.`;
    case 'deleteRecord':
      return `update delete ${canonicalName(u.name)}. IN ${typeName(u.type)} ${rdataToText(u.type, u.data)}`;
  }
}

/**
 * The nsupdate script for one UPDATE. Names and data were validated by the module and are
 * re-encoded here from wire form; a line break or `;` would still end a command, so any such
 * character is refused outright.
 */
export function nsupdateScript(server: { host: string; port: number }, zone: string, pre: readonly Prerequisite[], ops: readonly UpdateOp[]): string {
  const lines = [`server ${server.host} ${server.port}`, `zone ${canonicalName(zone)}.`, ...pre.flatMap(prerequisiteLines), ...ops.map(updateLine), 'send'];
  if (lines.some((l) => /[\u0000-\u001f\u007f;"\\]/.test(l))) throw DnsError.invalid_value('record data contains characters nsupdate cannot take');
  return `${lines.join('\n')}\n`;
}

/**
 * dns_nsupdate with another way of sending: the same zone lookup, prerequisites and conflict
 * check (native, unsigned lookups), with each UPDATE signed by `nsupdate -g` using the Kerberos
 * ticket.
 */
export class DnsNsupdateGssProvider extends DnsNsupdateProvider implements DnsProvider {
  readonly stats: NsupdateGssStats;
  private readonly sender: GssUpdateSender;

  constructor(opts: NsupdateGssOptions) {
    const sender = new GssUpdateSender(opts);
    super({
      server: opts.server,
      ttl: opts.ttl,
      timeoutMs: opts.timeoutMs,
      lookupTimeoutsMs: opts.lookupTimeoutsMs,
      log: opts.log,
      signal: opts.signal,
      label: 'dns_nsupdate_gss',
      send: (zone, pre, ops, deadline) => sender.send(zone, pre, ops, deadline),
      describeFailure: (err) => (err instanceof KerberosError ? err.message : undefined),
    });
    this.sender = sender;
    this.stats = sender.stats;
  }

  async close(): Promise<void> {
    await this.sender.close();
  }
}

/** Sends one UPDATE through `nsupdate -g` with the current Kerberos ticket. */
class GssUpdateSender {
  readonly stats: NsupdateGssStats = { updates: 0, ticketRetries: 0 };
  private readonly opts: NsupdateGssOptions;

  constructor(opts: NsupdateGssOptions) {
    this.opts = opts;
  }

  close(): Promise<void> {
    return this.opts.credentials.close();
  }

  /** Send one signed UPDATE; a rejected ticket is replaced and the update sent once more. */
  async send(zone: string, pre: readonly Prerequisite[], ops: readonly UpdateOp[], deadline: number): Promise<void> {
    const script = nsupdateScript(this.opts.server, zone, pre, ops);
    const creds = this.opts.credentials;
    let ticket = await creds.acquire(deadline, this.opts.signal);
    let outcome = await this.nsupdate(script, ticket, deadline);
    if (outcome.kind === 'ticket') {
      const refused = ticket.generation;
      ticket = await creds.invalidate(refused, deadline, this.opts.signal);
      // A ticket obtained moments ago is not renewed again (invalidate): retrying with it would
      // fail the same way, so the failure is reported as it is.
      if (ticket.generation !== refused) {
        this.opts.log.info(`dns_nsupdate_gss: the Kerberos ticket was refused (${outcome.detail}); retrying with a new one`);
        this.stats.ticketRetries++;
        outcome = await this.nsupdate(script, ticket, deadline);
      }
    }
    const server = `${this.opts.server.host}:${this.opts.server.port}`;
    const what = ops.map((u) => `${u.kind === 'add' ? 'add' : 'delete'} ${u.name} ${typeName('type' in u ? u.type : TYPE.ANY)}`).join(', ');
    switch (outcome.kind) {
      case 'ok':
        return;
      case 'rcode':
        throw new DnsUpdateRefused(
          `DNS server ${server} answered ${outcome.name} to the GSS-TSIG signed update of zone ${zone} (${what})${rcodeHint(outcome.rcode, creds)}`,
          outcome.rcode,
        );
      case 'ticket':
        throw new DnsLibError(
          `GSS-TSIG negotiation with ${server} failed with the Kerberos ticket of ${creds.principal}: ${outcome.detail}. If the server's key changed, its keytab and the KDC disagree (key version); check the clocks of this host, the KDC and the server`,
          'dns.gss',
        );
      case 'gss':
        throw new DnsLibError(
          `GSS-TSIG negotiation with ${server} failed: ${outcome.detail}. The server needs a keytab for DNS/<primary name of the zone's SOA> (BIND: tkey-gssapi-keytab), and its principal must be known to the KDC`,
          'dns.gss',
        );
      case 'unreachable':
        throw new DnsLibError(`DNS server ${server} cannot be reached: ${outcome.detail}`, 'dns.transport');
      case 'timeout':
        throw new DnsLibError(`no answer from DNS server ${server} within the deadline of ${this.opts.timeoutMs / 1000} s (nsupdate stopped)`, 'dns.timeout');
      case 'other':
        throw new DnsLibError(`nsupdate failed: ${outcome.detail}`, 'dns.error');
    }
  }

  private async nsupdate(script: string, ticket: KerberosTicket, deadline: number): Promise<NsupdateOutcome> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { kind: 'timeout' };
    this.stats.updates++;
    this.opts.log.debug(`dns_nsupdate_gss: nsupdate -g <<\n${script}`);
    try {
      // -t: nsupdate's own limit (whole seconds, 0 would mean none); the spawn deadline is exact.
      const r = await run(this.opts.nsupdate ?? 'nsupdate', ['-g', '-t', String(Math.max(1, Math.floor(remaining / 1000)))], {
        env: ticket.env,
        input: script,
        timeoutMs: remaining,
        signal: this.opts.signal,
        maxOutputBytes: 64 * 1024,
      });
      return nsupdateOutcome(r.code, r.stderr + r.stdout, r.timedOut);
    } catch (err) {
      if (this.opts.signal?.aborted) return { kind: 'other', detail: 'nsupdate stopped: the proxy is shutting down' };
      if (err instanceof SpawnError) {
        return { kind: 'other', detail: `${err.message} (nsupdate is in the bind9-dnsutils / bind-utils package)` };
      }
      throw err;
    }
  }
}

function rcodeHint(rcode: number, creds: KerberosCredentials): string {
  if (rcode === RCODE.REFUSED) {
    return `: the server does not allow ${creds.principal} to update this name (BIND: update-policy grant; Active Directory: the zone's security settings)`;
  }
  if (rcode === RCODE.NOTAUTH) return ': the server is not authoritative for the zone, or did not accept the signature';
  if (rcode === RCODE.NOTZONE) return ': the name is not inside the zone';
  return '';
}
