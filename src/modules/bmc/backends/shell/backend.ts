// The shell backend: the proxy host is the machine. Only a power cycle does anything: it reboots
// the proxy host through `sudo shutdown`, a few seconds after answering so the answer gets out.

import { BmcBackend } from '../../provider.ts';
import { run } from '../../../../core/spawn.ts';
import { findCommand } from '../../tools.ts';

export interface ShellConfig {
  readonly warn: (message: string) => void;
  /** Delay before the reboot command runs (5 s, as the reference). */
  readonly delayMs?: number;
  readonly signal?: AbortSignal;
}

export class ShellBackend extends BmcBackend {
  readonly name = 'shell';
  private readonly cfg: ShellConfig;

  constructor(cfg: ShellConfig) {
    super();
    this.cfg = cfg;
  }

  override async test(): Promise<boolean> {
    return true;
  }
  override async powerStatus(): Promise<string> {
    return 'on';
  }
  override async poweredOn(): Promise<boolean> {
    return true;
  }
  override async poweredOff(): Promise<boolean> {
    return false;
  }
  override async powerCycle(): Promise<boolean> {
    const sudo = await findCommand('sudo');
    const shutdown = await findCommand('shutdown');
    if (!sudo || !shutdown) {
      this.cfg.warn('bmc shell: sudo or shutdown not found on PATH, cannot reboot');
      return false;
    }
    const timer = setTimeout(() => {
      run(sudo, [shutdown, '-r', 'now', 'Foreman BMC API'], { timeoutMs: 60_000 })
        .then((r) => {
          if (r.code !== 0) this.cfg.warn(`bmc shell: reboot failed: ${(r.stderr || r.stdout).trim()}`);
        })
        .catch((err: Error) => this.cfg.warn(`bmc shell: reboot failed: ${err.message}`));
    }, this.cfg.delayMs ?? 5000);
    this.cfg.signal?.addEventListener('abort', () => clearTimeout(timer), { once: true });
    return true;
  }
}
