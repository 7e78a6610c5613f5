// Starts a real Puppet Server (Debian `puppetserver`, run from its jar as root, CA enabled) on a free
// loopback port with every file under one temp dir. Recipe and traps: notes/more-backends.md §1.
// It takes 15–30 s to start, so a test run starts it once and shares it.

import { mkdir, writeFile, copyFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import {
  execFileP,
  freeTcpPort,
  requireCommand,
  startDaemon,
  stopDaemon,
  waitFor,
  type Daemon,
} from '../lib/procs.ts';

const JAR = '/usr/share/puppetserver/puppetserver.jar';
const PACKAGED_CONF = '/etc/puppet/puppetserver';

export interface PuppetServer {
  readonly dir: string;
  readonly port: number;
  /** https://127.0.0.1:<port> (the server certificate carries IP:127.0.0.1). */
  readonly url: string;
  readonly caFile: string;
  /** Certificate and key the proxy presents; its certname is allowed by auth.conf. */
  readonly proxyCert: string;
  readonly proxyKey: string;
  /** The `autosign` path in puppet.conf: a whitelist file, or an executable policy script. */
  readonly autosignPath: string;
  readonly codeDir: string;
  readonly daemon: Daemon;
  stop(): Promise<void>;
}

export const PROXY_CERTNAME = 'proxy.example.test';
export const SERVER_CERTNAME = 'puppet.example.test';

function authConf(admin: string): string {
  const adminAllow = `allow: ["${admin}", { extensions: { pp_cli_auth: "true" } }]`;
  return `authorization: {
  version: 1
  rules: [
    { match-request: { path: "/puppet-ca/v1/certificate/", type: path, method: get }
      allow-unauthenticated: true, sort-order: 500, name: "ca cert" },
    { match-request: { path: "/puppet-ca/v1/certificate_revocation_list/ca", type: path, method: get }
      allow-unauthenticated: true, sort-order: 500, name: "crl" },
    { match-request: { path: "/puppet-ca/v1/certificate_request", type: path, method: [get, put] }
      allow-unauthenticated: true, sort-order: 500, name: "csr" },
    { match-request: { path: "/puppet-ca/v1/certificate_status", type: path, method: [get, put, delete] }
      ${adminAllow}, sort-order: 500, name: "cert status" },
    { match-request: { path: "/puppet-ca/v1/certificate_statuses", type: path, method: get }
      ${adminAllow}, sort-order: 500, name: "cert statuses" },
    { match-request: { path: "/puppet/v3/environments", type: path, method: get }
      allow: "*", sort-order: 500, name: "environments" },
    { match-request: { path: "/puppet/v3/environment_classes", type: path, method: get }
      allow: "*", sort-order: 500, name: "environment classes" },
    { match-request: { path: "/status/v1/simple", type: path, method: get }
      allow-unauthenticated: true, sort-order: 500, name: "status simple" },
    { match-request: { path: "/", type: path }
      deny: "*", sort-order: 999, name: "deny all" }
  ]
}
`;
}

/** GET over HTTPS without verification (the CA does not exist before the first start). */
function insecureGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Start the server in `dir` (an empty temp dir owned by the caller). `manifests` maps paths under
 * the code dir to file contents (modules and classes to list).
 */
export async function startPuppetServer(dir: string, manifests: Record<string, string>): Promise<PuppetServer> {
  const java = requireCommand('java');
  requireCommand('openssl');
  if (!existsSync(JAR)) throw new Error(`${JAR} is missing: install the Debian package puppetserver (test/deps/puppet.apt)`);
  const port = await freeTcpPort();
  const p = (...parts: string[]): string => join(dir, ...parts);
  for (const d of ['var', 'log', 'run', 'gems', 'conf.d', 'services.d', 'puppet', 'code/environments/production/manifests']) {
    await mkdir(p(d), { recursive: true });
  }
  for (const [rel, text] of Object.entries(manifests)) {
    await mkdir(join(p('code'), rel, '..'), { recursive: true });
    await writeFile(join(p('code'), rel), text);
  }
  const autosignPath = p('autosign');
  await writeFile(
    p('puppet', 'puppet.conf'),
    `[main]
certname = ${SERVER_CERTNAME}
dns_alt_names = ${SERVER_CERTNAME},localhost,IP:127.0.0.1
vardir = ${p('var')}
logdir = ${p('log')}
rundir = ${p('run')}
ssldir = ${p('ssl')}
codedir = ${p('code')}
[server]
cadir = ${p('ssl', 'ca')}
autosign = ${autosignPath}
`,
  );
  await writeFile(
    p('conf.d', 'global.conf'),
    `global: { logging-config: ${p('logback.xml')} }\nproduct: { check-for-updates: false }\ndropsonde: { enabled: false }\n`,
  );
  await writeFile(p('conf.d', 'webserver.conf'), `webserver: {\n  client-auth: want\n  ssl-host: 127.0.0.1\n  ssl-port: ${port}\n}\n`);
  await writeFile(
    p('conf.d', 'puppetserver.conf'),
    `jruby-puppet: {
  ruby-load-path: [/usr/lib/puppetserver/ruby/vendor_ruby]
  gem-home: ${p('gems')}
  gem-path: [${p('gems')}, "/usr/lib/puppetserver/vendored-jruby-gems"]
  server-conf-dir: ${p('puppet')}
  server-code-dir: ${p('code')}
  server-var-dir: ${p('var')}
  server-run-dir: ${p('run')}
  server-log-dir: ${p('log')}
  max-active-instances: 1
  environment-class-cache-enabled: true
}
http-client: {}
profiler: {}
`,
  );
  await writeFile(p('conf.d', 'ca.conf'), 'certificate-authority: { allow-subject-alt-names: true }\n');
  await writeFile(p('conf.d', 'auth.conf'), authConf(PROXY_CERTNAME));
  await copyFile(join(PACKAGED_CONF, 'conf.d', 'web-routes.conf'), p('conf.d', 'web-routes.conf'));
  await copyFile(join(PACKAGED_CONF, 'conf.d', 'metrics.conf'), p('conf.d', 'metrics.conf'));
  await copyFile(join(PACKAGED_CONF, 'services.d', 'bootstrap.cfg'), p('services.d', 'bootstrap.cfg'));
  await copyFile(join(PACKAGED_CONF, 'services.d', 'ca.cfg'), p('services.d', 'ca.cfg'));
  await writeFile(
    p('logback.xml'),
    `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d %-5p [%c{2}] %m%n</pattern></encoder>
  </appender>
  <root level="info"><appender-ref ref="STDOUT"/></root>
</configuration>
`,
  );

  const daemon = startDaemon(
    'puppetserver',
    java,
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      '-Djruby.lib=/usr/share/jruby/lib',
      '-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger',
      '-jar',
      JAR,
      '--config',
      p('conf.d'),
      '--bootstrap-config',
      p('services.d'),
    ],
    dir,
  );
  try {
    // Generous: a cold start generates the CA and takes ~20 s on an idle 2-core machine, several
    // minutes when other heavy tests share the cores.
    await waitFor(
      'puppetserver to answer /status/v1/simple',
      async () => {
        if (daemon.exited) throw new Error(`puppetserver exited:\n${daemon.log().slice(-3000)}`);
        const r = await insecureGet(`https://127.0.0.1:${port}/status/v1/simple`);
        return r.status === 200 && r.body.trim() === 'running';
      },
      420_000,
      500,
    );
  } catch (err) {
    await stopDaemon(daemon);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${reason}\n--- puppetserver log (tail) ---\n${daemon.log().slice(-4000)}`);
  }

  // The proxy's own certificate, signed offline with the CA key, as foreman-installer's is signed
  // by the CA: auth.conf allows its certname on the certificate_status endpoints.
  const caFile = p('ssl', 'certs', 'ca.pem');
  const proxyKey = p('proxy.key');
  const proxyCert = p('proxy.pem');
  await execFileP('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', proxyKey, '-subj', `/CN=${PROXY_CERTNAME}`, '-out', p('proxy.csr')]);
  await writeFile(p('proxy.ext'), 'extendedKeyUsage=critical,clientAuth\n');
  await execFileP('openssl', [
    'x509', '-req', '-in', p('proxy.csr'), '-CA', p('ssl', 'ca', 'ca_crt.pem'), '-CAkey', p('ssl', 'ca', 'ca_key.pem'),
    '-set_serial', '0x7f000001', '-days', '30', '-extfile', p('proxy.ext'), '-out', proxyCert,
  ]);
  await readFile(caFile); // fail here, clearly, if the CA did not write its certificate

  return {
    dir,
    port,
    url: `https://127.0.0.1:${port}`,
    caFile,
    proxyCert,
    proxyKey,
    autosignPath,
    codeDir: p('code'),
    daemon,
    stop: () => stopDaemon(daemon),
  };
}
