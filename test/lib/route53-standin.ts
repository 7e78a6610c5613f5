// A stand-in for the Amazon Route 53 API (AWS cannot be reached from tests), following its
// documented REST-XML shapes for API version 2013-04-01: ListHostedZones paged by
// Marker/NextMarker/IsTruncated, ListResourceRecordSets starting at name/type and paged by
// NextRecordName/NextRecordType, ChangeResourceRecordSets with CREATE/UPSERT/DELETE applied as
// one atomic batch (InvalidChangeBatch with AWS's messages otherwise), GetChange going from
// PENDING to INSYNC, errors as <ErrorResponse><Error><Type/><Code/><Message/></Error>.
// Every request's Signature Version 4 is recomputed with aws4 from what arrived and the known
// secret, so a signing bug in the client fails the test (403 SignatureDoesNotMatch).
// Faults on demand: hanging, wrong-shape and non-XML answers, throttling, small pages.

import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import aws4 from 'aws4';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

const VERSION = '2013-04-01';
const XMLNS = `https://route53.amazonaws.com/doc/${VERSION}/`;

export type Route53Fault = 'none' | 'hang' | 'wrong-shape' | 'html' | 'throttle-once';

export interface StandInRecordSet {
  Name: string;
  Type: string;
  TTL?: string;
  SetIdentifier?: string;
  Weight?: string;
  ResourceRecords?: { ResourceRecord: { Value: string }[] };
}

export interface Route53StandIn {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  fault: Route53Fault;
  /** Largest page served even when more is asked for. */
  pageSizeCap: number;
  /** GetChange calls before a change reports INSYNC. */
  pollsUntilInsync: number;
  requests: { method: string; path: string; signature: 'valid' | 'invalid' | 'missing' }[];
  /** Create a hosted zone; returns its id. */
  addZone(name: string, opts?: { private?: boolean }): string;
  /** The zone's record sets (names absolute, lower case). */
  recordSets(zoneId: string): StandInRecordSet[];
  /** Values of the record sets with this name and type in any zone (name with or without the dot). */
  values(name: string, type: string): string[];
  changes: Map<string, { status: 'PENDING' | 'INSYNC'; polls: number }>;
  readonly hanging: number;
  close(): Promise<void>;
}

const abs = (n: string): string => (n.endsWith('.') ? n : `${n}.`).toLowerCase();
/** Route 53's listing order: by name with its labels reversed, then type. */
const sortKey = (s: { Name: string; Type: string; SetIdentifier?: string }): string => `${s.Name.split('.').reverse().join('.')}\u0000${s.Type}\u0000${s.SetIdentifier ?? ''}`;
const valuesOf = (s: StandInRecordSet): string[] => (s.ResourceRecords?.ResourceRecord ?? []).map((r) => String(r.Value));

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, isArray: (n) => n === 'Change' || n === 'ResourceRecord' });
const builder = new XMLBuilder({ ignoreAttributes: false });

function xml(res: ServerResponse, status: number, root: string, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'f0c8e1b2-0000-4000-8000-standin' });
  res.end(builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, [root]: { '@_xmlns': XMLNS, ...body } }) as string);
}

function awsError(res: ServerResponse, status: number, code: string, message: string, type = 'Sender'): void {
  xml(res, status, 'ErrorResponse', { Error: { Type: type, Code: code, Message: message }, RequestId: 'f0c8e1b2-0000-4000-8000-standin' });
}

function invalidBatch(res: ServerResponse, messages: string[]): void {
  xml(res, 400, 'InvalidChangeBatch', { Messages: { Message: messages }, RequestId: 'f0c8e1b2-0000-4000-8000-standin' });
}

