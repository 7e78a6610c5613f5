// The command line: `smart-proxy [--settings DIR] [--only a,b] [--bundle NAME]`, `smart-proxy check`,
// `--version`, `--help`. Exits non-zero with file and key named when settings are wrong.

import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { startProxy } from './core/runtime.ts';
import { SettingsError } from './core/errors.ts';
import { PROXY_VERSION } from './core/version.ts';
import { BUNDLES, InstanceError, resolveInstance } from './core/instances.ts';
import { loadGlobalSettings } from './core/settings/load-global.ts';
import { discoverCatalogue } from './core/registry.ts';
import { ModuleLoader, unknownModuleMessage } from './core/lifecycle.ts';
import { LogBuffer } from './core/log-buffer.ts';
import { silentLogger } from './core/logging.ts';
import { modulesFor, resolveListeners } from './core/http/listeners.ts';
import { NotifyConfigError, SystemdNotifier, notifyConfigFrom, takeNotifyEnvironment, type NotifyConfig } from './core/sd-notify.ts';

const HELP = `Usage: smart-proxy [check] [options]

Runs a Foreman Smart Proxy from settings.yml and settings.d/*.yml.

Commands:
  (none)             start the proxy
  check              load and validate the settings, print module states, do not start
  router             run the router in front of several instances (smart-proxy router --help)

Options:
  --settings DIR     directory holding settings.yml (default /etc/foreman-proxy)
  --only a,b         run only these modules (logs is always included)
  --listeners a,b    open only these named listeners of settings.yml (default: all)
  --bundle NAME      run a named bundle: ${Object.entries(BUNDLES).map(([k, v]) => `${k} (${v.join(', ')})`).join('; ')}
  --version          print the version
  -h, --help         this help
`;

function fail(message: string): never {
  process.stderr.write(`smart-proxy: ${message}\n`);
  process.exit(1);
}

