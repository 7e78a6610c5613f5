// Routes of /salt (spec plugins.md §8.1) and the `salt` operation's registration on dynflow's task
// engine. Names are checked (names.ts) before any file or command sees them; autosign files are
// replaced atomically (autosign.ts); commands run without a shell, with deadlines and a bulkhead
// (commands.ts); the Salt API is called with a deadline (salt-api.ts). Failures answer the
// reference's 406 `Failed to … : <reason>` through the module's error policy and each route's
// errorPrefix.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { DynflowEngine } from '../dynflow/types.ts';
import { AutosignFile } from './autosign.ts';
import { createSaltCli, type SaltCli } from './commands.ts';
import { API_DISABLED, SaltError } from './errors.ts';
import type { SaltSettings } from './module.ts';
import { autosignKey, environmentName, minionName } from './names.ts';
import { SaltOperation } from './operation.ts';
import { createSaltApi, stateNames, type SaltApi } from './salt-api.ts';

const JSON_TYPE = 'application/json';

/** Backends the routes use; api.test.ts hands in fakes. `api: null` = use_api off. */
export interface SaltBackends {
  readonly cli?: SaltCli;
  readonly api?: SaltApi | null;
}

type HostRequest = FastifyRequest<{ Params: { host: string } }>;
type KeyRequest = FastifyRequest<{ Params: { key: string } }>;
type EnvRequest = FastifyRequest<{ Params: { environment: string } }>;

/** JSON as the reference sends it: exactly `application/json` (a Buffer: no charset added). */
function sendJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).header('content-type', JSON_TYPE).send(Buffer.from(JSON.stringify(value)));
}

function sendEmpty(reply: FastifyReply): FastifyReply {
  return reply.code(200).header('content-type', JSON_TYPE).send(Buffer.alloc(0));
}

export async function saltModule(ctx: ModuleContext<SaltSettings>, backends: SaltBackends = {}): Promise<ModuleInstance> {
  const s = ctx.settings;
  const engine = await ctx.dependency<DynflowEngine>('dynflow');
  const bulkhead = new Bulkhead({ name: 'salt', limit: s.command_concurrency, queue: s.command_queue, queueTimeoutMs: Math.round(s.command_timeout * 1000) });
  const cli = backends.cli ?? createSaltCli({ user: s.salt_command_user, timeoutMs: Math.round(s.command_timeout * 1000), bulkhead, log: ctx.log });
  const api =
    backends.api !== undefined
      ? backends.api
      : s.use_api && s.api_url
        ? await createSaltApi({
            url: s.api_url,
            auth: s.api_auth,
            username: s.api_username,
            password: s.api_password,
            verify: s.api_ssl_verify,
            caFile: s.api_ssl_ca,
            timeoutMs: Math.round(s.api_timeout * 1000),
            bulkhead,
          })
        : null;
  const autosign = new AutosignFile(s.autosign_file);
  const autosignKeys = new AutosignFile(s.autosign_key_file);

  engine.registerOperation(
    new SaltOperation({
      user: s.salt_command_user,
      saltfile: s.saltfile,
      bulkhead: new Bulkhead({ name: 'salt runs', limit: s.max_concurrent_runs, queue: 1_000_000 }),
      killGraceMs: s.kill_grace_period * 1000,
      log: ctx.log,
    }),
  );

  const requireApi = (): SaltApi => {
    if (!api) throw new Error(API_DISABLED);
    return api;
  };

  return {
    routes(app) {
      const prefix = (text: (r: FastifyRequest) => string) => ({ config: { errorPrefix: (r: FastifyRequest) => text(r) } });
      const param = (r: FastifyRequest, name: string): string => (r.params as Record<string, string>)[name] ?? '';

      app.get('/autosign', { config: { errorPrefix: 'Failed to list autosign entries: ' } }, async (_r, reply) => sendJson(reply, await autosign.list()));
      app.post('/autosign/:host', prefix((r) => `Failed to create autosign for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        await autosign.add(minionName(r.params.host));
        return sendJson(reply, { message: 'Added hostname successfully.' });
      });
      app.delete('/autosign/:host', prefix((r) => `Failed to remove autosign for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        await autosign.remove(minionName(r.params.host));
        return sendJson(reply, { message: 'Removed hostname successfully.' });
      });
      app.post('/autosign_key/:key', prefix((r) => `Failed to create autosign key ${param(r, 'key')}: `), async (r: KeyRequest, reply) => {
        await autosignKeys.add(autosignKey(r.params.key));
        return sendJson(reply, { message: 'Added key successfully.' });
      });
      app.delete('/autosign_key/:key', prefix((r) => `Failed to remove autosign key ${param(r, 'key')}: `), async (r: KeyRequest, reply) => {
        await autosignKeys.remove(autosignKey(r.params.key));
        return sendJson(reply, { message: 'Removed key successfully.' });
      });

      app.get('/key', { config: { errorPrefix: 'Failed to list keys: ' } }, async (_r, reply) => sendJson(reply, await cli.keyList()));
      app.post('/key/:host', prefix((r) => `Failed to accept salt key for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        await cli.keyAccept(minionName(r.params.host));
        return sendEmpty(reply);
      });
      app.delete('/key/:host', prefix((r) => `Failed delete salt key for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        await cli.keyDelete(minionName(r.params.host));
        return sendEmpty(reply);
      });
      app.delete('/key/reject/:host', prefix((r) => `Failed to reject salt key for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        await cli.keyReject(minionName(r.params.host));
        return sendEmpty(reply);
      });

      app.post('/highstate/:host', prefix((r) => `Failed salt run for ${param(r, 'host')}: `), async (r: HostRequest, reply) => {
        const host = minionName(r.params.host);
        if (!(await cli.highstate(host))) throw SaltError.highstate_failed(`Failed salt run for ${host}: Check Log files`);
        return sendEmpty(reply);
      });

      app.get('/environments', { config: { errorPrefix: 'Failed to list environments: ' } }, async (_r, reply) => {
        const envs = await requireApi().runner('fileserver.envs');
        if (!Array.isArray(envs)) throw new Error('fileserver.envs did not return a list');
        return sendJson(reply, envs);
      });
      app.get('/environments/:environment', prefix((r) => `Failed to list states for ${param(r, 'environment')}: `), async (r: EnvRequest, reply) => {
        const environment = environmentName(r.params.environment);
        const files = await requireApi().runner('fileserver.file_list', { saltenv: environment });
        return sendJson(reply, stateNames(files));
      });
    },
    async close() {
      await api?.close();
    },
  };
}
