// The proxy's MQTT client for pull-mqtt notifications (spec remote-execution.md §5.1, §5.4). One
// long-lived session that reconnects on its own, instead of the reference's connection per
// publish (§8.8): at thousands of hosts a TLS handshake per message is what overloads the broker.
// Publishes are QoS 1, retain false, and resolve only on the broker's PUBACK, within a deadline.
// While the broker is unreachable publish fails at once with the last connection error, so the
// dispatcher keeps the job and retries on its next tick; nothing piles up in the client's offline
// queue to be flushed later for jobs that may be gone by then.

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient, type PacketCallback } from 'mqtt';
import type { Logger } from '../../../core/logging-types.ts';
import type { Publisher, YggMessage } from './types.ts';
import { encodeMessage, hostTopic, invalidHostId } from './messages.ts';

export interface MqttPublisherOptions {
  readonly broker: string;
  readonly port: number;
  /** PEM file paths of the proxy's client certificate, key and the CA that signed the broker's. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /** Default `foreman-proxy-<hostname>-<random>`: unique, so two replicas never take over each other's session. */
  readonly clientId?: string;
  /** PUBACK deadline of one publish (default 10 s). */
  readonly publishTimeoutMs?: number;
  /** TCP + TLS + CONNACK deadline (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Wait between reconnect attempts (default 2 s). */
  readonly reconnectPeriodMs?: number;
  /** MQTT keepalive (default 30 s): a silently dead broker is noticed within 1.5 × this. */
  readonly keepaliveSeconds?: number;
  readonly log: Logger;
}

export interface MqttPublisher extends Publisher {
  /** True while the session is up. */
  isConnected(): boolean;
  /** Resolves on the next (or current) connection; rejects with the last error after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void>;
}

/** The broker cannot take the message now (down, unreachable, refused us, or no PUBACK in time). */
export class MqttUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MqttUnavailableError';
  }
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`MQTT TLS ${what} ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

/** Connects in the background: a broker that is down at start-up does not fail the module. */
export async function createMqttPublisher(opts: MqttPublisherOptions): Promise<MqttPublisher> {
  const log = opts.log;
  const where = `${isIP(opts.broker) === 6 ? `[${opts.broker}]` : opts.broker}:${opts.port}`;
  const publishTimeoutMs = opts.publishTimeoutMs ?? 10_000;
  const options: IClientOptions = {
    host: opts.broker,
    port: opts.port,
    protocol: opts.tls ? 'mqtts' : 'mqtt',
    protocolVersion: 4,
    clientId: opts.clientId ?? `foreman-proxy-${hostname()}-${randomBytes(4).toString('hex')}`,
    clean: true,
    keepalive: opts.keepaliveSeconds ?? 30,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    reconnectPeriod: opts.reconnectPeriodMs ?? 2_000,
    // Publishes are refused while offline (below); nothing else should be queued either.
    queueQoSZero: false,
  };
  if (opts.tls) {
    const [cert, key, ca] = await Promise.all([
      readPem(opts.tls.cert, 'client certificate'),
      readPem(opts.tls.key, 'client key'),
      readPem(opts.tls.ca, 'CA file'),
    ]);
    Object.assign(options, { cert, key, ca, rejectUnauthorized: true });
  }

  const client: MqttClient = connect(options);
  let lastError: string | undefined;
  let everConnected = false;
  let outageLogged = false;
  let closed = false;
  /** Callers of waitConnected, woken on connect (or on close, then they see the closed state). */
  const connectWaiters = new Set<() => void>();

  client.on('connect', () => {
    lastError = undefined;
    if (!everConnected || outageLogged) log.info(`connected to MQTT broker ${where}`);
    everConnected = true;
    outageLogged = false;
    for (const w of connectWaiters) w();
    connectWaiters.clear();
  });
  client.on('error', (err) => {
    lastError = err.message;
    if (!outageLogged) {
      log.warn(`MQTT broker ${where}: ${err.message}; reconnecting every ${options.reconnectPeriod! / 1000} s`);
      outageLogged = true;
    } else {
      log.debug(`MQTT broker ${where}: ${err.message}`);
    }
  });
  client.on('close', () => {
    if (closed) return;
    if (!outageLogged && everConnected) {
      log.warn(`connection to MQTT broker ${where} lost${lastError ? `: ${lastError}` : ''}; reconnecting`);
      outageLogged = true;
    }
  });

  function notConnected(): MqttUnavailableError {
    return new MqttUnavailableError(
      `MQTT broker ${where} is not connected${lastError ? ` (last error: ${lastError})` : everConnected ? ' (connection lost, reconnecting)' : ' (still connecting)'}`,
    );
  }

  function outgoingIdOf(cb: PacketCallback): number | undefined {
    for (const [id, entry] of Object.entries(client.outgoing)) {
      if (entry.cb === cb) return Number(id);
    }
    return undefined;
  }

  return {
    isConnected: () => client.connected,

    waitConnected(timeoutMs) {
      if (client.connected) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          if (closed) reject(new MqttUnavailableError('the MQTT publisher is closed'));
          else resolve();
        };
        const timer = setTimeout(() => {
          connectWaiters.delete(done);
          reject(notConnected());
        }, timeoutMs);
        connectWaiters.add(done);
      });
    },

    publish(hostId: string, message: YggMessage): Promise<void> {
      const bad = invalidHostId(hostId);
      if (bad !== undefined) return Promise.reject(new Error(`host id ${bad}`));
      if (closed) return Promise.reject(new MqttUnavailableError('the MQTT publisher is closed'));
      if (!client.connected) return Promise.reject(notConnected());
      const topic = hostTopic(hostId);
      return new Promise<void>((resolve, reject) => {
        let settled = false;
        const cb: PacketCallback = (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err) reject(new MqttUnavailableError(`MQTT publish to ${topic} on ${where} failed: ${err.message}`));
          else resolve();
        };
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          // Drop it from the client's store so a later reconnect does not deliver it behind our back.
          const id = outgoingIdOf(cb);
          if (id !== undefined) client.removeOutgoingMessage(id);
          reject(new MqttUnavailableError(`MQTT broker ${where} did not acknowledge the message to ${topic} within ${publishTimeoutMs / 1000} s`));
        }, publishTimeoutMs);
        client.publish(topic, encodeMessage(message), { qos: 1, retain: false }, cb);
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const w of connectWaiters) w();
      connectWaiters.clear();
      // Unacknowledged publishes fail now (their callers hear "Message removed") instead of
      // holding the shutdown; then a clean DISCONNECT when connected, a plain close otherwise.
      for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
      await client.endAsync(!client.connected);
    },
  };
}
