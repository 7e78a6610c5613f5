// Pull-mqtt notifications against a real Mosquitto on 127.0.0.1, configured like the installer's
// (TLS, client certificate required, CN = username, the §5.1 ACL): the proxy's long-lived
// publisher and the dispatcher, with stand-in host agents (yggd + foreman_ygg_worker) that
// subscribe with their own certificates, fetch the job from a stand-in of the proxy's /ssh/jobs
// endpoints and post their updates back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type MqttClient } from 'mqtt';
import { makePki, type Pki } from '../lib/certs.ts';
import { startMosquitto, type Mosquitto } from '../lib/mosquitto.ts';
import { hostCertFactory, startYggStandIn, type IssuedCert, type YggStandIn, type Update } from '../lib/ygg-standin.ts';
import { startStandInForeman, type RecordedRequest, type StandInForeman, type StandInReply } from '../lib/standin-foreman.ts';
import { removeDir, tempDir, waitFor } from '../lib/procs.ts';
import { createMqttPublisher, MqttUnavailableError, type MqttPublisher } from '../../src/modules/script/pull/mqtt.ts';
import { createDispatcher, type PullNotification } from '../../src/modules/script/pull/dispatcher.ts';
import { buildCancelMessage, buildStartMessage, encodeMessage } from '../../src/modules/script/pull/messages.ts';
import type { NotificationDispatcher } from '../../src/modules/script/pull/types.ts';
import type { Logger } from '../../src/core/logging-types.ts';

const PROXY_CN = 'proxy.example.com';
const HOSTS = Array.from({ length: 10 }, (_, i) => `host-${i}.example.com`);

let dir: string;
let pki: Pki;
let broker: Mosquitto;
let publisher: MqttPublisher;
let standIn: YggStandIn;
let jobServer: StandInForeman;
let hostCerts: Map<string, IssuedCert>;
const logLines: string[] = [];

/** The pull jobs the stand-in /ssh/jobs endpoints know: uuid → host, script, hooks. */
interface ServedJob {
  hostId: string;
  script: string;
  /** Called on the host's GET (the script module marks the job picked there). */
  onFetch?: () => void | Promise<void>;
  /** Called with every update batch. */
  onUpdates?: (updates: Update[]) => void;
}
const servedJobs = new Map<string, ServedJob>();

function capturingLog(scope: string): Logger {
  const log: Logger = {
    debug: (m) => logLines.push(`DEBUG ${scope}: ${m}`),
    info: (m) => logLines.push(`INFO ${scope}: ${m}`),
    warn: (m) => logLines.push(`WARN ${scope}: ${m}`),
    error: (m) => logLines.push(`ERROR ${scope}: ${m}`),
    withRequest: () => log,
    child: (s) => capturingLog(`${scope}: ${s}`),
  };
  return log;
}

/** The host-facing endpoints, reduced to what the agent uses; 404 unless the job is the CN's. */
async function serveJobs(req: RecordedRequest): Promise<StandInReply> {
  const m = /^\/ssh\/jobs\/([^/]+)(\/update|\/cancel)?$/.exec(req.path);
  const job = m ? servedJobs.get(m[1]) : undefined;
  if (!m || !job || job.hostId !== req.clientCn) return { status: 404, body: '' };
  if (req.method === 'GET' && m[2] === undefined) {
    await job.onFetch?.();
    return { status: 200, body: job.script };
  }
  if (req.method === 'POST' && m[2] === '/update') {
    const body = JSON.parse(req.body.toString('utf8')) as { version: string; updates: Update[] };
    assert.equal(body.version, '1');
    job.onUpdates?.(body.updates);
    return { status: 200, body: '' };
  }
  return { status: 200, body: '' };
}

function notification(hostId: string, jobUuid: string): PullNotification {
  return {
    hostId,
    message: buildStartMessage({ jobUuid, proxyUrl: jobServer.origin, effectiveUser: 'root', messageId: randomUUID(), sent: new Date() }),
  };
}

function receivedFor(jobUuid: string): YggStandIn['messages'] {
  return standIn.messages.filter((m) => m.message?.metadata?.job_uuid === jobUuid);
}

