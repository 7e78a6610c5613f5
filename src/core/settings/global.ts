// Global settings of settings.yml (spec README §8.1) plus our `listeners:` extension.

export type ClientCertPolicy = 'request' | 'require' | 'none';

export interface ListenerSpec {
  readonly name: string;
  /** Addresses to bind; `*` means every interface, IPv4 and IPv6. */
  readonly bind: readonly string[];
  readonly port: number;
  /** 'http' or 'https'. */
  readonly scheme: 'http' | 'https';
  readonly audience: 'foreman' | 'client';
  /** HTTPS only. Defaults to the global ssl_* files. */
  readonly sslCertificate?: string;
  readonly sslPrivateKey?: string;
  readonly sslCaFile?: string;
  /** HTTPS only: request (reference behaviour), require, or none. */
  readonly clientCert: ClientCertPolicy;
  /** Modules to mount; default every running module whose audience matches. */
  readonly modules?: readonly string[];
}

export interface GlobalSettings {
  /** Absolute path of the directory holding settings.yml. */
  readonly settingsDir: string;
  /** Absolute path of the per-module settings directory. */
  readonly settingsDirectory: string;
  readonly sslCertificate: string | null;
  readonly sslPrivateKey: string | null;
  readonly sslCaFile: string | null;
  readonly sslDisabledCiphers: readonly string[];
  readonly tlsDisabledVersions: readonly string[];
  /** null = check skipped; [] = everyone denied. */
  readonly trustedHosts: readonly string[] | null;
  readonly forwardVerify: boolean;
  /** With a trailing `/` (appended when missing), or null. */
  readonly foremanUrl: string | null;
  readonly foremanSslCa: string | null;
  readonly foremanSslCert: string | null;
  readonly foremanSslKey: string | null;
  readonly bindHost: readonly string[];
  readonly httpPort: number | null;
  readonly httpsPort: number;
  readonly logFile: string;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL' | 'UNKNOWN';
  readonly fileRollingSize: number;
  readonly fileRollingAge: string | number;
  readonly fileRollingKeep: number;
  readonly fileLoggingPattern: string;
  readonly systemLoggingPattern: string;
  readonly logBuffer: number;
  readonly logBufferErrors: number;
  /** Seconds per try for DNS queries the proxy makes itself. */
  readonly dnsResolvTimeouts: readonly number[];
  /** Our extension: explicit listeners. Empty = compatible mode from http_port/https_port. */
  readonly listeners: readonly ListenerSpec[];
  /** Our extension: hardening limits (see docs in config/settings.yml). */
  readonly limits: Limits;
  /**
   * Our extension: addresses or subnets of front ends (the router, a load balancer) whose
   * X-Forwarded-For is believed, so a host's own address reaches Foreman behind them.
   */
  readonly trustedProxies: readonly string[];
  /** Every key of settings.yml as loaded (leading colons stripped), for modules that need more. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface Limits {
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly maxConnections: number;
  /** Open connections one peer (IP address) may hold on a listening socket. */
  readonly maxConnectionsPerPeer: number;
  /** Slots below maxConnections kept for control peers and peers with no other connection. */
  readonly reservedConnections: number;
  /** Addresses or subnets (address/prefix) allowed into the reserve, without per-peer limit. */
  readonly controlPeers: readonly string[];
}
