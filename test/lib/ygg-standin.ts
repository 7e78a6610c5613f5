// A stand-in for the pull host agent, `yggd` + `foreman_ygg_worker` (spec remote-execution.md
// §5.8), simulating any number of hosts in one process for tests and benchmarks. Per simulated
// host: one MQTT connection identified by its client certificate (CN = host id; or, on the
// broker's plain benchmark listener, by its client id), a QoS 1 clean-session subscription to
// `yggdrasil/<id>/data/in`, and an HTTPS agent presenting the same certificate to the proxy.
//
// On a `start` message it does what the real agent does: GET the `content` URL (status not
// checked, like yggd: a 404 body is run as an empty script), write the script to a 0700 file and
// run `/bin/sh -c 'cd ~; export HOME="$PWD"; exec <file>'`, read stdout/stderr in pieces of at
// most 4096 bytes, one `output` update each, and POST version-1 update batches to `return_url`
// when 32 updates are queued, when more than 15 s passed since the last post (checked when an
// update arrives), and at exit. On `cancel` it fetches the cancel URL and sends SIGTERM to the
// script process only. For scale it can skip running anything and report a fixed output.
//
// Host certificates: `HostCertFactory` issues EC P-256 client certificates with node:crypto (a
// minimal DER writer, no openssl process per host), signed by an existing CA key (RSA or EC), so
// thousands of host identities take well under a second.

import { generateKeyPair, createPrivateKey, sign, X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { writeFile, rm, readFile } from 'node:fs/promises';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type MqttClient } from 'mqtt';

const generateKeyPairP = promisify(generateKeyPair);
const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Host certificates with node:crypto

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const groups: number[] = [];
    let v = p;
    do {
      groups.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < groups.length - 1; i++) groups[i] |= 0x80;
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function positiveInteger(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && (b[1] & 0x80) === 0) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

