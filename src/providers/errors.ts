/**
 * The Ollama server has not pulled the model asked for. Its message names :RunePull; the
 * editor also offers to pull it (src/nvim/providers.ts), which needs the model and server.
 */
export class ModelNotPulledError extends BadRequestError {
  constructor(
    message: string,
    readonly model: string,
    /** The Ollama server's URL. */
    readonly url: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
  }
}

/** The ModelNotPulledError in `err` or its causes, if any. */
export function modelNotPulled(err: unknown): ModelNotPulledError | undefined {
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    if (e instanceof ModelNotPulledError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Maps HTTP and network failures of any provider to Rune's typed errors, with messages
 * that say what happened and what to do next. One factory (`fromStatus`) for every API,
 * in the spirit of the SDKs' `APIError.generate(status, body)`.
 */
import {
  AbortError,
  AuthError,
  BadRequestError,
  ProviderUnavailableError,
  RateLimitError,
  RuneError,
  TimeoutError,
  isAbort,
} from '../core/errors.js';

export interface Who {
  /** e.g. `anthropic provider "claude"` */
  name: string;
  url: string;
  /** The config key of the API key, for auth messages. */
  keyPath?: string;
}

/** The `Who` of the provider `id` of `kind` at `url` (trailing slashes dropped). */
export function whoFor(kind: string, id: string, url: string): Who {
  return {
    name: `${kind} provider "${id}"`,
    url: url.replace(/\/+$/, ''),
    keyPath: `providers.${id}.api_key`,
  };
}

function when(ms: number | undefined): string {
  if (ms === undefined) return 'in a moment';
  if (ms < 1000) return `in ${ms} ms`;
  return `in ${Math.ceil(ms / 1000)} s`;
}

/** A server error (5xx), with the server's Retry-After hint when it gave one (503). */
export class ServiceBusyError extends ProviderUnavailableError {
  constructor(
    message: string,
    url: string | undefined,
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, url, options);
  }
}

/**
 * The account cannot pay for more requests (OpenAI `insufficient_quota`, Anthropic's
 * spend limits, `billing_error`): a 429 that no wait fixes, so it is never retried.
 */
export class QuotaError extends RuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('quota', message, options);
  }
}

/**
 * The server failed in a way that repeats for the same request (Ollama: the model needs
 * more memory than there is): not an outage, so neither retried nor counted by the breaker.
 */
export class ModelFailedError extends RuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model_failed', message, options);
  }
}

/** Error codes of a 429 that means "out of money", not "too fast". */
const BILLING_CODES = new Set([
  // openai-node: the `code` of the error body; Anthropic SDK (src/core/error-classes.ts):
  // `error.details.error_code` with status 429 (402 for linked organizations).
  'insufficient_quota',
  'billing_hard_limit_reached',
  'enforced_spend_limit_reached',
  'contract_spend_limit_reached',
  'linked_organization_spend_limit_reached',
  'billing_error',
]);

/** Whether an error body's `code` / `type` says the account is out of credit. */
function isBillingCode(code: string | undefined): boolean {
  return code !== undefined && BILLING_CODES.has(code);
}

function quotaError(who: Who, code: string, detail: string, cause?: unknown): QuotaError {
  return new QuotaError(
    `${who.name} refused the request: the account's quota or spend limit is used up (${code}): ${detail}. Add credit or raise the limit in the provider's console, or use another provider; retrying will not help.`,
    { cause },
  );
}

/**
 * A wait hint from the rate-limit headers when there is no Retry-After: OpenAI's
 * `x-ratelimit-reset-requests` / `-tokens` (durations such as `1s`, `6m0s`, `20ms`) and
 * Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339 times). The longest one wins.
 */
function rateLimitResetMs(
  get: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  let best: number | undefined;
  const take = (ms: number | undefined) => {
    if (ms !== undefined && Number.isFinite(ms)) best = Math.max(best ?? 0, Math.max(0, ms));
  };
  for (const kind of ['requests', 'tokens']) {
    const v = get(`x-ratelimit-reset-${kind}`);
    if (v) take(parseDuration(v));
  }
  for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
    const v = get(`anthropic-ratelimit-${kind}-reset`);
    if (v) take(Date.parse(v) - now);
  }
  return best;
}

/** `1h2m3.5s`, `6m0s`, `20ms` → ms (undefined when unreadable). */
function parseDuration(v: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v))) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    end = re.lastIndex;
  }
  return end === v.length && end > 0 ? ms : undefined;
}

