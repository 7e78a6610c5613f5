// The spool's settings, declared once for the modules that forward through a spool (openscap,
// reports): each keeps them in its own file, under the same names.

import * as setting from '../../core/settings/schema.ts';
import type { SpoolOptions } from './spool.ts';

/** `spool_max_reports`, `spool_max_bytes` (its default and meaning per module), `spool_retry_*`. */
export function spoolSettings(maxBytes: { default: number; description: string }) {
  return {
    spool_max_reports: setting.integer({ default: 100000, minimum: 1, maximum: 10000000, extension: true, description: 'Most reports held in the spool; uploads beyond it get 503.' }),
    spool_max_bytes: setting.integer({ default: maxBytes.default, minimum: 1024, unit: 'bytes', extension: true, description: maxBytes.description }),
    spool_retry_initial: setting.number({ default: 5, exclusiveMinimum: 0, maximum: 3600, unit: 'seconds', extension: true, description: 'First retry delay after Foreman failed; doubled per failure.' }),
    spool_retry_max: setting.number({ default: 300, exclusiveMinimum: 0, maximum: 86400, unit: 'seconds', extension: true, description: 'Longest retry delay while Foreman stays down.' }),
  };
}

/** The spool's bounds and retry delays from those settings. */
export function spoolLimits(s: { spool_max_reports: number; spool_max_bytes: number; spool_retry_initial: number; spool_retry_max: number }): Pick<SpoolOptions, 'maxItems' | 'maxBytes' | 'retryInitialMs' | 'retryMaxMs'> {
  return {
    maxItems: s.spool_max_reports,
    maxBytes: s.spool_max_bytes,
    retryInitialMs: Math.round(s.spool_retry_initial * 1000),
    retryMaxMs: Math.round(s.spool_retry_max * 1000),
  };
}
