// The remote-execution test bench: the whole proxy binary (dynflow + script) over HTTPS with a test
// PKI, its tasks in a SQLite file (so a restart keeps them), and a stand-in Foreman over HTTPS that
// requires the proxy's client certificate and records the callbacks. Foreman's own calls are made
// with Foreman's client certificate (CN in trusted_hosts).

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { fetchUrl, type SimpleResponse } from '../lib/https-client.ts';
import { freeTcpPort, removeDir, requireCommand, tempDir, waitFor } from '../lib/procs.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../lib/proxy-process.ts';
import { startStandInForeman, type StandInForeman } from '../lib/standin-foreman.ts';

const execFileP = promisify(execFile);

export const RUN_SCRIPT = 'Proxy::RemoteExecution::Ssh::Actions::RunScript';

export interface CallbackBody {
  callback: { task_id: string; step_id: number };
  data: {
    result: Array<{ output_type: string; output: string; timestamp: number; id?: string }>;
    exit_status: number | string;
    exit_status_timestamp?: number;
    runner_id?: string;
    state?: string;
  };
}

export interface RexBench {
  readonly dir: string;
  readonly pki: Pki;
  readonly foreman: StandInForeman;
  proxy: ProxyProcess;
  /** Foreman's client certificate (trusted) and the CA, for calls to the proxy. */
  readonly foremanTls: { ca: string; cert: string; key: string };
  /** The proxy's HTTPS origin. */
  origin(): string;
  /** A call as Foreman makes it (JSON body). */
  call(method: string, path: string, body?: unknown): Promise<SimpleResponse>;
  /** Callbacks received so far, by Foreman task id (the last one per task). */
  callbacks(): Map<string, CallbackBody>;
  waitCallbacks(taskIds: readonly string[], timeoutMs?: number): Promise<Map<string, CallbackBody>>;
  /** Stop the proxy by its PID with SIGKILL (a crash), or SIGTERM. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start the proxy again on the same settings and database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface BenchOptions {
  /** remote_execution_ssh.yml keys (without colons). */
  script: Record<string, unknown>;
  /** dynflow.yml keys besides enabled and database. */
  dynflow?: Record<string, unknown>;
  /** Extra settings.yml keys. */
  global?: Record<string, unknown>;
  /** Other settings.d files (name → keys with their leading colons), e.g. `ansible`. */
  files?: Record<string, Record<string, unknown>>;
  /** Use this directory (and PKI) instead of a new one (e.g. shared with mosquitto). */
  dir?: string;
  pki?: Pki;
}

