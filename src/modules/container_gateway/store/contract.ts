// One behaviour for every GatewayStore: store/sqlite.test.ts runs this contract on node:sqlite,
// test/container_gateway/postgres-store.test.ts on a real PostgreSQL. Several cases are the
// reference's faults (spec §6.1, §6.7): each would fail on its delete-and-reinsert refresh, its
// missing unique constraints or its local-time token expiry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayStore, MappingEntry } from './types.ts';

export interface ContractTarget {
  /** A fresh, empty store, and how to dispose of it. */
  open(): Promise<{ store: GatewayStore; dispose(): Promise<void> }>;
}

const REPOS = [
  { name: 'org/prod/public', authRequired: false },
  { name: 'org/prod/fedora', authRequired: true },
  { name: 'org/prod/rhel', authRequired: true },
];

async function* slowly<T>(items: readonly T[], onEach: () => Promise<void>): AsyncGenerator<T> {
  for (const item of items) {
    await onEach();
    yield item;
  }
}

export function storeContract(label: string, target: ContractTarget): void {
  const withStore = (name: string, fn: (store: GatewayStore) => Promise<void>): void => {
    test(`${label}: ${name}`, async () => {
      const { store, dispose } = await target.open();
      try {
        await fn(store);
      } finally {
        await dispose();
      }
    });
  };

  withStore('repository list: duplicates collapse to one row per name, auth_required updated in place', async (s) => {
    await s.replaceRepositories([...REPOS, { name: 'org/prod/fedora', authRequired: true }]);
    assert.deepEqual(await s.catalog({}), ['org/prod/public']);
    const second = await s.replaceRepositories([{ name: 'org/prod/public', authRequired: true }, { name: 'org/prod/fedora', authRequired: false }]);
    assert.deepEqual(second, { added: 0, removed: 1, kept: 2 });
    assert.deepEqual(await s.getRepository('org/prod/public'), { name: 'org/prod/public', authRequired: true });
    assert.equal(await s.getRepository('org/prod/rhel'), undefined);
  });

  withStore('fault §6.1: re-sending the repository list keeps the user and host mappings of repositories that stay', async (s) => {
    await s.replaceRepositories(REPOS);
    await s.ensureUser('jdoe');
    await s.replaceUserMappings([{ key: 'jdoe', repositories: ['org/prod/fedora', 'org/prod/rhel'] }]);
    await s.replaceHosts(['uuid-1']);
    await s.replaceHostMappings([{ key: 'uuid-1', repositories: ['org/prod/fedora'] }]);
    // The reference deletes every repository here, cascading all mappings away until later PUTs.
    await s.replaceRepositories(REPOS.filter((r) => r.name !== 'org/prod/rhel'));
    assert.equal(await s.isMapped({ user: 'jdoe' }, 'org/prod/fedora'), true);
    assert.equal(await s.isMapped({ user: 'jdoe' }, 'org/prod/rhel'), false);
    assert.equal(await s.isMapped({ host: 'uuid-1' }, 'org/prod/fedora'), true);
    // update_hosts with the same host keeps its mapping too (the reference deletes all hosts).
    await s.replaceHosts(['uuid-1', 'uuid-2', '']);
    assert.equal(await s.isMapped({ host: 'uuid-1' }, 'org/prod/fedora'), true);
    assert.equal(await s.hostExists('uuid-2'), true);
    assert.equal(await s.hostExists(''), false);
    await s.replaceHosts(['uuid-2']);
    assert.equal(await s.hostExists('uuid-1'), false);
    assert.equal(await s.isMapped({ host: 'uuid-1' }, 'org/prod/fedora'), false);
  });

  withStore('user mapping: only private repositories of known users; users not listed lose theirs', async (s) => {
    await s.replaceRepositories(REPOS);
    await s.ensureUser('admin');
    await s.ensureUser('jdoe');
    await s.ensureUser('jdoe');
    assert.deepEqual(await s.listUsers(), ['admin', 'jdoe']);
    await s.replaceUserMappings([{ key: 'admin', repositories: ['org/prod/rhel'] }, { key: 'jdoe', repositories: ['org/prod/fedora', 'org/prod/public', 'nope'] }]);
    assert.deepEqual(await s.catalog({ user: 'jdoe' }), ['org/prod/fedora', 'org/prod/public']);
    const r = await s.replaceUserMappings([{ key: 'jdoe', repositories: ['org/prod/rhel'] }, { key: 'ghost', repositories: ['org/prod/rhel'] }]);
    assert.deepEqual(r.unknownUsers, ['ghost']);
    assert.deepEqual(await s.catalog({ user: 'jdoe' }), ['org/prod/public', 'org/prod/rhel']);
    assert.deepEqual(await s.catalog({ user: 'admin' }), ['org/prod/public']);
    await s.setUserRepositories('newbie', ['org/prod/fedora']);
    assert.deepEqual(await s.listUsers(), ['admin', 'jdoe', 'newbie']);
    assert.equal(await s.isMapped({ user: 'newbie' }, 'org/prod/fedora'), true);
  });

  withStore('fault §6.1: while a large host mapping is applied, a host whose access stays never loses it', async (s) => {
    await s.replaceRepositories(REPOS);
    const uuids = Array.from({ length: 1200 }, (_, i) => `uuid-${String(i).padStart(4, '0')}`);
    await s.replaceHosts(uuids);
    const initial: MappingEntry[] = uuids.map((key) => ({ key, repositories: ['org/prod/fedora'] }));
    await s.replaceHostMappings(initial);
    const probes: boolean[] = [];
    let i = 0;
    const next: MappingEntry[] = uuids.map((key) => ({ key, repositories: ['org/prod/fedora', 'org/prod/rhel'] }));
    await s.replaceHostMappings(
      slowly(next, async () => {
        // Readers run between the entries the store consumes.
        if (i++ % 100 === 0) probes.push(await s.isMapped({ host: uuids[uuids.length - 1] }, 'org/prod/fedora'), await s.isMapped({ host: uuids[0] }, 'org/prod/fedora'));
      }),
    );
    assert.ok(probes.length >= 20);
    assert.ok(probes.every(Boolean), 'a mapped host lost access during the refresh');
    assert.deepEqual(await s.catalog({ host: uuids[7] }), ['org/prod/fedora', 'org/prod/public', 'org/prod/rhel']);
  });

  withStore('host mapping replaces the whole table; unknown and blank UUIDs are skipped; update_host_repositories creates hosts', async (s) => {
    await s.replaceRepositories(REPOS);
    await s.replaceHosts(['a', 'b']);
    await s.replaceHostMappings([{ key: 'a', repositories: ['org/prod/fedora'] }, { key: 'b', repositories: ['org/prod/rhel'] }]);
    const r = await s.replaceHostMappings([{ key: 'a', repositories: ['org/prod/rhel'] }, { key: 'zzz', repositories: ['org/prod/rhel'] }, { key: ' ', repositories: [] }]);
    assert.equal(r.unknownHosts, 2);
    assert.deepEqual(await s.catalog({ host: 'a' }), ['org/prod/public', 'org/prod/rhel']);
    assert.deepEqual(await s.catalog({ host: 'b' }), ['org/prod/public']);
    await s.updateHostRepositories([{ key: 'c', repositories: ['org/prod/fedora'] }]);
    assert.equal(await s.hostExists('c'), true);
    assert.deepEqual(await s.catalog({ host: 'c' }), ['org/prod/fedora', 'org/prod/public']);
    assert.deepEqual(await s.catalog({ host: 'a' }), ['org/prod/public', 'org/prod/rhel']);
  });

  withStore('tokens: stored by checksum with a UTC epoch expiry; expired ones are deleted on the next store', async (s) => {
    const now = Date.now();
    await s.storeToken('jdoe', 'c1', now + 60_000);
    await s.storeToken(undefined, 'c2', now + 60_000);
    assert.equal(await s.tokenUser('c1', now), 'jdoe');
    assert.equal(await s.tokenUser('c2', now), '');
    assert.equal(await s.tokenUser('c1', now + 60_000), undefined);
    assert.equal(await s.tokenUser('nope', now), undefined);
    await s.storeToken('jdoe', 'c1', now + 1000);
    assert.equal(await s.tokenUser('c1', now + 1500), undefined);
    await s.storeToken('jdoe', 'old', now - 1);
    await s.storeToken('jdoe', 'c3', now + 60_000);
    assert.equal(await s.tokenUser('old', now - 10_000), undefined, 'expired token was deleted');
  });

  withStore('catalog search: substring filter with LIKE metacharacters taken literally, and a limit', async (s) => {
    await s.replaceRepositories([...REPOS, { name: 'org/prod/100%_x', authRequired: false }, { name: 'org/prod/busybox', authRequired: false }]);
    await s.ensureUser('jdoe');
    await s.replaceUserMappings([{ key: 'jdoe', repositories: ['org/prod/fedora'] }]);
    assert.deepEqual(await s.catalog({}, { contains: '%_' }), ['org/prod/100%_x']);
    // The reference's joined search query fails on an ambiguous column (500).
    assert.deepEqual(await s.catalog({ user: 'jdoe' }, { contains: 'o' }), ['org/prod/100%_x', 'org/prod/busybox', 'org/prod/fedora', 'org/prod/public']);
    assert.deepEqual(await s.catalog({ user: 'jdoe' }, { contains: 'fed', limit: 1 }), ['org/prod/fedora']);
    assert.deepEqual(await s.catalog({ user: 'jdoe' }, { limit: 0 }), []);
  });
}
