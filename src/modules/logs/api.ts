// GET /logs (spec logs.md): the log buffer from a timestamp on, and the failed modules.

import type { FastifyInstance } from 'fastify';
import type { ProxyIntrospection } from '../../core/module.ts';
import { params } from '../../core/http/request-params.ts';

export function logsRoutes(app: FastifyInstance, proxy: ProxyIntrospection): void {
  app.get('/', async (request, reply) => {
    const raw = params(request).from_timestamp;
    const from = typeof raw === 'string' ? Number.parseFloat(raw) : 0;
    const body = {
      info: {
        size: proxy.logBuffer.size,
        tail_size: proxy.logBuffer.tailSize,
        level: null,
        level_tail: 3,
        failed_modules: proxy.failedModules(),
      },
      logs: proxy.logBuffer.entries(Number.isFinite(from) ? from : 0),
    };
    return reply.type('application/json').send(JSON.stringify(body));
  });
}
