// What both IPMI backends need for one request.

import type { BmcAddress } from '../host.ts';
import type { Deadline } from './deadline.ts';

export type IpmiDriver = 'lan15' | 'lan20' | 'open';
export type IpmiPrivilege = 'CALLBACK' | 'USER' | 'OPERATOR' | 'ADMINISTRATOR';

export interface IpmiConfig {
  readonly address: BmcAddress;
  readonly username: string;
  readonly password: string;
  readonly driver: IpmiDriver;
  readonly privilege: IpmiPrivilege | undefined;
  /** RMCP+ cipher suite (our extension setting); undefined = the tool's default. */
  readonly cipherSuite: number | undefined;
  /** FreeIPMI `workaround-flags` (our extension setting). */
  readonly workaroundFlags: string | undefined;
  /** The request's deadline; every spawned command gets what is left of it. */
  readonly deadline: Deadline;
}

/** Lower-case, spaces and dashes to `_`, dots and other punctuation dropped. */
export function normaliseKey(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/[\s\-/]+/g, '_')
    .replace(/[^a-z0-9_]/g, '');
}