before(async () => {
  dir = await tempDir('pull-mqtt');
  pki = await makePki(dir);
  const proxyCert = await pki.client(PROXY_CN);
  hostCerts = await (await hostCertFactory(pki.caCert, pki.caKey)).clients(HOSTS);
  broker = await startMosquitto({ dir, caCert: pki.caCert, serverCert: pki.serverCert, serverKey: pki.serverKey, proxyCn: PROXY_CN });
  jobServer = await startStandInForeman(serveJobs, { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });
  const ca = await readFile(pki.caCert, 'utf8');
  standIn = await startYggStandIn({
    hosts: HOSTS.map((id) => ({ id, ...hostCerts.get(id)! })),
    mqtt: { port: broker.port, tls: true, ca },
    httpCa: ca,
    workDir: dir,
    reconnectPeriodMs: 200,
  });
  await standIn.waitAllSubscribed();
  publisher = await createMqttPublisher({
    broker: '127.0.0.1',
    port: broker.port,
    tls: { cert: proxyCert.cert, key: proxyCert.key, ca: pki.caCert },
    reconnectPeriodMs: 200,
    publishTimeoutMs: 5_000,
    log: capturingLog('mqtt'),
  });
  await publisher.waitConnected(15_000);
});

after(async () => {
  await publisher?.close();
  await standIn?.close();
  await jobServer?.close();
  await broker?.stop();
  if (dir) await removeDir(dir);
});

test('a stand-in host subscribed over TLS gets the start message with QoS 1, fetches the script with its certificate and posts version-1 updates', async () => {
  const jobUuid = randomUUID();
  const host = HOSTS[0];
  servedJobs.set(jobUuid, { hostId: host, script: 'echo hello from $(hostname -s >/dev/null; echo pull)\necho oops >&2\nexit 3\n' });
  const note = notification(host, jobUuid);
  await publisher.publish(note.hostId, note.message);

  await waitFor('the stand-in to finish the job', () => standIn.finished.some((f) => f.jobUuid === jobUuid));
  const [received] = receivedFor(jobUuid);
  assert.equal(received.hostId, host);
  assert.equal(received.topic, `yggdrasil/${host}/data/in`);
  assert.equal(received.qos, 1);
  assert.equal(received.retain, false);
  assert.equal(received.raw, encodeMessage(note.message).toString('utf8'), 'the message arrives byte for byte');

  const fetch = jobServer.requests.find((r) => r.method === 'GET' && r.path === `/ssh/jobs/${jobUuid}`);
  assert.equal(fetch?.clientCn, host, 'the host fetched its job with its own certificate');
  const run = standIn.finished.find((f) => f.jobUuid === jobUuid)!;
  assert.equal(run.exitCode, 3);
  const posted = jobServer.requests
    .filter((r) => r.method === 'POST' && r.path === `/ssh/jobs/${jobUuid}/update`)
    .flatMap((r) => (JSON.parse(r.body.toString('utf8')) as { updates: Update[] }).updates);
  const outputs = posted.filter((u) => u.type === 'output');
  assert.deepEqual(outputs.filter((u) => u.stream === 'stdout').map((u) => u.content).join(''), 'hello from pull\n');
  assert.deepEqual(outputs.filter((u) => u.stream === 'stderr').map((u) => u.content).join(''), 'oops\n');
  assert.deepEqual(posted.at(-1) && { type: posted.at(-1)!.type, exit_code: (posted.at(-1) as { exit_code: number }).exit_code }, { type: 'exit', exit_code: 3 });
  servedJobs.delete(jobUuid);
});

test('ACL: a host can neither read nor write another host\'s topic; only certificates of the trusted CA get in', async () => {
  const [reader, victim] = [HOSTS[1], HOSTS[2]];
  const intruder = standIn.client(reader);
  const victimTopic = `yggdrasil/${victim}/data/in`;
  const snooped: string[] = [];
  const onSnoop = (topic: string, payload: Buffer): void => {
    if (topic === victimTopic) snooped.push(payload.toString());
  };
  intruder.on('message', onSnoop);
  try {
    await intruder.subscribeAsync(victimTopic, { qos: 1 });
    // Forge a message into the victim's topic (mosquitto drops it silently, still acking it).
    const forged = buildCancelMessage({ jobUuid: `forged-${randomUUID()}`, proxyUrl: jobServer.origin });
    await intruder.publishAsync(victimTopic, encodeMessage(forged), { qos: 1 });

    const toVictim = buildCancelMessage({ jobUuid: `marker-${randomUUID()}`, proxyUrl: jobServer.origin });
    const toReader = buildCancelMessage({ jobUuid: `marker-${randomUUID()}`, proxyUrl: jobServer.origin });
    await publisher.publish(victim, toVictim);
    await publisher.publish(reader, toReader);
    // Messages of one publisher reach one subscriber in order: once the reader has its own
    // marker, anything the broker let through from the victim's topic would be there too.
    await waitFor('both markers', () => receivedFor(toVictim.metadata.job_uuid).length === 1 && receivedFor(toReader.metadata.job_uuid).length === 1);
    assert.deepEqual(snooped, [], 'the reader got nothing from the victim\'s topic');
    assert.deepEqual(receivedFor(forged.metadata.job_uuid), [], 'the forged message never reached the victim');
    assert.equal(receivedFor(toVictim.metadata.job_uuid)[0].hostId, victim);
  } finally {
    intruder.off('message', onSnoop);
    await intruder.unsubscribeAsync(victimTopic).catch(() => undefined);
  }

  // A certificate from another CA is refused at the TLS handshake.
  const other = await pki.otherCa();
  const stranger = await (await hostCertFactory(other.cert, other.key)).client(HOSTS[3]);
  const client: MqttClient = connect({
    host: '127.0.0.1',
    port: broker.port,
    protocol: 'mqtts',
    clientId: 'stranger',
    cert: stranger.cert,
    key: stranger.key,
    ca: await readFile(pki.caCert),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  try {
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (err) => resolve(`error: ${err.message}`));
      client.once('close', () => resolve('closed'));
    });
    assert.notEqual(outcome, 'connected');
  } finally {
    await client.endAsync(true);
  }
});

