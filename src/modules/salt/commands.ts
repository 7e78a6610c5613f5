// The Salt master's command-line tools as the reference calls them (spec plugins.md §8.1):
// `sudo -u <salt_command_user> salt-key …` and `… salt --async <host> state.highstate`. Spawned
// without a shell (core/spawn.ts), with `sudo -n` so a missing sudoers rule fails at once instead
// of waiting for a password, with a deadline, and through a bulkhead. The tools are looked up on
// the proxy's PATH at each call (as the reference does), so installing Salt later needs no restart.

import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { Bulkhead } from '../../core/bulkhead.ts';
import type { Logger } from '../../core/logging-types.ts';
import { run, type RunResult } from '../../core/spawn.ts';

export type KeyState = 'accepted' | 'rejected' | 'unaccepted';
export type KeyList = Record<string, { state: KeyState; fingerprint: string }>;

/** What the routes need from the Salt master's tools (api.test.ts fakes it). */
export interface SaltCli {
  keyList(): Promise<KeyList>;
  keyAccept(host: string): Promise<void>;
  keyReject(host: string): Promise<void>;
  keyDelete(host: string): Promise<void>;
  /** False when salt failed (the reference's 500 `Check Log files`); the output is logged. */
  highstate(host: string): Promise<boolean>;
}

/** The PATH the proxy was started with (where the reference's `which` looks). */
export function proxyPath(): string {
  return process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}

/** Absolute path of `name` on the proxy's PATH, or an error in the reference's words. */
export async function findCommand(name: string): Promise<string> {
  for (const dir of proxyPath().split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`unable to find ${name}`);
}

/** The argv prefix that runs a Salt tool as `user`: `sudo -n -u <user> <abs tool>`. */
export async function asSaltUser(user: string, tool: string): Promise<{ cmd: string; args: string[] }> {
  const [sudo, path] = await Promise.all([findCommand('sudo'), findCommand(tool)]);
  return { cmd: sudo, args: ['-n', '-u', user, path] };
}

function outputOf(r: RunResult): string {
  return (r.stderr.trim() || r.stdout.trim()).slice(0, 2000);
}

export interface CliOptions {
  readonly user: string;
  readonly timeoutMs: number;
  readonly bulkhead: Bulkhead;
  readonly log: Logger;
}

export function createSaltCli(o: CliOptions): SaltCli {
  const exec = async (tool: string, args: readonly string[]): Promise<RunResult> => {
    const { cmd, args: prefix } = await asSaltUser(o.user, tool);
    const argv = [...prefix, ...args];
    o.log.debug(`running ${cmd} ${argv.join(' ')}`);
    const result = await o.bulkhead.run(() => run(cmd, argv, { timeoutMs: o.timeoutMs, env: { PATH: proxyPath() } }));
    if (result.timedOut) throw new Error(`${tool} did not finish within ${o.timeoutMs / 1000} seconds and was stopped`);
    return result;
  };
  // The reference answered 200 whatever salt-key's exit status; a failure is a failure here.
  const keyCommand = async (args: readonly string[]): Promise<void> => {
    const r = await exec('salt-key', args);
    if (r.code !== 0) throw new Error(`salt-key exited with status ${r.code ?? r.signal}: ${outputOf(r)}`);
    o.log.info(`salt-key ${args.join(' ')}: ${r.stdout.trim()}`);
  };
  return {
    async keyList() {
      const r = await exec('salt-key', ['--finger-all', '--output=json']);
      if (r.code !== 0) {
        o.log.warn(`Failed to run salt-key: ${outputOf(r)}`);
        throw new Error('Execution of salt-key failed, check log files');
      }
      let parsed: Record<string, Record<string, string> | undefined>;
      try {
        parsed = JSON.parse(r.stdout) as typeof parsed;
      } catch {
        throw new Error(`salt-key --output=json did not answer JSON: ${r.stdout.slice(0, 200)}`);
      }
      const keys: KeyList = {};
      const states: Array<[string, KeyState]> = [
        ['minions', 'accepted'],
        ['minions_rejected', 'rejected'],
        ['minions_pre', 'unaccepted'],
      ];
      for (const [section, state] of states) {
        for (const [minion, fingerprint] of Object.entries(parsed[section] ?? {})) keys[minion] = { state, fingerprint: String(fingerprint) };
      }
      return keys;
    },
    keyAccept: (host) => keyCommand(['--include-rejected', '--yes', '-a', host]),
    keyReject: (host) => keyCommand(['--include-accepted', '--yes', '-r', host]),
    keyDelete: (host) => keyCommand(['--yes', '-d', host]),
    async highstate(host) {
      o.log.info(`Will run state.highstate for ${host}`);
      const r = await exec('salt', ['--async', host, 'state.highstate']);
      o.log.info(`salt --async ${host} state.highstate: status ${r.code ?? r.signal}: ${(r.stdout + r.stderr).trim()}`);
      return r.code === 0;
    },
  };
}
