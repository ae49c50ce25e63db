// The typed REST client. Types come from src/api/schema.d.ts, generated from the gateway's
// OpenAPI schema (`npm run gen:api` reads openapi.json); no fetch call here is written by hand.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** Same origin as the page: the gateway serves both the UI and /api, and sets the session cookie. */
export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "" : window.location.origin,
  credentials: "same-origin",
  // Looked up per call, not captured once, so a test can put its own fetch in place.
  fetch: (request: Request) => globalThis.fetch(request),
});

/** An API failure the UI can show: HTTP status plus the gateway's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** 503: the gateway is up but Redis or PostgreSQL is not. */
  get unavailable(): boolean {
    return this.status === 503 || this.status === 502 || this.status === 0;
  }
}

/** FastAPI sends {detail: string} or {detail: [{loc, msg}, ...]} (422); make one readable line. */
export function describeError(body: unknown, fallback: string): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d: { loc?: unknown[]; msg?: string }) => {
          const where = (d.loc ?? []).filter((p) => p !== "body").join(".");
          return where ? `${where}: ${d.msg ?? "invalid"}` : (d.msg ?? "invalid");
        })
        .join("; ");
    }
    if (detail && typeof detail === "object" && "message" in detail) {
      return String((detail as { message: unknown }).message);
    }
  }
  if (body && typeof body === "object" && "error" in body) {
    return String((body as { error: unknown }).error);
  }
  return fallback;
}

/** Unwrap an openapi-fetch result: the data, or an ApiError carrying the gateway's message. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(0, "Cannot reach the gateway. Check that it is running.");
  }
  const { data, error, response } = result;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      describeError(error, `${response.status} ${response.statusText || "request failed"}`),
    );
  }
  return data as T;
}
