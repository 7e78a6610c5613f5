// The push bench's `proxy` variant: the whole proxy as a real process (dynflow + script in ssh
// mode), driven the way Foreman drives it (bench/lib/rex-foreman.ts): launches over HTTPS with a
// client certificate in batches of 100 hosts, completion callbacks to a stand-in Foreman.
// Measured from outside: time from the first launch to the last callback, the proxy process's CPU
// time (/proc), the peak RSS of the proxy and its descendants.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { httpsSettings, makePki } from '../../test/lib/certs.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../../test/lib/proxy-process.ts';
import { sampleTreeRss } from './rex-measure.ts';
import { FOREMAN_BATCH, launchHosts, processCpuSeconds, processRssMb, startCallbackTally, type CallbackTally } from './rex-foreman.ts';
import type { SshEndpoint } from './rex-sshd.ts';

export interface ProxyPushSpec {
  readonly dir: string;
  readonly hosts: number;
  readonly concurrency: number;
  readonly endpoints: readonly SshEndpoint[];
  readonly user: string;
  readonly keyFile: string;
  readonly remoteDir: string;
  readonly script: string;
  /** Called with the proxy process while it runs (so an interrupt can stop it). */
  onProxy(p: ProxyProcess | undefined): void;
}

export interface ProxyPushResult {
  how: string;
  wallMs: number;
  ok: number;
  failed: number;
  firstError?: string;
  failureKinds: Record<string, number>;
  sampleOutput: string;
  cpuSelfS: number;
  peakTreeRssMb: number;
  processesAtPeak: number;
  maxProcesses: number;
  idleRssMb: number;
}

/** SIGTERM, then SIGKILL after 20 s; waits for the exit. */
export async function stopProxy(proxy: ProxyProcess | undefined): Promise<void> {
  if (!proxy || proxy.child.exitCode !== null || proxy.child.signalCode !== null) return;
  const killer = setTimeout(() => proxy.child.kill('SIGKILL'), 20_000);
  await proxy.stop();
  clearTimeout(killer);
}

export async function runProxyPush(spec: ProxyPushSpec): Promise<ProxyPushResult> {
  const dir = join(spec.dir, 'proxy');
  await mkdir(dir, { recursive: true });
  const pki = await makePki(dir);
  const foremanCert = await pki.client('foreman.example.com');
  let tally: CallbackTally | undefined;
  let proxy: ProxyProcess | undefined;
  try {
    tally = await startCallbackTally(spec.hosts);
    await writeSettingsDir(
      dir,
      { ...httpsSettings(pki), trusted_hosts: ['foreman.example.com'], foreman_url: tally.foreman.origin, log_file: join(dir, 'proxy.log'), log_level: 'WARN' },
      {
        dynflow: { ':enabled': true, ':database': join(dir, 'tasks.sqlite'), ':max_running_tasks': spec.concurrency },
        remote_execution_ssh: {
          ':enabled': true,
          ':mode': 'ssh',
          ':ssh_identity_key_file': spec.keyFile,
          ':known_hosts_file': join(dir, 'known_hosts'),
          ':remote_working_dir': spec.remoteDir,
          ':local_working_dir': dir,
          ':max_concurrent_hosts': spec.concurrency,
          ':max_queued_hosts': spec.hosts + 1,
        },
      },
    );
    proxy = await startProxyProcess(['--settings', dir], 60_000);
    spec.onProxy(proxy);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRssMb = processRssMb(proxy.pid);
    const base = `https://127.0.0.1:${portOf(proxy, 'https')}`;
    const running = proxy;
    const exited = new Promise<never>((_, reject) => running.child.once('exit', (code) => reject(new Error(`proxy exited with ${code}: ${running.stderr().slice(-2000)}`))));
    exited.catch(() => undefined); // the stop at the end also ends it; only a race with it matters
    const sampler = sampleTreeRss(proxy.pid);
    const cpu0 = processCpuSeconds(proxy.pid);
    const t0 = performance.now();
    let mem: ReturnType<typeof sampler.stop>;
    const progress = setInterval(() => process.stderr.write(`  proxy: ${tally?.ok ?? 0} ok, ${tally?.failed ?? 0} failed of ${spec.hosts} after ${((performance.now() - t0) / 1000).toFixed(0)} s\n`), 30_000);
    try {
      await Promise.race([
        launchHosts(base, { ca: pki.caCert, ...foremanCert }, spec.hosts, (i) => {
          const ep = spec.endpoints[i % spec.endpoints.length];
          return {
            hostname: ep.host,
            script: spec.script,
            ssh_user: spec.user,
            ssh_port: ep.port,
            effective_user: spec.user,
            effective_user_method: 'sudo',
            cleanup_working_dirs: true,
            remote_working_dir: spec.remoteDir,
            execution_timeout_interval: null,
            secrets: { ssh_password: null, key_passphrase: null, effective_user_password: null },
            first_execution: false,
          };
        }),
        exited,
      ]);
      await Promise.race([tally.allDone, exited]);
    } finally {
      clearInterval(progress);
      mem = sampler.stop();
    }
    const wallMs = performance.now() - t0;
    const cpuSelfS = processCpuSeconds(proxy.pid) - cpu0;
    return {
      how: `the proxy process (dynflow + script, ssh mode): ${Math.ceil(spec.hosts / FOREMAN_BATCH)} launches of ≤${FOREMAN_BATCH} hosts over HTTPS, callbacks to a stand-in Foreman; max_running_tasks = max_concurrent_hosts = ${spec.concurrency}`,
      wallMs,
      ok: tally.ok,
      failed: tally.failed,
      firstError: tally.firstError,
      failureKinds: tally.failureKinds,
      sampleOutput: tally.sampleOutput,
      cpuSelfS,
      peakTreeRssMb: mem.peakMb,
      processesAtPeak: mem.processesAtPeak,
      maxProcesses: mem.maxProcesses,
      idleRssMb,
    };
  } finally {
    await stopProxy(proxy);
    spec.onProxy(undefined);
    await tally?.foreman.close();
  }
}
