// Finding the IPMI tools and helper commands. "Installed" means found on the proxy's PATH, as in
// the reference; the absolute path found here is what gets spawned, so the spawn environment's
// minimal PATH never changes which binary runs.

import { access, constants, stat } from 'node:fs/promises';
import { join, isAbsolute } from 'node:path';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function findCommand(name: string, path = process.env.PATH ?? DEFAULT_PATH): Promise<string | undefined> {
  for (const dir of path.split(':')) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export type IpmiTool = 'freeipmi' | 'ipmitool';

/** The binary whose presence means the tool is installed. */
export const IPMI_MARKER: Record<IpmiTool, string> = { freeipmi: 'ipmipower', ipmitool: 'ipmitool' };

/** Installed IPMI tools in the reference's preference order (freeipmi first). */
export async function installedIpmiTools(): Promise<IpmiTool[]> {
  const out: IpmiTool[] = [];
  for (const tool of ['freeipmi', 'ipmitool'] as const) {
    if (await findCommand(IPMI_MARKER[tool])) out.push(tool);
  }
  return out;
}
