// Stand-ins for the Salt master (Debian 12 packages no salt-master): `salt-key` and `salt`
// executables put first on PATH, and a Salt API (rest_cherrypy) server. They follow the
// interfaces the proxy uses, as Salt documents them:
//   salt-key --finger-all --output=json  → {"minions": {...}, "minions_pre": {...}, "minions_rejected": {...}, "minions_denied": {...}}
//   salt-key [--include-rejected|--include-accepted] --yes -a|-r|-d <minion>
//   salt --async <minion> state.highstate            → "Executed command with job ID: <jid>"
//   salt --show-jid [--saltfile=F] <minion> state.template_str <template>  → "jid: <jid>" then the minion's result
//   POST /run (form: fun, client=runner, username, password, eauth[, saltenv]) → {"return": [<result>]}
// Keys live in <dir>/keys.json; every command invocation is appended to <dir>/calls.jsonl with its
// argv and uid. Modelled failures: <dir>/broken makes salt-key fail (as when it cannot read the
// master's key directory), <dir>/hang makes it hang; a template containing `fail_me` fails the state; `sleep_me` makes salt
// wait (for cancel tests); a minion without an accepted key matches nothing and gets no jid.

import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SaltKeys {
  minions: Record<string, string>;
  minions_pre: Record<string, string>;
  minions_rejected: Record<string, string>;
  minions_denied: Record<string, string>;
}

export interface SaltCall {
  tool: 'salt' | 'salt-key';
  argv: string[];
  uid: number;
}

export interface SaltCommandStandIns {
  /** Directory to put first on PATH. */
  readonly binDir: string;
  keys(): Promise<SaltKeys>;
  setKeys(keys: SaltKeys): Promise<void>;
  calls(): Promise<SaltCall[]>;
  /** Make salt-key fail (true) or work again. */
  setBroken(broken: boolean): Promise<void>;
  /** Make salt-key hang for 30 s (true: a master that does not answer) or work again. */
  setHanging(hanging: boolean): Promise<void>;
}

// Shared by both tools: the state file helpers. Plain JavaScript, run by this Node binary.
const COMMON = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const dir = path.dirname(path.dirname(process.argv[1]));
const keysFile = path.join(dir, 'keys.json');
const readKeys = () => JSON.parse(fs.readFileSync(keysFile, 'utf8'));
const writeKeys = (k) => fs.writeFileSync(keysFile, JSON.stringify(k));
const argv = process.argv.slice(2);
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ tool: TOOL, argv, uid: process.getuid() }) + '\n');
const jid = () => new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 17) + String(Math.floor(Math.random() * 1000)).padStart(3, '0');
`;

const SALT_KEY = String.raw`
if (fs.existsSync(path.join(dir, 'hang'))) {
  setTimeout(() => process.exit(0), 30000);
  return;
}
if (fs.existsSync(path.join(dir, 'broken'))) {
  process.stderr.write('[ERROR   ] Unable to read the master key directory /etc/salt/pki/master: Permission denied\n');
  process.exit(2);
}
const keys = readKeys();
if (argv.includes('--finger-all')) {
  process.stdout.write(JSON.stringify(keys, null, 4) + '\n');
  process.exit(0);
}
const at = argv.findIndex((a) => a === '-a' || a === '-r' || a === '-d');
if (at < 0 || !argv.includes('--yes')) {
  process.stderr.write('salt-key stand-in: unsupported arguments ' + argv.join(' ') + '\n');
  process.exit(64);
}
const action = argv[at];
const minion = argv[at + 1];
const sections = action === '-a' ? ['minions_pre'].concat(argv.includes('--include-rejected') ? ['minions_rejected'] : [])
  : action === '-r' ? ['minions_pre'].concat(argv.includes('--include-accepted') ? ['minions'] : [])
  : ['minions', 'minions_pre', 'minions_rejected', 'minions_denied'];
