// /shellhook routes (spec plugins.md §5). POST starts the hook and answers 200 at once, as the
// plugin does (foreman_webhooks does not wait for scripts); the run itself is bounded: a deadline
// (hook_timeout), at most max_running at once behind a bulkhead, output capped, and at shutdown
// every running hook is stopped. No shell is involved anywhere (core/spawn.ts).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { rawBody } from '../../core/http/request-params.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { Static } from '../../core/settings/schema.ts';
import { run } from '../../core/spawn.ts';
import { ShellhookError } from './errors.ts';
import { listHooks, runnableHook, validHookName } from './hooks.ts';
import type { SHELLHOOKS_SETTINGS } from './module.ts';

type ShellhooksSettings = Static<typeof SHELLHOOKS_SETTINGS>;

/** X-Shellhook-Arg-1 … -99, up to the first one missing (the plugin's rule). */
export function hookArguments(request: Pick<FastifyRequest, 'headers'>): string[] {
  const args: string[] = [];
  for (let i = 1; i <= 99; i++) {
    const value = request.headers[`x-shellhook-arg-${i}`];
    if (value === undefined) break;
    args.push(Array.isArray(value) ? value.join(', ') : value);
  }
  return args;
}

function logLines(log: Logger, level: 'debug' | 'warn', prefix: string, output: string): void {
  for (const line of output.split('\n')) if (line !== '') log[level](`${prefix} ${line}`);
}

export interface ShellhooksInstance extends ModuleInstance {
  /** Resolves when every hook started so far has ended (tests, shutdown). */
  idle(): Promise<void>;
}

export function shellhooksModule(ctx: ModuleContext<ShellhooksSettings>): ShellhooksInstance {
  const s = ctx.settings;
  const log = ctx.log;
  const bulkhead = new Bulkhead({ name: 'shellhooks', limit: s.max_running, queue: s.max_running * 32 });
  const stop = new AbortController();
  const running = new Set<Promise<void>>();
  let runs = 0;

  async function execute(id: number, name: string, file: string, args: string[], input: Buffer): Promise<void> {
    const prefix = `[${id}]`;
    // Queued behind the bulkhead when the proxy began shutting down: not started at all.
    if (stop.signal.aborted) {
      log.warn(`${prefix} ${name} not started: the proxy is shutting down`);
      return;
    }
    log.info(`${prefix} Started task ${file} (${args.length} argument${args.length === 1 ? '' : 's'}, ${input.length} bytes of input)`);
    try {
      const r = await run(file, args, {
        input,
        timeoutMs: s.hook_timeout * 1000,
        signal: stop.signal,
        cwd: s.directory,
        maxOutputBytes: s.max_output,
      });
      logLines(log, 'debug', prefix, r.stdout);
      logLines(log, 'warn', prefix, r.stderr);
      if (r.timedOut) log.warn(`${prefix} ${name} was stopped after ${s.hook_timeout} s (hook_timeout)`);
      else if (r.code === 0) log.info(`${prefix} ${name} finished with exit status 0`);
      else log.warn(`${prefix} ${name} finished with ${r.code === null ? `signal ${r.signal ?? '?'}` : `exit status ${r.code}`}`);
    } catch (err) {
      log.error(`${prefix} ${name} could not be run: ${(err as Error).message}`);
    }
  }

  function routes(app: FastifyInstance): void {
    // The webhook body goes to the hook byte for byte, whatever its content type: in this scope a
    // form-encoded body is not parsed into parameters.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    app.get('/', async (_request, reply) => {
      let listing;
      try {
        listing = await listHooks(s.directory);
      } catch (err) {
        throw ShellhookError.directory(`Cannot list the shellhook directory ${s.directory}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(listing));
    });

    app.post<{ Params: { name: string } }>('/:name', async (request, reply) => {
      const name = request.params.name;
      if (!validHookName(name)) {
        throw ShellhookError.invalid_name(
          `Not a valid shellhook name: ${JSON.stringify(name)} (letters, digits, '_', '-' and '.', not starting with '.')`,
        );
      }
      const file = await runnableHook(s.directory, name);
      if (file === undefined) throw ShellhookError.invalid_file(`Not a valid shellhook file: no executable regular file ${name} in ${s.directory}`);
      const args = hookArguments(request);
      const input = rawBody(request);
      // Refuse now, while the caller can still be told, rather than queue without bound.
      if (bulkhead.saturated) throw ShellhookError.busy(`shellhooks: ${s.max_running} hooks running and ${bulkhead.waiting} waiting, try again later`);
      const id = ++runs;
      const done = bulkhead.run(() => execute(id, name, file, args, input)).catch((err: unknown) => {
        log.warn(`[${id}] ${name} was not run: ${(err as Error).message}`);
      });
      running.add(done);
      void done.finally(() => running.delete(done));
      return reply.code(200).send('');
    });
  }

  return {
    routes,
    idle: async () => {
      while (running.size > 0) await Promise.all([...running]);
    },
    async close() {
      stop.abort();
      await Promise.all([...running]);
    },
  };
}
