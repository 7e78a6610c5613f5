// The running TFTP module and its routes (spec tftp.md §1). Static routes (`fetch_boot_file`,
// `create_default`, `serverName`) take precedence over the parametric ones in the router, which
// gives the reference's first-match order.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAbsolute, normalize, resolve } from 'node:path';
import { errorText } from '../../core/errors.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { Logger } from '../../core/logging-types.ts';
import { params } from '../../core/http/request-params.ts';
import type { ParamValue } from '../../core/params.ts';
import { isInside } from '../../lib/tftp/confine.ts';
import type { TftpServer } from '../../lib/tftp/server.ts';
import { checkMac, checkVariant, defaultMenuFiles, hostConfigFiles, type Variant } from './variants.ts';
import { TftpRoot } from './files.ts';
import { BootFileFetcher, redactUrl } from './boot-file.ts';
import { TftpError } from './errors.ts';
import type { TftpSettings } from './module.ts';

const HTML = 'text/html;charset=utf-8';

// The reference's message prefixes, one per operation: route `errorPrefix` for untyped failures,
// and the start of the table errors' messages.
const WRITE_CONFIG = 'TFTP: Failed to create pxe config file: ';
const READ_CONFIG = 'TFTP: Failed to retrieve pxe config file: ';
const DELETE_CONFIG = 'TFTP: Failed to delete pxe config file: ';
const CREATE_DEFAULT = 'TFTP: Failed to create PXE default file: ';
const FETCH_BOOT_FILE = 'TFTP: Failed to fetch boot file: ';

function ok(reply: FastifyReply): FastifyReply {
  return reply.type(HTML).send('');
}

