// Routes of the TFTP module (spec tftp.md §1). Static routes (`fetch_boot_file`,
// `create_default`, `serverName`) take precedence over the parametric ones in the router, which
// gives the reference's first-match order.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAbsolute, normalize, resolve } from 'node:path';
import { ProxyError, badRequest, errorText, unavailable } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import { params } from '../../core/http/request-params.ts';
import type { ParamValue } from '../../core/params.ts';
import { isInside } from '../../lib/tftp/confine.ts';
import { checkMac, checkVariant, defaultMenuFiles, hostConfigFiles, type Variant } from './variants.ts';
import { TftpRoot, OutsideRootError } from './files.ts';
import { BootFileFetcher, DownloadQueueFull, redactUrl } from './boot-file.ts';
import { readTftpSettings, type TftpSettings } from './settings.ts';

const HTML = 'text/html;charset=utf-8';

function ok(reply: FastifyReply): FastifyReply {
  return reply.type(HTML).send('');
}

function str(v: ParamValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Wrap a file operation so its failure becomes the reference's 400 `<prefix>: <message>`. */
async function guarded<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw badRequest(`${prefix}: ${errorText(err)}`);
  }
}

// routes() runs once per listener (HTTP and HTTPS); downloads must be shared across all of them.
const fetchers = new WeakMap<ModuleContext, BootFileFetcher>();

function fetcherFor(ctx: ModuleContext, s: TftpSettings): BootFileFetcher {
  let fetcher = fetchers.get(ctx);
  if (!fetcher) {
    const created = new BootFileFetcher({
      connectTimeoutMs: s.connectTimeoutMs,
      idleTimeoutMs: Math.min(s.bootFileIdleTimeoutMs, s.bootFileDeadlineMs),
      deadlineMs: s.bootFileDeadlineMs,
      retries: s.bootFileRetries,
      retryDelayMs: s.bootFileRetryDelayMs,
      maxBytes: s.bootFileMaxSize,
      verifyTls: s.verifyServerCert,
      maxConcurrent: s.bootFileMaxConcurrent,
      maxQueued: s.bootFileMaxQueued,
      signal: ctx.signal,
    });
    ctx.signal.addEventListener('abort', () => void created.close(), { once: true });
    fetchers.set(ctx, created);
    fetcher = created;
  }
  return fetcher;
}

