// The version reported in /version and the Server header. It follows the Foreman release this
// proxy pairs with, because Foreman warns when major/minor differ (foreman-client.md §2).

import { readFileSync } from 'node:fs';

// Set by the bundled build (scripts/build.ts), which has no package.json beside it.
declare const SMART_PROXY_BUILD_VERSION: string | undefined;

function packageVersion(): string {
  if (typeof SMART_PROXY_BUILD_VERSION === 'string') return SMART_PROXY_BUILD_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const PROXY_VERSION: string = process.env.SMART_PROXY_VERSION ?? packageVersion();
