// A real DHCP client for tests: busybox udhcpc in a client namespace, with the interface's MAC set
// to the one under test. Its event script prints what the server handed out (no address is
// configured), so a test sees the lease exactly as a booting host would.

import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ip } from '../lib/netns.ts';
import { execFileP, requireCommand } from '../lib/procs.ts';

export interface ClientLease {
  ip: string;
  /** siaddr (next-server), when the server set one. */
  siaddr?: string;
  /** The BOOTP file field or option 67. */
  bootFile?: string;
  /** The serverid the lease came from. */
  server?: string;
  /** Option 66 (TFTP server name). */
  tftp?: string;
}

const SCRIPT = `#!/bin/sh
# udhcpc runs this with the event as $1 and the lease in the environment.
if [ "$1" = bound ]; then
  echo "LEASE ip=$ip"
  echo "LEASE siaddr=$siaddr"
  echo "LEASE boot_file=$boot_file"
  echo "LEASE bootfile=$bootfile"
  echo "LEASE serverid=$serverid"
  echo "LEASE tftp=$tftp"
fi
exit 0
`;

/** Write the event script into `dir` (once per test run). */
export async function writeClientScript(dir: string): Promise<string> {
  requireCommand('udhcpc');
  const path = join(dir, 'udhcpc-event.sh');
  await writeFile(path, SCRIPT);
  await chmod(path, 0o755);
  return path;
}

/**
 * One DHCP exchange (replies asked as broadcasts, -B: the interface has no address yet and its MAC
 * just changed, so unicast offers can miss it) from `ifName` in `ns` with `mac`: up to `tries` discovers one second apart,
 * exiting when bound (or undefined when no offer came). Never leaves a process behind: udhcpc runs
 * in the foreground and exits (-q/-n), with a hard deadline through execFile's timeout.
 */
export async function dhcpRequest(ns: string, ifName: string, mac: string, script: string, tries = 6): Promise<ClientLease | undefined> {
  await ip(['-n', ns, 'link', 'set', ifName, 'down']);
  await ip(['-n', ns, 'link', 'set', ifName, 'address', mac]);
  await ip(['-n', ns, 'link', 'set', ifName, 'up']);
  let out: string;
  try {
    const r = await execFileP(
      'ip',
      ['netns', 'exec', ns, 'udhcpc', '-B', '-i', ifName, '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-A', '1', '-O', 'bootfile', '-O', 'tftp', '-s', script],
      { timeout: (tries + 10) * 1000, killSignal: 'SIGKILL' },
    );
    out = r.stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; code?: number };
    // No lease: udhcpc -n exits 1.
    if (typeof e.code === 'number') {
      return undefined;
    }
    throw err;
  }
  const field = (k: string): string | undefined => {
    const m = new RegExp(`^LEASE ${k}=(.*)$`, 'm').exec(out);
    return m && m[1] !== '' ? m[1] : undefined;
  };
  const leased = field('ip');
  if (leased === undefined) return undefined;
  const lease: ClientLease = { ip: leased };
  const siaddr = field('siaddr');
  if (siaddr !== undefined && siaddr !== '0.0.0.0') lease.siaddr = siaddr;
  const bootFile = field('bootfile') ?? field('boot_file');
  if (bootFile !== undefined) lease.bootFile = bootFile;
  const server = field('serverid');
  if (server !== undefined) lease.server = server;
  const tftp = field('tftp');
  if (tftp !== undefined) lease.tftp = tftp;
  return lease;
}
