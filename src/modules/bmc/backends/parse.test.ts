import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFru, parseKeyValues, parseLanPrint, parsePowerStatus, parseSensors } from './ipmitool/parse.ts';
import { parseCheckout, parseIpmiFru, parseIpmiSensors, parseIpmipowerStatus } from './freeipmi/parse.ts';
import { freeipmiConfig, freeipmiCredentialProblem } from './freeipmi/backend.ts';
import { Deadline } from './deadline.ts';

test('ipmitool power status', () => {
  assert.equal(parsePowerStatus('Chassis Power is on\n'), 'on');
  assert.equal(parsePowerStatus('Chassis Power is off\n'), 'off');
  assert.throws(() => parsePowerStatus('garbage'), /unexpected power status/);
});

test('ipmitool key/value blocks with continuation lines', () => {
  const kv = parseKeyValues(`Device ID                 : 0
Additional Device Support :
    Sensor Device
    SEL Device
Auth Type Enable        : Callback : NONE MD2
                        : User     : NONE
`);
  assert.equal(kv['Device ID'], '0');
  assert.deepEqual(kv['Additional Device Support'], ['Sensor Device', 'SEL Device']);
  assert.deepEqual(kv['Auth Type Enable'], ['Callback : NONE MD2', 'User     : NONE']);
  const lan = parseLanPrint('IP Address Source       : DHCP Address\n802.1q VLAN ID          : 12\nIP Address              : 10.0.0.2\n');
  assert.equal(lan.ip_address_source, 'DHCP Address');
  assert.equal(lan['8021q_vlan_id'], '12');
});

test('ipmitool fru and sensors', () => {
  const frus = parseFru(`FRU Device Description : Builtin FRU Device (ID 0)
 Product Manufacturer  : Acme
 Product Name          : Server 9000

FRU Device Description : PSU1 (ID 2)
 Board Serial          : X1
`);
  assert.deepEqual(frus, {
    builtin_fru_device: { product_manufacturer: 'Acme', product_name: 'Server 9000' },
    psu1: { board_serial: 'X1' },
  });
  const s = parseSensors('CPU Temp         | 45.000     | degrees C  | ok    | na        | na        | na        | 85.000    | 90.000    | na\n');
  assert.deepEqual(s.cpu_temp, {
    name: 'CPU Temp', value: '45.000', unit: 'degrees C', status: 'ok',
    lower_nonrec: null, lower_crit: null, lower_noncrit: null, upper_noncrit: '85.000', upper_crit: '90.000', upper_nonrec: null,
  });
});

test('freeipmi outputs', () => {
  assert.equal(parseIpmipowerStatus('10.0.0.1: on\n'), 'on');
  assert.equal(parseIpmipowerStatus('[fe80::1]:623: off\n'), 'off');
  const lan = parseCheckout('#\nSection Lan_Conf\n\t## Give valid IP address\n\tIP_Address      192.0.2.50\n\tIP_Address_Source   Use_DHCP\nEndSection\n');
  assert.deepEqual(lan, { ip_address: '192.0.2.50', ip_address_source: 'Use_DHCP' });
  const fru = parseIpmiFru('FRU Inventory Device: Default FRU Device (ID 00h)\n\n  FRU Product Name: Server 9000\n  FRU Product Serial Number: SN1\n');
  assert.deepEqual(fru, { default_fru_device: { product_name: 'Server 9000', product_serial_number: 'SN1' } });
  const s = parseIpmiSensors("ID | Name     | Type        | Reading    | Units | Event\n2  | CPU Temp | Temperature | 45.00      | C     | 'OK'\n3  | PSU | Power Supply | N/A | N/A | 'Presence detected'\n");
  assert.deepEqual(s.cpu_temp, { name: 'CPU Temp', type: 'Temperature', value: '45.00', unit: 'C', status: 'OK' });
  assert.deepEqual(s.psu, { name: 'PSU', type: 'Power Supply', value: null, unit: null, status: 'Presence detected' });
});

test('property: parsers never throw on arbitrary text', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
      parseKeyValues(text);
      parseLanPrint(text);
      parseFru(text);
      parseSensors(text);
      parseCheckout(text);
      parseIpmiFru(text);
      parseIpmiSensors(text);
    }),
    { numRuns: 200 },
  );
});

test('freeipmi config quotes credentials and only holds what its parser can read', () => {
  const conf = freeipmiConfig({
    address: { host: 'h', port: undefined },
    username: 'ad min',
    password: 'p;$(x)',
    driver: 'lan20',
    privilege: 'ADMINISTRATOR',
    cipherSuite: 3,
    workaroundFlags: 'opensesspriv',
    deadline: new Deadline(5000),
  });
  assert.equal(conf, 'username "ad min"\npassword "p;$(x)"\ndriver-type LAN_2_0\nprivilege-level ADMIN\ncipher-suite-id 3\nworkaround-flags opensesspriv\n');
  assert.equal(freeipmiCredentialProblem('plain pass'), undefined);
  for (const bad of ['a#b', 'a"b', 'a\\b']) assert.ok(freeipmiCredentialProblem(bad));
});
