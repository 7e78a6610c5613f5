// One deadline per BMC request, shared by every command and HTTP call the request makes (a power
// cycle is a status query plus a cycle; a LAN read may try two channels), so the request as a
// whole never outlives `bmc_timeout`.

import type { ProxyError } from '../../../core/errors.ts';
import { BmcError } from '../errors.ts';

export class Deadline {
  readonly totalMs: number;
  private readonly end: number;

  constructor(totalMs: number) {
    this.totalMs = totalMs;
    this.end = Date.now() + totalMs;
  }

  remaining(): number {
    return Math.max(0, this.end - Date.now());
  }

  /** Time left for the next call; throws `BmcError.deadline` when there is none. */
  next(label: string): number {
    const left = this.remaining();
    if (left < 50) throw this.expired(label);
    return left;
  }

  expired(label: string): ProxyError {
    return BmcError.deadline(`${label}: no answer within ${Math.round(this.totalMs / 1000)} s`);
  }
}
