// Every error of the container gateway that is answered as the proxy's plain text (management
// endpoints, upstream failures). Registry denials are the registry protocol's JSON errors
// (`{"errors":[{code,message}]}`), written by api.ts, not thrown.

import { errorTable, type ProxyError } from '../../core/errors.ts';

export const GatewayError = errorTable('container_gateway', {
  /** A management body that cannot be read: names the field and the reason. */
  invalid_body: 400,
  /** A management body over `management_body_limit`. */
  body_too_large: 413,
  /** A query parameter that is not what the endpoint takes (`n` not a number …). */
  invalid_parameter: 400,
  /** Pulp or Katello answered something that is not what the protocol says (non-JSON, no token). */
  bad_upstream_answer: 502,
  /** Pulp or Katello could not be reached. */
  upstream_unreachable: 502,
  /** Pulp or Katello did not answer in time. */
  upstream_timeout: 504,
});

/**
 * Upstream failures (lib/http/client.ts HttpClientError, recognised by name and kind so that this
 * policy does not load the HTTP client at start-up): a timeout is 504, anything else 502.
 */
export function translateUpstream(err: Error): ProxyError | undefined {
  if (err.name !== 'HttpClientError') return undefined;
  const { kind, url } = err as Error & { kind?: string; url?: string };
  let where = 'upstream';
  try {
    where = new URL(url ?? '').origin;
  } catch {
    /* keep the generic name */
  }
  if (kind === 'timeout') return GatewayError.upstream_timeout(`${where} did not answer in time: ${err.message}`);
  if (kind === 'too_large') return GatewayError.bad_upstream_answer(`${where} answered too much: ${err.message}`);
  return GatewayError.upstream_unreachable(`Communication error with ${where}: ${err.message}`);
}
