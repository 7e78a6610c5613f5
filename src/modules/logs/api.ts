import type { FastifyInstance } from 'fastify';
import { ProxyError, errorText } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import { params } from '../../core/http/request-params.ts';

export function logsRoutes(app: FastifyInstance, ctx: ModuleContext): void {
  app.get('/', async (request, reply) => {
    const proxy = ctx.proxy;
    if (!proxy) throw new ProxyError(400, 'log buffer is not available');
    try {
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
    } catch (err) {
      throw new ProxyError(400, errorText(err));
    }
  });
}
