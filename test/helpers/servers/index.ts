/**
 * Wire-faithful fake AI API servers for tests, each on 127.0.0.1 port 0.
 *
 *   const s = await startOpenAIServer();        // or startOllamaServer / startAnthropicServer / startZekeServer
 *   s.url                                       // base URL (no /v1): pass to the SDK / provider config
 *   s.enqueue('chat', { text: ['Hel', 'lo'], chunkDelayMs: 10 });  // next reply on a route
 *   s.enqueue('chat', { status: 429, retryAfter: 1 });             // fault: status + Retry-After
 *   s.enqueue('chat', { text: 'abc', resetAfter: 2 });             // fault: reset mid-stream
 *   s.enqueue('chat', { malformedAt: 1 });                         // fault: malformed chunk
 *   s.enqueue('chat', { firstByteDelayMs: 500 });                  // fault: slow first byte
 *   s.enqueue('chat', { hang: true });                             // fault: never answers
 *   s.enqueue('chat', { text: 'abc', stallAt: 3 });                // fault: stalls mid-stream
 *   s.enqueue('chat', { text: 'abc', stallAt: 3, stallUntil: gate });  // fault: stalls until gate settles
 *   s.enqueue('chat', { text: 'a', streamError: true });           // fault: in-stream error event
 *   s.script('chat', (req) => ({ text: `echo ${JSON.stringify(req.body)}` })); // every reply
 *   s.requests / s.requestsTo('chat')           // method, path, query, headers, parsed JSON body, at
 *   s.closes; await s.waitForClose()            // responses abandoned by the client
 *   s.connections                               // TCP connections accepted (keep-alive check)
 *   await s.close();
 *
 * Each double is as strict as its real service (the rules are cited at the top of each
 * file); options make it behave like a particular server:
 *   startOllamaServer({ loadMs: 6000, maxLoaded: 1, catalog, strictModels: true })
 *   startAnthropicServer({ catalog, strictModels: true })
 *   startOpenAIServer({ fim: 'openai' | 'vllm', retired: [...], models: [...] })
 *
 * Routes: ollama chat|generate|tags|embed|show; anthropic messages|models;
 * openai chat|completions|models|embeddings; zeke health|chat|complete|status.
 * Scripts: text (string split into 4-char deltas, or an explicit array), toolCalls,
 * usage {input, output}, stopReason, model; completions also `choices`; tags/models `models`.
 */
export type { RecordedRequest, Fault, FakeServerBase } from './base.js';
export {
  startOllamaServer,
  CHATBOT_ANSWER,
  OLLAMA_CATALOG,
  type OllamaServer,
  type OllamaScript,
  type OllamaServerOptions,
} from './ollama.js';
export {
  startAnthropicServer,
  ANTHROPIC_CATALOG,
  type AnthropicServer,
  type AnthropicScript,
} from './anthropic.js';
export {
  startOpenAIServer,
  type OpenAIServer,
  type OpenAIScript,
  type OpenAIServerOptions,
} from './openai.js';
export { startZekeServer, type ZekeServer, type ZekeScript } from './zeke.js';