export async function startRoute53StandIn(opts: { cert: string; key: string; accessKeyId?: string; secretAccessKey?: string; region?: string }): Promise<Route53StandIn> {
  const zones = new Map<string, { name: string; private: boolean; sets: StandInRecordSet[] }>();
  const held = new Set<ServerResponse>();
  let seq = 0;
  let throttled = false;

  const self: Route53StandIn = {
    endpoint: '',
    accessKeyId: opts.accessKeyId ?? 'AKIDSTANDIN00000001',
    secretAccessKey: opts.secretAccessKey ?? 'standin/secret/key/0123456789abcdefghij',
    region: opts.region ?? 'us-east-1',
    fault: 'none',
    pageSizeCap: 1000,
    pollsUntilInsync: 2,
    requests: [],
    addZone(name, o) {
      const id = `Z${String(++seq).padStart(12, '0')}STANDIN`;
      zones.set(id, { name: abs(name), private: o?.private ?? false, sets: [
        { Name: abs(name), Type: 'NS', TTL: '172800', ResourceRecords: { ResourceRecord: [{ Value: 'ns-1.awsdns-00.com.' }] } },
        { Name: abs(name), Type: 'SOA', TTL: '900', ResourceRecords: { ResourceRecord: [{ Value: 'ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400' }] } },
      ] });
      return id;
    },
    recordSets: (id) => zones.get(id)?.sets ?? [],
    values(name, type) {
      return [...zones.values()].flatMap((z) => z.sets.filter((s) => s.Name === abs(name) && s.Type === type).flatMap(valuesOf));
    },
    changes: new Map(),
    get hanging() {
      return held.size;
    },
    close: async () => undefined,
  };

  /** Recompute the request's SigV4 signature with aws4 from what arrived and the known secret. */
  function verify(req: IncomingMessage, body: string): 'valid' | 'invalid' | 'missing' | 'unknown-key' | 'stale' {
    const auth = req.headers.authorization;
    if (!auth) return 'missing';
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/route53\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return 'invalid';
    if (m[1] !== self.accessKeyId) return 'unknown-key';
    const amzDate = req.headers['x-amz-date'];
    if (typeof amzDate !== 'string') return 'invalid';
    const when = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    if (!Number.isFinite(when) || Math.abs(Date.now() - when) > 5 * 60_000) return 'stale';
    const headers: Record<string, string> = {};
    for (const h of m[4]!.split(';')) {
      const v = req.headers[h];
      if (typeof v !== 'string') return 'invalid';
      headers[h] = v;
    }
    const again = aws4.sign(
      { host: headers.host, path: req.url ?? '/', method: req.method ?? 'GET', service: 'route53', region: m[3], headers, ...(body !== '' ? { body } : {}) },
      { accessKeyId: self.accessKeyId, secretAccessKey: self.secretAccessKey },
    );
    const expected = String(again.headers?.Authorization ?? again.headers?.authorization ?? '');
    return expected === auth && m[3] === self.region ? 'valid' : 'invalid';
  }

  function listZones(res: ServerResponse, q: URLSearchParams): void {
    const all = [...zones.entries()];
    const max = Math.min(Number(q.get('maxitems') ?? '100') || 100, self.pageSizeCap);
    const marker = q.get('marker');
    const start = marker === null ? 0 : all.findIndex(([id]) => id === marker);
    if (start < 0) return awsError(res, 400, 'InvalidInput', `Invalid marker: ${marker ?? ''}`);
    const page = all.slice(start, start + max);
    const next = all[start + max];
    xml(res, 200, 'ListHostedZonesResponse', {
      HostedZones: { HostedZone: page.map(([id, z]) => ({ Id: `/hostedzone/${id}`, Name: z.name, CallerReference: `ref-${id}`, Config: { PrivateZone: String(z.private) }, ResourceRecordSetCount: String(z.sets.length) })) },
      ...(marker !== null ? { Marker: marker } : {}),
      IsTruncated: String(next !== undefined),
      ...(next ? { NextMarker: next[0] } : {}),
      MaxItems: String(max),
    });
  }

  function listSets(res: ServerResponse, zoneId: string, q: URLSearchParams): void {
    const z = zones.get(zoneId);
    if (!z) return awsError(res, 404, 'NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`);
    const name = q.get('name');
    const type = q.get('type');
    if (type !== null && name === null) return awsError(res, 400, 'InvalidInput', 'The input is not valid: type requires name');
    const max = Math.min(Number(q.get('maxitems') ?? '300') || 300, self.pageSizeCap);
    const sorted = [...z.sets].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
    const from = name === null ? '' : sortKey({ Name: abs(name), Type: type ?? '', SetIdentifier: q.get('identifier') ?? '' });
    const rest = sorted.filter((s) => sortKey(s) >= from);
    const page = rest.slice(0, max);
    const next = rest[max];
    xml(res, 200, 'ListResourceRecordSetsResponse', {
      ResourceRecordSets: { ResourceRecordSet: page },
      IsTruncated: String(next !== undefined),
      ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type, ...(next.SetIdentifier ? { NextRecordIdentifier: next.SetIdentifier } : {}) } : {}),
      MaxItems: String(max),
    });
  }

  function change(res: ServerResponse, zoneId: string, body: string): void {
    const z = zones.get(zoneId);
    if (!z) return awsError(res, 404, 'NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`);
    let doc: Record<string, unknown>;
    try {
      doc = parser.parse(body, true) as Record<string, unknown>;
    } catch {
      return awsError(res, 400, 'MalformedInput', 'Could not parse the request body as XML');
    }
    const changes = ((doc.ChangeResourceRecordSetsRequest as { ChangeBatch?: { Changes?: { Change?: { Action?: string; ResourceRecordSet?: StandInRecordSet }[] } } } | undefined)?.ChangeBatch?.Changes?.Change) ?? [];
    if (changes.length === 0) return awsError(res, 400, 'InvalidInput', 'Invalid XML; the ChangeBatch must contain at least one Change');
    const sets = z.sets.map((s) => ({ ...s }));
    const problems: string[] = [];
    for (const c of changes) {
      const s = c.ResourceRecordSet;
      if (!s?.Name || !s.Type || !c.Action) {
        problems.push('A Change needs an Action and a ResourceRecordSet with Name and Type');
        continue;
      }
      const set: StandInRecordSet = { ...s, Name: abs(s.Name) };
      const label = `[name='${set.Name}', type='${set.Type}'${set.SetIdentifier ? `, set-identifier='${set.SetIdentifier}'` : ''}]`;
      if (set.Name !== z.name && !set.Name.endsWith(`.${z.name}`)) {
        problems.push(`RRSet with DNS name ${set.Name} is not permitted in zone ${z.name}`);
        continue;
      }
      const at = sets.findIndex((x) => x.Name === set.Name && x.Type === set.Type && (x.SetIdentifier ?? '') === (set.SetIdentifier ?? ''));
      if (c.Action === 'CREATE' || c.Action === 'UPSERT') {
        if (valuesOf(set).length === 0 || set.TTL === undefined) {
          problems.push(`Invalid resource record set ${label}: TTL and at least one ResourceRecord are required`);
          continue;
        }
        const others = sets.filter((x) => x.Name === set.Name && x.Type !== set.Type && !['NS', 'SOA'].includes(x.Type));
        if ((set.Type === 'CNAME' && others.length > 0) || (set.Type !== 'CNAME' && others.some((x) => x.Type === 'CNAME'))) {
          problems.push(`RRSet of type ${set.Type} with DNS name ${set.Name} is not permitted because a conflicting RRSet of type ${set.Type === 'CNAME' ? others[0]!.Type : 'CNAME'} with the same DNS name already exists in zone ${z.name}.`);
          continue;
        }
        if (c.Action === 'CREATE' && at >= 0) {
          problems.push(`Tried to create resource record set ${label} but it already exists`);
          continue;
        }
        if (at >= 0) sets[at] = set;
        else sets.push(set);
      } else if (c.Action === 'DELETE') {
        const cur = sets[at];
        if (!cur) {
          problems.push(`Tried to delete resource record set ${label} but it was not found`);
          continue;
        }
        if (cur.TTL !== set.TTL || valuesOf(cur).sort().join('\n') !== valuesOf(set).sort().join('\n')) {
          problems.push(`Tried to delete resource record set ${label} but the values provided do not match the current values`);
          continue;
        }
        sets.splice(at, 1);
      } else {
        problems.push(`Invalid Action: ${c.Action}`);
      }
    }
    if (problems.length > 0) return invalidBatch(res, problems);
    z.sets = sets;
    const id = `C${String(++seq).padStart(12, '0')}STANDIN`;
    self.changes.set(id, { status: 'PENDING', polls: 0 });
    xml(res, 200, 'ChangeResourceRecordSetsResponse', { ChangeInfo: { Id: `/change/${id}`, Status: 'PENDING', SubmittedAt: new Date().toISOString() } });
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'https://standin');
    const signature = verify(req, body);
    self.requests.push({ method: req.method ?? '', path: url.pathname, signature: signature === 'valid' ? 'valid' : signature === 'missing' ? 'missing' : 'invalid' });
    if (signature === 'missing') return awsError(res, 403, 'MissingAuthenticationToken', 'Missing Authentication Token');
    if (signature === 'unknown-key') return awsError(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    if (signature === 'stale') return awsError(res, 403, 'SignatureDoesNotMatch', 'Signature expired: the request time is too far from the current time.');
    if (signature === 'invalid') {
      return awsError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    }
    switch (self.fault) {
      case 'hang':
        held.add(res);
        res.once('close', () => held.delete(res));
        return;
      case 'wrong-shape':
        return xml(res, 200, 'DescribeInstancesResponse', { reservationSet: '' });
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body><h1>Service Unavailable</h1>');
        return;
      case 'throttle-once':
        if (!throttled) {
          throttled = true;
          return awsError(res, 400, 'Throttling', 'Rate exceeded');
        }
        break;
      default:
    }
    const base = `/${VERSION}/`;
    if (!url.pathname.startsWith(base)) return awsError(res, 404, 'UnknownOperationException', `Unknown operation ${req.method ?? ''} ${url.pathname}`);
    const parts = url.pathname.slice(base.length).split('/').filter((p) => p !== '');
    if (req.method === 'GET' && parts.length === 1 && parts[0] === 'hostedzone') return listZones(res, url.searchParams);
    if (parts[0] === 'hostedzone' && parts[2] === 'rrset' && parts.length === 3) {
      const zoneId = decodeURIComponent(parts[1]!);
      if (req.method === 'GET') return listSets(res, zoneId, url.searchParams);
      if (req.method === 'POST') return change(res, zoneId, body);
    }
    if (req.method === 'GET' && parts[0] === 'change' && parts.length === 2) {
      const c = self.changes.get(decodeURIComponent(parts[1]!));
      if (!c) return awsError(res, 404, 'NoSuchChange', `Could not find resource with ID: ${parts[1]!}`);
      c.polls++;
      if (c.polls >= self.pollsUntilInsync) c.status = 'INSYNC';
      return xml(res, 200, 'GetChangeResponse', { ChangeInfo: { Id: `/change/${parts[1]!}`, Status: c.status, SubmittedAt: new Date().toISOString() } });
    }
    awsError(res, 404, 'UnknownOperationException', `Unknown operation ${req.method ?? ''} ${url.pathname}`);
  }

  const server: Server = createServer({ cert: await readFile(opts.cert), key: await readFile(opts.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString());
      } catch (err) {
        awsError(res, 500, 'InternalFailure', (err as Error).message, 'Receiver');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return self;
}
