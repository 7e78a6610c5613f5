// Error types of the DNS library. Callers map them to HTTP statuses; the messages already say
// what went wrong and where, so they can be shown as they are.

export class DnsError extends Error {
  /** Stable machine-readable code, e.g. `dns.timeout`. */
  readonly code: string;
  constructor(message: string, code = 'dns.error') {
    super(message);
    this.name = 'DnsError';
    this.code = code;
  }
}

/** Malformed wire data or presentation text. The only error the decoders throw. */
export class DnsParseError extends DnsError {
  constructor(message: string) {
    super(message, 'dns.parse');
    this.name = 'DnsParseError';
  }
}

/** No usable answer within the deadline, or the server could not be reached. */
export class DnsTransportError extends DnsError {
  constructor(message: string, code = 'dns.transport') {
    super(message, code);
    this.name = 'DnsTransportError';
  }
}

/** TSIG signing/verification problems, including the server rejecting our key. */
export class DnsTsigError extends DnsError {
  constructor(message: string) {
    super(message, 'dns.tsig');
    this.name = 'DnsTsigError';
  }
}
