// dhcpd.conf reader: subnets (also inside shared-network/group/pool) and host declarations
// anywhere, following `include` relative to the main file's directory.

import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { IscParseError, parseStatements, type Statement, tx } from './syntax.ts';
import { hostDecl, subnetDecl, type HostDecl, type SubnetWithRange } from './decls.ts';

export interface DhcpdConf {
  subnets: SubnetWithRange[];
  hosts: HostDecl[];
}

export type ReadText = (path: string) => Promise<string>;

const MAX_INCLUDES = 256;
const CONTAINERS = new Set(['shared-network', 'group', 'pool']);

/** Parse dhcpd.conf at `path`; includes are read through `read` (injectable for tests). */
export async function readDhcpdConf(path: string, read: ReadText = (p) => readFile(p, 'utf8')): Promise<DhcpdConf> {
  const out: DhcpdConf = { subnets: [], hosts: [] };
  const baseDir = dirname(path);
  let includes = 0;
  const active = new Set<string>();

  const walk = async (stmts: Statement[], file: string, inSubnet: boolean): Promise<void> => {
    for (const s of stmts) {
      const kw = tx(s.tokens[0]);
      if (kw === 'include' && !s.block) {
        const name = tx(s.tokens[1]);
        if (!name) throw new IscParseError('include without a file name', s.line, file);
        const target = isAbsolute(name) ? name : resolve(baseDir, name);
        if (active.has(target)) throw new IscParseError(`include loop through ${target}`, s.line, file);
        if (++includes > MAX_INCLUDES) throw new IscParseError(`more than ${MAX_INCLUDES} includes`, s.line, file);
        active.add(target);
        let text: string;
        try {
          text = await read(target);
        } catch (e) {
          throw new IscParseError(`cannot read included file ${target}: ${(e as Error).message}`, s.line, file);
        }
        await walk(parseStatements(text, target), target, inSubnet);
        active.delete(target);
        continue;
      }
      if (!s.block) continue;
      if (kw === 'subnet') {
        out.subnets.push(subnetDecl(s, file));
        await walk(s.block, file, true);
      } else if (kw === 'host') {
        out.hosts.push(hostDecl(s));
      } else if (kw !== undefined && CONTAINERS.has(kw)) {
        await walk(s.block, file, inSubnet);
      }
    }
  };

  active.add(resolve(path));
  const text = await read(path);
  await walk(parseStatements(text, path), path, false);
  return out;
}
