// Network namespaces for tests whose daemons must not touch the host's interfaces: a server and a
// client namespace joined by a veth pair, created by name for one run and deleted by those names.

import { execFileP, sleep } from './procs.ts';

/** Run `ip` with a deadline. */
export async function ip(args: readonly string[], timeoutMs = 15_000): Promise<void> {
  await execFileP('ip', args, { timeout: timeoutMs });
}

export interface VethLab {
  nsServer: string;
  nsClient: string;
  ifServer: string;
  ifClient: string;
  /** Address with prefix length, e.g. `192.168.122.1/24`, given to the server's end. */
  serverCidr: string;
}

/**
 * Create both namespaces (loopback up) and the veth pair between them, both ends up. Each
 * namespace is pushed onto `created` as soon as it exists, so that the caller's teardown removes
 * what was made even when a later step fails.
 */
export async function createVethLab(lab: VethLab, created: string[], timeoutMs = 15_000): Promise<void> {
  for (const ns of [lab.nsServer, lab.nsClient]) {
    await ip(['netns', 'add', ns], timeoutMs);
    created.push(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up'], timeoutMs);
  }
  await ip(['link', 'add', lab.ifServer, 'netns', lab.nsServer, 'type', 'veth', 'peer', 'name', lab.ifClient, 'netns', lab.nsClient], timeoutMs);
  await ip(['-n', lab.nsServer, 'addr', 'replace', lab.serverCidr, 'dev', lab.ifServer], timeoutMs);
  await ip(['-n', lab.nsServer, 'link', 'set', lab.ifServer, 'up'], timeoutMs);
  await ip(['-n', lab.nsClient, 'link', 'set', lab.ifClient, 'up'], timeoutMs);
}

/**
 * Delete these namespaces, each once the processes in it are gone (up to 5 s: a client just
 * stopped may still be exiting). Never fails: teardown must go on.
 */
export async function deleteNamespaces(names: readonly string[]): Promise<void> {
  for (const ns of names) {
    for (let i = 0; i < 50; i++) {
      const { stdout } = await execFileP('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      if (stdout.trim() === '') break;
      await sleep(100);
    }
    await execFileP('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}
