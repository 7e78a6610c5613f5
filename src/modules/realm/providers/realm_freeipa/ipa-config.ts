// /etc/ipa/default.conf: the `xmlrpc_uri` and `realm` lines (first `=` splits, whitespace trimmed),
// the way the reference reads them.

export interface IpaClientConfig {
  /** e.g. https://ipa.example.com/ipa/xml */
  readonly xmlrpcUri: string;
  /** https://ipa.example.com[:port] — where the session and JSON endpoints live. */
  readonly origin: string;
  readonly realm: string;
}

export function parseIpaConfig(text: string): IpaClientConfig {
  let xmlrpcUri: string | undefined;
  let realm: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'xmlrpc_uri') xmlrpcUri = value;
    else if (key === 'realm') realm = value;
  }
  if (xmlrpcUri === undefined || realm === undefined || realm === '' || !URL.canParse(xmlrpcUri)) {
    throw new Error('unable to parse client configuration');
  }
  const url = new URL(xmlrpcUri);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('unable to parse client configuration');
  return { xmlrpcUri, origin: url.origin, realm };
}