function describeError(err: unknown): string {
  if (err instanceof SettingsError || err instanceof InstanceError || err instanceof NotifyConfigError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * `smart-proxy check`: reads and checks every settings file, creates each enabled module's
 * providers and instance (so keys, key files, URLs and TLS material are really tried) without
 * opening a listener or starting a service, and reports every module's state. A failed module
 * is shown with the file, the key when one is to blame, and the reason.
 */
async function check(settingsDir: string, only: string[] | undefined, bundle: string | undefined): Promise<number> {
  const global = await loadGlobalSettings(settingsDir);
  const catalogue = await discoverCatalogue();
  const selected = resolveInstance({ only, bundle, known: [...catalogue.modules.keys()] });
  const loader = new ModuleLoader({
    catalogue,
    global,
    only: selected,
    log: silentLogger,
    signal: AbortSignal.abort(),
    logBuffer: new LogBuffer(2, 2),
    start: false,
  });
  try {
    await loader.load();
    const file = join(global.settingsDir, 'settings.yml');
    for (const spec of resolveListeners(global, file)) modulesFor(spec, loader.records, file);
  } finally {
    await loader.close();
  }
  let bad = 0;
  for (const r of [...loader.records.values()].sort((a, b) => a.def.name.localeCompare(b.def.name))) {
    const p = r.problem;
    const where = p ? `${p.file}: ${p.key === undefined ? '' : `${p.key}: `}${p.reason ?? p.message}` : '';
    const detail = r.state === 'failed' ? ` - ${where}` : r.failure ? ` - ${r.failure}` : '';
    process.stdout.write(`${r.def.name}: ${r.state}${detail}\n`);
    if (r.state === 'failed') bad++;
  }
  // Not a failure: the proxy starts and ignores these files, as the reference does.
  for (const f of loader.unknownModuleFiles) process.stdout.write(`warning: ${unknownModuleMessage(f)}\n`);
  process.stdout.write(bad === 0 ? 'settings OK\n' : `${bad} module(s) would fail\n`);
  return bad === 0 ? 0 : 1;
}

async function main(): Promise<void> {
  // `smart-proxy router …`: the front door for several instances, with its own options and settings.
  if (process.argv[2] === 'router') {
    const { runRouter } = await import('./router/main.ts');
    process.exitCode = await runRouter(process.argv.slice(3));
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        settings: { type: 'string' },
        only: { type: 'string' },
        bundle: { type: 'string' },
        listeners: { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(`${describeError(err)}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`${PROXY_VERSION}\n`);
    return;
  }
  const settingsDir = resolve(values.settings ?? '/etc/foreman-proxy');
  const only = values.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (positionals.length > 1 || (positionals.length === 1 && positionals[0] !== 'check')) {
    fail(`unknown command '${positionals.join(' ')}'\n\n${HELP}`);
  }
  if (positionals[0] === 'check') {
    try {
      process.exitCode = await check(settingsDir, only, values.bundle);
    } catch (err) {
      fail(describeError(err));
    }
    return;
  }

  // Read (and remove, so that commands the proxy runs do not inherit them) the service manager's
  // notify variables before anything starts; a malformed value stops the start here.
  let notifyConfig: NotifyConfig | undefined;
  try {
    notifyConfig = notifyConfigFrom(takeNotifyEnvironment(), process.pid);
  } catch (err) {
    fail(describeError(err));
  }

  // A HUP before the proxy is up is kept for then, instead of Node's default (exit).
  let hupBeforeStart = false;
  const hupEarly = (): void => {
    hupBeforeStart = true;
  };
  process.on('SIGHUP', hupEarly);

  let proxy;
  try {
    const listenerNames = values.listeners?.split(',').map((s) => s.trim()).filter((s) => s !== '');
    proxy = await startProxy({ settingsDir, only, bundle: values.bundle, listenerNames });
  } catch (err) {
    fail(describeError(err));
  }
  let notifier: SystemdNotifier | undefined;
  const stop = (sig: string): void => {
    proxy.log.info(`Received ${sig}`);
    // STOPPING=1 first: systemd then knows the exit that follows is the requested one.
    const stopping = notifier?.stopping(`Stopping on ${sig}`) ?? Promise.resolve();
    void Promise.all([stopping, proxy.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Reload: one at a time (RunningProxy.reload serialises them); the service manager sees
  // RELOADING=1, then READY=1 once the new settings serve (or were refused: nothing changed).
  const reload = async (): Promise<void> => {
    proxy.log.info('Received SIGHUP');
    await notifier?.reloading('Reloading the settings');
    const result = await proxy.reload();
    await notifier?.ready(result.ok ? 'Serving with the reloaded settings' : `Reload refused: ${result.error ?? ''}`.replace(/\n/g, ' '));
  };
  process.off('SIGHUP', hupEarly);
  process.on('SIGHUP', () => void reload());
  process.on('SIGUSR1', () => {
    proxy.logSink.reopen();
    proxy.log.info('Reopened log file');
  });
  if (notifyConfig) {
    // A descriptor that is not an open socket leaves the proxy running without notifications (the
    // warning names the variable); systemd then reports the start as timed out.
    notifier = new SystemdNotifier(notifyConfig, proxy.log);
    try {
      await notifier.check();
    } catch (err) {
      proxy.log.warn(`sd_notify disabled: ${describeError(err)}`);
      notifier = undefined;
    }
  }
  if (notifier) {
    // Listeners are up and modules started (startProxy resolved): this is readiness.
    const where = proxy.listeners.map((l) => `${l.spec.name} ${l.addresses.map((a) => `${a.host}:${a.port}`).join(' ')}`);
    void notifier.ready(`Serving ${where.join(', ')}`);
    notifier.startWatchdog();
  }
  if (hupBeforeStart) void reload();
  // Machine-readable readiness line for supervisors and tests.
  if (process.env.SMART_PROXY_PRINT_READY === '1') {
    process.stdout.write(`${JSON.stringify({ ready: proxy.listeners.map((l) => ({ name: l.spec.name, addresses: l.addresses })) })}\n`);
  }
}

await main();
