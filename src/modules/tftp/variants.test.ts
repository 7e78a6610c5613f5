import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkMac, checkVariant, defaultMenuFiles, hostConfigFiles, isValidMac, VARIANTS } from './variants.ts';
import { ProxyError } from '../../core/errors.ts';

const MAC = 'aa:bb:cc:dd:ee:ff';

test('file names per variant (spec tftp.md §1.2 examples)', () => {
  assert.deepEqual(hostConfigFiles('syslinux', MAC), ['pxelinux.cfg/01-aa-bb-cc-dd-ee-ff']);
  assert.deepEqual(hostConfigFiles('pxelinux', 'AA:BB:CC:DD:EE:FF'), ['pxelinux.cfg/01-aa-bb-cc-dd-ee-ff']);
  assert.deepEqual(hostConfigFiles('pxegrub', MAC), ['grub/menu.lst.01AABBCCDDEEFF', 'grub/01-AA-BB-CC-DD-EE-FF']);
  assert.deepEqual(hostConfigFiles('pxegrub2', MAC), ['grub2/grub.cfg-01-aa-bb-cc-dd-ee-ff', 'grub2/grub.cfg-aa:bb:cc:dd:ee:ff']);
  assert.deepEqual(hostConfigFiles('ztp', MAC), ['ztp.cfg/AABBCCDDEEFF', 'ztp.cfg/AABBCCDDEEFF.cfg']);
  assert.deepEqual(hostConfigFiles('poap', MAC), ['poap.cfg/AABBCCDDEEFF']);
  assert.deepEqual(hostConfigFiles('ipxe', MAC), ['pxelinux.cfg/01-aa-bb-cc-dd-ee-ff.ipxe']);
  assert.deepEqual(defaultMenuFiles('pxegrub'), ['grub/menu.lst', 'grub/efidefault']);
  assert.deepEqual(defaultMenuFiles('pxegrub2'), ['grub2/grub.cfg']);
  assert.deepEqual(defaultMenuFiles('syslinux'), ['pxelinux.cfg/default']);
  assert.deepEqual(defaultMenuFiles('ipxe'), ['pxelinux.cfg/default.ipxe']);
  assert.deepEqual(defaultMenuFiles('ztp'), ['ztp.cfg']);
  assert.deepEqual(defaultMenuFiles('poap'), ['poap.cfg']);
});

test('variants match case-insensitively; unknown ones are 403 with the name as given', () => {
  assert.equal(checkVariant('PXEGrub2'), 'pxegrub2');
  assert.equal(checkVariant('iPXE'), 'ipxe');
  assert.throws(() => checkVariant('PXEFoo'), (e: unknown) => e instanceof ProxyError && e.status === 403 && e.message === 'Unrecognized pxeboot config type: PXEFoo');
  assert.throws(() => checkVariant('../x'), ProxyError);
});

test('MACs: 6 or 20 groups of 1-2 hex digits; anything else is 403', () => {
  assert.ok(isValidMac('a:b:c:d:e:f'));
  assert.ok(isValidMac(Array(20).fill('0a').join(':')));
  for (const bad of ['aa:bb:cc:dd:ee', 'aa-bb-cc-dd-ee-ff', 'aa:bb:cc:dd:ee:fg', 'aaa:bb:cc:dd:ee:ff', '../../etc/passwd', 'aa:bb:cc:dd:ee:ff/..', 'aa:bb:cc:dd:ee:ff\n']) {
    assert.throws(() => checkMac(bad), (e: unknown) => e instanceof ProxyError && e.status === 403 && e.message === `Invalid MAC address: ${bad}`);
  }
});

test('every generated file name stays a plain relative path', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 70 }), fc.constantFrom(...VARIANTS), (mac, v) => {
      if (!isValidMac(mac)) return;
      for (const f of [...hostConfigFiles(v, mac), ...defaultMenuFiles(v)]) {
        assert.ok(!f.startsWith('/') && !f.split('/').includes('..'), f);
      }
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }), (bytes) => {
      const mac = bytes.map((b) => b.toString(16)).join(':');
      assert.ok(isValidMac(mac));
      assert.match(hostConfigFiles('pxelinux', mac)[0], /^pxelinux\.cfg\/01-[0-9a-f-]+$/);
    }),
  );
});
