/**
 * The fixtures the MCP conformance suite's server scenarios call. Tools are
 * registered through the ToolRegistry exactly as a plugin would; resources,
 * prompts and completions through the server's per-session `setup` hook.
 */
import { z } from 'zod';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { DisposableStore, type Disposable } from '../../src/core/disposable.js';
import type { ToolRegistry } from '../../src/tools/registry.js';

/** A 1×1 transparent PNG. */
export const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
/** A WAV file holding one silent sample. */
export const WAV = Buffer.from(
  'RIFF&\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x40\x1f\0\0\x01\0\x08\0data\x02\0\0\0\x80\x80',
  'latin1',
).toString('base64');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function registerConformanceTools(registry: ToolRegistry): Disposable {
  const store = new DisposableStore();
  const RO = { readOnlyHint: true } as const;
  const add: ToolRegistry['register'] = (def) => store.add(registry.register(def));

  add({
    name: 'test_simple_text',
    description: 'Returns simple text',
    inputSchema: {},
    annotations: RO,
    handler: () => 'This is a simple text response for testing.',
  });
  add({
    name: 'test_image_content',
    description: 'Returns an image',
    inputSchema: {},
    annotations: RO,
    handler: () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
  });
  add({
    name: 'test_audio_content',
    description: 'Returns audio',
    inputSchema: {},
    annotations: RO,
    handler: () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }),
  });
  add({
    name: 'test_embedded_resource',
    description: 'Returns an embedded resource',
    inputSchema: {},
    annotations: RO,
    handler: () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  });
  add({
    name: 'test_multiple_content_types',
    description: 'Returns text, an image and a resource',
    inputSchema: {},
    annotations: RO,
    handler: () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  });
  add({
    name: 'test_tool_with_logging',
    description: 'Logs while it runs',
    inputSchema: {},
    annotations: RO,
    handler: async (_args, ctx) => {
      ctx.log?.('info', 'Tool execution started');
      await sleep(50);
      ctx.log?.('info', 'Tool processing data');
      await sleep(50);
      ctx.log?.('info', 'Tool execution completed');
      return 'Tool with logging executed successfully';
    },
  });
  add({
    name: 'test_tool_with_progress',
    description: 'Reports progress',
    inputSchema: {},
    annotations: RO,
    handler: async (_args, ctx) => {
      ctx.progress({ progress: 0, total: 100 });
      await sleep(50);
      ctx.progress({ progress: 50, total: 100 });
      await sleep(50);
      ctx.progress({ progress: 100, total: 100 });
      return 'Tool with progress executed successfully';
    },
  });
  add({
    name: 'test_error_handling',
    description: 'Always fails',
    inputSchema: {},
    annotations: RO,
    handler: () => {
      throw new Error('This tool intentionally returns an error for testing');
    },
  });
  add({
    name: 'test_sampling',
    description: 'Asks the client to sample',
    inputSchema: { prompt: z.string() },
    annotations: RO,
    handler: async (args, ctx) => {
      const r = await ctx.sample!({
        messages: [{ role: 'user', content: { type: 'text', text: args.prompt } }],
        maxTokens: 100,
      });
      const text = r.content.type === 'text' ? r.content.text : JSON.stringify(r.content);
      return `LLM response: ${text}`;
    },
  });
  add({
    name: 'test_elicitation',
    description: 'Asks the user for input',
    inputSchema: { message: z.string() },
    annotations: RO,
    handler: async (args, ctx) => {
      const r = await ctx.elicit!({
        message: args.message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      });
      return `User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`;
    },
  });
  add({
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation with defaults',
    inputSchema: {},
    annotations: RO,
    handler: async (_args, ctx) => {
      const r = await ctx.elicit!({
        message: 'Please review and update the form fields with defaults',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: {
              type: 'string',
              description: 'User status',
              enum: ['active', 'inactive', 'pending'],
              default: 'active',
            },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
          required: [],
        },
      });
      return `Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`;
    },
  });
  add({
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation with every enum form',
    inputSchema: {},
    annotations: RO,
    handler: async (_args, ctx) => {
      const r = await ctx.elicit!({
        message: 'Please select options from the enum fields',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: {
              type: 'string',
              description: 'Select one option',
              enum: ['option1', 'option2', 'option3'],
            },
            titledSingle: {
              type: 'string',
              description: 'Select one option with titles',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              description: 'Select one option (legacy)',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              description: 'Select multiple options',
              minItems: 1,
              maxItems: 3,
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              description: 'Select multiple options with titles',
              minItems: 1,
              maxItems: 3,
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
          required: [],
        },
      } as never);
      return `Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`;
    },
  });
  add({
    name: 'test_reconnection',
    description: 'Closes its SSE stream mid-call; the result arrives after the client reconnects',
    inputSchema: {},
    annotations: RO,
    handler: async (_args, ctx) => {
      await sleep(100);
      ctx.closeStream?.();
      await sleep(100);
      return 'Reconnection test completed successfully';
    },
  });
  const address = z
    .object({ street: z.string().optional(), city: z.string().optional() })
    .meta({ id: 'address' });
  add({
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: z.strictObject({ name: z.string().optional(), address: address.optional() }),
    annotations: RO,
    handler: (args) => JSON.stringify(args),
  });
  return store;
}

/** Resources, prompts and completions, added to each session's server. */
export function addConformanceResources(mcp: McpServer): void {
  mcp.registerResource(
    'static-text',
    'test://static-text',
    { description: 'A static text resource', mimeType: 'text/plain' },
    (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'text/plain',
          text: 'This is the content of the static text resource.',
        },
      ],
    }),
  );
  mcp.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'A static binary resource', mimeType: 'image/png' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG }] }),
  );
  mcp.registerResource(
    'watched-resource',
    'test://watched-resource',
    { description: 'A resource to subscribe to', mimeType: 'text/plain' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'watched' }] }),
  );
  mcp.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'A resource template', mimeType: 'application/json' },
    (uri, vars) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({
            id: vars.id,
            templateTest: true,
            data: `Data for ID: ${String(vars.id)}`,
          }),
        },
      ],
    }),
  );
  mcp.registerPrompt('test_simple_prompt', { description: 'A simple prompt' }, () => ({
    messages: [
      { role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } },
    ],
  }));
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (v) =>
          ['paris', 'park', 'party'].filter((x) => x.startsWith(v ?? '')),
        ),
        arg2: z.string().describe('Second test argument'),
      },
    },
    (args) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`,
          },
        },
      ],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt embedding a resource', argsSchema: { resourceUri: z.string() } },
    (args) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: {
              uri: args.resourceUri,
              mimeType: 'text/plain',
              text: 'Embedded resource content for testing.',
            },
          },
        },
        {
          role: 'user',
          content: { type: 'text', text: 'Please process the embedded resource above.' },
        },
      ],
    }),
  );
  mcp.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
}
