// fetch answered from a table of gateway responses, as the component tests stub it: keyed by path
// for GET, by "METHOD /path" for the rest (or to answer one GET apart); 404 for anything else.
import { vi } from "vitest";

/** An answer other than 200 with a JSON body: what the table holds for a refusal. */
export class Answer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** Every request made since the last stubGateway, as "METHOD /path?query". */
export const requests: string[] = [];

/** How many requests `line` (a "METHOD /path" prefix) made so far. */
export const requested = (line: string) => requests.filter((r) => r.split("?")[0] === line).length;

export function stubGateway(answers: Record<string, unknown>): void {
  requests.length = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const { pathname, search } = new URL(request.url);
      requests.push(`${request.method} ${pathname}${search}`);
      const body =
        answers[`${request.method} ${pathname}`] ??
        (request.method === "GET" ? answers[pathname] : undefined);
      const json = { "Content-Type": "application/json" };
      if (body === undefined) return new Response('{"detail": "not found"}', { status: 404, headers: json });
      if (body instanceof Answer)
        return new Response(JSON.stringify(body.body), { status: body.status, headers: json });
      return new Response(JSON.stringify(body), { headers: json });
    }),
  );
}