test('broker restart: publishing fails at once with a clear error, the publisher reconnects, the dispatcher retries and resends with the same message_id', async (t) => {
  const jobUuid = randomUUID();
  const host = HOSTS[3];
  const store = new Map<string, PullNotification>([[jobUuid, notification(host, jobUuid)]]);
  // The host never fetches (its GET is answered but nothing marks the job picked), so it is resent.
  servedJobs.set(jobUuid, { hostId: host, script: 'true\n' });
  const notified: string[] = [];
  const dispatcher: NotificationDispatcher = createDispatcher({
    settings: { ttlSeconds: 1, resendIntervalSeconds: 2 },
    publisher,
    loadMessage: async (uuid) => store.get(uuid),
    onNotified: async (uuid) => {
      notified.push(uuid);
    },
    log: capturingLog('dispatcher'),
  });
  t.after(() => dispatcher.close());

  await broker.stop();
  await waitFor('the publisher to notice the broker is gone', () => !publisher.isConnected());
  await assert.rejects(
    publisher.publish(host, store.get(jobUuid)!.message),
    (err: Error) => err instanceof MqttUnavailableError && err.message.includes(`127.0.0.1:${broker.port} is not connected`),
  );

  dispatcher.add(jobUuid);
  await waitFor('the dispatcher to try and keep the job', () => logLines.some((l) => l.startsWith('WARN dispatcher') && l.includes(jobUuid)));
  assert.deepEqual(dispatcher.stats(), { pending: 1, hot: 0, cold: 0, running: 0, waitingResend: 0 });
  assert.deepEqual(notified, []);

  await broker.start();
  await publisher.waitConnected(15_000);
  await standIn.waitAllSubscribed();
  await waitFor('the start message after the restart', () => receivedFor(jobUuid).length >= 1);
  await waitFor('the resend after a missed pickup', () => receivedFor(jobUuid).length >= 2, 20_000);
  const [first, second] = receivedFor(jobUuid);
  assert.equal(first.hostId, host);
  assert.equal(second.raw, first.raw, 'the resend is the identical message');
  assert.equal(second.message?.message_id, store.get(jobUuid)!.message.message_id);
  assert.ok(notified.length >= 2);
  assert.ok(logLines.some((l) => l.startsWith('INFO mqtt') && l.includes('connected to MQTT broker')));
  dispatcher.done(jobUuid);
  servedJobs.delete(jobUuid);
});