export function tftpRoutes(app: FastifyInstance, ctx: ModuleContext): void {
  const s = readTftpSettings(ctx.settings, ctx.global.settingsDir);
  const root = new TftpRoot(s.tftproot, ctx.global.settingsDir);
  const log = ctx.log;
  const fetcher = fetcherFor(ctx, s);
  const writeHostConfig = async (variant: Variant, mac: string, request: FastifyRequest): Promise<void> => {
    const p = params(request);
    const content = str(p.pxeconfig) ?? str(p.syslinux_config);
    const prefix = 'TFTP: Failed to create pxe config file';
    if (content === undefined) throw badRequest(`${prefix}: Invalid parameters received`);
    await guarded(prefix, async () => {
      for (const f of hostConfigFiles(variant, mac)) await root.write(f, content);
    });
    log.info(`TFTP: ${variant} config for ${mac} written`);
  };

  const deleteHostConfig = async (variant: Variant, mac: string): Promise<void> => {
    await guarded('TFTP: Failed to delete pxe config file', async () => {
      for (const f of hostConfigFiles(variant, mac)) await root.remove(f);
    });
  };

  const createDefault = async (variant: Variant, request: FastifyRequest): Promise<void> => {
    const menu = str(params(request).menu);
    const prefix = 'TFTP: Failed to create PXE default file';
    if (menu === undefined) throw badRequest(`${prefix}: Default config not supplied`);
    await guarded(prefix, async () => {
      for (const f of defaultMenuFiles(variant)) await root.write(f, menu);
    });
  };

  const fetchBootFile = async (request: FastifyRequest): Promise<void> => {
    const p = params(request);
    const prefixParam = str(p.prefix);
    const source = str(p.path);
    const fail = (msg: string) => badRequest(`TFTP: Failed to fetch boot file: ${msg}`);
    if (prefixParam === undefined || prefixParam === '') throw fail("parameter 'prefix' is missing");
    if (source === undefined || source === '') throw fail("parameter 'path' is missing");
    if (prefixParam.includes('\0')) throw fail("parameter 'prefix' contains a NUL byte");

    let url: URL | undefined;
    try {
      url = new URL(source);
    } catch {
      url = undefined;
    }
    const scheme = url?.protocol.replace(/:$/, '').toLowerCase();
    if (url === undefined || !['http', 'https', 'ftp', 'nfs'].includes(scheme as string)) {
      throw fail(`Cannot fetch boot file, unknown protocol for medium source path: ${source}`);
    }
    const name = url.pathname.split('/').pop() ?? '';
    if (name === '' || name === '.' || name === '..') throw fail(`no file name in medium source path: ${source}`);
    const relative = prefixParam.endsWith('/') ? `${prefixParam}${name}` : `${prefixParam}-${name}`;
    const dest = isAbsolute(relative) ? normalize(relative) : resolve(root.path, relative);
    if (!isInside(root.path, dest)) throw fail('TFTP destination outside of tftproot');

    if (scheme === 'nfs') return; // as the reference: nothing to fetch
    if (scheme === 'ftp') throw fail(`ftp downloads are not supported, use http or https: ${source}`);
    await guarded('TFTP: Failed to fetch boot file', async () => {
      try {
        await root.prepareDir(dest);
      } catch (err) {
        if (err instanceof OutsideRootError) throw new Error('TFTP destination outside of tftproot');
        throw err;
      }
    });

    let started;
    try {
      started = fetcher.fetch(url.href, dest);
    } catch (err) {
      if (err instanceof DownloadQueueFull) throw unavailable(`TFTP: Failed to fetch boot file: ${err.message}`, 30);
      throw err;
    }
    const { promise, shared } = started;
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
  app.post('/fetch_boot_file', async (request, reply) => {
    await fetchBootFile(request);
    return ok(reply);
  });

  // 2. POST /tftp/:variant/create_default
  app.post<{ Params: { variant: string } }>('/:variant/create_default', async (request, reply) => {
    await createDefault(checkVariant(request.params.variant), request);
    return ok(reply);
  });

  // 3. GET /tftp/:variant/:mac
  app.get<{ Params: { variant: string; mac: string } }>('/:variant/:mac', async (request, reply) => {
    const mac = checkMac(request.params.mac);
    const variant = checkVariant(request.params.variant);
    const first = hostConfigFiles(variant, mac)[0];
    const prefix = 'TFTP: Failed to retrieve pxe config file';
    const content = await guarded(prefix, () => root.read(first));
    if (content === undefined) throw new ProxyError(404, `${prefix}: File ${root.resolve(first)} not found`, 'tftp.not_found');
    return reply.type(HTML).send(content);
  });

  // 4. POST /tftp/:variant/:mac
  app.post<{ Params: { variant: string; mac: string } }>('/:variant/:mac', async (request, reply) => {
    const mac = checkMac(request.params.mac);
    await writeHostConfig(checkVariant(request.params.variant), mac, request);
    return ok(reply);
  });

  // 5. DELETE /tftp/:variant/:mac
  app.delete<{ Params: { variant: string; mac: string } }>('/:variant/:mac', async (request, reply) => {
    const mac = checkMac(request.params.mac);
    await deleteHostConfig(checkVariant(request.params.variant), mac);
    return ok(reply);
  });

  // 6. POST /tftp/create_default (legacy, syslinux)
  app.post('/create_default', async (request, reply) => {
    await createDefault('syslinux', request);
    return ok(reply);
  });

  // 7. POST /tftp/:mac (legacy, syslinux)
  app.post<{ Params: { mac: string } }>('/:mac', async (request, reply) => {
    await writeHostConfig('syslinux', checkMac(request.params.mac), request);
    return ok(reply);
  });

  // 8. DELETE /tftp/:mac (legacy, syslinux)
  app.delete<{ Params: { mac: string } }>('/:mac', async (request, reply) => {
    await deleteHostConfig('syslinux', checkMac(request.params.mac));
    return ok(reply);
  });

  // 9. GET /tftp/serverName — JSON body with an HTML content type, as the reference.
  app.get('/serverName', async (_request, reply) => {
    return reply.type(HTML).send(JSON.stringify({ serverName: s.tftpServername ?? '' }));
  });
}
