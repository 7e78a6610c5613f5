import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCancelMessage, buildStartMessage, encodeMessage, hostTopic, invalidHostId, jobUrl, sentTimestamp } from './messages.ts';

const SENT = new Date(Date.UTC(2026, 0, 5, 10, 0, 0, 123));
const JOB = '4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f';

test('the start message has the exact shape and key order of §5.4', () => {
  const message = buildStartMessage({
    jobUuid: JOB,
    proxyUrl: 'https://proxy.example.com:9090',
    effectiveUser: 'root',
    messageId: '6a1f0000-0000-4000-8000-000000000001',
    sent: SENT,
  });
  assert.equal(
    encodeMessage(message).toString('utf8'),
    '{"type":"data","message_id":"6a1f0000-0000-4000-8000-000000000001","version":1,"sent":"2026-01-05T10:00:00+00:00",' +
      '"directive":"foreman","content":"https://proxy.example.com:9090/ssh/jobs/4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f",' +
      '"metadata":{"event":"start","job_uuid":"4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f",' +
      '"return_url":"https://proxy.example.com:9090/ssh/jobs/4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f/update",' +
      '"version":"v1","effective_user":"root"}}',
  );
  assert.equal(typeof message.content, 'string', 'content is the URL string, not the script');
});

test('without an effective user the key is left out rather than sent as null', () => {
  const message = buildStartMessage({ jobUuid: JOB, proxyUrl: 'https://p:9090/', messageId: 'm', sent: SENT });
  assert.deepEqual(Object.keys(message.metadata), ['event', 'job_uuid', 'return_url', 'version']);
});

test('the cancel message points at /cancel, carries only event and job_uuid and a fresh message id', () => {
  const a = buildCancelMessage({ jobUuid: JOB, proxyUrl: 'https://proxy.example.com:9090', sent: SENT });
  const b = buildCancelMessage({ jobUuid: JOB, proxyUrl: 'https://proxy.example.com:9090', sent: SENT });
  assert.notEqual(a.message_id, b.message_id);
  assert.match(a.message_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(
    encodeMessage({ ...a, message_id: 'X' }).toString('utf8'),
    '{"type":"data","message_id":"X","version":1,"sent":"2026-01-05T10:00:00+00:00","directive":"foreman",' +
      '"content":"https://proxy.example.com:9090/ssh/jobs/4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f/cancel",' +
      '"metadata":{"event":"cancel","job_uuid":"4d2e8d4c-3f7a-4b7e-9f0e-0a1b2c3d4e5f"}}',
  );
});

test('job URLs come from the task proxy_url: trailing slashes and path prefixes', () => {
  assert.equal(jobUrl('https://proxy.example.com:9090/', 'u'), 'https://proxy.example.com:9090/ssh/jobs/u');
  assert.equal(jobUrl('https://proxy.example.com/sp//', 'u', '/update'), 'https://proxy.example.com/sp/ssh/jobs/u/update');
  assert.equal(jobUrl('https://[::1]:9090', 'u'), 'https://[::1]:9090/ssh/jobs/u');
  assert.throws(() => jobUrl('proxy.example.com', 'u'), /proxy_url 'proxy.example.com' is not an absolute URL/);
  assert.throws(() => jobUrl('ftp://proxy', 'u'), /proxy_url 'ftp:\/\/proxy' must be an http or https URL/);
});

test('topics and host ids', () => {
  assert.equal(hostTopic('c0ffee-uuid'), 'yggdrasil/c0ffee-uuid/data/in');
  assert.equal(invalidHostId('host.example.com'), undefined);
  assert.equal(invalidHostId(''), 'is empty');
  for (const bad of ['a/b', 'a+', '#', 'a\0b']) assert.match(invalidHostId(bad) ?? '', /cannot be part of an MQTT topic level/);
});

test('sent is second precision with an explicit +00:00 offset', () => {
  assert.equal(sentTimestamp(new Date(Date.UTC(2026, 11, 31, 23, 59, 59, 999))), '2026-12-31T23:59:59+00:00');
});
