import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import { SessionProvider } from "../session/SessionProvider";
import { Answer, requested, stubGateway } from "../test/gateway";
import { ModelsPanel } from "./ModelsPanel";

type Model = Schemas["ModelOut"];

const model = (id: number, over: Partial<Model>): Model => ({
  id,
  job_id: `job-${id}-0000-0000`,
  fold: 5,
  version: `run-${id}-fold5`,
  created_at: "2026-03-01T10:00:00Z",
  promoted_at: null,
  active: false,
  shadow: false,
  weights_sha256: "0".repeat(64),
  gate_passed: null,
  gate_reason: null,
  ...over,
});

// v1 was served before; v2, a candidate, is older than the serving v3; v4 is a newer candidate.
const MODELS: Model[] = [
  model(1, { promoted_at: "2026-03-01T10:05:00Z", gate_passed: null, gate_reason: null }),
  model(2, {
    gate_passed: false,
    gate_reason: "not promoted: does not beat gbm_book on test macro F1 (0.3300 vs gbm_book 0.3500)",
  }),
  model(3, {
    active: true,
    promoted_at: "2026-03-02T10:05:00Z",
    gate_passed: true,
    gate_reason: "beats every baseline on test macro F1 (0.3677; best baseline gbm_book 0.3500)",
  }),
  model(4, { gate_passed: false, gate_reason: "not promoted (promote=never); does not beat majority" }),
];

let calls: string[] = [];

beforeEach(() => {
  calls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      calls.push(`${request.method} ${path}`);
      const body =
        path === "/api/session"
          ? { signed_in: true, token_configured: true }
          : path.endsWith("/promote")
            ? MODELS[1]
            : null;
      return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
    }),
  );
});

afterEach(() => vi.unstubAllGlobals());

function rowOf(id: number): HTMLElement {
  return screen.getByText(new RegExp(`^v${id} · `)).closest("li")!;
}

describe("ModelsPanel", () => {
  it("marks versions never promoted as candidates, with the gate's reason", () => {
    render(
      <SessionProvider>
        <ModelsPanel models={MODELS} error={null} onChanged={() => {}} />
      </SessionProvider>,
    );
    const candidate = rowOf(2);
    expect(within(candidate).getByText("Candidate")).toBeInTheDocument();
    expect(within(candidate).getByText("gate failed")).toBeInTheDocument();
    expect(within(candidate).getByText(/does not beat gbm_book/)).toBeInTheDocument();

    const serving = rowOf(3);
    expect(within(serving).getByText("Promoted")).toBeInTheDocument();
    expect(within(serving).getByText("gate passed")).toBeInTheDocument();
    expect(within(serving).getByText(/beats every baseline/)).toBeInTheDocument();
    expect(within(serving).getByTestId("model-serving")).toBeInTheDocument();

    // A version from before the gate has no verdict line; it is not a candidate.
    expect(within(rowOf(1)).queryByTestId("model-gate")).not.toBeInTheDocument();
  });

  it("offers Promote for a candidate, older or newer than the serving one, and Roll back otherwise", async () => {
    render(
      <SessionProvider>
        <ModelsPanel models={MODELS} error={null} onChanged={() => {}} />
      </SessionProvider>,
    );
    // enabled once the session says signed in
    await waitFor(() =>
      expect(within(rowOf(2)).getByRole("button", { name: /^Promote: model/ })).toBeEnabled(),
    );
    expect(within(rowOf(4)).getByRole("button", { name: /^Promote: model/ })).toBeInTheDocument();
    expect(within(rowOf(1)).getByRole("button", { name: /^Roll back to this: model/ })).toBeInTheDocument();
  });

  it("promotes a candidate by hand", async () => {
    const user = userEvent.setup();
    const onChanged = vi.fn();
    render(
      <SessionProvider>
        <ModelsPanel models={MODELS} error={null} onChanged={onChanged} />
      </SessionProvider>,
    );
    const button = within(rowOf(2)).getByRole("button", { name: /^Promote: model/ });
    await waitFor(() => expect(button).toBeEnabled()); // once the session says signed in
    await user.click(button);
    await waitFor(() => expect(onChanged).toHaveBeenCalledOnce());
    expect(calls).toContain("POST /api/models/2/promote");
  });
});

describe("ModelsPanel challenger", () => {
  // v3 serves; v4 is scored as the challenger.
  const WITH_SHADOW = MODELS.map((m) => (m.id === 4 ? { ...m, shadow: true } : m));
  const signedIn = { "/api/session": { signed_in: true, token_configured: true } };

  // A row's button once the session says signed in (until then it is there, but disabled).
  const enabled = (id: number, name: RegExp) =>
    waitFor(() => {
      const button = within(rowOf(id)).getByRole("button", { name });
      expect(button).toBeEnabled();
      return button;
    });

  const panel = (onChanged = () => {}) =>
    render(
      <SessionProvider>
        <ModelsPanel models={WITH_SHADOW} error={null} onChanged={onChanged} />
      </SessionProvider>,
    );

  it("marks the challenger and offers every other version that does not serve as one", async () => {
    stubGateway(signedIn);
    panel();

    expect(within(rowOf(4)).getByTestId("model-challenger")).toHaveTextContent("Challenger");
    await enabled(4, /^Stop challenger: model/);
    for (const id of [1, 2])
      expect(within(rowOf(id)).getByRole("button", { name: /^Score as challenger: model/ })).toBeEnabled();
    expect(within(rowOf(1)).queryByTestId("model-challenger")).not.toBeInTheDocument();
    // The serving version is the champion: it cannot be its own challenger
    expect(within(rowOf(3)).queryByRole("button", { name: /challenger/ })).not.toBeInTheDocument();
  });

  it("scores a version as the challenger, and stops the challenger", async () => {
    const user = userEvent.setup();
    const onChanged = vi.fn();
    stubGateway({
      ...signedIn,
      "POST /api/models/2/shadow": { type: "shadow", model: null, ts: 1 },
      "DELETE /api/models/4/shadow": { type: "shadow", model: null, ts: 2 },
    });
    panel(onChanged);

    await user.click(await enabled(2, /^Score as challenger/));
    await waitFor(() => expect(onChanged).toHaveBeenCalledOnce());
    expect(requested("POST /api/models/2/shadow")).toBe(1);

    await user.click(await enabled(4, /^Stop challenger/));
    await waitFor(() => expect(onChanged).toHaveBeenCalledTimes(2));
    expect(requested("DELETE /api/models/4/shadow")).toBe(1);
  });

  it("shows why the registry refused a challenger", async () => {
    const user = userEvent.setup();
    const onChanged = vi.fn();
    stubGateway({
      ...signedIn,
      "POST /api/models/1/shadow": new Answer(409, {
        detail: "model version 1 does not load: missing scaler",
      }),
    });
    panel(onChanged);

    await user.click(await enabled(1, /^Score as challenger/));

    expect(await within(rowOf(1)).findByRole("alert")).toHaveTextContent(
      "model version 1 does not load: missing scaler",
    );
    expect(onChanged).not.toHaveBeenCalled();
  });

  it("keeps the challenger buttons off while signed out", async () => {
    stubGateway({ "/api/session": { signed_in: false, token_configured: true } });
    panel();
    const stop = within(rowOf(4)).getByRole("button", { name: /^Stop challenger/ });
    await waitFor(() => expect(requested("GET /api/session")).toBe(1));
    await act(async () => {}); // the session's answer is in
    expect(stop).toBeDisabled();
    expect(within(rowOf(2)).getByRole("button", { name: /^Score as challenger/ })).toBeDisabled();
  });
});
