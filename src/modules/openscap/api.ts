// The running openscap module: upload → parse (streamed, bounded) → spool (committed before the
// host is answered) → forwarder → Foreman → original stored under Foreman's id.

import { mkdir, readdir, readFile, rename, rm, stat, copyFile, writeFile, mkdtemp } from 'node:fs/promises';
import { TLSSocket } from 'node:tls';
import { join, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { Static } from '../../core/settings/schema.ts';
import { Bulkhead } from '../../core/bulkhead.ts';
import { authorize } from '../../core/http/auth.ts';
import { run } from '../../core/spawn.ts';
import { HttpClientError, type HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';
import { writeFileAtomic } from '../../lib/fs/atomic.ts';
import { exposeSpoolMetrics } from '../../lib/spool/metrics.ts';
import { Spool, SpoolFullError, type DeliveryOutcome, type SpoolItem } from '../../lib/spool/spool.ts';
import { spoolLimits } from '../../lib/spool/settings.ts';
import { DecompressError, parseCompressedArf } from './arf.ts';
import { XmlStreamParser, XmlSyntaxError, localName } from './xml-stream.ts';
import { OpenscapError } from './errors.ts';
import { ProxyError } from '../../core/errors.ts';
import type { OPENSCAP_SETTINGS } from './module.ts';

type OpenscapSettings = Static<typeof OPENSCAP_SETTINGS>;

const NUMERIC = /^\d+$/;
/** cname, date and digest become path segments: no separators, no dot-only names. */
const SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9._@-]{1,255}$/;

async function which(cmd: string): Promise<string | undefined> {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const path = join(dir, cmd);
    try {
      if ((await stat(path)).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function segment(name: string, value: string): string {
  if (!SEGMENT.test(value)) throw OpenscapError.invalid_parameter(`Invalid ${name} '${value}': letters, digits, '.', '_', '@' and '-' only`);
  return value;
}

function numeric(name: string, value: string): string {
  if (!NUMERIC.test(value)) throw OpenscapError.invalid_parameter(`Invalid ${name} '${value}': must be a number`);
  return value;
}

function bodyOf(request: FastifyRequest): Buffer {
  const body = request.body;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  return Buffer.alloc(0);
}

/** Feed a document to the parser in slices, yielding between them so a large upload does not hold the event loop. */
async function feed(parser: XmlStreamParser, xml: Buffer): Promise<void> {
  const slice = 256 * 1024;
  for (let i = 0; i < xml.length; i += slice) {
    parser.write(xml.subarray(i, i + slice));
    if (i + slice < xml.length) await new Promise((resolve) => setImmediate(resolve));
  }
  parser.end();
}

/** Profiles (id → title) of a data stream or tailoring file, read in one streaming pass. */
export async function parseProfiles(xml: Buffer): Promise<Record<string, string>> {
  const profiles: Record<string, string> = {};
  let profile: { id: string; depth: number } | undefined;
  let title: string | undefined;
  let depth = 0;
  let titleDepth = 0;
  const parser = new XmlStreamParser({
    open(name, attrs) {
      depth++;
      const local = localName(name);
      if (local === 'Profile' && attrs.id !== undefined && !profile) profile = { id: attrs.id, depth };
      else if (profile && local === 'title' && depth === profile.depth + 1 && !(profile.id in profiles)) {
        title = '';
        titleDepth = depth;
      }
    },
    text(t) {
      if (title !== undefined) title += t;
    },
    close() {
      if (title !== undefined && depth === titleDepth && profile) {
        profiles[profile.id] = title.trim();
        title = undefined;
      } else if (profile && depth === profile.depth) {
        profiles[profile.id] ??= '';
        profile = undefined;
      }
      depth--;
    },
  });
  await feed(parser, xml);
  return profiles;
}

/** Root element (local name) of a well-formed document, or undefined when it is not one. */
async function rootOf(xml: Buffer): Promise<string | undefined> {
  let root: string | undefined;
  try {
    const parser = new XmlStreamParser({
      open(name) {
        root ??= localName(name);
      },
      text() {},
      close() {},
    });
    await feed(parser, xml);
    return root;
  } catch {
    return undefined;
  }
}

export function openscapModule(ctx: ModuleContext<OpenscapSettings>): Promise<ModuleInstance> {
  return createOpenscap(ctx);
}

async function createOpenscap(ctx: ModuleContext<OpenscapSettings>): Promise<ModuleInstance> {
  const s = ctx.settings;
  const log = ctx.log;
  const bzip2 = await which('bzip2');
  if (!bzip2) throw new Error("'bzip2' utility is not available");
  const oscap = await which('oscap');
  const foreman: HttpClient = await createForemanClient(ctx.global, { timeoutMs: Math.round(s.timeout * 1000), connections: 4 });
  await mkdir(s.spooldir, { recursive: true });
  const parseBulkhead = new Bulkhead({ name: 'openscap_parse', limit: s.parse_concurrency, queue: 1000, queueTimeoutMs: 120_000 });
  const oscapBulkhead = new Bulkhead({ name: 'openscap_oscap', limit: 2, queue: 100, queueTimeoutMs: 120_000 });

  const arfPath = (root: string, ...parts: string[]): string => join(root, 'arf', ...parts);

  /** Delivery of one spooled report: POST the summary, then file the original under Foreman's id. */
  async function deliver(item: SpoolItem, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { cname, policy, date, digest } = item.meta as Record<string, string>;
    const spooled = arfPath(s.spooldir, cname ?? '', policy ?? '', date ?? '', digest ?? '');
    let status: number;
    let text: string;
    try {
      const res = await foreman.request({
        method: 'POST',
        path: `/api/v2/compliance/arf_reports/${encodeURIComponent(cname ?? '')}/${policy}/${date}`,
        headers: { 'content-type': 'application/json', accept: 'application/json,version=2', 'idempotency-key': item.key },
        body: item.payload,
        signal,
      });
      status = res.status;
      text = await res.text(1024 * 1024);
    } catch (err) {
      return { outcome: 'retry', detail: err instanceof HttpClientError ? `${err.kind}: ${err.message}` : String(err) };
    }
    if (status === 422) {
      await rm(spooled, { force: true });
      return { outcome: 'rejected', detail: `Foreman answered 422: ${text.slice(0, 500)}` };
    }
    if (status < 200 || status >= 300) return { outcome: 'retry', detail: `Foreman answered ${status}: ${text.slice(0, 200)}` };
    let id: string | undefined;
    try {
      const parsed = JSON.parse(text) as { id?: unknown };
      if (parsed.id !== undefined && parsed.id !== null) id = String(parsed.id);
    } catch {
      // Foreman answered 2xx without JSON: delivered, nothing to file the original under
    }
    if (id !== undefined && NUMERIC.test(id)) {
      const target = arfPath(s.reportsdir, cname ?? '', id, date ?? '', digest ?? '');
      try {
        await mkdir(dirname(target), { recursive: true });
        await rename(spooled, target);
      } catch (err) {
        log.error(`storing report ${cname}/${id}/${date} failed, copying it to failed_dir: ${String(err)}`);
        try {
          const failed = arfPath(s.failed_dir, cname ?? '', id, date ?? '', digest ?? '');
          await mkdir(dirname(failed), { recursive: true });
          await rename(spooled, failed).catch(async () => copyFile(spooled, failed));
        } catch (err2) {
          log.error(`copying report to failed_dir failed too: ${String(err2)}`);
        }
      }
    } else {
      await rm(spooled, { force: true });
    }
    return { outcome: 'delivered', detail: text };
  }

  const spool = new Spool({
    file: join(s.spooldir, 'spool.sqlite'),
    name: 'openscap spool',
    ...spoolLimits(s),
    deliver,
    log,
  });
  spool.start();
  const hideMetrics = exposeSpoolMetrics(ctx.proxy.metrics.registry, 'openscap', spool);

  /**
   * Parse and spool one report given as its compressed bytes. Throws the module's errors; an
   * unparsable report is kept in corrupted_dir first.
   */
  async function ingest(compressed: Buffer, cname: string, policy: string, date: string, original: 'write' | 'in-place'): Promise<{ id: number }> {
    let summary;
    try {
      summary = await parseBulkhead.run(() => parseCompressedArf(compressed, { bzip2: bzip2 as string, timeoutMs: 300_000, signal: ctx.signal }));
    } catch (err) {
      if (err instanceof DecompressError) throw OpenscapError.not_bzip2(`Failed to decompress received report bzip, cause: ${err.message}`);
      if (err instanceof XmlSyntaxError) {
        const digest = createHash('sha256').update(compressed).digest('hex');
        const target = arfPath(s.corrupted_dir, cname, policy, date, digest);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, compressed);
        throw OpenscapError.unparsable_report(`Failed to parse Arf Report (${err.message}), moving to ${s.corrupted_dir} on proxy`);
      }
      throw err;
    }
    const payload = json({ ...summary, openscap_proxy_name: s.registered_proxy_name ?? null, openscap_proxy_url: s.registered_proxy_url ?? null });
    // The original first, then the commit: a crash in between leaves a file that the next start
    // adopts (adoptUnspooledFiles), so the report is not lost.
    const spooledFile = arfPath(s.spooldir, cname, policy, date, summary.digest);
    if (original === 'write') {
      try {
        await mkdir(dirname(spooledFile), { recursive: true });
        await writeFileAtomic(spooledFile, compressed);
      } catch (err) {
        throw OpenscapError.storage_failed(`Failed to save the report in the spool: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    try {
      return spool.enqueue('arf', payload, { cname, policy, date, digest: summary.digest });
    } catch (err) {
      if (original === 'write') await rm(spooledFile, { force: true });
      if (err instanceof SpoolFullError) throw OpenscapError.spool_full(err.message);
      throw OpenscapError.storage_failed(`Failed to save the report in the spool: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Reports in <spooldir>/arf/<cname>/<policy>/<date>/<digest> that no spool entry refers to: left
   * by the reference (its cron script would have sent them) or by a crash between writing the
   * original and the commit. They are parsed and spooled like new uploads, in the background.
   */
  async function adoptUnspooledFiles(): Promise<void> {
    const known = new Set(spool.pendingMeta().map((m) => `${m.cname}/${m.policy}/${m.date}/${m.digest}`));
    const list = async (path: string): Promise<string[]> => {
      try {
        return (await readdir(path)).filter((n) => SEGMENT.test(n));
      } catch {
        return [];
      }
    };
    let adopted = 0;
    const root = arfPath(s.spooldir);
    for (const cname of await list(root)) {
      for (const policy of (await list(join(root, cname))).filter((p) => NUMERIC.test(p))) {
        for (const date of (await list(join(root, cname, policy))).filter((d) => NUMERIC.test(d))) {
          for (const file of await list(join(root, cname, policy, date))) {
            if (ctx.signal.aborted) return;
            if (known.has(`${cname}/${policy}/${date}/${file}`) || file.includes('.tmp')) continue;
            const path = join(root, cname, policy, date, file);
            try {
              const data = await readFile(path);
              const digest = createHash('sha256').update(data).digest('hex');
              if (digest !== file) await rename(path, arfPath(s.spooldir, cname, policy, date, digest));
              await ingest(data, cname, policy, date, 'in-place');
              adopted++;
            } catch (err) {
              log.warn(`spooled report ${path} could not be adopted: ${err instanceof Error ? err.message : String(err)}`);
              if (err instanceof ProxyError && (err.status === 400 || err.status === 422)) await rm(path, { force: true });
            }
          }
        }
      }
    }
    if (adopted > 0) log.info(`adopted ${adopted} spooled report(s) left by an earlier run`);
  }
  const adopting = adoptUnspooledFiles().catch((err: unknown) => log.error(`adopting spooled reports failed: ${String(err)}`));

  /** Foreman (trusted_hosts) or, when `cname` is given, that host itself with its own certificate. */
  async function requireForemanOr(request: FastifyRequest, cname: string | undefined): Promise<void> {
    if (cname !== undefined && request.clientCertificateCn === cname) return;
    const socket = request.raw.socket;
    const denied = await authorize({ socket, https: socket instanceof TLSSocket, subPath: request.url, headers: request.headers }, ctx.global);
    if (denied !== undefined) throw OpenscapError.forbidden(denied);
  }

  /** The stored original: reportsdir, else a copy still in the spool (spec §2.6, issue 38224). */
  async function findReport(cname: string, id: string, date: string, digest: string): Promise<string> {
    const stored = arfPath(s.reportsdir, cname, id, date, digest);
    try {
      await stat(stored);
      return stored;
    } catch {
      // look in the spool
    }
    let policies: string[] = [];
    try {
      policies = await readdir(arfPath(s.spooldir, cname));
    } catch {
      // no spooled report of this host
    }
    for (const policy of policies) {
      const spooled = arfPath(s.spooldir, cname, policy, date, digest);
      try {
        await stat(spooled);
        return spooled;
      } catch {
        // not this policy
      }
    }
    throw OpenscapError.not_found(`Could not find requested file, Can't find path ${stored}`);
  }

  const fetching = new Map<string, Promise<Buffer>>();

  /** Content or tailoring file of a policy: cached per digest, fetched from Foreman once. */
  async function policyFile(kind: 'content' | 'tailoring', policyId: string, digest: string, signal: AbortSignal): Promise<Buffer> {
    const dir = join(kind === 'content' ? s.contentdir : s.tailoring_dir, policyId);
    const file = join(dir, `${policyId}_${digest}.xml`);
    try {
      const cached = await readFile(file);
      if (cached.length > 0) return cached;
    } catch {
      // not cached
    }
    let pending = fetching.get(file);
    if (!pending) {
      pending = (async () => {
        let res;
        try {
          res = await foreman.request({ method: 'GET', path: `/api/v2/compliance/policies/${policyId}/${kind}`, headers: { accept: 'application/xml' }, signal });
        } catch (err) {
          throw OpenscapError.foreman_unreachable(`Error occurred: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (res.status < 200 || res.status >= 300) {
          await res.dump();
          throw OpenscapError.not_found('File not found on Foreman. Wrong policy id?', res.status >= 400 && res.status < 600 ? res.status : 502);
        }
        const chunks: Buffer[] = [];
        for await (const c of res.body) chunks.push(c as Buffer);
        const data = Buffer.concat(chunks);
        try {
          await mkdir(dir, { recursive: true });
          for (const old of await readdir(dir)) if (old.endsWith('.xml') && join(dir, old) !== file) await rm(join(dir, old), { force: true });
          await writeFileAtomic(file, data);
        } catch (err) {
          log.warn(`caching ${file} failed, serving it uncached: ${String(err)}`);
        }
        return data;
      })().finally(() => fetching.delete(file));
      fetching.set(file, pending);
    }
    return pending;
  }

  async function runOscap(args: string[], what: string): Promise<string> {
    if (!oscap) throw OpenscapError.oscap_unavailable("'oscap' utility is not available");
    const result = await oscapBulkhead.run(() => run(oscap, args, { timeoutMs: 120_000, maxOutputBytes: 256 * 1024 * 1024 }));
    if (result.code !== 0 || result.timedOut) {
      throw OpenscapError.oscap_failed(`${what}, cause: ${result.timedOut ? 'timed out' : result.stderr.trim() || `oscap exited with ${result.code}`}`);
    }
    return result.stdout;
  }

  const json = (value: unknown): string => JSON.stringify(value);

  return {
    softFailure: oscap ? undefined : "'oscap' utility is not available: HTML reports and policy guides cannot be generated",
    routes(app: FastifyInstance) {
      // #1 upload: the host's own report, identified by its certificate.
      app.post<{ Params: { policy: string } }>('/arf/:policy', { bodyLimit: s.max_report_size }, async (request, reply) => {
        const cname = request.clientCertificateCn;
        if (!cname) throw OpenscapError.forbidden('Client authentication failed: Client certificate required!');
        segment('client certificate CN', cname);
        const policy = numeric('policy', request.params.policy);
        const compressed = bodyOf(request);
        if (compressed.length === 0) throw OpenscapError.invalid_parameter('Missing body: the bzip2-compressed ARF report');
        const date = String(Math.floor(Date.now() / 1000));
        const item = await ingest(compressed, cname, policy, date, 'write');
        // Wait for Foreman's answer only while Foreman is answering: during an outage the host is
        // told at once that its report is safe with the proxy.
        const outcome = spool.stats().backingOff || s.upload_wait === 0 ? undefined : await spool.outcome(item.id, s.upload_wait * 1000);
        reply.header('content-type', 'application/json');
        if (outcome === undefined) {
          return reply.code(202).send(json({ result: 'Report spooled on the proxy, it will be sent to Foreman when Foreman accepts it' }));
        }
        if (outcome.outcome === 'rejected') throw OpenscapError.rejected_by_foreman(outcome.detail);
        return reply.code(200).send(outcome.detail ?? json({ result: 'ok' }));
      });

      const reportRoute = (suffix: string): string => `/arf/:id/:cname/:date/:digest${suffix}`;
      type ReportParams = { Params: { id: string; cname: string; date: string; digest: string } };
      const reportParams = (request: FastifyRequest<ReportParams>) => ({
        id: numeric('id', request.params.id),
        cname: segment('cname', request.params.cname),
        date: numeric('date', request.params.date),
        digest: segment('digest', request.params.digest),
      });

      // #2 original (bzip2): Foreman, or the host the report belongs to.
      app.get<ReportParams>(reportRoute('/xml'), async (request, reply) => {
        const p = reportParams(request);
        await requireForemanOr(request, p.cname);
        const file = await findReport(p.cname, p.id, p.date, p.digest);
        return reply.type('application/x-bzip2').send(await readFile(file));
      });

      // #3 HTML rendering by oscap.
      app.get<ReportParams>(reportRoute('/html'), async (request, reply) => {
        const p = reportParams(request);
        await requireForemanOr(request, p.cname);
        const file = await findReport(p.cname, p.id, p.date, p.digest);
        const html = await runOscap(['xccdf', 'generate', 'report', file], 'Failed to generate report HTML');
        return reply.type('text/html').send(html);
      });

      // #4 delete: Foreman only (a host must not erase its own compliance history).
      app.delete<ReportParams>('/arf/:id/:cname/:date/:digest', async (request, reply) => {
        const p = reportParams(request);
        await requireForemanOr(request, undefined);
        const dir = arfPath(s.reportsdir, p.cname, p.id);
        try {
          await stat(dir);
        } catch {
          throw OpenscapError.not_found(`Report ${p.id} of ${p.cname} is not stored on this proxy`);
        }
        await rm(dir, { recursive: true, force: true });
        return reply.type('application/json').send(json({ id: p.id, deleted: true }));
      });

      // #5/#6 content and tailoring files: hosts with a certificate.
      for (const kind of ['content', 'tailoring'] as const) {
        app.get<{ Params: { policy_id: string; digest: string } }>(`/policies/:policy_id/${kind}/:digest`, async (request, reply) => {
          const policyId = numeric('policy_id', request.params.policy_id);
          const digest = segment('digest', request.params.digest);
          const data = await policyFile(kind, policyId, digest, ctx.signal);
          return reply.type('application/xml').send(data);
        });
      }

      // #7/#8 profiles of uploaded content.
      for (const path of ['/scap_content/policies', '/tailoring_file/profiles']) {
        app.post(path, async (request, reply) => {
          let profiles: Record<string, string>;
          try {
            profiles = await parseProfiles(bodyOf(request));
          } catch {
            throw OpenscapError.unparsable_content('Error occurred: Failed to parse profiles');
          }
          if (Object.keys(profiles).length === 0) throw OpenscapError.unparsable_content('Error occurred: Failed to parse profiles');
          return reply.type('application/json').send(json(profiles));
        });
      }

      // #9/#10 validation.
      const validate = async (type: string, body: Buffer): Promise<string[]> => {
        if (type !== 'scap_content' && type !== 'tailoring_file') throw OpenscapError.invalid_parameter(`Invalid type '${type}': scap_content or tailoring_file`);
        const root = await rootOf(body);
        const expected = type === 'scap_content' ? ['data-stream-collection', 'Benchmark'] : ['Tailoring'];
        return root !== undefined && expected.includes(root) ? [] : ['Invalid XML format'];
      };
      app.post<{ Params: { type: string } }>('/scap_file/validator/:type', async (request, reply) =>
        reply.type('application/json').send(json({ errors: await validate(request.params.type, bodyOf(request)) })),
      );
      app.post('/scap_content/validator', async (request, reply) => reply.type('application/json').send(json({ errors: await validate('scap_content', bodyOf(request)) })));

      // #11 policy guide.
      const guide = async (body: Buffer, profile: string | undefined): Promise<string> => {
        const dir = await mkdtemp(join(tmpdir(), 'openscap-guide-'));
        try {
          const file = join(dir, 'content.xml');
          await writeFile(file, body);
          const args = ['xccdf', 'generate', ...(profile ? ['--profile', profile] : []), 'guide', file];
          return await runOscap(args, 'Error occurred: Failed to generate policy guide');
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      };
      app.post('/scap_content/guide', async (request, reply) => reply.type('application/json').send(json({ html: await guide(bodyOf(request), undefined) })));
      app.post<{ Params: { policy: string } }>('/scap_content/guide/:policy', async (request, reply) =>
        reply.type('application/json').send(json({ html: await guide(bodyOf(request), request.params.policy) })),
      );

      // #12 corrupted uploads, per host.
      app.get('/spool_errors', async (_request, reply) => {
        let count = 0;
        try {
          count = (await readdir(arfPath(s.corrupted_dir), { withFileTypes: true })).filter((d) => d.isDirectory()).length;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        return reply.type('application/json').send(json({ errors_count: count }));
      });

      // Our addition: the spool's state (what waits for Foreman, the last failure, rejected reports).
      app.get('/spool', async (_request, reply) =>
        reply.type('application/json').send(json({ ...spool.stats(), rejected_reports: spool.rejectedItems(20) })),
      );
    },
    async close() {
      await adopting;
      hideMetrics();
      await spool.close();
      await foreman.close();
    },
  };
}
