// A small circuit breaker for one backend. After a failure (for the OMAPI client: an exchange
// that timed out, i.e. dhcpd accepts but does not answer) calls are refused at once for an open
// period instead of each waiting out its own deadline; then one call goes through as a trial
// (half-open): if it succeeds the breaker closes, if it fails the breaker opens again.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** How long calls are refused after a failure, in ms. */
  openMs: number;
  /** Clock, replaceable in tests. */
  now?: () => number;
}

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions) {
    this.openMs = options.openMs;
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.current;
  }

  /**
   * Ask to make a call: undefined to go ahead (the caller then reports succeeded() or failed()),
   * otherwise the call is refused and the value is how many ms until a trial will be let through.
   */
  admit(): number | undefined {
    if (this.current === 'closed') return undefined;
    const left = this.openedAt + this.openMs - this.now();
    if (this.current === 'open') {
      if (left > 0) return left;
      this.current = 'half-open';
      return undefined;
    }
    // half-open: the trial is still running (it may take up to its own deadline).
    return this.openMs;
  }

  succeeded(): void {
    this.current = 'closed';
  }

  failed(): void {
    this.current = 'open';
    this.openedAt = this.now();
  }
}