export async function startRexBench(opts: BenchOptions): Promise<RexBench> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await tempDir('rex'));
  let foreman: StandInForeman | undefined;
  let proxy: ProxyProcess | undefined;
  try {
    const pki = opts.pki ?? (await makePki(dir));
    const proxyClient = await pki.client('proxy.example.com');
    const foremanClient = await pki.client('foreman.example.com');
    foreman = await startStandInForeman(
      (req) =>
        req.path === '/foreman_tasks/api/tasks/callback'
          ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"message":"processing"}' }
          : { status: 404, body: 'not found' },
      { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
    );
    const settings = join(dir, 'settings');
    await writeSettingsDir(
      settings,
      {
        bind_host: ['127.0.0.1'],
        // A fixed port: a restarted proxy must be where the tasks' proxy_url says it is.
        https_port: await freeTcpPort('127.0.0.1'),
        ssl_certificate: pki.serverCert,
        ssl_private_key: pki.serverKey,
        ssl_ca_file: pki.caCert,
        foreman_url: foreman.origin,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: proxyClient.cert,
        foreman_ssl_key: proxyClient.key,
        trusted_hosts: ['foreman.example.com'],
        log_file: join(dir, 'proxy.log'),
        log_level: 'DEBUG',
        ...opts.global,
      },
      {
        dynflow: { ':enabled': 'https', ':database': join(dir, 'tasks.sqlite'), ...prefixed(opts.dynflow ?? {}) },
        remote_execution_ssh: { ':enabled': 'https', ...prefixed(opts.script) },
        ...opts.files,
      },
    );
    const start = (): Promise<ProxyProcess> => startProxyProcess(['--settings', settings]);
    proxy = await start();
    const foremanTls = { ca: pki.caCert, ...foremanClient };
    const seen = foreman;
    const bench: RexBench = {
      dir,
      pki,
      foreman: seen,
      proxy,
      foremanTls,
      origin: () => `https://127.0.0.1:${portOf(bench.proxy, 'https')}`,
      call: (method, path, body) =>
        fetchUrl(`${bench.origin()}${path}`, {
          method,
          tls: foremanTls,
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
          timeoutMs: 30_000,
        }),
      callbacks() {
        const out = new Map<string, CallbackBody>();
        for (const r of seen.requests) {
          if (r.path !== '/foreman_tasks/api/tasks/callback') continue;
          const body = JSON.parse(r.body.toString('utf8')) as CallbackBody;
          out.set(body.callback.task_id, body);
        }
        return out;
      },
      async waitCallbacks(taskIds, timeoutMs = 30_000) {
        await waitFor(
          `callbacks of ${taskIds.length} tasks`,
          () => {
            const got = bench.callbacks();
            return taskIds.every((id) => got.has(id));
          },
          timeoutMs,
          50,
        ).catch(async (err: Error) => {
          const got = bench.callbacks();
          const missing = taskIds.filter((id) => !got.has(id));
          throw new Error(`${err.message}: ${missing.length} missing (e.g. ${missing.slice(0, 3).join(', ')})\n${await tail(join(dir, 'proxy.log'))}`);
        });
        return bench.callbacks();
      },
      async kill(signal = 'SIGKILL') {
        const p = bench.proxy;
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const exited = new Promise((resolve) => p.child.once('exit', resolve));
        process.kill(p.pid, signal);
        await exited;
      },
      async restart() {
        bench.proxy = await start();
      },
      async close() {
        await bench.proxy.stop().catch(() => undefined);
        await seen.close();
        if (ownDir) await removeDir(dir);
      },
    };
    return bench;
  } catch (err) {
    await proxy?.stop().catch(() => undefined);
    await foreman?.close();
    if (ownDir) await removeDir(dir);
    throw err;
  }
}

function prefixed(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.startsWith(':') ? k : `:${k}`, v]));
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** One host of a batch: its proxy task id (the batch key), Foreman task id and action_input. */
export interface BatchHost {
  readonly id: string;
  readonly foremanTaskId: string;
  readonly input: Record<string, unknown>;
}

/** A host as Foreman plans it: random ids, callback, the fields of spec §2.4. */
export function host(input: Record<string, unknown>): BatchHost {
  const foremanTaskId = randomUUID();
  return {
    id: randomUUID(),
    foremanTaskId,
    input: {
      ssh_port: 22,
      effective_user_method: 'sudo',
      cleanup_working_dirs: true,
      execution_timeout_interval: null,
      secrets: { ssh_password: null, key_passphrase: null, effective_user_password: null },
      first_execution: false,
      callback: { task_id: foremanTaskId, step_id: 3 },
      proxy_operation_name: 'ssh',
      use_batch_triggering: true,
      ...input,
    },
  };
}

/** The body of POST /dynflow/tasks/launch as Foreman sends it. */
export function launchBody(hosts: readonly BatchHost[], operation = 'ssh'): Record<string, unknown> {
  return {
    input: Object.fromEntries(hosts.map((h) => [h.id, { action_input: h.input, action_class: RUN_SCRIPT }])),
    operation,
    options: {},
  };
}

/** PIDs of processes whose command line contains `marker` (pgrep -f), not counting pgrep itself. */
export async function pidsMatching(marker: string): Promise<number[]> {
  try {
    const { stdout } = await execFileP(requireCommand('pgrep'), ['-f', marker]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // exit 1: nothing matches
  }
}
