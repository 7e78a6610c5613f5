// TSIG keys in the files `nsupdate -k` reads:
//  - BIND configuration syntax (tsig-keygen, ddns-confgen, rndc.key):
//      key "name" { algorithm hmac-sha256; secret "base64=="; };
//  - the older dnssec-keygen pair, `K<name>.+<alg>+<id>.private` ("Algorithm: 157 (HMAC_MD5)",
//    "Key: base64"), where the key name comes from the file name.

import { basename } from 'node:path';
import { DnsParseError } from './errors.ts';
import { parseAlgorithm, type TsigAlgorithm, type TsigKey } from './tsig.ts';

type Token = { t: 'word' | 'string' | 'punct'; v: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new DnsParseError('unterminated /* comment');
      i = end + 2;
    } else if (c === '"') {
      let v = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        v += text[i++];
      }
      if (i >= text.length) throw new DnsParseError('unterminated string');
      i++;
      out.push({ t: 'string', v });
    } else if (c === '{' || c === '}' || c === ';') {
      out.push({ t: 'punct', v: c });
      i++;
    } else {
      let v = '';
      while (i < text.length && !/[\s{};"#]/.test(text[i])) v += text[i++];
      out.push({ t: 'word', v });
    }
  }
  return out;
}

function decodeSecret(b64: string, keyName: string): Uint8Array {
  const clean = b64.replace(/\s+/g, '');
  if (clean === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) {
    throw new DnsParseError(`key '${keyName}': secret is not valid base64`);
  }
  return new Uint8Array(Buffer.from(clean, 'base64'));
}

function algorithmOf(text: string, keyName: string): TsigAlgorithm {
  const a = parseAlgorithm(text);
  if (!a) throw new DnsParseError(`key '${keyName}': unsupported algorithm '${text}' (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)`);
  return a;
}

/** Every `key` block of a BIND-syntax file, in order. Other statements are skipped. */
export function parseBindKeys(text: string): TsigKey[] {
  const toks = tokenize(text);
  const keys: TsigKey[] = [];
  let i = 0;
  const skipBlock = (): void => {
    // skip to the end of the current statement, balancing braces
    let depth = 0;
    while (i < toks.length) {
      const t = toks[i++];
      if (t.t === 'punct' && t.v === '{') depth++;
      else if (t.t === 'punct' && t.v === '}') depth--;
      else if (t.t === 'punct' && t.v === ';' && depth <= 0) return;
    }
  };
  while (i < toks.length) {
    const t = toks[i];
    if (t.t === 'word' && t.v.toLowerCase() === 'key' && toks[i + 2]?.v === '{') {
      const name = toks[i + 1].v;
      i += 3;
      let algorithm: string | undefined;
      let secret: string | undefined;
      while (i < toks.length && !(toks[i].t === 'punct' && toks[i].v === '}')) {
        const field = toks[i].v.toLowerCase();
        const value = toks[i + 1];
        if (!value || value.t === 'punct') throw new DnsParseError(`key '${name}': '${field}' has no value`);
        if (field === 'algorithm') algorithm = value.v;
        else if (field === 'secret') secret = value.v;
        i += 2;
        if (toks[i]?.t === 'punct' && toks[i].v === ';') i++;
      }
      if (i >= toks.length) throw new DnsParseError(`key '${name}': missing closing brace`);
      i++; // }
      if (toks[i]?.t === 'punct' && toks[i].v === ';') i++;
      if (algorithm === undefined) throw new DnsParseError(`key '${name}': no algorithm`);
      if (secret === undefined) throw new DnsParseError(`key '${name}': no secret`);
      keys.push({ name, algorithm: algorithmOf(algorithm, name), secret: decodeSecret(secret, name) });
    } else {
      skipBlock();
    }
  }
  return keys;
}

const PRIVATE_ALGS: Record<string, TsigAlgorithm> = {
  '157': 'hmac-md5',
  '161': 'hmac-sha1',
  '162': 'hmac-sha224',
  '163': 'hmac-sha256',
  '164': 'hmac-sha384',
  '165': 'hmac-sha512',
};

/** A dnssec-keygen `.private` file; `fileName` gives the key name (`Kname.+157+12345.private`). */
export function parsePrivateKeyFile(text: string, fileName: string): TsigKey {
  const m = /^K(.+)\.\+(\d{3})\+\d+\.(private|key)$/.exec(basename(fileName));
  if (!m) throw new DnsParseError(`'${basename(fileName)}' is not named K<name>.+<alg>+<id>.private`);
  const name = m[1].replace(/\.$/, '');
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const c = line.indexOf(':');
    if (c > 0) fields.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  const algNum = (fields.get('algorithm') ?? m[2]).split(/\s/)[0];
  const algorithm = PRIVATE_ALGS[algNum];
  if (!algorithm) throw new DnsParseError(`key '${name}': unsupported algorithm number ${algNum}`);
  const secret = fields.get('key');
  if (secret === undefined) throw new DnsParseError(`key '${name}': no Key: line`);
  return { name, algorithm, secret: decodeSecret(secret, name) };
}

/** The key `nsupdate -k <file>` would use: the first key of the file. */
export function parseKeyFile(text: string, fileName: string): TsigKey {
  if (/^Private-key-format:/m.test(text)) return parsePrivateKeyFile(text, fileName);
  const keys = parseBindKeys(text);
  if (keys.length === 0) throw new DnsParseError(`no key "name" { … }; block found in ${fileName}`);
  return keys[0];
}
