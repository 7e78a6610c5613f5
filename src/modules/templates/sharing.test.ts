import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { classify, parseShareRule, parseShareRules, type RelayedRequest } from './sharing.ts';
import def from './module.ts';

const DEFAULT_RULES = parseShareRules(['template/*/*', 'iPXE?bootstrap', 'gPXE?bootstrap']);

function req(over: Partial<RelayedRequest>): RelayedRequest {
  return { route: 'kind', method: 'GET', segments: ['iPXE'], paramNames: ['bootstrap'], headers: { 'user-agent': 'iPXE/1.21.1' }, ...over };
}

describe('shared_requests rules', () => {
  test('parse kinds, params and hostgroup paths', () => {
    assert.deepEqual(parseShareRule('iPXE?bootstrap'), { text: 'iPXE?bootstrap', route: 'kind', segments: ['iPXE'], params: new Set(['bootstrap']) });
    assert.deepEqual(parseShareRule('/unattended/template/*/*').segments, ['template', '*', '*']);
    assert.equal(parseShareRule('template/Kickstart default/*').route, 'hostgroup');
    assert.equal(parseShareRule('PXELinux').params.size, 0);
  });

  test('refuse host params, side-effect kinds and malformed entries, naming the entry and the reason', () => {
    assert.throws(() => parseShareRule('provision?token'), /entry 'provision\?token': 'token' identifies a host/);
    assert.throws(() => parseShareRule('iPXE?mac'), /'mac' identifies a host/);
    assert.throws(() => parseShareRule('iPXE?hostname'), /identifies a host/);
    assert.throws(() => parseShareRule('built'), /'built' changes the host/);
    assert.throws(() => parseShareRule('*'), /must be named/);
    assert.throws(() => parseShareRule('a/b'), /one segment .* or three/);
    assert.throws(() => parseShareRule('a?b?c'), /more than one '\?'/);
    assert.throws(() => parseShareRule('iPXE?url'), /'url' is always set/);
    assert.throws(() => parseShareRule('tem*/a/b'), /whole segment/);
  });

  test("the module's validate hook names the setting", () => {
    const validate = def.validate;
    assert.ok(validate);
    const problem = validate({ shared_requests: ['provision?token'] } as Parameters<typeof validate>[0]);
    assert.equal(problem?.key, 'shared_requests');
    assert.match(problem?.message ?? '', /'token' identifies a host/);
  });
});

describe('classification', () => {
  test('the iPXE bootstrap is shared, by address unless shared_across_hosts', () => {
    const byAddress = classify(req({}), DEFAULT_RULES, false);
    assert.equal(byAddress.shared, true);
    assert.equal(byAddress.shared && byAddress.byAddress, true);
    const across = classify(req({}), DEFAULT_RULES, true);
    assert.equal(across.shared && across.byAddress, false);
  });

  test('the hostgroup route is shared across hosts (Foreman does not look for a host there)', () => {
    const v = classify(req({ route: 'hostgroup', segments: ['template', 'Kickstart default', 'base'], paramNames: [] }), DEFAULT_RULES, false);
    assert.equal(v.shared && v.byAddress, false);
  });

  test('host-specific requests never share', () => {
    for (const name of ['token', 'mac', 'hostname', 'spoof', 'ip']) {
      const v = classify(req({ paramNames: ['bootstrap', name] }), DEFAULT_RULES, true);
      assert.deepEqual(v, { shared: false, reason: `host param '${name}'` });
    }
    const mac = classify(req({ headers: { 'X-RHN-Provisioning-MAC-0': 'eth0 aa:bb:cc:dd:ee:ff' } }), DEFAULT_RULES, true);
    assert.equal(mac.shared, false);
    // a rule only matches the exact param set: provision, or iPXE without bootstrap, are the host's own
    assert.equal(classify(req({ segments: ['provision'], paramNames: [] }), DEFAULT_RULES, true).shared, false);
    assert.equal(classify(req({ paramNames: [] }), DEFAULT_RULES, true).shared, false);
    assert.equal(classify(req({ paramNames: ['bootstrap', 'other'] }), DEFAULT_RULES, true).shared, false);
    // the hostgroup route with a token is no longer the generic template
    assert.equal(classify(req({ route: 'hostgroup', segments: ['template', 'a', 'b'], paramNames: ['token'] }), DEFAULT_RULES, true).shared, false);
  });

  test('requests with credentials never share, whatever the rules', () => {
    for (const headers of [{ authorization: 'Bearer x' }, { Authorization: 'Basic eA==' }, { cookie: 's=1' }, { 'proxy-authorization': 'x' }]) {
      const v = classify(req({ headers }), DEFAULT_RULES, true);
      assert.equal(v.shared, false, JSON.stringify(headers));
      assert.match(v.shared ? '' : v.reason, /credentials/);
    }
  });

  test('POST and an empty rule list never share; kinds are case-sensitive as in Foreman', () => {
    assert.equal(classify(req({ method: 'POST' }), DEFAULT_RULES, true).shared, false);
    assert.equal(classify(req({}), [], true).shared, false);
    assert.equal(classify(req({ segments: ['ipxe'] }), DEFAULT_RULES, true).shared, false);
    assert.equal(classify(req({ method: 'HEAD' }), DEFAULT_RULES, true).shared, true);
  });
});
