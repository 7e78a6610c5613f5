// Option negotiation for read requests: blksize (RFC 2348), timeout and tsize (RFC 2349),
// windowsize (RFC 7440). Options the server does not understand or cannot honour are left out of
// the OACK, which RFC 2347 allows; the client then falls back to the RFC 1350 defaults.

import { MAX_BLKSIZE, type Options } from './packet.ts';

export interface NegotiationLimits {
  /** Largest block size granted (8..65464); larger requests are lowered to it. */
  maxBlksize: number;
  /** Largest window granted (1..65535). */
  maxWindowsize: number;
  /** Upper bound of blksize × windowsize: the bytes kept per transfer for retransmission. */
  maxWindowBytes: number;
  /** Retransmission timeout used when the client does not negotiate one. */
  defaultTimeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** The OACK to send; empty when no option was accepted (then DATA 1 follows directly). */
  oack: Options;
}

const DIGITS = /^[0-9]{1,10}$/;

function intOption(value: string | undefined): number | undefined {
  if (value === undefined || !DIGITS.test(value)) return undefined;
  return Number(value);
}

/**
 * @param fileSize the transfer size to report for `tsize`, or null when it is not known in advance
 *   (netascii transfers change the length), in which case tsize is not acknowledged.
 */
export function negotiate(requested: Options, limits: NegotiationLimits, fileSize: number | null): Negotiated {
  const oack: Options = new Map();
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs = limits.defaultTimeoutMs;

  // Iterate in request order so the OACK mirrors the client's order.
  for (const [name, value] of requested) {
    switch (name) {
      case 'blksize': {
        const n = intOption(value);
        if (n === undefined || n < 8) break;
        blksize = Math.min(n, limits.maxBlksize, MAX_BLKSIZE);
        oack.set('blksize', String(blksize));
        break;
      }
      case 'timeout': {
        const n = intOption(value);
        // RFC 2349: 1..255 seconds, acknowledged unchanged or not at all.
        if (n === undefined || n < 1 || n > 255) break;
        timeoutMs = n * 1000;
        oack.set('timeout', String(n));
        break;
      }
      case 'tsize': {
        // In a read request the client sends 0 and the server answers with the size.
        if (fileSize === null || intOption(value) === undefined) break;
        oack.set('tsize', String(fileSize));
        break;
      }
      case 'windowsize': {
        const n = intOption(value);
        if (n === undefined || n < 1 || n > 65535) break;
        windowsize = Math.min(n, limits.maxWindowsize);
        oack.set('windowsize', String(windowsize));
        break;
      }
      default:
        break;
    }
  }
  // Cap the retransmission memory of one transfer; the blksize is fixed by now.
  if (oack.has('windowsize')) {
    windowsize = Math.max(1, Math.min(windowsize, Math.floor(limits.maxWindowBytes / blksize)));
    oack.set('windowsize', String(windowsize));
  }
  return { blksize, windowsize, timeoutMs, oack };
}
