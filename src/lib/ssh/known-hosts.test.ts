import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { FileKnownHostsStore, knownHostsName } from './known-hosts.ts';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1JqPBomr7YYXhU0EX7nEhiKDTpz0jTc2vS0FTBhkkd';
const KEY_B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kh-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('names follow OpenSSH: bare host on 22, [host]:port otherwise', () => {
  assert.equal(knownHostsName('h.example.com', 22), 'h.example.com');
  assert.equal(knownHostsName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('add, get and forget persist in known_hosts format; a new store reads them back', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'known_hosts');
    const store = new FileKnownHostsStore(path);
    assert.deepEqual(await store.get('h1'), []);
    await store.add('h1', KEY_A);
    await store.add('h1', KEY_A); // no duplicate
    await store.add('[h2]:2222', `${KEY_B} comment`);
    assert.equal(await readFile(path, 'utf8'), `h1 ${KEY_A}\n[h2]:2222 ${KEY_B}\n`);
    const again = new FileKnownHostsStore(path);
    assert.deepEqual(await again.get('[h2]:2222'), [KEY_B]);
    await again.forget('h1');
    assert.deepEqual(await again.get('h1'), []);
    assert.equal(await readFile(path, 'utf8'), `[h2]:2222 ${KEY_B}\n`);
    assert.deepEqual((await readdir(dir)).sort(), ['known_hosts']); // no temp files left
  });
});

test('reads an OpenSSH known_hosts file: host lists, hashed names, comments and markers kept', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'known_hosts');
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('secret.example.com').digest('base64')}`;
    const original = ['# a comment', `a.example.com,10.0.0.5 ${KEY_A}`, `${hashed} ${KEY_B}`, `@cert-authority *.example.com ${KEY_A}`, ''].join('\n');
    await writeFile(path, original);
    const store = new FileKnownHostsStore(path);
    assert.deepEqual(await store.get('10.0.0.5'), [KEY_A]);
    assert.deepEqual(await store.get('secret.example.com'), [KEY_B]);
    assert.deepEqual(await store.get('other.example.com'), []);
    await store.forget('secret.example.com');
    assert.equal(await readFile(path, 'utf8'), ['# a comment', `a.example.com,10.0.0.5 ${KEY_A}`, `@cert-authority *.example.com ${KEY_A}`, ''].join('\n'));
  });
});

test('many concurrent additions all land, with coalesced writes', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'known_hosts');
    const store = new FileKnownHostsStore(path);
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.add(`[10.1.${i >> 8}.${i & 255}]:22`, KEY_A)));
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 200);
    assert.deepEqual(await new FileKnownHostsStore(path).get('[10.1.0.199]:22'), [KEY_A]);
  });
});

test('refuses keys and names that would break the file', async () => {
  await withDir(async (dir) => {
    const store = new FileKnownHostsStore(join(dir, 'known_hosts'));
    await assert.rejects(store.add('h1', 'not-a-key'), /cannot store key/);
    await assert.rejects(store.add('h 1', KEY_A), /cannot store key/);
  });
});
