// OpenAPI docs of the task engine routes (spec remote-execution.md §2.3); merged by
// core/openapi/generate.ts. Every answer is JSON, errors included (`{"error": "<message>"}`).

import { arrayOf, int, json, jsonBody, obj, path, query, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiResponse } from '../../core/openapi/types.ts';

const errorBody = obj({ error: str('The message.') }, undefined, { required: ['error'] });
const jsonError = (description: string, example: string): OpenApiResponse => json(description, errorBody, { error: example });
const invalid = jsonError('A body that is not JSON, or a field of the wrong shape (the message names it).', 'operation: is required (a string, e.g. \'ssh\')');
const stopping: OpenApiResponse = {
  description: 'The engine is stopping.',
  headers: { 'Retry-After': { description: 'Seconds.', schema: { type: 'integer' } } },
  content: { 'application/json': { schema: errorBody } },
};
const failed = jsonError('The task store or an operation failed.', 'database is locked');
const taskId = path('id', 'Proxy task UUID.');
const plan = { type: 'object', additionalProperties: true, description: 'The execution plan (id, state, result, times …) with its `actions`.' };

const event = (which: string) => ({
  summary: `Deliver a ${which} event to a task step`,
  description: 'For remote helpers of other plugins; requires HTTPS with a client certificate the proxy trusts (the reference checked nothing without an Authorization header).',
  parameters: [taskId],
  requestBody: jsonBody(obj({ step_id: { type: ['integer', 'string'], description: 'The step to deliver the event to.' } }, undefined, { additionalProperties: true })),
  responses: {
    '200': json('Delivered.', {}),
    '400': invalid,
    '403': jsonError('No verified client certificate.', 'task events require HTTPS with a client certificate that the proxy trusts'),
    '404': jsonError('Unknown task.', 'no task 9f6d2c1e'),
    '500': failed,
  },
});

const docs: ModuleApiDocs = {
  'POST /dynflow/tasks/launch': {
    summary: 'Launch tasks (a batch of remote execution hosts)',
    description:
      'Foreman\'s batch trigger: `operation` names a registered launcher (`single`, `ssh` …); for batches, `input` maps each child task UUID to its ' +
      '`{action_class, action_input}`. The parent is planned before the answer; children follow. Planning failures are reported in the body, still 200.',
    requestBody: jsonBody(
      obj({ operation: str('Launcher name.'), input: { type: 'object', additionalProperties: true }, options: { type: 'object' } }, undefined, { required: ['operation'] }),
    ),
    responses: {
      '200': json('The parent plan\'s result.', { type: 'object', additionalProperties: true }, { parent: { result: 'success', task_id: '3b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c11' } }),
      '400': invalid,
      '404': jsonError('Unknown operation.', "Unknown operation 'bogus' requested."),
      '409': jsonError('The task UUIDs are already used by another launch.', 'task 9f6d2c1e already exists'),
      '500': failed,
      '503': stopping,
    },
  },
  'POST /dynflow/tasks': {
    summary: 'Trigger one task (legacy)',
    requestBody: jsonBody(obj({ action_name: str('Action class.'), action_input: { type: 'object' } }, undefined, { required: ['action_name'] })),
    responses: {
      '200': json('The new task.', obj({ task_id: str('Proxy task UUID.') })),
      '400': invalid,
      '404': jsonError('Unknown action.', "Unknown operation 'Bogus' requested."),
      '500': failed,
      '503': stopping,
    },
  },
  'GET /dynflow/tasks/:id/status': {
    summary: 'Full status of a task, with its output',
    description: 'Running runners refresh their output first, so live output is current.',
    parameters: [taskId, query('output_after', 'Only output entries after this sequence number (our extension).', { type: 'string', pattern: '^\\d+$' })],
    responses: { '200': json('The plan.', plan), '400': invalid, '404': json('Unknown task.', { type: 'object' }, {}), '500': failed },
  },
  'POST /dynflow/tasks/status': {
    summary: 'State and result of many tasks',
    description: 'Unknown ids are absent from the answer.',
    requestBody: jsonBody(obj({ task_ids: arrayOf({ type: 'string' }) }), undefined, false),
    responses: {
      '200': json('By task id.', { type: 'object', additionalProperties: obj({ state: str('Plan state.'), result: str('Plan result.') }) }, { '9f6d2c1e-0000-4000-8000-000000000001': { state: 'stopped', result: 'success' } }),
      '400': invalid,
      '500': failed,
    },
  },
  'POST /dynflow/tasks/statuses': {
    summary: 'Full status of many tasks',
    requestBody: jsonBody(obj({ task_ids: arrayOf({ type: 'string' }) }, undefined, { required: ['task_ids'] })),
    responses: {
      '200': json('By task id.', { type: 'object', additionalProperties: plan }),
      '400': invalid,
      '422': jsonError('No task ids.', "'task_ids' needs to be provided and be a non-empty array of task UUIDs"),
      '500': failed,
    },
  },
  'POST /dynflow/tasks/:id/cancel': {
    summary: 'Cancel a task',
    parameters: [taskId],
    responses: {
      '200': json('Steps cancelled (0 when nothing was cancellable).', obj({ task_id: str('The task.'), canceled_steps_count: int('Steps cancelled.') })),
      '404': jsonError('Unknown task (the reference answered 500).', 'no task 9f6d2c1e'),
      '500': failed,
    },
  },
  'GET /dynflow/tasks/count': {
    summary: 'Number of tasks, optionally in one state',
    description: 'Foreman asks `state=running` to pick the least busy proxy.',
    parameters: [query('state', 'Plan state (pending, scheduled, planning, planned, running, paused, stopped); absent: all.')],
    responses: { '200': json('The count.', obj({ count: int('Tasks.'), state: str('The state asked, or `all`.') }), { count: 3, state: 'running' }), '400': invalid, '500': failed },
  },
  'GET /dynflow/tasks/operations': {
    summary: 'Registered operations',
    responses: { '200': json('Operation names, in registration order.', arrayOf({ type: 'string' }), ['single', 'ssh']) },
  },
  'POST /dynflow/tasks/:id/update': event('update'),
  'POST /dynflow/tasks/:id/done': event('done'),
};

export default docs;