/** The typed error for an HTTP error status. */
export function fromStatus(
  who: Who,
  status: number,
  detail: string | undefined,
  retryAfterMs?: number,
  cause?: unknown,
): RuneError {
  const d = detail ? `: ${detail}` : '';
  if (status === 401 || status === 403) {
    return new AuthError(
      `${who.name} refused the credentials (HTTP ${status})${d}. Check ${who.keyPath ?? 'its api_key'} and that the key is valid for ${who.url}.`,
      { cause },
    );
  }
  if (status === 429) {
    return new RateLimitError(
      `${who.name} is rate limiting requests (HTTP 429)${d}. Try again ${when(retryAfterMs)}, or lower providers' rate_limit.`,
      retryAfterMs,
      { cause },
    );
  }
  if (status === 501) {
    // Not Implemented: asking again will not help; the server says what would.
    return new BadRequestError(
      `${who.name} at ${who.url} does not support this request (HTTP 501)${d}.`,
      { cause, status },
    );
  }
  if (status >= 500 || status === 408) {
    return new ServiceBusyError(
      `${who.name} at ${who.url} failed (HTTP ${status})${d}. Try again ${when(retryAfterMs)}; if it persists, check the service.`,
      who.url,
      retryAfterMs,
      { cause, status },
    );
  }
  if (status === 404) {
    return new BadRequestError(
      `${who.name} answered 404 Not Found${d}. Check the model name and the url (${who.url}).`,
      { cause, status },
    );
  }
  return new BadRequestError(`${who.name} rejected the request (HTTP ${status})${d}.`, {
    cause,
    status,
  });
}

const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The `code` of an error or of one of its causes (fetch wraps the socket error). */
export function netCode(err: unknown): string | undefined {
  for (let e = err, i = 0; e && typeof e === 'object' && i < 5; e = (e as Error).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NET_CODES.has(code)) return code;
  }
  return undefined;
}

/** The network-level failure (refused, reset, unreachable) as ProviderUnavailableError. */
export function fromNetwork(who: Who, err: unknown): RuneError {
  const code = netCode(err);
  if (code === 'ECONNREFUSED') {
    return new ProviderUnavailableError(
      `Could not connect to ${who.name} at ${who.url} (connection refused). Is it running? Start it, or fix the provider's url.`,
      who.url,
      { cause: err },
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ProviderUnavailableError(
      `Could not resolve the host of ${who.name} (${who.url}). Check the url and your network.`,
      who.url,
      { cause: err },
    );
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new ProviderUnavailableError(
    `The connection to ${who.name} at ${who.url} failed${code ? ` (${code})` : ''}: ${msg}. Try again; if it persists, check the service.`,
    who.url,
    { cause: err },
  );
}

/** A reply Rune could not read (malformed JSON, an unexpected shape). */
export function malformed(who: Who, err: unknown): RuneError {
  const msg = err instanceof Error ? err.message : String(err);
  return new ProviderUnavailableError(
    `${who.name} at ${who.url} sent a reply Rune could not read (${msg}). Try again; if it persists, the server may not speak this API.`,
    who.url,
    { cause: err },
  );
}

/** Keeps RuneErrors and aborts; maps network errors; everything else is `fallback(err)`. */
export function mapCommon(
  who: Who,
  err: unknown,
  fallback: (err: unknown) => RuneError,
): RuneError {
  if (err instanceof RuneError) return err;
  if (err instanceof TimeoutError) return err;
  if (isAbort(err)) return new AbortError(undefined, { cause: err });
  if (err instanceof SyntaxError) return malformed(who, err);
  if (netCode(err) || (err instanceof TypeError && /fetch failed|terminated/i.test(err.message))) {
    return fromNetwork(who, err);
  }
  return fallback(err);
}

/** The shape of the Stainless SDKs' APIError (Anthropic, OpenAI). */
export interface SdkApiError {
  status?: number;
  headers?: { get(name: string): string | null };
  error?: unknown;
  message: string;
}

/**
 * Maps an APIError of the Anthropic or OpenAI SDK. `status` is undefined for an error
 * event inside a stream; its body's `type` then decides.
 */
export function fromSdkError(
  who: Who,
  err: SdkApiError,
  retryAfter: (get: (name: string) => string | null | undefined) => number | undefined,
): RuneError {
  const body = (err.error ?? {}) as { message?: unknown; type?: unknown; error?: unknown };
  const inner = (body.error && typeof body.error === 'object' ? body.error : body) as {
    message?: unknown;
    type?: unknown;
    code?: unknown;
    details?: { error_code?: unknown } | null;
  };
  const detail = typeof inner.message === 'string' ? inner.message : err.message;
  const get = (n: string) => err.headers?.get(n);
  const hint = err.headers ? (retryAfter(get) ?? rateLimitResetMs(get)) : undefined;
  const type = typeof inner.type === 'string' ? inner.type : '';
  const code =
    typeof inner.details?.error_code === 'string'
      ? inner.details.error_code
      : typeof inner.code === 'string'
        ? inner.code
        : type;
  if (isBillingCode(code) || type === 'billing_error' || type === 'insufficient_quota') {
    return quotaError(who, isBillingCode(code) ? code : type, detail, err);
  }
  if (typeof err.status === 'number') return fromStatus(who, err.status, detail, hint, err);
  if (type.includes('rate_limit')) return fromStatus(who, 429, detail, hint, err);
  if (type.includes('invalid_request')) return fromStatus(who, 400, detail, hint, err);
  if (type.includes('authentication') || type.includes('permission')) {
    return fromStatus(who, 401, detail, hint, err);
  }
  return new ProviderUnavailableError(
    `${who.name} reported an error in the middle of the answer: ${detail}. Try again.`,
    who.url,
    { cause: err },
  );
}
