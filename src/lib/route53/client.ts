// A client of the Amazon Route 53 API (REST with XML bodies, version 2013-04-01): hosted zones,
// record sets, change batches and change status. Every request is signed with Signature Version
// 4 by `aws4`; the secret key only ever enters the HMAC, never a header, a URL or a log line.
// Requests go through the proxy's pooled HTTP client with one deadline per operation and a
// bulkhead, and AWS's error bodies become errors naming the code and AWS's message.

import aws4 from 'aws4';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { Bulkhead } from '../../core/bulkhead.ts';
import { createHttpClient, HttpClientError, type HttpClient, type HttpMethod } from '../http/client.ts';

export const API_VERSION = '2013-04-01';
const XMLNS = `https://route53.amazonaws.com/doc/${API_VERSION}/`;

export interface Route53Options {
  /** `https://route53.amazonaws.com` (or another endpoint: a partition, a test stand-in). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Signing region: us-east-1 for the global endpoint. */
  region: string;
  /** Time one operation (all its calls) may take. */
  timeoutMs: number;
  ca?: string;
  concurrency?: number;
  /** Prefix of messages (`dns_route53`). */
  origin: string;
  signal?: AbortSignal;
  /** Items per page asked for (Route 53's maximum and default: 100 zones, 300 record sets). */
  pageSize?: number;
}

export type Route53Failure = 'unreachable' | 'timeout' | 'auth' | 'invalid_change' | 'not_found' | 'throttled' | 'refused' | 'bad_answer';

export class Route53Error extends Error {
  readonly failure: Route53Failure;
  readonly status: number | undefined;
  /** AWS's error code (`InvalidChangeBatch`, `SignatureDoesNotMatch`, `NoSuchHostedZone` …). */
  readonly code: string | undefined;
  constructor(failure: Route53Failure, message: string, status?: number, code?: string) {
    super(message);
    this.name = 'Route53Error';
    this.failure = failure;
    this.status = status;
    this.code = code;
  }
}

export interface HostedZone {
  /** `Z1PA6795UKMFR9` (without the `/hostedzone/` prefix). */
  id: string;
  /** `example.com.` */
  name: string;
  private: boolean;
}

/** One record set as Route 53 returned it (every element kept, so a DELETE can send it back exactly). */
export type RecordSet = Record<string, unknown> & { Name: string; Type: string };

export interface Change {
  action: 'CREATE' | 'UPSERT' | 'DELETE';
  set: Record<string, unknown>;
}

export type Deadline = number;

const ARRAYS = new Set(['HostedZone', 'ResourceRecordSet', 'ResourceRecord', 'Change']);
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  // <Message> is a list inside InvalidChangeBatch's <Messages> only; ErrorResponse has one.
  isArray: (name, jPath) => ARRAYS.has(name) || (name === 'Message' && String(jPath).endsWith('Messages.Message')),
  processEntities: true,
});
const builder = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false, processEntities: true });

