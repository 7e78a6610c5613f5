// The running script module: start-up checks (spec §3.1, with the §8.11 fixes), the `ssh` operation
// registered on the dynflow engine, the SSH runner (push) or the MQTT publisher and dispatcher
// (pull-mqtt), and the /ssh routes.

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { DynflowEngine } from '../dynflow/types.ts';
import type { SshRunner } from '../../lib/ssh/types.ts';
import { ScriptError } from './errors.ts';
import { FileKnownHostsStore } from '../../lib/ssh/known-hosts.ts';
import type { ScriptMode, ScriptSettings, SshLogLevel } from './module.ts';
import { ScriptOperation, proxyUrlOf } from './operation.ts';
import { PullJobs } from './pull-jobs.ts';
import type { NotificationDispatcher, Publisher } from './pull/types.ts';
import { pathExists } from '../../lib/fs/exists.ts';

/** `~` and `~/…` are the proxy user's home directory (the reference expands them the same way). */
export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return `${home}${path.slice(1)}`;
  return path;
}

// Verbosity order of the proxy's log levels and of ssh_log_level; WARN (not one of ssh's names)
// sits between info and error instead of crashing the check as in the reference (§8.11).
const PROXY_VERBOSITY: Record<GlobalSettings['logLevel'], number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, FATAL: 4, UNKNOWN: 5 };
const SSH_VERBOSITY: Record<SshLogLevel, number> = { debug: 0, info: 1, error: 3, fatal: 4 };
/** How often fetched jobs are checked against the store (their exit may reach another replica). */
const RECONCILE_INTERVAL_MS = 30_000;

/** The problems with the SSH key material the proxy needs to log in, or undefined. */
export async function keyProblem(s: ScriptSettings, keyFile: string): Promise<string | undefined> {
  if (!(await pathExists(keyFile))) return `SSH private key file ${keyFile} doesn't exist.\nYou can generate one with \`ssh-keygen -t rsa -b 4096 -f ${keyFile} -N ''\``;
  if (!(await pathExists(`${keyFile}.pub`))) return `SSH public key file ${keyFile}.pub doesn't exist`;
  if (s.ssh_user_ca_public_key_file) {
    const ca = expandHome(s.ssh_user_ca_public_key_file);
    if (!(await pathExists(ca))) return `SSH CA public key file ${ca} doesn't exist`;
    if (!(await pathExists(`${keyFile}-cert.pub`))) return `SSH certificate file ${keyFile}-cert.pub doesn't exist`;
  }
  return undefined;
}

/**
 * Start-up checks that need the file system or the global settings. SSH keys are required when the
 * mode is `ssh` only: in pull modes nothing logs in over SSH except Cockpit sessions, which are then
 * refused with the same message while the module runs (and `cockpit` is not advertised). The
 * reference required them whenever cockpit_integration was on, i.e. by default in pull modes too.
 */
export async function startupProblem(s: ScriptSettings, global: GlobalSettings, keyFile: string): Promise<string | undefined> {
  if (s.mode === 'ssh') {
    const problem = await keyProblem(s, keyFile);
    if (problem) return problem;
  }
  if (SSH_VERBOSITY[s.ssh_log_level as SshLogLevel] < PROXY_VERBOSITY[global.logLevel]) {
    return `ssh_log_level cannot be more verbose than regular log level (${s.ssh_log_level} is more verbose than ${global.logLevel})`;
  }
  return undefined;
}

/** TLS to the broker: mqtt_tls, else automatic when a client certificate, key and CA are configured. */
export function mqttTls(s: ScriptSettings, global: GlobalSettings): { cert: string; key: string; ca: string } | undefined {
  const cert = global.foremanSslCert ?? global.sslCertificate;
  const key = global.foremanSslKey ?? global.sslPrivateKey;
  const ca = global.foremanSslCa ?? global.sslCaFile;
  const complete = !!cert && !!key && !!ca;
  if (s.mqtt_tls === false) return undefined;
  if (s.mqtt_tls === true && !complete) throw new Error('mqtt_tls is on but the client certificate, key or CA (foreman_ssl_* or ssl_* in settings.yml) is not configured');
  return complete ? { cert: cert as string, key: key as string, ca: ca as string } : undefined;
}

