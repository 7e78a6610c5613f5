// Per-request backend setup (spec bmc.md §3): JSON body rules (415), provider choice, Basic
// credentials (401), IPMI options, address validation; then the backend for this one request.

import type { FastifyRequest } from 'fastify';
import { dirname } from 'node:path';
import { params, rawBody } from '../../core/http/request-params.ts';
import type { Params, ParamValue } from '../../core/params.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { BmcError } from './errors.ts';
import { checkCredential, parseBmcAddress } from './host.ts';
import type { BmcSettings } from './module.ts';
import type { BmcBackend } from './provider.ts';
import { findCommand, installedIpmiTools, IPMI_MARKER, type IpmiTool } from './tools.ts';
import type { IpmiConfig, IpmiDriver, IpmiPrivilege } from './backends/ipmi-config.ts';
import { IpmitoolBackend } from './backends/ipmitool/backend.ts';
import { FreeipmiBackend, freeipmiCredentialProblem } from './backends/freeipmi/backend.ts';
import { RedfishBackend } from './backends/redfish/backend.ts';
import { ShellBackend } from './backends/shell/backend.ts';
import { SshBackend } from './backends/ssh/backend.ts';
import { Deadline } from './backends/deadline.ts';

/** What the module instance lends every request's backend. */
export interface BackendSetup {
  readonly settings: BmcSettings;
  readonly log: Logger;
  /** Aborted at shutdown: a pending shell reboot is dropped. */
  readonly signal: AbortSignal;
  /** Pooled Redfish connections, verifying or not per redfish_verify_ssl. */
  readonly redfish: HttpClient;
}

type JsonBody = Record<string, unknown>;

const MAX_GET_BODY = 64 * 1024;

/**
 * The body of a GET, which fastify leaves unread on the socket. The reference reads JSON bodies on
 * every BMC route, and Foreman plugins send `options` that way.
 */
async function readUnparsedBody(request: FastifyRequest): Promise<Buffer> {
  if (request.body !== undefined || request.raw.readableEnded) return rawBody(request);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length;
    if (size > MAX_GET_BODY) throw BmcError.body_too_large(`request body larger than ${MAX_GET_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The JSON object body, {} for other content types; 415 for JSON that is not an object. */
export async function jsonBody(request: FastifyRequest): Promise<JsonBody> {
  const type = String(request.headers['content-type'] ?? '');
  if (!type.toLowerCase().includes('application/json')) return {};
  const text = (await readUnparsedBody(request)).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw BmcError.invalid_json(`Invalid JSON content in body of request: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const kind = parsed === null ? 'NilClass' : Array.isArray(parsed) ? 'Array' : typeof parsed === 'string' ? 'String'
      : typeof parsed === 'number' ? (Number.isInteger(parsed) ? 'Integer' : 'Float') : parsed === true ? 'TrueClass' : 'FalseClass';
    throw BmcError.invalid_json(`Invalid JSON content in body of request: data must be a hash, not ${kind}`);
  }
  return parsed as JsonBody;
}

interface Credentials {
  username: string;
  password: string;
}

export function basicCredentials(request: FastifyRequest): Credentials {
  const header = request.headers.authorization;
  if (header === undefined || header === '') throw BmcError.unauthorized('unauthorized');
  const m = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (!m) throw BmcError.unauthorized('bad_authentication_request, credentials are not in auth.basic format');
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const creds = colon < 0 ? { username: decoded, password: '' } : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  checkCredential('username', creds.username);
  checkCredential('password', creds.password);
  return creds;
}

const DRIVERS: readonly IpmiDriver[] = ['lan15', 'lan20', 'open'];
const PRIVILEGES: readonly IpmiPrivilege[] = ['CALLBACK', 'USER', 'OPERATOR', 'ADMINISTRATOR'];

function optionsOf(p: Params, body: JsonBody): Record<string, unknown> {
  const fromBody = body.options;
  if (typeof fromBody === 'object' && fromBody !== null && !Array.isArray(fromBody)) return fromBody as Record<string, unknown>;
  const fromParams: ParamValue | undefined = p.options;
  if (typeof fromParams === 'object' && fromParams !== null && !Array.isArray(fromParams)) return fromParams;
  return {};
}

