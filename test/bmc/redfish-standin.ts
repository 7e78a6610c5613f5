// A stand-in Redfish service (no Redfish BMC can run here): HTTPS with a throw-away self-signed
// certificate, HTTP Basic auth, and the DMTF resources the proxy uses — ServiceRoot, a Systems
// and a Managers collection, ComputerSystem with #ComputerSystem.Reset and Boot override, Manager
// with #Manager.Reset and an EthernetInterface. Writes are checked against the schema's enums and
// the advertised AllowableValues, and answered with DMTF-style error bodies when they are wrong.

import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, requireCommand, tempDir, removeDir } from '../lib/procs.ts';

export interface RedfishState {
  PowerState: 'On' | 'Off';
  IndicatorLED: 'Lit' | 'Blinking' | 'Off';
  Boot: { BootSourceOverrideTarget: string; BootSourceOverrideEnabled: string };
  resets: string[];
  managerResets: string[];
}

export interface RedfishStandIn {
  readonly port: number;
  readonly state: RedfishState;
  /** `METHOD path` of every request. */
  readonly requests: string[];
  /** TCP connections accepted so far (to see pooling). */
  connections(): number;
  close(): Promise<void>;
}

export interface StandInOptions {
  user: string;
  password: string;
  manufacturer?: string;
  resetTypes?: string[];
}

const BOOT_TARGETS = ['None', 'Pxe', 'Hdd', 'Cd', 'BiosSetup', 'Usb'];
const BOOT_ENABLED = ['Disabled', 'Once', 'Continuous'];
const LED = ['Lit', 'Blinking', 'Off'];

function error(res: ServerResponse, status: number, id: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: `Base.1.8.${id}`, message, '@Message.ExtendedInfo': [{ MessageId: `Base.1.8.${id}`, Message: message }] } }));
}

function send(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'odata-version': '4.0' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

export async function selfSignedCert(dir: string): Promise<{ key: string; cert: string }> {
  const openssl = requireCommand('openssl');
  await execFileP(openssl, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ]);
  return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
}

