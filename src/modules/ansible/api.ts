// The running ansible module: the listing routes of spec plugins.md §3.2 and the `ansible-runner`
// operation registered on the dynflow engine (./operation.ts).

import { readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { DynflowEngine } from '../dynflow/types.ts';
import { errorText } from '../../core/errors.ts';
import type { AnsibleSettings } from './module.ts';
import { AnsibleError } from './errors.ts';
import {
  checkRoleName,
  expandHome,
  findRole,
  listPlaybookNames,
  listRoles,
  parsePlaybookNames,
  readPlaybooks,
  resolvePaths,
  roleDirectories,
  roleVariables,
  RoleVariablesError,
  type AnsiblePaths,
} from './listing.ts';
import { ARTIFACT_LINK_PREFIX, AnsibleOperation, RUN_DIR_PREFIX, RUN_MARKER, type AnsibleMetrics } from './operation.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import { descendants } from './runner.ts';

/** The REX key when the script module does not say (its default). */
const DEFAULT_IDENTITY = '~/.ssh/id_rsa_foreman_proxy';

function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(JSON.stringify(body));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The ansible-runner of a proxy process that was killed keeps running the playbook: stopped (with
 * everything below it) when its command line still names the run directory, so a reused PID is
 * never hit.
 */
async function stopOrphanRunner(pid: number, dir: string, log: { warn(m: string): void }): Promise<void> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.split('\u0000').includes(dir)) return;
  const below = await descendants(pid);
  for (const p of [pid, ...below]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  log.warn(`stopped ansible-runner (PID ${pid}) left running by an earlier proxy process in ${dir}`);
}

/**
 * Run directories a previous proxy process left (it was killed mid-run): they hold inventories
 * with passwords, so they go. Kept directories (cleanup_working_dirs false) stay.
 */
export async function removeStaleRunDirs(base: string, log: { warn(m: string): void; info(m: string): void }): Promise<number> {
  let removed = 0;
  let names: string[];
  try {
    names = (await readdir(base)).filter((n) => n.startsWith(RUN_DIR_PREFIX));
  } catch {
    return 0;
  }
  for (const name of names) {
    const dir = join(base, name);
    try {
      const marker = JSON.parse(await readFile(join(dir, RUN_MARKER), 'utf8')) as { pid?: number; kept?: boolean; runnerPid?: number; artifactLink?: string };
      if (marker.kept === true || marker.pid === process.pid || (typeof marker.pid === 'number' && alive(marker.pid))) continue;
      if (typeof marker.runnerPid === 'number') await stopOrphanRunner(marker.runnerPid, dir, log);
      if (typeof marker.artifactLink === 'string' && basename(marker.artifactLink).startsWith(ARTIFACT_LINK_PREFIX)) await unlink(marker.artifactLink).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      removed++;
    } catch {
      // Not one of ours (no marker), or unreadable: left alone.
    }
  }
  if (removed > 0) log.info(`removed ${removed} run directories left by an earlier proxy process in ${base}`);
  return removed;
}

/**
 * The module's metrics, registered once per proxy (a reload's new instance keeps counting on the
 * same series): runs by how they ended, ansible-runner processes running, host exit statuses.
 */
export function ansibleMetrics(registry: Registry): AnsibleMetrics {
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const runs =
    existing<Counter<'result'>>('smart_proxy_ansible_runs_total') ??
    new Counter({ name: 'smart_proxy_ansible_runs_total', help: 'ansible-runner runs (batches) by how they ended: finished, cancelled, timeout, shutdown, no_runner, error.', labelNames: ['result'], registers: [registry] });
  const running =
    existing<Gauge>('smart_proxy_ansible_running_runs') ?? new Gauge({ name: 'smart_proxy_ansible_running_runs', help: 'ansible-runner processes running now.', registers: [registry] });
  const hosts =
    existing<Counter<'exit_status'>>('smart_proxy_ansible_host_results_total') ??
    new Counter({ name: 'smart_proxy_ansible_host_results_total', help: 'Hosts of Ansible jobs by exit status (0, 1 unreachable, 2 failed, 4 runner error, other).', labelNames: ['exit_status'], registers: [registry] });
  return {
    runStarted: () => running.inc(),
    runStopped: () => running.dec(),
    runEnded: (result) => runs.inc({ result }),
    hostResult: (status) => hosts.inc({ exit_status: status === 0 || status === 1 || status === 2 || status === 4 ? String(status) : 'other' }),
  };
}

