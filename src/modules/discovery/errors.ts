// Every error of the discovery relay, with its status (spec plugins.md §1.2). Failures of the
// upload to Foreman keep the reference's 500 with its message; failures towards a discovered node
// say whose fault they are (a bad address 400, a refused address 403, an unreachable node 502, a
// node past its deadline 504) where the reference answered 500 for all of them.

import { errorTable, ProxyError } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';
import { HttpClientError } from '../../lib/http/client.ts';

export const DiscoveryError = errorTable('discovery', {
  /** `:ip` is not an IPv4 or IPv6 literal, or not a unicast one. */
  invalid_address: 400,
  /** `:ip` is outside `node_networks`. */
  address_not_allowed: 403,
  /** The image's upload is not a JSON object with a `facts` object. */
  invalid_facts: 400,
  /** foreman_url is not set. */
  no_foreman_url: 500,
  /** Foreman answered the upload with an error (the reference's 500 `Discovery failed, …`). */
  foreman_refused: 500,
  /**
   * The node answered with an error: created with the node's own status (4xx/5xx) as the second
   * argument, which is passed on to Foreman; the row's 502 stands for any other non-2xx answer.
   */
  node_error: 502,
  /** The node (or Foreman) could not be reached: connection refused, no route, TLS failure. */
  unreachable: 502,
  /** The node (or Foreman) did not answer within its deadline. */
  timeout: 504,
});

/** A failure to get any answer at all becomes 502, or 504 for a deadline; the message says which peer. */
function translate(err: Error): ProxyError | undefined {
  if (!(err instanceof HttpClientError)) return undefined;
  return err.kind === 'timeout' ? DiscoveryError.timeout(err.message) : DiscoveryError.unreachable(err.message);
}

export const DISCOVERY_ERRORS: ErrorPolicy = { translate, untypedStatus: 500 };

export const NO_FOREMAN_URL = 'missing :foreman_url: from configuration.';