function nameWithCn(cn: string): Buffer {
  return seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** The raw DER of one TLV at `offset`: [start of content, end]. */
function readTlv(buf: Buffer, offset: number): { tag: number; contentStart: number; end: number } {
  const tag = buf[offset];
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  return { tag, contentStart: pos, end: pos + len };
}

/** The subject Name of a certificate, byte for byte (it becomes the issuer of what it signs). */
function subjectDer(certDer: Buffer): Buffer {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.contentStart);
  let pos = tbs.contentStart;
  const first = readTlv(certDer, pos);
  if (first.tag === 0xa0) pos = first.end; // version
  for (let i = 0; i < 4; i++) pos = readTlv(certDer, pos).end; // serial, signature, issuer, validity
  const subject = readTlv(certDer, pos);
  return certDer.subarray(pos, subject.end);
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export interface IssuedCert {
  /** PEM. */
  cert: string;
  key: string;
}

export interface HostCertFactory {
  /** A client certificate (extendedKeyUsage clientAuth) with CN = `cn`, EC P-256 key. */
  client(cn: string): Promise<IssuedCert>;
  /** Many at once (the keys are generated on the libuv pool). */
  clients(cns: readonly string[]): Promise<Map<string, IssuedCert>>;
}

/** Certificates signed by the CA whose PEM certificate and key are at these paths. */
export async function hostCertFactory(caCertPath: string, caKeyPath: string): Promise<HostCertFactory> {
  const caCert = new X509Certificate(await readFile(caCertPath));
  const caKey: KeyObject = createPrivateKey(await readFile(caKeyPath));
  const issuer = subjectDer(caCert.raw);
  const sigAlg =
    caKey.asymmetricKeyType === 'rsa'
      ? seq(oid('1.2.840.113549.1.1.11'), tlv(0x05)) // sha256WithRSAEncryption
      : caKey.asymmetricKeyType === 'ec'
        ? seq(oid('1.2.840.10045.4.3.2')) // ecdsa-with-SHA256
        : undefined;
  if (!sigAlg) throw new Error(`CA key type ${caKey.asymmetricKeyType} is not supported (RSA or EC)`);
  const extensions = tlv(
    0xa3,
    seq(
      extension('2.5.29.19', seq()), // basicConstraints CA:FALSE
      extension('2.5.29.37', seq(oid('1.3.6.1.5.5.7.3.2'))), // extendedKeyUsage clientAuth
    ),
  );

  const client = async (cn: string): Promise<IssuedCert> => {
    const { publicKey, privateKey } = await generateKeyPairP('ec', { namedCurve: 'prime256v1' });
    const now = Date.now();
    const tbs = seq(
      tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
      positiveInteger(randomBytes(16)),
      sigAlg,
      issuer,
      seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 2 * 86400_000))),
      nameWithCn(cn),
      publicKey.export({ type: 'spki', format: 'der' }),
      extensions,
    );
    const signature = await new Promise<Buffer>((resolve, reject) =>
      sign('sha256', tbs, caKey, (err, sig) => (err ? reject(err) : resolve(sig))),
    );
    const certDer = seq(tbs, sigAlg, tlv(0x03, Buffer.from([0]), signature));
    return { cert: pem('CERTIFICATE', certDer), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  };

  return {
    client,
    clients: async (cns) => {
      const out = new Map<string, IssuedCert>();
      const batch = 256;
      for (let i = 0; i < cns.length; i += batch) {
        const slice = cns.slice(i, i + batch);
        const issued = await Promise.all(slice.map(client));
        slice.forEach((cn, j) => out.set(cn, issued[j]));
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The host agent stand-in

export interface SimulatedHost {
  /** Host id = MQTT client id = certificate CN. */
  id: string;
  /** PEM client certificate and key (required for a TLS broker and for https job URLs). */
  cert?: string;
  key?: string;
}

export interface YggStandInOptions {
  hosts: readonly SimulatedHost[];
  mqtt: {
    host?: string;
    port: number;
    /**
     * true: TLS with each host's certificate (identity = CN). false: plain connection to the
     * broker's benchmark listener (identity = client id).
     */
    tls: boolean;
    /** PEM CA of the broker's certificate. */
    ca?: string;
  };
  /** PEM CA of the proxy's HTTPS certificate. */
  httpCa?: string;
  /** yggd's `data-host`: replaces host[:port] of every fetched/posted URL. */
  dataHost?: string;
  /** Run the scripts (default). false: do not run anything, report `fixedResult` instead. */
  execute?: boolean;
  fixedResult?: { stdout: string; exitCode: number };
  /** Directory for script files (default: the system temp dir). */
  workDir?: string;
  /** Update batching (worker defaults: 32 updates, 15 s). */
  batch?: { maxUpdates?: number; maxAgeMs?: number };
  /** MQTT connections opened at once while connecting all hosts (default 64). */
  connectConcurrency?: number;
  reconnectPeriodMs?: number;
}

export interface ReceivedMessage {
  hostId: string;
  topic: string;
  qos: number;
  retain: boolean;
  /** Parsed JSON (undefined if the payload was not JSON). */
  message: { type?: string; message_id?: string; content?: unknown; metadata?: Record<string, string>; [k: string]: unknown } | undefined;
  raw: string;
}

export interface HttpExchange {
  hostId: string;
  method: 'GET' | 'POST';
  url: string;
  /** undefined when the request failed (error set). */
  status?: number;
  error?: string;
  requestBody?: string;
  responseBody?: string;
}

export interface FinishedRun {
  hostId: string;
  jobUuid: string;
  exitCode: number;
  /** Every update posted, in order. */
  updates: Update[];
}

export type Update =
  | { timestamp: string; type: 'output'; stream: 'stdout' | 'stderr'; content: string }
  | { timestamp: string; type: 'exit'; exit_code: number };

export interface YggStandIn {
  readonly messages: ReceivedMessage[];
  readonly fetches: HttpExchange[];
  readonly posts: HttpExchange[];
  readonly finished: FinishedRun[];
  /** Hosts whose current connection holds a granted subscription to their topic. */
  subscribedCount(): number;
  /** Subscriptions refused by the broker (SUBACK 0x80), by host. */
  readonly refusedSubscriptions: string[];
  /** Jobs whose script process runs now. */
  runningJobs(): string[];
  /** Resolves once every host is connected and subscribed. */
  waitAllSubscribed(timeoutMs?: number): Promise<void>;
  /** Called for every MQTT message after it is recorded. */
  onMessage(listener: (m: ReceivedMessage) => void): void;
  /** The MQTT client of one host, e.g. to try what the ACL forbids. */
  client(hostId: string): MqttClient;
  /** Kills running scripts (their own PIDs), closes MQTT and HTTP connections. */
  close(): Promise<void>;
}

interface HostState {
  host: SimulatedHost;
  client: MqttClient;
  subscribed: boolean;
  agent?: HttpsAgent;
}

interface Run {
  hostId: string;
  jobUuid: string;
  child?: ChildProcess;
}

const nowIso = (): string => new Date().toISOString();

export async function startYggStandIn(opts: YggStandInOptions): Promise<YggStandIn> {
  const messages: ReceivedMessage[] = [];
  const fetches: HttpExchange[] = [];
  const posts: HttpExchange[] = [];
  const finished: FinishedRun[] = [];
  const refusedSubscriptions: string[] = [];
  const listeners: ((m: ReceivedMessage) => void)[] = [];
  const runs = new Map<string, Run>();
  const hosts = new Map<string, HostState>();
  const maxUpdates = opts.batch?.maxUpdates ?? 32;
  const maxAgeMs = opts.batch?.maxAgeMs ?? 15_000;
  const workDir = opts.workDir ?? tmpdir();
  const me = userInfo().username;
  let closed = false;

  function rewrite(url: string): URL {
    const u = new URL(url);
    if (opts.dataHost) u.host = opts.dataHost;
    return u;
  }

  function http(state: HostState, method: 'GET' | 'POST', url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpExchange> {
    const rec: HttpExchange = { hostId: state.host.id, method, url, ...(body !== undefined ? { requestBody: body } : {}) };
    (method === 'GET' ? fetches : posts).push(rec);
    return new Promise((resolve) => {
      let u: URL;
      try {
        u = rewrite(url);
      } catch (err) {
        rec.error = `bad URL: ${(err as Error).message}`;
        return resolve(rec);
      }
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          rec.status = res.statusCode;
          rec.responseBody = Buffer.concat(chunks).toString('utf8');
          resolve(rec);
        });
        res.on('error', (err) => {
          rec.error = err.message;
          resolve(rec);
        });
      };
      const reqHeaders = { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
      const req =
        u.protocol === 'https:'
          ? httpsRequest(u, { method, headers: reqHeaders, agent: (state.agent ??= newAgent(state.host)) }, onResponse)
          : httpRequest(u, { method, headers: reqHeaders }, onResponse);
      req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        rec.error = err.message;
        resolve(rec);
      });
      req.end(body);
    });
  }

  function newAgent(host: SimulatedHost): HttpsAgent {
    return new HttpsAgent({
      keepAlive: true,
      maxSockets: 4,
      ...(host.cert && host.key ? { cert: host.cert, key: host.key } : {}),
      ...(opts.httpCa ? { ca: opts.httpCa } : {}),
      rejectUnauthorized: true,
    });
  }

  /** The worker's update buffer of one job: posts in order, one at a time. */
  function updateSender(state: HostState, returnUrl: string): { push(u: Update): void; finish(): Promise<Update[]> } {
    const all: Update[] = [];
    let queued: Update[] = [];
    let lastSend = Date.now();
    let chain: Promise<unknown> = Promise.resolve();
    const flush = (): void => {
      if (queued.length === 0) return;
      const body = JSON.stringify({ version: '1', updates: queued });
      queued = [];
      lastSend = Date.now();
      chain = chain.then(() => http(state, 'POST', returnUrl, body, { 'content-type': 'application/json' }));
    };
    return {
      push(u) {
        all.push(u);
        queued.push(u);
        if (queued.length >= maxUpdates || Date.now() - lastSend > maxAgeMs) flush();
      },
      async finish() {
        flush();
        await chain;
        return all;
      },
    };
  }

  async function runScript(state: HostState, jobUuid: string, script: string, user: string | undefined, send: (u: Update) => void): Promise<number> {
    let ids: { uid: number; gid: number } | undefined;
    if (user && user !== me) {
      try {
        const [u, g] = await Promise.all([execFileP('id', ['-u', user]), execFileP('id', ['-g', user])]);
        ids = { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
      } catch {
        send({ timestamp: nowIso(), type: 'output', stream: 'stderr', content: `unknown user ${user}` });
        return 254;
      }
    }
    const file = join(workDir, `ygg-standin-${jobUuid}-${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(file, script.length > 0 ? script : '', { mode: 0o700 });
    } catch (err) {
      send({ timestamp: nowIso(), type: 'output', stream: 'stderr', content: (err as Error).message });
      return 254;
    }
    try {
      return await new Promise<number>((resolve) => {
        const child = spawn('/bin/sh', ['-c', `cd ~; export HOME="$PWD"; exec ${file}`], {
          stdio: ['ignore', 'pipe', 'pipe'],
          ...(ids ?? {}),
        });
        const run = runs.get(jobUuid);
        if (run) run.child = child;
        const pieces = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
          for (let i = 0; i < chunk.length; i += 4096) {
            send({ timestamp: nowIso(), type: 'output', stream, content: chunk.subarray(i, i + 4096).toString('utf8') });
          }
        };
        child.stdout.on('data', pieces('stdout'));
        child.stderr.on('data', pieces('stderr'));
        child.on('error', (err) => {
          send({ timestamp: nowIso(), type: 'output', stream: 'stderr', content: err.message });
          resolve(254);
        });
        // Like Go's cmd.Wait, output ends when the script process exits, even if a child it left
        // behind still holds the pipes: read what is buffered, then close them.
        // Go's ProcessState.ExitCode() is -1 for a process killed by a signal.
        child.on('exit', (code) => {
          const exitCode = code ?? -1;
          let ended = 0;
          const finish = (): void => {
            clearTimeout(drain);
            child.stdout.destroy();
            child.stderr.destroy();
            resolve(exitCode);
          };
          const drain = setTimeout(finish, 200);
          for (const s of [child.stdout, child.stderr]) {
            if (s.readableEnded) ended++;
            else s.once('end', () => ++ended === 2 && finish());
          }
          if (ended === 2) finish();
        });
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  async function onStart(state: HostState, msg: NonNullable<ReceivedMessage['message']>): Promise<void> {
    const meta = msg.metadata ?? {};
    const jobUuid = meta.job_uuid ?? String(msg.message_id);
    const returnUrl = meta.return_url;
    if (typeof msg.content !== 'string' || !returnUrl) return;
    if (runs.has(jobUuid)) return; // a resend while it runs
    const run: Run = { hostId: state.host.id, jobUuid };
    runs.set(jobUuid, run);
    try {
      // yggd does not check the status: whatever body comes back is the script (spec §5.8 QUIRK)
      const fetched = await http(state, 'GET', msg.content);
      const script = fetched.responseBody ?? '';
      const sender = updateSender(state, returnUrl);
      let exitCode: number;
      if (opts.execute === false) {
        const fixed = opts.fixedResult ?? { stdout: `simulated ${state.host.id}\n`, exitCode: 0 };
        sender.push({ timestamp: nowIso(), type: 'output', stream: 'stdout', content: fixed.stdout });
        exitCode = fixed.exitCode;
      } else {
        exitCode = await runScript(state, jobUuid, script, meta.effective_user, (u) => sender.push(u));
      }
      sender.push({ timestamp: nowIso(), type: 'exit', exit_code: exitCode });
      const updates = await sender.finish();
      finished.push({ hostId: state.host.id, jobUuid, exitCode, updates });
    } finally {
      runs.delete(jobUuid);
    }
  }

  async function onCancel(state: HostState, msg: NonNullable<ReceivedMessage['message']>): Promise<void> {
    if (typeof msg.content === 'string') await http(state, 'GET', msg.content);
    const jobUuid = msg.metadata?.job_uuid;
    const child = jobUuid ? runs.get(jobUuid)?.child : undefined;
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
  }

  function onMqttMessage(state: HostState, topic: string, payload: Buffer, qos: number, retain: boolean): void {
    const raw = payload.toString('utf8');
    let message: ReceivedMessage['message'];
    try {
      message = JSON.parse(raw) as ReceivedMessage['message'];
    } catch {
      message = undefined;
    }
    const rec: ReceivedMessage = { hostId: state.host.id, topic, qos, retain, message, raw };
    messages.push(rec);
    for (const l of listeners) l(rec);
    if (!message || message.type !== 'data' || message.directive !== 'foreman' || closed) return;
    const event = message.metadata?.event ?? 'start';
    if (event === 'start') void onStart(state, message);
    else if (event === 'cancel') void onCancel(state, message);
  }

  function connectHost(host: SimulatedHost): Promise<void> {
    const topic = `yggdrasil/${host.id}/data/in`;
    const client = connect({
      host: opts.mqtt.host ?? '127.0.0.1',
      port: opts.mqtt.port,
      protocol: opts.mqtt.tls ? 'mqtts' : 'mqtt',
      protocolVersion: 4,
      clientId: host.id,
      clean: true,
      keepalive: 60,
      resubscribe: false,
      reconnectPeriod: opts.reconnectPeriodMs ?? 500,
      connectTimeout: 30_000,
      ...(opts.mqtt.tls ? { cert: host.cert, key: host.key, ca: opts.mqtt.ca, rejectUnauthorized: true, servername: 'localhost' } : {}),
    });
    const state: HostState = { host, client, subscribed: false };
    hosts.set(host.id, state);
    client.on('message', (t, payload, packet) => onMqttMessage(state, t, payload, packet.qos, packet.retain));
    client.on('close', () => {
      state.subscribed = false;
    });
    client.on('error', () => {
      /* reconnects on its own; the test sees it through subscribedCount */
    });
    return new Promise((resolve) => {
      let first = true;
      client.on('connect', () => {
        client.subscribe(topic, { qos: 1 }, (err, granted) => {
          const refused = err !== null || !granted || granted.some((g) => g.qos === 128);
          if (refused) refusedSubscriptions.push(host.id);
          else state.subscribed = true;
          if (first) {
            first = false;
            resolve();
          }
        });
      });
    });
  }

  // Connect in waves, so thousands of hosts do not hit the broker with one TLS storm. A host the
  // broker refuses does not hold the wave for long: waitAllSubscribed reports it.
  for (const h of opts.hosts) {
    if (opts.mqtt.tls && (!h.cert || !h.key)) throw new Error(`simulated host ${h.id} needs a certificate and key for the TLS broker`);
  }
  const concurrency = opts.connectConcurrency ?? 64;
  const queue = [...opts.hosts];
  const waves = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let h = queue.shift(); h; h = queue.shift()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([connectHost(h), new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
    }
  });
  await Promise.all(waves);

  const self: YggStandIn = {
    messages,
    fetches,
    posts,
    finished,
    refusedSubscriptions,
    subscribedCount: () => [...hosts.values()].filter((s) => s.subscribed).length,
    runningJobs: () => [...runs.values()].filter((r) => r.child?.exitCode === null).map((r) => r.jobUuid),
    async waitAllSubscribed(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (self.subscribedCount() < hosts.size) {
        if (Date.now() > until) {
          throw new Error(`only ${self.subscribedCount()} of ${hosts.size} simulated hosts subscribed within ${timeoutMs} ms (refused: ${refusedSubscriptions.join(', ') || 'none'})`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    onMessage: (l) => {
      listeners.push(l);
    },
    client: (hostId) => {
      const s = hosts.get(hostId);
      if (!s) throw new Error(`no simulated host ${hostId}`);
      return s.client;
    },
    async close() {
      closed = true;
      for (const run of runs.values()) {
        if (run.child?.pid !== undefined && run.child.exitCode === null) run.child.kill('SIGKILL');
      }
      await Promise.all([...hosts.values()].map((s) => s.client.endAsync(true)));
      for (const s of hosts.values()) s.agent?.destroy();
    },
  };
  return self;
}
