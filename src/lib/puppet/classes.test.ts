import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classesAndErrors, environmentList, environmentNameProblem, interpolationForm, legacyClasses, splitClassName } from './classes.ts';

const RESPONSE = {
  name: 'production',
  files: [
    {
      path: '/e/production/modules/dns/manifests/init.pp',
      classes: [
        {
          name: 'dns',
          params: [
            { name: 'dns_server_package', type: 'String', default_source: '$::dns::params::dns_server_package' },
            { name: 'port', type: 'Integer', default_literal: 53, default_source: '53' },
            { name: 'enabled', type: 'Boolean', default_literal: false, default_source: 'false' },
            { name: 'opts', default_literal: { a: [1] }, default_source: '{a => [1]}' },
            { name: 'required' },
          ],
        },
      ],
    },
    { path: '/e/production/modules/dns/manifests/install.pp', classes: [{ name: 'dns::install', params: [] }] },
    { path: '/e/production/modules/broken/manifests/init.pp', error: 'Syntax error at line 1' },
    { path: '/e/production/modules/a/manifests/b/c.pp', classes: [{ name: 'a::b::c', params: [] }] },
  ],
};

test('legacy format: one single-key object per class, module split at the first ::', () => {
  assert.deepEqual(legacyClasses(RESPONSE), [
    {
      dns: {
        name: 'dns',
        module: null,
        params: {
          dns_server_package: '${::dns::params::dns_server_package}',
          port: 53,
          enabled: 'false', // the reference falls back to the source text when the literal is false
          opts: { a: [1] },
          required: null,
        },
      },
    },
    { 'dns::install': { name: 'install', module: 'dns', params: {} } },
    { 'a::b::c': { name: 'b::c', module: 'a', params: {} } },
  ]);
});

test('classes_and_errors keeps Puppet’s param lists and passes error entries through', () => {
  const out = classesAndErrors(RESPONSE) as Record<string, unknown>[];
  assert.equal(out.length, 4);
  assert.deepEqual(out[2], { path: '/e/production/modules/broken/manifests/init.pp', error: 'Syntax error at line 1' });
  const dns = out[0] as { path: string; classes: { name: string; params: Record<string, unknown>[] }[] };
  assert.equal(dns.classes[0].params[0].default_source, '${::dns::params::dns_server_package}');
  assert.equal(dns.classes[0].params[0].type, 'String');
  assert.deepEqual(dns.classes[0].params[1], { name: 'port', type: 'Integer', default_literal: 53, default_source: '53' });
  assert.equal(RESPONSE.files[0].classes?.[0].params[0].default_source, '$::dns::params::dns_server_package', 'input untouched');
});

test('responses without a files list are errors', () => {
  assert.throws(() => legacyClasses({}), /no files list/);
  assert.throws(() => classesAndErrors(null), /no files list/);
});

test('helpers', () => {
  assert.equal(interpolationForm('$x'), '${x}');
  assert.equal(interpolationForm('x$'), 'x$');
  assert.equal(interpolationForm(5), 5);
  assert.deepEqual(splitClassName('x'), { module: null, name: 'x' });
  assert.equal(environmentNameProblem('production'), undefined);
  for (const bad of ['', 'a-b', 'a;b', '../x', 'a b', 'x'.repeat(256)]) assert.equal(typeof environmentNameProblem(bad), 'string');
});

test('environment list: modulepath required, order kept', () => {
  const envs = environmentList({
    environments: {
      production: { settings: { modulepath: ['/a', '/b'] } },
      broken: { settings: {} },
      development: { settings: { modulepath: ['/c'] } },
    },
  });
  assert.deepEqual(envs, [
    { name: 'production', paths: ['/a', '/b'] },
    { name: 'development', paths: ['/c'] },
  ]);
  assert.throws(() => environmentList({}), /^Error: No environments list in Puppet API response$/);
});