/** Route 53 escapes some characters of names as `\ooo` octal; we compare names in that form's decoded text. */
export function decodeName(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export class Route53Client {
  readonly endpoint: URL;
  private readonly o: Route53Options;
  private readonly http: HttpClient;
  private readonly bulkhead: Bulkhead;

  constructor(o: Route53Options) {
    this.o = o;
    this.endpoint = new URL(o.endpoint);
    const concurrency = o.concurrency ?? 8;
    this.http = createHttpClient({
      baseUrl: this.endpoint.origin,
      verify: true,
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      connections: concurrency,
      keepAliveTimeoutMs: 10_000,
      timeoutMs: o.timeoutMs,
    });
    this.bulkhead = new Bulkhead({ name: o.origin, limit: concurrency, queue: 256, queueTimeoutMs: o.timeoutMs });
  }

  deadline(): Deadline {
    return Date.now() + this.o.timeoutMs;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /** ListHostedZones, every page (`marker` = the previous answer's `NextMarker` while `IsTruncated`). */
  async hostedZones(deadline: Deadline): Promise<HostedZone[]> {
    const out: HostedZone[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const q = new URLSearchParams({ maxitems: String(this.o.pageSize ?? 100) });
      if (marker !== undefined) q.set('marker', marker);
      const doc = await this.call('GET', `/${API_VERSION}/hostedzone?${q}`, undefined, deadline);
      const body = this.element(doc, 'ListHostedZonesResponse', 'ListHostedZones');
      const zones = this.list(body.HostedZones, 'HostedZone');
      for (const z of zones) {
        const id = str(z.Id);
        const name = str(z.Name);
        if (!id || !name) throw this.badAnswer('ListHostedZones', 'a HostedZone without Id or Name');
        const config = z.Config as Record<string, unknown> | undefined;
        out.push({ id: id.replace(/^\/hostedzone\//, ''), name: decodeName(name), private: str(config?.PrivateZone) === 'true' });
      }
      if (str(body.IsTruncated) !== 'true') return out;
      marker = str(body.NextMarker);
      if (!marker) throw this.badAnswer('ListHostedZones', 'IsTruncated without NextMarker');
    }
    throw this.badAnswer('ListHostedZones', 'too many pages');
  }

  /**
   * The record sets named `name` of `type` (ListResourceRecordSets starting at name and type,
   * followed across pages while the next one still has the same name and type: weighted,
   * latency or failover sets share both).
   */
  async recordSets(zoneId: string, name: string, type: string, deadline: Deadline): Promise<RecordSet[]> {
    const out: RecordSet[] = [];
    const wanted = name.toLowerCase();
    let start: { name: string; type: string; identifier?: string } = { name, type };
    for (let page = 0; page < 1000; page++) {
      const q = new URLSearchParams({ name: start.name, type: start.type, maxitems: String(this.o.pageSize ?? 300) });
      if (start.identifier !== undefined) q.set('identifier', start.identifier);
      const doc = await this.call('GET', `/${API_VERSION}/hostedzone/${encodeURIComponent(zoneId)}/rrset?${q}`, undefined, deadline);
      const body = this.element(doc, 'ListResourceRecordSetsResponse', 'ListResourceRecordSets');
      const sets = this.list(body.ResourceRecordSets, 'ResourceRecordSet');
      let past = false;
      for (const s of sets) {
        const n = str(s.Name);
        const t = str(s.Type);
        if (!n || !t) throw this.badAnswer('ListResourceRecordSets', 'a ResourceRecordSet without Name or Type');
        if (decodeName(n).toLowerCase() === wanted && t === type) out.push(s as RecordSet);
        else past = true;
      }
      if (past || str(body.IsTruncated) !== 'true') return out;
      const nextName = str(body.NextRecordName);
      const nextType = str(body.NextRecordType);
      if (!nextName || !nextType) throw this.badAnswer('ListResourceRecordSets', 'IsTruncated without NextRecordName/NextRecordType');
      if (decodeName(nextName).toLowerCase() !== wanted || nextType !== type) return out;
      start = { name: nextName, type: nextType, ...(str(body.NextRecordIdentifier) ? { identifier: str(body.NextRecordIdentifier)! } : {}) };
    }
    throw this.badAnswer('ListResourceRecordSets', 'too many pages');
  }

  /** ChangeResourceRecordSets: one atomic batch; returns the change id to poll. */
  async change(zoneId: string, changes: Change[], comment: string, deadline: Deadline): Promise<{ id: string; status: string }> {
    const xml = builder.build({
      '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
      ChangeResourceRecordSetsRequest: {
        '@_xmlns': XMLNS,
        ChangeBatch: {
          Comment: comment,
          Changes: { Change: changes.map((c) => ({ Action: c.action, ResourceRecordSet: c.set })) },
        },
      },
    }) as string;
    const doc = await this.call('POST', `/${API_VERSION}/hostedzone/${encodeURIComponent(zoneId)}/rrset/`, xml, deadline);
    return this.changeInfo(this.element(doc, 'ChangeResourceRecordSetsResponse', 'ChangeResourceRecordSets'), 'ChangeResourceRecordSets');
  }

  /** GetChange: PENDING until every Route 53 name server has the change, then INSYNC. */
  async changeStatus(changeId: string, deadline: Deadline): Promise<string> {
    const doc = await this.call('GET', `/${API_VERSION}/change/${encodeURIComponent(changeId)}`, undefined, deadline);
    return this.changeInfo(this.element(doc, 'GetChangeResponse', 'GetChange'), 'GetChange').status;
  }

  private changeInfo(body: Record<string, unknown>, op: string): { id: string; status: string } {
    const info = body.ChangeInfo as Record<string, unknown> | undefined;
    const id = str(info?.Id);
    const status = str(info?.Status);
    if (!id || !status) throw this.badAnswer(op, 'no ChangeInfo with Id and Status');
    return { id: id.replace(/^\/change\//, ''), status };
  }

  private element(doc: Record<string, unknown>, root: string, op: string): Record<string, unknown> {
    const body = doc[root];
    if (typeof body !== 'object' || body === null) throw this.badAnswer(op, `expected <${root}>, got ${Object.keys(doc).filter((k) => k !== '?xml').map((k) => `<${k}>`).join(', ') || 'no element'}`);
    return body as Record<string, unknown>;
  }

  private list(container: unknown, item: string): Record<string, unknown>[] {
    if (container === undefined || container === '') return [];
    const items = (container as Record<string, unknown>)[item];
    if (items === undefined) return [];
    if (!Array.isArray(items)) throw this.badAnswer(item, `<${item}> is not a list`);
    return items as Record<string, unknown>[];
  }

  private badAnswer(op: string, why: string): Route53Error {
    return new Route53Error('bad_answer', `${this.o.origin}: unexpected answer from the Route 53 API at ${this.endpoint.host} to ${op}: ${why}`);
  }

  private async call(method: HttpMethod, path: string, body: string | undefined, deadline: Deadline): Promise<Record<string, unknown>> {
    // Throttling and PriorRequestNotComplete are retried with a short backoff while time remains.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.bulkhead.run(() => this.once(method, path, body, deadline));
      } catch (err) {
        if (!(err instanceof Route53Error && err.failure === 'throttled') || attempt >= 3) throw err;
        const pause = 200 * 2 ** attempt;
        if (deadline - Date.now() <= pause) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  private async once(method: HttpMethod, path: string, body: string | undefined, deadline: Deadline): Promise<Record<string, unknown>> {
    const origin = this.o.origin;
    const where = `the Route 53 API at ${this.endpoint.host}`;
    const remaining = deadline - Date.now();
    const op = path.split('?')[0]!;
    if (remaining <= 0) throw new Route53Error('timeout', `${origin}: no answer from ${where} within ${Math.round(this.o.timeoutMs / 1000)} s`);
    const signed = aws4.sign(
      {
        host: this.endpoint.host,
        path,
        method,
        service: 'route53',
        region: this.o.region,
        headers: body === undefined ? {} : { 'Content-Type': 'application/xml' },
        ...(body === undefined ? {} : { body }),
      },
      { accessKeyId: this.o.accessKeyId, secretAccessKey: this.o.secretAccessKey },
    );
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers ?? {})) {
      // undici sets Host (and the body's length) from the request itself; the values are the ones signed.
      if (v === undefined || k.toLowerCase() === 'host' || k.toLowerCase() === 'content-length') continue;
      headers[k.toLowerCase()] = String(v);
    }
    let status: number;
    let text: string;
    try {
      const res = await this.http.request({
        method,
        path,
        headers,
        body: body ?? null,
        timeoutMs: remaining,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      });
      status = res.status;
      text = await res.text(32 * 1024 * 1024);
    } catch (err) {
      if (!(err instanceof HttpClientError)) throw err;
      if (err.kind === 'timeout' || err.kind === 'aborted') throw new Route53Error('timeout', `${origin}: no answer from ${where} within ${Math.round(this.o.timeoutMs / 1000)} s (${method} ${op})`);
      throw new Route53Error('unreachable', `${origin}: cannot reach ${where}: ${err.message}`);
    }
    let doc: Record<string, unknown>;
    try {
      doc = text.trim() === '' ? {} : (parser.parse(text, true) as Record<string, unknown>);
    } catch {
      if (status >= 200 && status < 300) throw this.badAnswer(`${method} ${op}`, `not XML (${text.trim().slice(0, 60)})`);
      throw new Route53Error('refused', `${origin}: ${where} answered ${method} ${op} with HTTP ${status}: ${text.trim().slice(0, 200)}`, status);
    }
    if (status >= 200 && status < 300) return doc;
    throw this.refusal(status, doc, method, op);
  }

  /** `<ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>`, or `<InvalidChangeBatch><Messages>…`. */
  private refusal(status: number, doc: Record<string, unknown>, method: string, op: string): Route53Error {
    const origin = this.o.origin;
    const batch = doc.InvalidChangeBatch as Record<string, unknown> | undefined;
    if (batch) {
      const messages = this.list(batch.Messages, 'Message').map((m) => String(m));
      const single = str(batch.Message);
      return new Route53Error('invalid_change', `${origin}: AWS Response Error: InvalidChangeBatch: ${[...messages, ...(single ? [single] : [])].join('; ')}`, status, 'InvalidChangeBatch');
    }
    const e = ((doc.ErrorResponse as Record<string, unknown> | undefined)?.Error ?? {}) as Record<string, unknown>;
    const code = str(e.Code);
    const message = str(e.Message) ?? '';
    if (!code) return new Route53Error('refused', `${origin}: the Route 53 API at ${this.endpoint.host} answered ${method} ${op} with HTTP ${status} and no error code`, status);
    const failure: Route53Failure =
      status === 403 || ['SignatureDoesNotMatch', 'InvalidClientTokenId', 'AccessDenied', 'IncompleteSignature', 'MissingAuthenticationToken', 'UnrecognizedClientException'].includes(code)
        ? 'auth'
        : code === 'Throttling' || code === 'PriorRequestNotComplete'
          ? 'throttled'
          : code === 'InvalidChangeBatch'
            ? 'invalid_change'
            : code.startsWith('NoSuch')
              ? 'not_found'
              : 'refused';
    const hint = failure === 'auth' ? ` (check aws_access_key and aws_secret_key)` : '';
    return new Route53Error(failure, `${origin}: AWS Response Error: ${code}: ${message}${hint}`, status, code);
  }
}
