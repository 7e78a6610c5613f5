// Every module's docs (openapi.ts) against the routes it really registers: each module under
// src/modules is mounted (fake providers where it has providers) and its routes are listed by the
// generator; every route must have a docs entry and every entry must name a route, so the
// document cannot drift from the code. A new module must be added to MOUNTS when its defaults do
// not mount, and must have an openapi.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule, type MountedModule, type MountOptions } from '../inject.ts';
import type { ModuleDefinition } from '../module.ts';
import { buildApiDocument } from './generate.ts';

const modulesDir = new URL('../../modules/', import.meta.url);

/** How to mount a module whose defaults need a backend, a file or a dependency. */
function mounts(dir: string, dynflowExports: () => unknown): Record<string, () => MountOptions> {
  const FOREMAN = { foreman_url: 'https://foreman.example.test' };
  return {
    ansible: () => ({ dependencies: { dynflow: dynflowExports() } }),
    capsule: () => ({ settings: { pub_dir: dir }, global: FOREMAN }),
    container_gateway: () => ({ settings: { sqlite_db_path: join(dir, 'gateway.db'), pulp_endpoint: 'https://pulp.example.test' } }),
    dhcp: () => ({ providers: { dhcp_isc: {} } }),
    dns: () => ({ providers: { dns_nsupdate: {} } }),
    dynflow: () => ({ settings: { database: ':memory:' } }),
    externalipam: () => ({ providers: { externalipam_phpipam: {} } }),
    openscap: () => ({
      settings: Object.fromEntries(['spooldir', 'reportsdir', 'failed_dir', 'corrupted_dir', 'contentdir', 'tailoring_dir'].map((k) => [k, join(dir, 'openscap', k)])),
      global: FOREMAN,
    }),
    reports: () => ({ settings: { spool_dir: join(dir, 'reports') }, global: FOREMAN }),
    httpboot: () => ({ settings: { root_dir: dir } }),
    pulpcore: () => ({ settings: { pulp_url: 'https://127.0.0.1:1', content_app_url: 'https://c.example.test/pulp/content', rhsm_url: 'https://c.example.test/rhsm', capabilities_wait: 0 } }),
    puppet: () => ({ providers: { puppet_proxy_puppet_api: {} } }),
    puppetca: () => ({ providers: { puppetca_hostname_whitelisting: { kind: 'autosign', id: 'puppetca_hostname_whitelisting' }, puppetca_http_api: { kind: 'certificates', id: 'puppetca_http_api' } } }),
    realm: () => ({ providers: { realm_freeipa: {} } }),
    registration: () => ({ global: FOREMAN }),
    salt: () => ({ dependencies: { dynflow: dynflowExports() } }),
    script: () => ({ settings: { mode: 'pull', ssh_identity_key_file: join(dir, 'id_proxy') }, dependencies: { dynflow: dynflowExports() } }),
    templates: () => ({ settings: { template_url: 'http://proxy.example.test:8000' }, global: FOREMAN }),
    tftp: () => ({ settings: { tftproot: dir } }),
  };
}

test('every route of every module has docs, and every docs entry names a route', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-modules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'id_proxy'), 'not a key: only its presence is checked');
  await writeFile(join(dir, 'id_proxy.pub'), 'ssh-ed25519 AAAA proxy');

  const names = (await readdir(modulesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.ok(names.length >= 17, `only ${names.length} modules found`);
  const mounted: MountedModule[] = [];
  t.after(async () => {
    for (const m of mounted.reverse()) await m.close();
  });
  const defs = new Map<string, ModuleDefinition>();
  for (const name of names) defs.set(name, (await import(new URL(`${name}/module.ts`, modulesDir).href)).default as ModuleDefinition);

  // script needs dynflow's task engine: the real one, on an in-memory store.
  let dynflowExports: unknown;
  const options = mounts(dir, () => dynflowExports);
  const order = ['dynflow', ...names.filter((n) => n !== 'dynflow')];
  const problems: string[] = [];
  for (const name of order) {
    const def = defs.get(name);
    if (!def) continue;
    if (!def.apiDocs) {
      problems.push(`${name}: no apiDocs (src/modules/${name}/openapi.ts and the apiDocs line of its module.ts)`);
      continue;
    }
    let m: MountedModule;
    try {
      m = await mountModule(def, options[name]?.() ?? {});
    } catch (err) {
      problems.push(`${name}: could not be mounted (${(err as Error).message}); add it to MOUNTS`);
      continue;
    }
    mounted.push(m);
    if (name === 'dynflow') dynflowExports = m.instance.exports;
    const result = await buildApiDocument({ modules: [{ def, instance: m.instance }], version: '0', root: false });
    assert.ok(result.routes.length > 0, `${name} registers no route`);
    for (const [, reason] of Object.entries(result.failures)) problems.push(`${name}: ${reason}`);
    for (const r of result.undocumented) problems.push(`${name}: route ${r.key} has no docs entry`);
    for (const r of result.unmatched) problems.push(`${name}: docs entry ${r.key} names no route`);
  }
  assert.deepEqual(problems, []);
});