export async function startRedfishStandIn(opts: StandInOptions): Promise<RedfishStandIn> {
  const dir = await tempDir('redfish');
  const tls = await selfSignedCert(dir).finally(() => removeDir(dir));
  const resetTypes = opts.resetTypes ?? ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PushPowerButton'];
  const state: RedfishState = {
    PowerState: 'On',
    IndicatorLED: 'Off',
    Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' },
    resets: [],
    managerResets: [],
  };
  const requests: string[] = [];
  let connections = 0;
  const expectedAuth = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;

  const system = () => ({
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    '@odata.id': '/redfish/v1/Systems/1',
    Id: '1',
    Name: 'Stand-in system',
    Manufacturer: opts.manufacturer ?? 'Contoso',
    Model: 'StandIn 3000',
    SerialNumber: 'SR-0042',
    AssetTag: 'ASSET-7',
    PowerState: state.PowerState,
    IndicatorLED: state.IndicatorLED,
    Boot: { ...state.Boot, 'BootSourceOverrideTarget@Redfish.AllowableValues': BOOT_TARGETS },
    Actions: {
      '#ComputerSystem.Reset': {
        target: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
        'ResetType@Redfish.AllowableValues': resetTypes,
      },
    },
  });
  const manager = () => ({
    '@odata.type': '#Manager.v1_10_0.Manager',
    '@odata.id': '/redfish/v1/Managers/bmc',
    Id: 'bmc',
    UUID: '3f0e2a52-1c1d-4c55-9d3c-5a1e3b0c7d11',
    FirmwareVersion: '2.81.81.81',
    EthernetInterfaces: { '@odata.id': '/redfish/v1/Managers/bmc/EthernetInterfaces' },
    Actions: {
      '#Manager.Reset': {
        target: '/redfish/v1/Managers/bmc/Actions/Manager.Reset',
        'ResetType@Redfish.AllowableValues': ['ForceRestart', 'GracefulRestart'],
      },
    },
  });
  const nic = {
    '@odata.type': '#EthernetInterface.v1_6_0.EthernetInterface',
    '@odata.id': '/redfish/v1/Managers/bmc/EthernetInterfaces/eth0',
    Id: 'eth0',
    MACAddress: '52:54:00:ab:cd:ef',
    IPv4Addresses: [{ Address: '192.0.2.60', SubnetMask: '255.255.255.0', Gateway: '192.0.2.1', AddressOrigin: 'DHCP' }],
    VLAN: { VLANEnable: true, VLANId: 42 },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    requests.push(`${req.method} ${path}`);
    if (req.headers.authorization !== expectedAuth) {
      error(res, 401, 'NoValidSession', 'There is no valid session established with the implementation.');
      return;
    }
    const body = (await readBody(req)) as Record<string, unknown> | undefined;
    const key = `${req.method} ${path.replace(/\/$/, '')}`;
    switch (key) {
      case 'GET /redfish/v1':
        return send(res, {
          '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
          '@odata.id': '/redfish/v1/',
          RedfishVersion: '1.11.0',
          Systems: { '@odata.id': '/redfish/v1/Systems' },
          Managers: { '@odata.id': '/redfish/v1/Managers' },
        });
      case 'GET /redfish/v1/Systems':
        return send(res, { '@odata.id': '/redfish/v1/Systems', 'Members@odata.count': 1, Members: [{ '@odata.id': '/redfish/v1/Systems/1' }] });
      case 'GET /redfish/v1/Managers':
        return send(res, { '@odata.id': '/redfish/v1/Managers', 'Members@odata.count': 1, Members: [{ '@odata.id': '/redfish/v1/Managers/bmc' }] });
      case 'GET /redfish/v1/Systems/1':
        return send(res, system());
      case 'GET /redfish/v1/Managers/bmc':
        return send(res, manager());
      case 'GET /redfish/v1/Managers/bmc/EthernetInterfaces':
        return send(res, { Members: [{ '@odata.id': nic['@odata.id'] }], 'Members@odata.count': 1 });
      case 'GET /redfish/v1/Managers/bmc/EthernetInterfaces/eth0':
        return send(res, nic);
      case 'POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset': {
        const t = body?.ResetType;
        if (typeof t !== 'string' || !resetTypes.includes(t)) {
          return error(res, 400, 'ActionParameterNotSupported', `The value ${JSON.stringify(t)} for ResetType is not supported.`);
        }
        state.resets.push(t);
        if (t === 'On') state.PowerState = 'On';
        if (t === 'ForceOff' || t === 'GracefulShutdown' || t === 'PushPowerButton') state.PowerState = 'Off';
        res.writeHead(204).end();
        return;
      }
      case 'POST /redfish/v1/Managers/bmc/Actions/Manager.Reset': {
        const t = body?.ResetType;
        if (t !== 'ForceRestart' && t !== 'GracefulRestart') {
          return error(res, 400, 'ActionParameterNotSupported', `The value ${JSON.stringify(t)} for ResetType is not supported.`);
        }
        state.managerResets.push(t);
        res.writeHead(204).end();
        return;
      }
      case 'PATCH /redfish/v1/Systems/1': {
        if (body?.IndicatorLED !== undefined) {
          if (!LED.includes(String(body.IndicatorLED))) {
            return error(res, 400, 'PropertyValueNotInList', `The value ${JSON.stringify(body.IndicatorLED)} for IndicatorLED is not in the list of acceptable values.`);
          }
          state.IndicatorLED = body.IndicatorLED as RedfishState['IndicatorLED'];
        }
        const boot = body?.Boot as Record<string, unknown> | undefined;
        if (boot !== undefined) {
          if (!BOOT_TARGETS.includes(String(boot.BootSourceOverrideTarget)) || !BOOT_ENABLED.includes(String(boot.BootSourceOverrideEnabled))) {
            return error(res, 400, 'PropertyValueNotInList', `Boot override ${JSON.stringify(boot)} is not acceptable.`);
          }
          state.Boot = { BootSourceOverrideTarget: String(boot.BootSourceOverrideTarget), BootSourceOverrideEnabled: String(boot.BootSourceOverrideEnabled) };
        }
        return send(res, system());
      }
      default:
        return error(res, 404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
    }
  };

  const server: Server = createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: Error) => error(res, 500, 'InternalError', err.message));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    state,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
