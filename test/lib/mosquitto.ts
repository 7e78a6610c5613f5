// A real Mosquitto broker on 127.0.0.1 for pull-mqtt tests and benchmarks, configured like the
// installer's (spec remote-execution.md §5.1): TLS listener, client certificate required, the
// certificate CN is the MQTT username, and the ACL lets the proxy's CN write every host's
// `yggdrasil/+/data/in` while each client reads only its own `yggdrasil/<CN>/data/in`.
//
// Optionally a second, plain listener for benchmarks (`benchListener`): no TLS, anonymous, and
// the identity is the MQTT client id (`%c`). Its ACL is its own (per_listener_settings), so a
// client id cannot be used to read another host's topic on the TLS listener.
//
// Started in the foreground by PID, stopped by PID; `restart` keeps the same ports.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { readFileSync } from 'node:fs';
import { freeTcpPort, requireCommand, startDaemon, stopDaemon, waitForDaemon, type Daemon } from './procs.ts';

export interface MosquittoOptions {
  /** Directory for the config, ACL and log (the caller removes it). */
  dir: string;
  /** PEM paths: the CA that signs client certificates, and the broker's server certificate. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** CN of the proxy's client certificate (installer: the proxy FQDN). */
  proxyCn: string;
  /** Also open a plain, anonymous listener whose identity is the client id (benchmarks). */
  benchListener?: boolean;
  /** `log_type all` instead of errors, warnings and notices. */
  verbose?: boolean;
  /** Extra config lines applied to every listener section (e.g. `max_connections -1`). */
  extraListenerLines?: string[];
}

export interface Mosquitto {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The plain benchmark listener's port, when asked for. */
  readonly benchPort?: number;
  readonly pid: number;
  log(): string;
  /** Stop (by PID) and start again on the same ports, waiting until it accepts TLS. */
  restart(): Promise<void>;
  /** Stop by PID (TERM, then KILL). Idempotent. */
  stop(): Promise<void>;
  /** Start again after `stop` on the same ports. */
  start(): Promise<void>;
}

function aclFile(proxyCn: string): string {
  return [
    '# every client: only its own topics (%u = username = certificate CN)',
    'pattern read yggdrasil/%u/data/in',
    'pattern write yggdrasil/%u/control/out',
    '',
    `user ${proxyCn}`,
    'topic write yggdrasil/+/data/in',
    'topic read yggdrasil/+/control/out',
    '',
  ].join('\n');
}

function benchAclFile(): string {
  return ['# benchmark listener: identity is the client id', 'pattern read yggdrasil/%c/data/in', 'pattern write yggdrasil/%c/control/out', ''].join('\n');
}

/** TLS handshake to the broker succeeds (the server certificate chains to `ca`). */
function tlsAccepts(port: number, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', rejectUnauthorized: true });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2_000, () => done(false));
    sock.once('secureConnect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export async function startMosquitto(opts: MosquittoOptions): Promise<Mosquitto> {
  const bin = requireCommand('mosquitto');
  const port = await freeTcpPort();
  const benchPort = opts.benchListener ? await freeTcpPort() : undefined;
  const acl = join(opts.dir, 'mosquitto.acl');
  const benchAcl = join(opts.dir, 'mosquitto-bench.acl');
  await writeFile(acl, aclFile(opts.proxyCn));
  const extra = opts.extraListenerLines ?? [];
  const lines = [
    'per_listener_settings true',
    'persistence false',
    // Started as root, mosquitto would switch to the `mosquitto` user, which cannot read the
    // 0700 temp dir holding the key and ACL.
    'user root',
    'log_dest stdout',
    ...(opts.verbose ? ['log_type all'] : ['log_type error', 'log_type warning', 'log_type notice']),
    'connection_messages true',
    '',
    `listener ${port} 127.0.0.1`,
    `cafile ${opts.caCert}`,
    `certfile ${opts.serverCert}`,
    `keyfile ${opts.serverKey}`,
    'require_certificate true',
    'use_identity_as_username true',
    'allow_anonymous false',
    `acl_file ${acl}`,
    ...extra,
  ];
  if (benchPort !== undefined) {
    await writeFile(benchAcl, benchAclFile());
    lines.push('', `listener ${benchPort} 127.0.0.1`, 'allow_anonymous true', `acl_file ${benchAcl}`, ...extra);
  }
  const conf = join(opts.dir, 'mosquitto.conf');
  await writeFile(conf, lines.join('\n') + '\n');
  const ca = readFileSync(opts.caCert);

  let daemon: Daemon | undefined;
  const start = async (): Promise<void> => {
    if (daemon && !daemon.exited) return;
    const d = startDaemon('mosquitto', bin, ['-c', conf], opts.dir);
    daemon = d;
    await waitForDaemon(d, `mosquitto on 127.0.0.1:${port}`, async () => (await tlsAccepts(port, ca)) && (benchPort === undefined || (await tcpAccepts(benchPort))));
  };
  const stop = async (): Promise<void> => {
    await stopDaemon(daemon);
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    ...(benchPort !== undefined ? { benchPort } : {}),
    get pid() {
      return daemon?.pid ?? 0;
    },
    log: () => daemon?.log() ?? '',
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