export function ipmiOptions(opts: Record<string, unknown>): { driver: IpmiDriver; privilege: IpmiPrivilege | undefined } {
  const d = opts.driver ?? 'lan20';
  if (typeof d !== 'string' || !DRIVERS.includes(d as IpmiDriver)) {
    throw BmcError.invalid_options(`Invalid options.driver ${JSON.stringify(d)}: must be one of ${DRIVERS.join(', ')}`);
  }
  const pr = opts.privilege;
  if (pr !== undefined && pr !== null && (typeof pr !== 'string' || !PRIVILEGES.includes(pr.toUpperCase() as IpmiPrivilege))) {
    throw BmcError.invalid_options(`Invalid options.privilege ${JSON.stringify(pr)}: must be one of ${PRIVILEGES.join(', ')}`);
  }
  return { driver: d as IpmiDriver, privilege: typeof pr === 'string' ? (pr.toUpperCase() as IpmiPrivilege) : undefined };
}

/** Provider name per spec §3.1–3.2: param, JSON body, default setting; IPMI names fall back. */
async function chooseProvider(p: Params, body: JsonBody, settings: BmcSettings, log: Logger): Promise<'redfish' | 'ssh' | 'shell' | IpmiTool> {
  const fromParam = p.bmc_provider;
  const fromBody = body.bmc_provider;
  const name = (typeof fromParam === 'string' ? fromParam : typeof fromBody === 'string' ? fromBody : settings.bmc_default_provider ?? '').toLowerCase();
  if (name === 'redfish' || name === 'ssh' || name === 'shell') return name;
  const installed = await installedIpmiTools();
  if (installed.includes(name as IpmiTool)) return name as IpmiTool;
  if (installed.length === 0) {
    throw BmcError.no_provider('No BMC providers are installed, please install at least freeipmi or ipmitool');
  }
  log.warn(`bmc: provider '${name}' is not installed, using ${installed[0]}`);
  return installed[0];
}

/** Build the backend for this request (the caller must `close()` it). */
export async function setupBackend(request: FastifyRequest, hostRaw: string, setup: BackendSetup): Promise<BmcBackend> {
  const log = request.proxyLog ?? setup.log;
  const body = await jsonBody(request);
  const p = params(request);
  const s = setup.settings;
  const provider = await chooseProvider(p, body, s, log);
  const timeoutMs = s.bmc_timeout * 1000;
  const warn = (m: string): void => log.warn(m);
  if (provider === 'shell') {
    parseBmcAddress(hostRaw);
    return new ShellBackend({ warn, signal: setup.signal });
  }
  if (provider === 'ssh') {
    return new SshBackend({
      address: parseBmcAddress(hostRaw),
      user: s.bmc_ssh_user,
      keyFile: s.bmc_ssh_key,
      knownHosts: s.bmc_ssh_known_hosts,
      commands: { status: s.bmc_ssh_powerstatus, cycle: s.bmc_ssh_powercycle, off: s.bmc_ssh_poweroff, on: s.bmc_ssh_poweron },
      deadline: new Deadline(timeoutMs),
      warn,
    });
  }
  const creds = basicCredentials(request);
  const address = parseBmcAddress(hostRaw);
  if (provider === 'redfish') {
    return new RedfishBackend({ address, ...creds, deadline: new Deadline(timeoutMs), http: setup.redfish, warn });
  }
  const cfg: IpmiConfig = {
    address,
    ...creds,
    ...ipmiOptions(optionsOf(p, body)),
    cipherSuite: s.bmc_ipmi_cipher_suite,
    workaroundFlags: s.bmc_freeipmi_workaround_flags,
    deadline: new Deadline(timeoutMs),
  };
  if (provider === 'freeipmi') {
    for (const field of ['username', 'password'] as const) {
      const problem = freeipmiCredentialProblem(creds[field]);
      if (problem) throw BmcError.invalid_credentials(`Invalid BMC ${field}: ${problem}`);
    }
  }
  const marker = await findCommand(IPMI_MARKER[provider]);
  if (!marker) throw BmcError.no_provider(`${provider} is no longer installed`);
  return provider === 'ipmitool' ? new IpmitoolBackend(cfg, marker) : new FreeipmiBackend(cfg, { sbin: dirname(marker) });
}
