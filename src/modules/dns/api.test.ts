// /dns routes in-process (fastify inject) with a fake provider: statuses, error bodies, parameter
// validation and the error policy (table errors keep their status, a backend's plain error is 400).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import dns from './module.ts';
import { DnsError } from './errors.ts';
import type { DnsProvider, DnsRecordType } from './provider.ts';

class FakeDns implements DnsProvider {
  readonly calls: string[] = [];
  failure: Error | undefined;
  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    this.calls.push(`create ${type} ${fqdn} ${value}`);
    if (this.failure) throw this.failure;
  }
  async remove(type: DnsRecordType, name: string): Promise<void> {
    this.calls.push(`remove ${type} ${name}`);
    if (this.failure) throw this.failure;
  }
}

async function mounted(t: TestContext, fake = new FakeDns()) {
  const m = await mountModule(dns, { providers: { dns_nsupdate: fake } }, t);
  return { ...m, fake };
}

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
});

test('create and delete reach the provider and answer 200 with an empty text/html body', async (t) => {
  const { app, fake } = await mounted(t);
  const created = await app.inject({ method: 'POST', url: '/dns/', ...form({ fqdn: 'web1.example.test', value: '192.0.2.10', type: 'a' }) });
  assertAnswer(created, 200, '', 'text/html;charset=utf-8');
  const removed = await app.inject({ method: 'DELETE', url: '/dns/10.2.0.192.in-addr.arpa' });
  assert.equal(removed.statusCode, 200);
  const typed = await app.inject({ method: 'DELETE', url: '/dns/web1.example.test/AAAA/' });
  assert.equal(typed.statusCode, 200);
  assert.deepEqual(fake.calls, ['create A web1.example.test 192.0.2.10', 'remove PTR 10.2.0.192.in-addr.arpa', 'remove AAAA web1.example.test']);
});

test('bad parameters are 400 with the reference text, before the provider is called', async (t) => {
  const { app, fake } = await mounted(t);
  const missing = await app.inject({ method: 'POST', url: '/dns', ...form({ fqdn: 'x.example.test' }) });
  assertAnswer(missing, 400, "'create' requires fqdn, value, and type parameters");
  const badType = await app.inject({ method: 'POST', url: '/dns', ...form({ fqdn: 'x.example.test', value: '1.2.3.4', type: 'MX' }) });
  assertAnswer(badType, 400, "unrecognized 'type' parameter: MX");
  const badAddress = await app.inject({ method: 'POST', url: '/dns', ...form({ fqdn: 'x.example.test', value: '::1', type: 'A' }) });
  assert.equal(badAddress.body, 'address family mismatch: ::1');
  assert.deepEqual(fake.calls, []);
  assert.equal((await app.inject({ method: 'DELETE', url: '/dns/' })).statusCode, 404);
});

test('table errors keep their status; any other provider error is 400 with its message', async (t) => {
  const { app, fake } = await mounted(t);
  fake.failure = DnsError.conflict("'web1.example.test 'is already in use");
  const conflict = await app.inject({ method: 'POST', url: '/dns', ...form({ fqdn: 'web1.example.test', value: '192.0.2.11', type: 'A' }) });
  assertAnswer(conflict, 409, "'web1.example.test 'is already in use", 'application/json');

  fake.failure = DnsError.not_found('Cannot find DNS entry for web9.example.test (A)');
  assert.equal((await app.inject({ method: 'DELETE', url: '/dns/web9.example.test' })).statusCode, 404);

  fake.failure = new Error('dns_nsupdate: 127.0.0.1:53 unreachable');
  const plain = await app.inject({ method: 'DELETE', url: '/dns/web9.example.test', headers: { accept: 'text/plain' } });
  assertAnswer(plain, 400, 'dns_nsupdate: 127.0.0.1:53 unreachable', 'text/html;charset=utf-8');
});

test('settings: a dns_ttl outside 31 bits fails the module naming the key', async () => {
  await assert.rejects(mountModule(dns, { settings: { dns_ttl: 2 ** 31 } }), /^Error: dns: dns_ttl must be a whole number of seconds between 0 and 2147483647, got 2147483648$/);
});
