// What the /ipam routes need from an External IPAM backend (spec plugins.md §6.2). A provider
// answers about one subnet or group at a time; the module validates parameters, holds offered
// addresses (holds.ts) and writes the answers. Failures are IpamError codes; the HTTP client's
// own failures (refused, timeout) are translated by the module's error policy.

import type { Address, Network } from './net.ts';

/** A subnet as the IPAM holds it; id is the backend's own (phpIPAM: string, NetBox: number). */
export interface IpamSubnet {
  id: string | number;
  subnet: string;
  mask: string;
  description: string;
}

export interface IpamGroup {
  id?: string | number;
  name: string;
  description: string;
}

/** The backend's next free address, or none left (other refusals are thrown as IpamError). */
export type FirstFree = { ip: string } | { none: true };

/** One /ipam request's limits, passed to every backend call it makes. */
export interface CallOptions {
  /** Epoch ms by which the whole request must be done. */
  deadline: number;
}

/** A subnet found in the backend, with whatever the provider needs to act on it later. */
export interface FoundSubnet {
  subnet: IpamSubnet;
  /** Provider-private context (NetBox: the prefix's VRF). */
  readonly scope?: unknown;
}

export interface ExternalIpamProvider {
  /** The subnet `network`, searched inside `group` (phpIPAM section, NetBox VRF) when given. */
  findSubnet(network: Network, group: string | undefined, call: CallOptions): Promise<FoundSubnet | undefined>;
  firstFree(found: FoundSubnet, network: Network, call: CallOptions): Promise<FirstFree>;
  ipExists(found: FoundSubnet, network: Network, ip: Address, call: CallOptions): Promise<boolean>;
  addIp(found: FoundSubnet, network: Network, ip: Address, call: CallOptions): Promise<void>;
  deleteIp(found: FoundSubnet, network: Network, ip: Address, call: CallOptions): Promise<void>;
  groups(call: CallOptions): Promise<IpamGroup[]>;
  group(name: string, call: CallOptions): Promise<IpamGroup | undefined>;
  /** Subnets of the group; undefined when the group does not exist. */
  groupSubnets(name: string, call: CallOptions): Promise<IpamSubnet[] | undefined>;
  close(): Promise<void>;
}
