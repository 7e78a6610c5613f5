// A real OpenIPMI `ipmi_sim` BMC on 127.0.0.1 for the BMC tests: generated lan.conf, emulator
// script, SDRs (via sdrcomp) and a FRU image, with chassis power/boot/identify state kept in
// files so tests can check what the proxy's commands changed (notes/more-backends.md §3).

import { writeFile, readFile, mkdir, chmod } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import {
  tempDir,
  removeDir,
  startDaemon,
  stopDaemon,
  waitFor,
  requireCommand,
  execFileP,
  type Daemon,
} from '../lib/procs.ts';

export interface IpmiSim {
  readonly dir: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Current chassis state as written by the control script. */
  state(name: 'power' | 'boot' | 'identify' | 'reset'): Promise<string>;
  /** Lines the control script logged (`<time> <mc> <op> <args>`). */
  controlLog(): Promise<string>;
  setPower(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

const CHASSIS_CONTROL = `#!/bin/sh
D=$(dirname "$0"); mc=$1; op=$2; shift 2
echo "$mc $op $*" >> "$D/chassis.log"
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat "$D/power" 2>/dev/null || echo 0)";;
         boot)  echo "boot:$(cat "$D/boot" 2>/dev/null || echo default)";;
         *) echo "Invalid parameter: $p"; exit 1;; esac; done;;
  set) while [ $# -ge 2 ]; do p=$1; v=$2; shift 2; case $p in
         power) echo "$v" > "$D/power";;
         boot) echo "$v" > "$D/boot";;
         shutdown) echo 0 > "$D/power";;
         reset) echo "$v" > "$D/reset";;
         identify) echo "$v" > "$D/identify";;
         *) echo "Invalid parameter: $p"; exit 1;; esac; done;;
  *) exit 1;;
esac
exit 0
`;

const LAN_CONTROL = `#!/bin/sh
dev=$1; op=$2; shift 2
case $op in
  get) for p in "$@"; do case $p in
         ip_addr) v=192.0.2.50;; ip_addr_src) v=static;; mac_addr) v=52:54:00:12:34:56;;
         subnet_mask) v=255.255.255.0;; default_gw_ip_addr) v=192.0.2.1;;
         default_gw_mac_addr) v=52:54:00:00:00:01;; backup_gw_ip_addr) v=0.0.0.0;;
         backup_gw_mac_addr) v=00:00:00:00:00:00;; *) echo "Invalid parameter: $p"; exit 1;;
       esac; echo "$p:$v"; done;;
  set|check) exit 0;;
  *) exit 1;;
esac
`;

function sensorSdr(num: number, type: string, unit: string, m: number, name: string): string {
  return `sdr type 1
  sensor_owner_id 0x20
  sensor_owner_lun 0
  channel_number 0
  sensor_number ${num}
  entity_id system_board
  entity_instance 1
  sensor_type ${type}
  init_scanning true
  init_sensor_type true
  default_sensor_scan_on true
  event_reading_type_code 1
  analog_data_format unsigned
  rate_unit none
  modifier_unit none
  percentage false
  base_unit ${unit}
  modifier_unit_code unspecified
  linearization linear
  m ${m}
  tolerance 0
  b 0
  accuracy 1
  accuracy_exp 0
  sensor_direction input
  r_exp 0
  b_exp 0
  sensor_maximum 255
  sensor_minimum 0
  id_string "${name}"
endsdr
`;
}

const SDRS = `sdr type 18
  device_slave_address 0x20
  device_channel_number 0
  chassis true
  ipmb_event_gen false
  ipmb_event_recv false
  fru_inventory true
  sel true
  sdr true
  sensor true
  entity_id system_board
  entity_instance 1
  id_string "testbmc"
endsdr
${sensorSdr(1, 'Temperature', 'degrees_C', 1, 'CPU Temp')}
${sensorSdr(2, 'Fan', 'RPM', 50, 'Fan1')}`;

/** An IPMI FRU image (common header, board area, product area), IPMI FRU spec v1.0. */
export function fruImage(): number[] {
  const text = (s: string): number[] => [0xc0 | s.length, ...Buffer.from(s, 'latin1')];
  const area = (body: number[]): number[] => {
    // body starts with version + length placeholder; pad to 8 bytes incl. the checksum byte
    const withEnd = [...body, 0xc1];
    while ((withEnd.length + 1) % 8 !== 0) withEnd.push(0);
    withEnd[1] = (withEnd.length + 1) / 8;
    const sum = withEnd.reduce((a, b) => a + b, 0);
    return [...withEnd, (0x100 - (sum & 0xff)) & 0xff];
  };
  const board = area([
    0x01, 0, 0x19, 0, 0, 0,
    ...text('Acme'), ...text('Board X'), ...text('BSN0001'), ...text('BPN-1'), 0xc0,
  ]);
  const product = area([
    0x01, 0, 0x19,
    ...text('Acme'), ...text('Server 9000'), ...text('PN-9000'), ...text('v1'), ...text('SN123456'),
    ...text('AT-0001'), 0xc0,
  ]);
  const header = [0x01, 0, 0, 1, 1 + board.length / 8, 0, 0];
  const hsum = header.reduce((a, b) => a + b, 0);
  header.push((0x100 - (hsum & 0xff)) & 0xff);
  return [...header, ...board, ...product];
}

export async function startIpmiSim(): Promise<IpmiSim> {
  const ipmiSim = requireCommand('ipmi_sim');
  const sdrcomp = requireCommand('sdrcomp');
  const dir = await tempDir('bmc');
  const port = await freeUdpPort();
  const user = 'admin';
  const password = 'password';
  let daemon: Daemon | undefined;
  try {
    await writeFile(join(dir, 'chassis_control.sh'), CHASSIS_CONTROL);
    await writeFile(join(dir, 'lan_control.sh'), LAN_CONTROL);
    await chmod(join(dir, 'chassis_control.sh'), 0o755);
    await chmod(join(dir, 'lan_control.sh'), 0o755);
    await writeFile(join(dir, 'power'), '1\n');
    await writeFile(
      join(dir, 'lan.conf'),
      `name "testbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
    lan_config_program "${dir}/lan_control.sh eth0"
  endlan
  chassis_control "${dir}/chassis_control.sh 0x20"
  user 1 true  ""      "test"     user  10 none md2 md5 straight
  user 2 true  "${user}" "${password}" admin 10 none md2 md5 straight
`,
    );
    const fru = fruImage();
    await writeFile(
      join(dir, 'bmc.emu'),
      `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 1 0x01 0x01
sensor_set_value 0x20 0 1 45 0
sensor_add 0x20 0 2 0x04 0x01
sensor_set_value 0x20 0 2 60 0
mc_add_fru_data 0x20 0 ${fru.length} data ${fru.map((b) => '0x' + b.toString(16).padStart(2, '0')).join(' ')}
mc_enable 0x20
`,
    );
    await writeFile(join(dir, 'bmc.sdrs'), SDRS);
    const sdrDir = join(dir, 'state', 'ipmi_sim', 'testbmc');
    await mkdir(sdrDir, { recursive: true });
    await execFileP(sdrcomp, ['-o', join(sdrDir, 'sdr.20.main'), join(dir, 'bmc.sdrs')]);
    daemon = startDaemon(
      'ipmi_sim',
      ipmiSim,
      ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'],
      dir,
    );
    const d = daemon;
    await waitFor('ipmi_sim listening', async () => {
      if (d.exited) throw new Error(`ipmi_sim exited: ${d.log()}`);
      const { stdout } = await execFileP('ss', ['-Hlun', `sport = :${port}`]);
      return stdout.includes(`127.0.0.1:${port}`);
    }, 10_000);
    if (d.exited) throw new Error(`ipmi_sim exited: ${d.log()}`);
  } catch (err) {
    await stopDaemon(daemon);
    await removeDir(dir);
    throw err;
  }
  const started = daemon;
  return {
    dir,
    port,
    user,
    password,
    state: async (name) => (await readFile(join(dir, name), 'utf8').catch(() => '')).trim(),
    controlLog: async () => readFile(join(dir, 'chassis.log'), 'utf8').catch(() => ''),
    setPower: async (on) => writeFile(join(dir, 'power'), on ? '1\n' : '0\n'),
    stop: async () => {
      await stopDaemon(started);
      await removeDir(dir);
    },
  };
}