function str(v: ParamValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The running module: the TFTP root, the boot-file downloads (shared by every listener, so one
 * file requested over HTTP and HTTPS at once is fetched once) and, when enabled, the built-in
 * TFTP server, which is bound in start() and closed with the downloads in close().
 */
export function tftpModule(ctx: ModuleContext<TftpSettings>): ModuleInstance {
  const s = ctx.settings;
  const root = new TftpRoot(s.tftproot, ctx.global.settingsDir);
  const deadlineMs = s.boot_file_timeout * 1000;
  const fetcher = new BootFileFetcher({
    connectTimeoutMs: s.tftp_connect_timeout * 1000,
    idleTimeoutMs: Math.min(s.boot_file_idle_timeout * 1000, deadlineMs),
    deadlineMs,
    retries: s.boot_file_retries,
    retryDelayMs: s.boot_file_retry_delay * 1000,
    maxBytes: s.boot_file_max_size,
    verifyTls: s.verify_server_cert,
    maxConcurrent: s.boot_file_max_concurrent,
    maxQueued: s.boot_file_max_queued,
    signal: ctx.signal,
  });
  let server: TftpServer | undefined;
  let forgetActive: (() => void) | undefined;
  return {
    routes: (app) => tftpRoutes(app, { root, fetcher, servername: s.tftp_servername, log: ctx.log }),
    async start() {
      if (!s.builtin_server) return;
      const started = await (await import('./builtin.ts')).startBuiltinServer(s, root.path, ctx.log, ctx.proxy.metrics);
      server = started;
      forgetActive = ctx.proxy.metrics.addTftpActiveSource(() => started.activeTransfers);
    },
    async close() {
      forgetActive?.();
      await Promise.all([server?.close(), fetcher.close()]);
    },
  };
}

interface TftpState {
  root: TftpRoot;
  fetcher: BootFileFetcher;
  servername: string | undefined;
  log: Logger;
}

function tftpRoutes(app: FastifyInstance, { root, fetcher, servername, log }: TftpState): void {
  const writeHostConfig = async (variant: Variant, mac: string, request: FastifyRequest): Promise<void> => {
    const p = params(request);
    const content = str(p.pxeconfig) ?? str(p.syslinux_config);
    if (content === undefined) throw TftpError.invalid_params(`${WRITE_CONFIG}Invalid parameters received`);
    for (const f of hostConfigFiles(variant, mac)) await root.write(f, content);
    log.info(`TFTP: ${variant} config for ${mac} written`);
  };

  const deleteHostConfig = async (variant: Variant, mac: string): Promise<void> => {
    for (const f of hostConfigFiles(variant, mac)) await root.remove(f);
  };

  const createDefault = async (variant: Variant, request: FastifyRequest): Promise<void> => {
    const menu = str(params(request).menu);
    if (menu === undefined) throw TftpError.invalid_params(`${CREATE_DEFAULT}Default config not supplied`);
    for (const f of defaultMenuFiles(variant)) await root.write(f, menu);
  };

  const fetchBootFile = async (request: FastifyRequest): Promise<void> => {
    const p = params(request);
    const prefixParam = str(p.prefix);
    const source = str(p.path);
    const invalid = (msg: string) => TftpError.invalid_params(`${FETCH_BOOT_FILE}${msg}`);
    if (prefixParam === undefined || prefixParam === '') throw invalid("parameter 'prefix' is missing");
    if (source === undefined || source === '') throw invalid("parameter 'path' is missing");
    if (prefixParam.includes('\0')) throw invalid("parameter 'prefix' contains a NUL byte");

    const url = URL.canParse(source) ? new URL(source) : undefined;
    const scheme = url?.protocol.replace(/:$/, '').toLowerCase();
    if (url === undefined || !['http', 'https', 'ftp', 'nfs'].includes(scheme as string)) {
      throw invalid(`Cannot fetch boot file, unknown protocol for medium source path: ${source}`);
    }
    const name = url.pathname.split('/').pop() ?? '';
    if (name === '' || name === '.' || name === '..') throw invalid(`no file name in medium source path: ${source}`);
    const relative = prefixParam.endsWith('/') ? `${prefixParam}${name}` : `${prefixParam}-${name}`;
    const dest = isAbsolute(relative) ? normalize(relative) : resolve(root.path, relative);
    const outside = () => TftpError.outside_root(`${FETCH_BOOT_FILE}TFTP destination outside of tftproot`);
    if (!isInside(root.path, dest)) throw outside();

    if (scheme === 'nfs') return; // as the reference: nothing to fetch
    if (scheme === 'ftp') throw invalid(`ftp downloads are not supported, use http or https: ${source}`);
    if (!(await root.makeDirInside(dest))) throw outside();

    // A full queue throws DownloadQueueFull here, which the module's error policy answers 503.
    const { promise, shared } = fetcher.fetch(url.href, dest);
    if (shared) {
      log.info(`TFTP: ${dest} is already being downloaded; joined that download`);
      return;
    }
    const shown = redactUrl(url.href);
    log.info(`TFTP: downloading ${shown} to ${dest}`);
    promise.then(
      (outcome) => log.info(outcome === 'downloaded' ? `TFTP: downloaded ${shown} to ${dest}` : `TFTP: ${dest} is up to date`),
      (err: unknown) => log.error(`TFTP: ${errorText(err)}`),
    );
  };

  // 1. POST /tftp/fetch_boot_file
  app.post('/fetch_boot_file', { config: { errorPrefix: FETCH_BOOT_FILE } }, async (request, reply) => {
    await fetchBootFile(request);
    return ok(reply);
  });

  // 2. POST /tftp/:variant/create_default
  app.post<{ Params: { variant: string } }>('/:variant/create_default', { config: { errorPrefix: CREATE_DEFAULT } }, async (request, reply) => {
    await createDefault(checkVariant(request.params.variant), request);
    return ok(reply);
  });

  // 3. GET /tftp/:variant/:mac
  app.get<{ Params: { variant: string; mac: string } }>('/:variant/:mac', { config: { errorPrefix: READ_CONFIG } }, async (request, reply) => {
    const mac = checkMac(request.params.mac);
    const variant = checkVariant(request.params.variant);
    const first = hostConfigFiles(variant, mac)[0];
    const content = await root.read(first);
    if (content === undefined) throw TftpError.not_found(`${READ_CONFIG}File ${root.resolve(first)} not found`);
    return reply.type(HTML).send(content);
  });

  // 4. POST /tftp/:variant/:mac
  app.post<{ Params: { variant: string; mac: string } }>('/:variant/:mac', { config: { errorPrefix: WRITE_CONFIG } }, async (request, reply) => {
    const mac = checkMac(request.params.mac);
    await writeHostConfig(checkVariant(request.params.variant), mac, request);
    return ok(reply);
  });

  // 5. DELETE /tftp/:variant/:mac
  app.delete<{ Params: { variant: string; mac: string } }>('/:variant/:mac', { config: { errorPrefix: DELETE_CONFIG } }, async (request, reply) => {
    const mac = checkMac(request.params.mac);
    await deleteHostConfig(checkVariant(request.params.variant), mac);
    return ok(reply);
  });

  // 6. POST /tftp/create_default (legacy, syslinux)
  app.post('/create_default', { config: { errorPrefix: CREATE_DEFAULT } }, async (request, reply) => {
    await createDefault('syslinux', request);
    return ok(reply);
  });

  // 7. POST /tftp/:mac (legacy, syslinux)
  app.post<{ Params: { mac: string } }>('/:mac', { config: { errorPrefix: WRITE_CONFIG } }, async (request, reply) => {
    await writeHostConfig('syslinux', checkMac(request.params.mac), request);
    return ok(reply);
  });

  // 8. DELETE /tftp/:mac (legacy, syslinux)
  app.delete<{ Params: { mac: string } }>('/:mac', { config: { errorPrefix: DELETE_CONFIG } }, async (request, reply) => {
    await deleteHostConfig('syslinux', checkMac(request.params.mac));
    return ok(reply);
  });

  // 9. GET /tftp/serverName — JSON body with an HTML content type, as the reference.
  app.get('/serverName', async (_request, reply) => {
    return reply.type(HTML).send(JSON.stringify({ serverName: servername ?? '' }));
  });
}
