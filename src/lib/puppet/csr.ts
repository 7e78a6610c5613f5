// The parts of a PKCS#10 certificate request (RFC 2986) that token autosigning looks at: the
// subject CN, the challengePassword attribute (where a Puppet agent puts its token, through
// csr_attributes.yaml) and whether the request is signed by the key it carries.

import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { children, content, decodeOid, decodeString, DerError, expectTag, readTlv, TAG, whole, type Tlv } from './der.ts';

const OID_CN = '2.5.4.3';
const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';

/** Signature algorithm OID → digest name for node:crypto (null: the key type implies it). */
const SIGNATURE_DIGESTS: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

/** A CSR is a few KiB at most; anything larger is refused before it is parsed. */
export const MAX_CSR_BYTES = 64 * 1024;

export interface CsrInfo {
  readonly commonName: string | undefined;
  readonly challengePassword: string | undefined;
  /** true when the self-signature verifies with the CSR's own public key. */
  readonly selfSigned: boolean;
}

export class CsrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsrError';
  }
}

/** The DER bytes of a PEM `CERTIFICATE REQUEST` block, or the input itself when it is DER. */
export function csrDer(data: string | Uint8Array): Uint8Array {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  const m = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(text);
  if (m) {
    const b64 = m[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new CsrError('not a certificate request: bad base64 in PEM block');
    return Buffer.from(b64, 'base64');
  }
  if (typeof data === 'string') throw new CsrError('not a certificate request: no PEM CERTIFICATE REQUEST block');
  return data;
}

interface ParsedCsr {
  commonName: string | undefined;
  challengePassword: string | undefined;
  tbs: Uint8Array;
  spki: Uint8Array;
  signatureOid: string;
  signature: Uint8Array;
}

function parse(der: Uint8Array): ParsedCsr {
  const top = expectTag(readTlv(der, 0), TAG.SEQUENCE, 'CertificationRequest');
  if (top.end !== der.length) throw new DerError('trailing data after CertificationRequest');
  const [info, algId, sig] = children(der, top);
  expectTag(info, TAG.SEQUENCE, 'CertificationRequestInfo');
  expectTag(algId, TAG.SEQUENCE, 'signatureAlgorithm');
  expectTag(sig, TAG.BIT_STRING, 'signature');
  const infoParts = children(der, info);
  expectTag(infoParts[0], TAG.INTEGER, 'version');
  const subject = expectTag(infoParts[1], TAG.SEQUENCE, 'subject');
  const spki = expectTag(infoParts[2], TAG.SEQUENCE, 'subjectPKInfo');
  const attrs = infoParts[3] ? expectTag(infoParts[3], TAG.CONTEXT_0, 'attributes') : undefined;

  let commonName: string | undefined;
  for (const rdn of children(der, subject)) {
    for (const atv of children(der, expectTag(rdn, TAG.SET, 'RDN'))) {
      const [type, value] = children(der, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      if (commonName === undefined && decodeOid(content(der, expectTag(type, TAG.OID, 'attribute type'))) === OID_CN) {
        if (!value) throw new DerError('CN without a value');
        commonName = decodeString(der, value);
      }
    }
  }

  let challengePassword: string | undefined;
  if (attrs) {
    for (const attr of children(der, attrs)) {
      const [type, values] = children(der, expectTag(attr, TAG.SEQUENCE, 'Attribute'));
      if (decodeOid(content(der, expectTag(type, TAG.OID, 'attribute type'))) !== OID_CHALLENGE_PASSWORD) continue;
      const vals: Tlv[] = children(der, expectTag(values, TAG.SET, 'challengePassword values'));
      if (vals.length !== 1) throw new DerError('challengePassword must have exactly one value');
      challengePassword = decodeString(der, vals[0]);
    }
  }

  const algParts = children(der, algId);
  const signatureOid = decodeOid(content(der, expectTag(algParts[0], TAG.OID, 'signature algorithm')));
  const sigBytes = content(der, sig);
  if (sigBytes.length < 1 || sigBytes[0] !== 0) throw new DerError('signature BIT STRING with unused bits');
  return {
    commonName,
    challengePassword,
    tbs: whole(der, info),
    spki: whole(der, spki),
    signatureOid,
    signature: sigBytes.subarray(1),
  };
}

function verifySignature(p: ParsedCsr): Promise<boolean> {
  if (!(p.signatureOid in SIGNATURE_DIGESTS)) return Promise.resolve(false);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(p.spki), format: 'der', type: 'spki' });
  } catch {
    return Promise.resolve(false);
  }
  // The callback form runs in libuv's thread pool, off the event loop.
  return new Promise((resolve) => {
    try {
      cryptoVerify(SIGNATURE_DIGESTS[p.signatureOid], p.tbs, key, p.signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** Parse a PEM (or DER) CSR. Throws CsrError when it is not one. */
export async function readCsr(data: string | Uint8Array): Promise<CsrInfo> {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  if (size === 0) throw new CsrError('empty certificate request');
  if (size > MAX_CSR_BYTES) throw new CsrError(`certificate request larger than ${MAX_CSR_BYTES} bytes`);
  let parsed: ParsedCsr;
  try {
    parsed = parse(csrDer(data));
  } catch (err) {
    if (err instanceof CsrError) throw err;
    if (err instanceof DerError || err instanceof TypeError) throw new CsrError(`not a certificate request: ${err.message}`);
    throw err;
  }
  return {
    commonName: parsed.commonName,
    challengePassword: parsed.challengePassword,
    selfSigned: await verifySignature(parsed),
  };
}
