// The one producer of HTTP error bodies: OpenAI's shape {"error":{"message","type","param","code"}}, the
// status each error code maps to, and the headers that tell a client whether retrying can help.

export interface ApiErrorInit {
  status: number;
  message: string;
  code: string;
  param?: string | null;
  /** Seconds after which a retry may succeed (429, 503). */
  retryAfterS?: number;
}

const TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  404: "not_found_error",
  413: "invalid_request_error",
  429: "rate_limit_error",
  500: "server_error",
  502: "server_error",
  503: "service_unavailable",
};

/** An error the server answers with; thrown anywhere in a route, shaped once by `errorResponse`. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly param: string | null;
  readonly retryAfterS: number | undefined;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.param = init.param ?? null;
    this.retryAfterS = init.retryAfterS;
  }

  get type(): string { return TYPES[this.status] ?? "server_error"; }

  body(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null, code = "invalid_value") =>
  new ApiError({ status: 400, message, param, code });

/** The HTTP status of a DecodeEvent error code seen before any byte was streamed. */
const STATUS_OF_CODE: Record<string, number> = {
  invalid_request: 400,
  context_length_exceeded: 400,
  constraint_too_large: 413,
  unsupported_mode: 400,
  unsupported_version: 400,
  model_not_found: 404,
  model_busy: 429,
  unavailable: 503,
  cancelled: 499,
};

/**
 * Maps a backend's error event to the error the client sees. A code this table does not know is a backend
 * failure: 502 with a generic message (the details go to the log), never the backend's own code or text.
 */
export function fromDecodeError(e: { code: string; message: string; param?: string }): ApiError {
  const status = STATUS_OF_CODE[e.code];
  if (status === undefined) {
    console.error(`backend error ${e.code}: ${e.message}`);
    return new ApiError({ status: 502, code: "backend_failed", message: "the decoding backend failed; retry shortly" });
  }
  const retryAfterS = status === 503 || status === 429 ? 1 : undefined;
  return new ApiError({ status, message: e.message, code: e.code, param: e.param ?? null, retryAfterS });
}

/** The JSON response for an error; retrying a 4xx other than 429 cannot help, so the SDKs are told not to. */
export function errorResponse(err: ApiError, extraHeaders: Record<string, string> = {}): Response {
  const headers: Record<string, string> = { "content-type": "application/json", ...extraHeaders };
  if (err.retryAfterS !== undefined) headers["retry-after"] = String(err.retryAfterS);
  headers["x-should-retry"] = err.status === 429 || err.status >= 500 ? "true" : "false";
  return new Response(JSON.stringify(err.body()), { status: err.status, headers });
}

/** Anything thrown that is not an ApiError becomes a 500 with a generic message; the details go to the log. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  console.error("internal error:", e);
  return new ApiError({ status: 500, message: "internal error", code: "internal_error" });
}
