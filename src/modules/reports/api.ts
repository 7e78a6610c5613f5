// The running reports module: convert, commit to the spool (the 202 comes after the commit), and
// one forwarder delivering to Foreman in order, retrying on its own while Foreman is down.

import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { Static } from '../../core/settings/schema.ts';
import { HttpClientError, type HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';
import { exposeSpoolMetrics } from '../../lib/spool/metrics.ts';
import { Spool, SpoolFullError, type DeliveryOutcome, type SpoolItem } from '../../lib/spool/spool.ts';
import { spoolLimits } from '../../lib/spool/settings.ts';
import { convertAnsible, convertPuppet, type Converted } from './convert.ts';
import { ReportsError } from './errors.ts';
import type { REPORTS_SETTINGS } from './module.ts';

type ReportsSettings = Static<typeof REPORTS_SETTINGS>;

const FORMATS = {
  puppet: { contentType: 'application/x-yaml', ext: 'yaml', convert: convertPuppet },
  ansible: { contentType: 'application/json', ext: 'json', convert: convertAnsible },
} as const;

const ENDPOINTS: Record<string, string> = { report: '/api/v2/host_reports', facts: '/api/v2/hosts/facts' };

function bodyText(request: FastifyRequest): string {
  const body = request.body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  if (typeof body === 'string') return body;
  return '';
}

export async function reportsModule(ctx: ModuleContext<ReportsSettings>): Promise<ModuleInstance> {
  const s = ctx.settings;
  const log = ctx.log;
  const proxyName = s.reported_proxy_hostname ?? hostname();
  const foreman: HttpClient = await createForemanClient(ctx.global, { timeoutMs: Math.round(s.timeout * 1000), connections: 2 });
  await mkdir(s.spool_dir, { recursive: true });

  async function keepCopy(state: 'done' | 'fail', item: SpoolItem): Promise<void> {
    try {
      await mkdir(join(s.spool_dir, state), { recursive: true });
      await writeFile(join(s.spool_dir, state, `${String(item.id).padStart(12, '0')}-${item.kind}.json`), item.payload);
    } catch (err) {
      log.warn(`could not keep a copy of report ${item.id} in ${state}/: ${String(err)}`);
    }
  }

  async function deliver(item: SpoolItem, signal: AbortSignal): Promise<DeliveryOutcome> {
    const path = ENDPOINTS[item.kind];
    if (path === undefined) return { outcome: 'rejected', detail: `unknown item kind ${item.kind}` };
    let status: number;
    let text: string;
    try {
      const res = await foreman.request({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', accept: 'application/json,version=2', 'idempotency-key': item.key },
        body: item.payload,
        signal,
      });
      status = res.status;
      text = await res.text(64 * 1024);
    } catch (err) {
      return { outcome: 'retry', detail: err instanceof HttpClientError ? `${err.kind}: ${err.message}` : String(err) };
    }
    if (status >= 200 && status < 300) {
      if (s.keep_reports) await keepCopy('done', item);
      return { outcome: 'delivered', detail: text };
    }
    // Foreman refused this report for good (the reference filed these under done/ and never retried).
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      await keepCopy('fail', item);
      return { outcome: 'rejected', detail: `Foreman answered ${status}: ${text.slice(0, 500)}` };
    }
    return { outcome: 'retry', detail: `Foreman answered ${status}: ${text.slice(0, 200)}` };
  }

  const spool = new Spool({
    file: join(s.spool_dir, 'spool.sqlite'),
    name: 'reports spool',
    ...spoolLimits(s),
    deliver,
    log,
  });
  spool.start();
  const hideMetrics = exposeSpoolMetrics(ctx.proxy.metrics.registry, 'reports', spool);

  return {
    routes(app: FastifyInstance) {
      app.post<{ Params: { format: string }; Querystring: { json_body?: string } }>('/:format', async (request, reply) => {
        const format = request.params.format;
        if (format !== 'puppet' && format !== 'ansible') throw ReportsError.unsupported(`Unknown format: ${format}`);
        const spec = FORMATS[format];
        const actual = request.headers['content-type'] ?? '';
        if (!actual.startsWith(spec.contentType)) throw ReportsError.unsupported(`Content type must be ${spec.contentType}, was: ${actual}`);
        const input = bodyText(request);
        if (s.incoming_save_dir) await writeFile(join(s.incoming_save_dir, `${format}-${Date.now() / 1000}.${spec.ext}`), input);
        if (input.trim() === '') throw ReportsError.unsupported('Missing body');
        const jsonBody = !['false', '0', 'no', 'off'].includes(String(request.query.json_body ?? 'true').toLowerCase());
        let converted: Converted;
        try {
          converted = spec.convert(input, { proxyName, overrideHostname: s.override_hostname, jsonBody });
        } catch (err) {
          throw ReportsError.unsupported(`Error during report processing: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (s.debug_payload) log.debug(`${format} report converted: ${JSON.stringify(converted.report)}`);
        try {
          // Facts first (Foreman creates the host from them), both in one commit.
          spool.enqueueAll([
            ...(converted.facts ? [{ kind: 'facts', payload: JSON.stringify(converted.facts) }] : []),
            { kind: 'report', payload: JSON.stringify(converted.report) },
          ]);
        } catch (err) {
          if (err instanceof SpoolFullError) throw ReportsError.spool_full(err.message);
          throw ReportsError.storage_failed(`Failed to spool the report: ${err instanceof Error ? err.message : String(err)}`);
        }
        return reply.code(202).type('application/json').send('');
      });
      app.get('/spool', async (_request, reply) => reply.type('application/json').send(JSON.stringify({ ...spool.stats(), rejected_reports: spool.rejectedItems(20) })));
    },
    async close() {
      hideMetrics();
      await spool.close();
      await foreman.close();
    },
  };
}