test('rate limit 3 with 10 stand-in hosts: never more than 3 jobs notified or running at once, and all 10 finish', async (t) => {
  let dispatcher: NotificationDispatcher | undefined = undefined;
  const store = new Map<string, PullNotification>();
  const done = new Set<string>();
  let releaseFetches: () => void = () => undefined;
  const fetchGate = new Promise<void>((r) => (releaseFetches = r));
  let maxInFlight = 0;
  const notifiedNotDone = new Set<string>();
  const observe = (): void => {
    const s = dispatcher!.stats();
    maxInFlight = Math.max(maxInFlight, s.hot + s.cold + s.running, notifiedNotDone.size);
  };
  standIn.onMessage((m) => {
    const uuid = m.message?.metadata?.job_uuid;
    if (uuid && store.has(uuid) && !done.has(uuid)) notifiedNotDone.add(uuid);
    if (dispatcher) observe();
  });

  const jobs = HOSTS.map((hostId) => ({ hostId, jobUuid: randomUUID() }));
  for (const { hostId, jobUuid } of jobs) {
    store.set(jobUuid, notification(hostId, jobUuid));
    servedJobs.set(jobUuid, {
      hostId,
      script: `echo job ${jobUuid}\n`,
      onFetch: async () => {
        dispatcher!.picked(jobUuid); // what GET /ssh/jobs/:uuid does in the script module
        observe();
        await fetchGate;
      },
      onUpdates: (updates) => {
        if (updates.some((u) => u.type === 'exit')) {
          done.add(jobUuid);
          notifiedNotDone.delete(jobUuid);
          dispatcher!.done(jobUuid); // the task stopped
          observe();
        }
      },
    });
  }
  const d = createDispatcher({
    settings: { ttlSeconds: 30, resendIntervalSeconds: 900, rateLimit: 3 },
    publisher,
    loadMessage: async (uuid) => store.get(uuid),
    onNotified: async () => undefined,
    log: capturingLog('dispatcher'),
  });
  dispatcher = d;
  t.after(() => d.close());
  for (const { jobUuid } of jobs) d.add(jobUuid);

  // The first three hosts fetch their job and are held there: the limit is reached.
  await waitFor('three hosts to fetch', () => d.stats().running === 3);
  assert.deepEqual(d.stats(), { pending: 7, hot: 0, cold: 0, running: 3, waitingResend: 0 });
  assert.equal(new Set(standIn.messages.filter((m) => store.has(m.message?.metadata?.job_uuid ?? '')).map((m) => m.hostId)).size, 3);

  releaseFetches();
  await waitFor('all ten jobs to finish', () => done.size === 10, 30_000);
  assert.equal(maxInFlight, 3, 'the limit was reached and never exceeded');
  for (const { hostId, jobUuid } of jobs) {
    const run = standIn.finished.find((f) => f.jobUuid === jobUuid);
    assert.equal(run?.hostId, hostId);
    assert.equal(run?.exitCode, 0);
    assert.equal(receivedFor(jobUuid).length, 1, 'each job was notified once');
    servedJobs.delete(jobUuid);
  }
  assert.deepEqual(d.stats(), { pending: 0, hot: 0, cold: 0, running: 0, waitingResend: 0 });
});

test('a broker that stops answering (SIGSTOP) makes a publish fail at its PUBACK deadline with a clear error', async (t) => {
  const proxyCert = await pki.client(PROXY_CN);
  const impatient = await createMqttPublisher({
    broker: '127.0.0.1',
    port: broker.port,
    tls: { cert: proxyCert.cert, key: proxyCert.key, ca: pki.caCert },
    publishTimeoutMs: 1_000,
    log: capturingLog('mqtt-impatient'),
  });
  t.after(() => impatient.close());
  await impatient.waitConnected(15_000);
  const marker = buildCancelMessage({ jobUuid: `marker-${randomUUID()}`, proxyUrl: jobServer.origin });
  process.kill(broker.pid, 'SIGSTOP');
  try {
    await assert.rejects(
      impatient.publish(HOSTS[4], marker),
      (err: Error) => err instanceof MqttUnavailableError && /did not acknowledge the message to yggdrasil\/host-4\.example\.com\/data\/in within 1 s/.test(err.message),
    );
  } finally {
    process.kill(broker.pid, 'SIGCONT');
  }
  // The session survives the pause: the next publish is acknowledged.
  const after = buildCancelMessage({ jobUuid: `marker-${randomUUID()}`, proxyUrl: jobServer.origin });
  await impatient.publish(HOSTS[4], after);
  await waitFor('the marker after the pause', () => receivedFor(after.metadata.job_uuid).length === 1);
});

test('cancel: the stand-in host fetches the cancel URL and sends SIGTERM to the running script, which reports its exit', async () => {
  const jobUuid = randomUUID();
  const host = HOSTS[5];
  servedJobs.set(jobUuid, { hostId: host, script: 'echo started\nexec sleep 30\n' });
  const start = notification(host, jobUuid);
  await publisher.publish(host, start.message);
  await waitFor('the script to run', () => standIn.runningJobs().includes(jobUuid));

  await publisher.publish(host, buildCancelMessage({ jobUuid, proxyUrl: jobServer.origin }));
  await waitFor('the cancelled run to report', () => standIn.finished.some((f) => f.jobUuid === jobUuid));
  const run = standIn.finished.find((f) => f.jobUuid === jobUuid)!;
  assert.equal(run.exitCode, -1, 'killed by a signal, reported like the Go worker does');
  assert.deepEqual(
    run.updates.map((u) => (u.type === 'output' ? `${u.stream}:${u.content}` : `exit:${u.exit_code}`)),
    ['stdout:started\n', 'exit:-1'],
  );
  assert.ok(jobServer.requests.some((r) => r.method === 'GET' && r.path === `/ssh/jobs/${jobUuid}/cancel` && r.clientCn === host));
  servedJobs.delete(jobUuid);
});
