import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deadline } from './deadline.ts';
import { IpmitoolBackend } from './ipmitool/backend.ts';
import { ProxyError } from '../../../core/errors.ts';

test('an expired request deadline stops further commands before they are spawned', async () => {
  const d = new Deadline(0);
  assert.throws(() => d.next('ipmitool'), (e: unknown) => e instanceof ProxyError && e.code === 'bmc.deadline' && e.status === 400 && e.message === 'ipmitool: no answer within 0 s');
  const backend = new IpmitoolBackend(
    { address: { host: 'h', port: undefined }, username: 'u', password: 'p', driver: 'lan20', privilege: undefined, cipherSuite: undefined, workaroundFlags: undefined, deadline: d },
    '/nonexistent/ipmitool', // would fail with "command not found" if it were spawned
  );
  await assert.rejects(backend.powerCycle(), (e: unknown) => e instanceof ProxyError && e.code === 'bmc.deadline' && /no answer within/.test(e.message));
  assert.ok(new Deadline(10_000).next('x') > 9000);
});