const found = sections.find((s) => minion in keys[s]);
if (!found) {
  process.stdout.write("The key glob '" + minion + "' does not match any " + (action === '-a' ? 'unaccepted' : '') + ' keys.\n');
  process.exit(0);
}
const fingerprint = keys[found][minion];
delete keys[found][minion];
if (action === '-a') keys.minions[minion] = fingerprint;
if (action === '-r') keys.minions_rejected[minion] = fingerprint;
writeKeys(keys);
process.stdout.write((action === '-a' ? 'Key for minion ' + minion + ' accepted.' : action === '-r' ? 'Key for minion ' + minion + ' rejected.' : 'Deleting the following keys:\n' + minion) + '\n');
`;

const SALT = String.raw`
const keys = readKeys();
const opts = argv.filter((a) => a.startsWith('--'));
const [target, fun, arg] = argv.filter((a) => !a.startsWith('--'));
const matched = target in keys.minions;
if (!matched) {
  process.stderr.write('No minions matched the target. No command was sent, no jid was assigned.\n');
  process.exit(2);
}
const id = jid();
if (opts.includes('--async')) {
  process.stdout.write('Executed command with job ID: ' + id + '\n');
  process.exit(0);
}
if (fun !== 'state.template_str' || !opts.includes('--show-jid')) {
  process.stderr.write('salt stand-in: unsupported call ' + argv.join(' ') + '\n');
  process.exit(64);
}
process.stdout.write('jid: ' + id + '\n');
const fail = (arg || '').includes('fail_me');
const finish = () => {
  process.stdout.write(target + ':\n----------\n          ID: foreman_rex\n    Function: template_str\n      Result: ' + (fail ? 'False' : 'True') + '\n     Comment: ' + (arg || '').split('\n')[0] + '\n\nSummary for ' + target + '\n------------\nSucceeded: ' + (fail ? 0 : 1) + '\nFailed:    ' + (fail ? 1 : 0) + '\n');
  if (fail) process.stderr.write('[ERROR   ] state failed\n');
  process.exit(fail ? 1 : 0);
};
if ((arg || '').includes('sleep_me')) setTimeout(finish, 60000); else finish();
`;

async function flag(file: string, on: boolean): Promise<void> {
  if (on) await writeFile(file, '');
  else await rm(file, { force: true });
}

export async function installSaltCommandStandIns(dir: string, keys: SaltKeys): Promise<SaltCommandStandIns> {
  const binDir = join(dir, 'bin');
  await mkdir(binDir, { recursive: true });
  const write = async (name: 'salt' | 'salt-key', body: string): Promise<void> => {
    const file = join(binDir, name);
    await writeFile(file, `#!${process.execPath}\n'use strict';\nconst TOOL = ${JSON.stringify(name)};\n${COMMON}\n${body}\n`);
    await chmod(file, 0o755);
  };
  await write('salt-key', SALT_KEY);
  await write('salt', SALT);
  await writeFile(join(dir, 'keys.json'), JSON.stringify(keys));
  await writeFile(join(dir, 'calls.jsonl'), '');
  return {
    binDir,
    keys: async () => JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as SaltKeys,
    setKeys: (k) => writeFile(join(dir, 'keys.json'), JSON.stringify(k)),
    calls: async () =>
      (await readFile(join(dir, 'calls.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as SaltCall),
    setBroken: (broken) => flag(join(dir, 'broken'), broken),
    setHanging: (hanging) => flag(join(dir, 'hang'), hanging),
  };
}

export interface SaltApiRequest {
  path: string;
  contentType: string | undefined;
  form: Record<string, string>;
}

export interface SaltApiStandIn {
  readonly url: string;
  readonly requests: SaltApiRequest[];
  close(): Promise<void>;
}

export interface SaltApiOptions {
  tls: { cert: string; key: string };
  username: string;
  password: string;
  eauth: string;
  /** Environment → files of the file server. */
  environments: Record<string, string[]>;
}

/** A salt-api (rest_cherrypy) stand-in over HTTPS on 127.0.0.1: POST /run for runner functions. */
export async function startSaltApiStandIn(o: SaltApiOptions): Promise<SaltApiStandIn> {
  const requests: SaltApiRequest[] = [];
  const [cert, key] = await Promise.all([readFile(o.tls.cert), readFile(o.tls.key)]);
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const server: Server = createServer({ cert, key }, (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(raw));
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'], form });
      if (req.method !== 'POST' || req.url !== '/run') return answer(res, 404, '{"status": 404, "return": "Not Found"}');
      if (form.username !== o.username || form.password !== o.password || form.eauth !== o.eauth) {
        return answer(res, 401, '{"status": 401, "return": "Could not authenticate using provided credentials"}');
      }
      if (form.client !== 'runner') return answer(res, 400, '{"status": 400, "return": "client must be runner"}');
      if (form.fun === 'fileserver.envs') return answer(res, 200, { return: [Object.keys(o.environments)] });
      if (form.fun === 'fileserver.file_list') return answer(res, 200, { return: [o.environments[form.saltenv ?? 'base'] ?? []] });
      answer(res, 200, { return: [`'${form.fun}' is not available.`] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