export async function ansibleModule(ctx: ModuleContext<AnsibleSettings>): Promise<ModuleInstance> {
  const s = ctx.settings;
  const log = ctx.log;
  const workingDir = s.working_dir === undefined ? undefined : expandHome(s.working_dir);
  if (workingDir !== undefined) {
    const st = await stat(workingDir).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`Working directory does not exist: ${workingDir} (working_dir in ansible.yml)`);
  }
  const configFile = expandHome(s.ansible_config_file);
  let noted = false;
  const paths = async (): Promise<AnsiblePaths> => {
    const p = await resolvePaths(configFile);
    if (p.note && !noted) {
      noted = true;
      log.info(p.note);
    }
    return p;
  };
  const identityKeyFile = (): string => {
    const script = ctx.proxy.modules().get('script')?.settings;
    const file = script && typeof script.ssh_identity_key_file === 'string' ? script.ssh_identity_key_file : DEFAULT_IDENTITY;
    return expandHome(file);
  };
  const g = ctx.global;
  const foremanEnv: Record<string, string> = {};
  if (g.foremanUrl) foremanEnv.FOREMAN_URL = g.foremanUrl.replace(/\/+$/, '');
  const cert = g.foremanSslCert ?? g.sslCertificate;
  const key = g.foremanSslKey ?? g.sslPrivateKey;
  const ca = g.foremanSslCa ?? g.sslCaFile;
  if (cert) foremanEnv.FOREMAN_SSL_CERT = cert;
  if (key) foremanEnv.FOREMAN_SSL_KEY = key;
  if (ca) foremanEnv.FOREMAN_SSL_VERIFY = ca;

  const metrics = ansibleMetrics(ctx.proxy.metrics.registry);
  const engine = await ctx.dependency<DynflowEngine>('dynflow');
  const operation = new AnsibleOperation({
    engine,
    log,
    workingDir,
    environmentFile: s.ansible_environment_file,
    runnerCommand: s.ansible_runner_command,
    killGraceMs: s.kill_grace_period * 1000,
    gatherMs: s.batch_gather_ms,
    paths,
    identityKeyFile,
    foremanEnv,
    metrics,
    knownHostsFile: expandHome(s.known_hosts_file),
  });
  engine.registerOperation(operation);

  return {
    exports: undefined,
    async start() {
      await removeStaleRunDirs(workingDir ?? tmpdir(), log);
    },
    routes(app: FastifyInstance) {
      app.get('/roles', async (_request, reply) => sendJson(reply, await listRoles(await paths())));

      app.get('/roles/variables', async (_request, reply) => {
        const p = await paths();
        const out: Record<string, Record<string, unknown>> = {};
        for (const [role, dir] of await roleDirectories(p)) {
          try {
            out[role] = await roleVariables(dir);
          } catch (err) {
            // A role whose defaults are not YAML mappings is skipped, as the plugin does.
            if (!(err instanceof RoleVariablesError)) throw err;
            log.warn(`role ${role} skipped: ${err.message}`);
          }
        }
        return sendJson(reply, out);
      });

      app.get<{ Params: { role_name: string } }>('/roles/:role_name/variables', async (request, reply) => {
        const role = request.params.role_name;
        checkRoleName(role);
        const p = await paths();
        const dir = await findRole(p, role);
        if (!dir) {
          throw AnsibleError.unknown_role(
            `role_name: no role '${role}' in the roles paths (${p.roles.join(':')})${role.split('.').length === 3 ? ` or the collections paths (${p.collections.join(':')})` : ''}`,
          );
        }
        try {
          return sendJson(reply, { [role]: await roleVariables(dir) });
        } catch (err) {
          if (!(err instanceof RoleVariablesError)) throw err;
          // As the plugin: a role whose defaults cannot be parsed has no variables to import.
          log.warn(`role ${role}: ${errorText(err)}`);
          return sendJson(reply, {});
        }
      });

      app.get('/playbooks_names', async (_request, reply) => sendJson(reply, await listPlaybookNames(await paths())));

      app.get('/playbooks', async (_request, reply) => sendJson(reply, await readPlaybooks(await paths())));

      app.get<{ Params: { playbooks_names: string } }>('/playbooks/:playbooks_names', async (request, reply) => {
        const names = parsePlaybookNames(request.params.playbooks_names);
        return sendJson(reply, await readPlaybooks(await paths(), names));
      });
    },
  };
}