export async function scriptModule(ctx: ModuleContext<ScriptSettings>): Promise<ModuleInstance> {
  const s = ctx.settings;
  const log = ctx.log;
  const mode = s.mode as ScriptMode;
  const keyFile = expandHome(s.ssh_identity_key_file);
  const problem = await startupProblem(s, ctx.global, keyFile);
  if (problem) throw new Error(problem);
  if (s.kerberos_auth) log.warn('kerberos_auth: Kerberos (gssapi-with-mic) is not supported by the in-process SSH runner; public key and password logins are tried');
  // In pull modes a missing key only disables Cockpit sessions.
  const cockpitKeyProblem = s.cockpit_integration ? await keyProblem(s, keyFile) : undefined;
  if (s.cockpit_integration && cockpitKeyProblem) log.warn(`cockpit_integration: web console sessions are refused: ${cockpitKeyProblem}`);
  const tls = mode === 'pull-mqtt' ? mqttTls(s, ctx.global) : undefined;

  const engine = await ctx.dependency<DynflowEngine>('dynflow');
  const knownHosts = new FileKnownHostsStore(expandHome(s.known_hosts_file));

  let privateKey: Promise<string | undefined> | undefined;
  const readPrivateKey = (): Promise<string | undefined> => {
    // Read once, on first use; a key that cannot be read fails the runs with the reason.
    privateKey ??= readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      privateKey = undefined;
      throw new Error(`SSH private key file ${keyFile} cannot be read: ${err.message}`);
    });
    return privateKey;
  };

  // Push: one runner per module instance, created (and its code loaded) when the first host runs.
  let runner: Promise<SshRunner> | undefined;
  const getRunner = (): Promise<SshRunner> => {
    runner ??= import('../../lib/ssh/runner.ts').then(({ createSshRunner }) =>
      createSshRunner({
        maxConcurrentHosts: s.max_concurrent_hosts,
        maxQueued: s.max_queued_hosts,
        connectTimeoutMs: s.connect_timeout * 1000,
        keepaliveIntervalMs: 15_000,
        keepaliveCountMax: 3,
        killGraceMs: s.kill_grace_period * 1000,
        knownHosts,
        hostKeyPolicy: s.ssh_ca_known_hosts_file ? 'strict' : 'accept-new',
      }),
    );
    return runner;
  };

  // pull-mqtt: the publisher and dispatcher start with start(), not in create() (which `check` runs).
  let publisher: Publisher | undefined;
  let dispatcher: NotificationDispatcher | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;

  const operation = new ScriptOperation({
    mode,
    engine,
    log,
    runner: getRunner,
    privateKey: readPrivateKey,
    defaults: { remoteWorkingDir: s.remote_working_dir, cleanup: s.cleanup_working_dirs },
    dispatcher: () => dispatcher,
    publisher: () => publisher,
    cancelGraceSeconds: s.cancel_grace_period,
  });
  engine.registerOperation(operation);
  const jobs = new PullJobs({ engine, operation, dispatcher: () => dispatcher });

  const sessions = s.cockpit_integration ? await import('./session.ts') : undefined;

  return {
    exports: undefined,
    capabilities: () => (s.cockpit_integration && !cockpitKeyProblem ? ['cockpit'] : []),

    async start() {
      await operation.startTimers();
      if (mode !== 'pull-mqtt') return;
      const { createMqttPublisher } = await import('./pull/mqtt.ts');
      const { createDispatcher } = await import('./pull/dispatcher.ts');
      const { buildStartMessage } = await import('./pull/messages.ts');
      publisher = await createMqttPublisher({ broker: s.mqtt_broker as string, port: s.mqtt_port as number, tls, log: log.child('mqtt') });
      dispatcher = createDispatcher({
        settings: { ttlSeconds: s.mqtt_ttl, resendIntervalSeconds: s.mqtt_resend_interval, rateLimit: s.mqtt_rate_limit },
        publisher,
        log: log.child('dispatcher'),
        async loadMessage(uuid) {
          const job = await engine.store.getPullJob(uuid);
          const task = job && (await engine.store.get(job.taskId));
          // Gone, ended, or already fetched (possibly through another replica): nothing to notify.
          if (!job || !task || task.state === 'stopped' || job.state === 'delivered' || job.state === 'running') return undefined;
          const message = buildStartMessage({
            jobUuid: uuid,
            proxyUrl: proxyUrlOf(task.input),
            effectiveUser: job.effectiveUser ?? undefined,
            messageId: job.messageId,
            sent: new Date(),
          });
          return { hostId: job.hostname, message };
        },
        async onNotified(uuid) {
          const job = await engine.store.getPullJob(uuid);
          if (!job) return;
          if (job.state === 'ready_for_pickup') {
            await engine.store.updatePullJob(uuid, { state: 'notified', notifiedAt: Date.now() });
            const handle = await engine.handle(job.taskId);
            await handle?.setOutputExtra({ state: 'notified' });
          } else {
            await engine.store.updatePullJob(uuid, { notifiedAt: Date.now() });
          }
        },
      });
      // Jobs stored before a restart are notified again (their hosts may never have heard of them).
      await operation.resumePullJobs();
      // With replicas, a host may report its exit through another replica, which deletes the job
      // there; this replica's dispatcher would keep the job's rate-limit slot forever. Reconcile.
      reconcileTimer = setInterval(() => {
        void (async () => {
          for (const uuid of dispatcher?.runningJobs() ?? []) {
            if (!(await engine.store.getPullJob(uuid))) dispatcher?.done(uuid);
          }
        })().catch((err: unknown) => log.warn(`pull job reconciliation failed: ${(err as Error).message}`));
      }, RECONCILE_INTERVAL_MS);
      reconcileTimer.unref();
    },

    routes(app: FastifyInstance) {
      app.get('/pubkey', async (_request, reply) => {
        const pub = `${keyFile}.pub`;
        let text: string;
        try {
          text = await readFile(pub, 'utf8');
        } catch {
          throw ScriptError.key_not_found(`SSH public key file ${pub} doesn't exist`);
        }
        return reply.type('text/plain').send(text);
      });

      app.get('/ca_pubkey', async (_request, reply) => {
        if (!s.ssh_user_ca_public_key_file) return reply.type('text/plain').send('');
        const ca = expandHome(s.ssh_user_ca_public_key_file);
        let text: string;
        try {
          text = await readFile(ca, 'utf8');
        } catch {
          throw ScriptError.key_not_found(`SSH CA public key file ${ca} doesn't exist`);
        }
        return reply.type('text/plain').send(text);
      });

      if (sessions) {
        app.post('/session', async (request, reply) =>
          sessions.cockpitSession(request, reply, {
            keyProblem: cockpitKeyProblem,
            privateKey: readPrivateKey,
            knownHosts,
            hostKeyPolicy: s.ssh_ca_known_hosts_file ? 'strict' : 'accept-new',
            connectTimeoutMs: s.connect_timeout * 1000,
            log,
          }),
        );
      }

      const cn = (request: FastifyRequest): string => {
        // Set by the core's client-certificate check of /ssh/jobs (module.ts pathAuthorization).
        if (!request.clientCertificateCn) throw ScriptError.forbidden('could not read client cert from environment');
        return request.clientCertificateCn;
      };
      app.get('/jobs', async (request, reply) => reply.type('application/json').send(JSON.stringify(await jobs.list(cn(request)))));
      app.get<{ Params: { uuid: string } }>('/jobs/:uuid', async (request, reply) => {
        const job = await jobs.fetch(cn(request), request.params.uuid);
        if (job.effectiveUser) reply.header('x-foreman-effective-user', job.effectiveUser);
        return reply.type('text/plain').send(job.script);
      });
      app.post<{ Params: { uuid: string } }>('/jobs/:uuid/update', async (request, reply) => {
        await jobs.update(cn(request), request.params.uuid, request.body);
        return reply.code(200).send('');
      });
      app.get<{ Params: { uuid: string } }>('/jobs/:uuid/cancel', async (request, reply) => {
        await jobs.cancel(cn(request), request.params.uuid);
        return reply.code(200).send('');
      });
    },

    async close() {
      clearInterval(reconcileTimer);
      await dispatcher?.close();
      await publisher?.close();
      if (runner) await (await runner).close();
    },
  };
}
