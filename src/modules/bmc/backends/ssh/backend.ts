// The ssh backend: power commands run on the host itself over the system `ssh` client (no npm
// SSH library is installed). BatchMode keeps ssh from ever prompting; the remote commands come
// from the operator's settings, the host is validated, and `--` ends ssh's options before it.

import { existsSync } from 'node:fs';
import { BmcBackend, type LanKey, type BootDevice, type BootOptions } from '../../provider.ts';
import { run } from '../../../../core/spawn.ts';
import type { BmcAddress } from '../../host.ts';
import { findCommand } from '../../tools.ts';
import type { Deadline } from '../deadline.ts';

export interface SshCommands {
  readonly status: string;
  readonly on: string;
  readonly off: string;
  readonly cycle: string;
}

export interface SshConfig {
  readonly address: BmcAddress;
  readonly user: string;
  readonly keyFile: string | undefined;
  /** Our extension: a known_hosts file for the BMC hosts (else ssh's defaults). */
  readonly knownHosts: string | undefined;
  readonly commands: SshCommands;
  readonly deadline: Deadline;
  readonly warn: (message: string) => void;
}

export class SshBackend extends BmcBackend {
  readonly name = 'ssh';
  private readonly cfg: SshConfig;

  constructor(cfg: SshConfig) {
    super();
    this.cfg = cfg;
  }

  /** The ssh argv for one remote command (exported for the argv-safety tests). */
  argv(command: string): string[] {
    const c = this.cfg;
    const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=2'];
    if (c.keyFile !== undefined) {
      if (existsSync(c.keyFile)) args.push('-i', c.keyFile, '-o', 'IdentitiesOnly=yes');
      else c.warn(`bmc ssh: key file ${c.keyFile} not found, trying ssh's default keys`);
    }
    if (c.knownHosts !== undefined) args.push('-o', `UserKnownHostsFile=${c.knownHosts}`, '-o', 'StrictHostKeyChecking=yes');
    if (c.address.port !== undefined) args.push('-p', String(c.address.port));
    args.push('-l', c.user, '--', c.address.host, command);
    return args;
  }

  private async remote(command: string): Promise<boolean> {
    const ssh = await findCommand('ssh');
    if (!ssh) {
      this.cfg.warn('bmc ssh: ssh not found on PATH');
      return false;
    }
    const timeoutMs = this.cfg.deadline.next(`bmc ssh: ${this.cfg.address.host}`);
    const res = await run(ssh, this.argv(command), { timeoutMs, env: { HOME: process.env.HOME ?? '/root' } });
    if (res.timedOut) this.cfg.warn(`bmc ssh: ${this.cfg.address.host} did not answer within ${Math.round(this.cfg.deadline.totalMs / 1000)} s`);
    else if (res.code === 255) this.cfg.warn(`bmc ssh: ${res.stderr.trim().split('\n').pop() ?? 'connection failed'}`);
    return res.code === 0 && !res.timedOut;
  }

  override async powerStatus(): Promise<string> {
    return (await this.remote(this.cfg.commands.status)) ? 'on' : 'off';
  }
  override powerOn(): Promise<boolean> {
    return this.remote(this.cfg.commands.on);
  }
  override powerOff(): Promise<boolean> {
    return this.remote(this.cfg.commands.off);
  }
  override powerSoft(): Promise<boolean> {
    return this.remote(this.cfg.commands.off);
  }
  override powerCycle(): Promise<boolean> {
    return this.remote(this.cfg.commands.cycle);
  }
  override async setBootDevice(_device: BootDevice, _opts: BootOptions): Promise<null> {
    return null;
  }
  override async lan(key: LanKey): Promise<unknown> {
    if (key === 'ip') return this.cfg.address.host;
    if (key === 'mac' || key === 'gateway' || key === 'netmask') return '';
    return super.lan(key);
  }
}
