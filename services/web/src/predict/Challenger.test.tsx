import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import type { LiveScores } from "../live/messages";
import { FakeSocket } from "../test/fakeSocket";
import { Answer, requested, requests } from "../test/gateway";
import { EMPTY_CONFUSION, liveScores } from "../test/liveScores";
import { GATEWAY, openPredict, prediction } from "../test/predictPage";

type Model = Schemas["ModelOut"];

const model = (id: number, version: string, over: Partial<Model> = {}): Model => ({
  id,
  job_id: version.split("/")[0]!,
  fold: 5,
  version,
  created_at: "2026-03-01T10:00:00Z",
  active: false,
  shadow: false,
  weights_sha256: "0".repeat(64),
  ...over,
});

const CHAMPION = model(1, "v1", { active: true });
const SHADOW = model(2, "v2", { shadow: true });

// v2 scored as the challenger on DEMO: better live, worse on its test set, fewer trades.
const challenger = (patch: Partial<LiveScores> = {}) =>
  liveScores({
    model_version: "v2",
    role: "challenger",
    last: { samples: 800, accuracy: 0.55, f1_macro: 0.47, confusion: EMPTY_CONFUSION },
    since_load: { samples: 800, accuracy: 0.55, f1_macro: 0.47, confusion: EMPTY_CONFUSION },
    backtest: {
      theta: 0.55,
      fee_bps: 1,
      horizon: 10,
      trades: 3,
      net_bps: -4.25,
      hit_rate: 0.33,
      position: 0,
    },
    test_accuracy: 0.47,
    test_f1_macro: 0.44,
    ...patch,
  });

const report = (...entries: LiveScores[]) => ({
  scores: entries,
  drift_window: 1_000,
  drift_margin: 0.1,
  updated_at: 1,
});

/** The gateway with v1 serving and v2 as the registry's challenger, scored by inference. */
const withChallenger = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...GATEWAY,
  "/api/session": { signed_in: true, token_configured: true },
  "/api/models/active": {
    model: CHAMPION,
    shadow: SHADOW,
    inference: { model_version: "v1", shadow_version: "v2", refused: [] },
  },
  "/api/live/scores": report(liveScores(), challenger()),
  "POST /api/models/2/promote": { ...SHADOW, active: true, shadow: false },
  "DELETE /api/models/2/shadow": { type: "shadow", model: null, ts: 1 },
  ...over,
});

async function open(answers: Record<string, unknown>) {
  const ws = openPredict("/predict?symbol=DEMO", answers);
  await waitFor(() => expect(ws.sent).toContainEqual({ subscribe: ["DEMO"] }));
  act(() => ws.deliver(prediction("DEMO")));
  return ws;
}

const cell = (row: string, side: "champion" | "challenger") =>
  screen.getByTestId(`duel-${row}-${side}`).textContent;

describe("PredictPage champion and challenger", () => {
  beforeEach(() => FakeSocket.reset());
  afterEach(() => vi.unstubAllGlobals());

  it("shows nothing extra while no challenger is scored", async () => {
    // Given v1 serving alone; the report keeps a retired v0 on DEMO and a challenger elsewhere
    await open({
      ...GATEWAY,
      "/api/live/scores": report(
        liveScores(),
        liveScores({ model_version: "v0", role: "retired" }),
        challenger({ symbol: "ETHUSDT" }),
      ),
    });
    await waitFor(() => expect(screen.getByTestId("live-acc-last")).toHaveTextContent("52.0%"));

    // Then there is no challenger card
    expect(screen.queryByTestId("challenger-card")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Promote challenger" })).not.toBeInTheDocument();
  });

  it("puts the challenger's live figures beside the champion's and marks the better of each", async () => {
    const ws = await open(withChallenger());

    // Then the card has a column each, headed by its version
    const card = await screen.findByTestId("challenger-card");
    expect(within(card).getByRole("heading", { name: "Champion vs challenger" })).toBeInTheDocument();
    const table = within(card).getByRole("table", { name: "Champion and challenger live figures" });
    expect(within(table).getByRole("columnheader", { name: /^Champion\s*v1$/ })).toBeInTheDocument();
    expect(within(table).getByRole("columnheader", { name: /^Challenger\s*v2$/ })).toBeInTheDocument();
    await waitFor(() => expect(cell("f1-last", "challenger")).toBe("0.470"));

    // Hit rate and macro F1 over the last 1,000 and since load, the test set's, the backtest
    expect(within(table).getByRole("rowheader", { name: "Macro F1, last 1,000" })).toBeInTheDocument();
    expect(cell("acc-last", "champion")).toBe("52.0%");
    expect(cell("acc-last", "challenger")).toBe("55.0%");
    expect(cell("f1-last", "champion")).toBe("0.410");
    expect(cell("f1-load", "champion")).toBe("0.400");
    expect(cell("f1-load", "challenger")).toBe("0.470");
    expect(cell("f1-test", "champion")).toBe("0.450");
    expect(cell("f1-test", "challenger")).toBe("0.440");
    expect(cell("trades", "champion")).toBe("7");
    expect(cell("trades", "challenger")).toBe("3");
    expect(cell("net-bps", "champion")).toBe("+12.50 bps");
    expect(cell("net-bps", "challenger")).toBe("−4.25 bps");

    // The better of the two is marked: the challenger live, the champion on its test set and P&L
    const td = (row: string, side: "champion" | "challenger") =>
      screen.getByTestId(`duel-${row}-${side}`).closest("td")!;
    expect(td("f1-last", "challenger")).toHaveClass("best");
    expect(td("f1-last", "champion")).not.toHaveClass("best");
    expect(td("f1-test", "champion")).toHaveClass("best");
    expect(td("net-bps", "champion")).toHaveClass("best");
    expect(td("trades", "champion")).not.toHaveClass("best");

    // And the champion's column follows its own live messages, the challenger's REST alone
    act(() =>
      ws.deliver(
        liveScores({ last: { samples: 1_000, accuracy: 0.6, f1_macro: 0.5, confusion: EMPTY_CONFUSION } }),
      ),
    );
    expect(cell("f1-last", "champion")).toBe("0.500");
    expect(td("f1-last", "champion")).toHaveClass("best");
    expect(cell("f1-last", "challenger")).toBe("0.470");
  });

  it("promotes the challenger after a confirmation, then asks the registry again", async () => {
    const user = userEvent.setup();
    await open(withChallenger());
    const promote = await screen.findByRole("button", { name: "Promote challenger" });
    const before = requested("GET /api/models/active");

    // When Promote challenger is pressed, nothing is sent until it is confirmed
    await user.click(promote);
    const confirm = screen.getByRole("group", {
      name: /Serve v2 to clients\? The champion v1 becomes the challenger/,
    });
    expect(requested("POST /api/models/2/promote")).toBe(0);
    await user.click(within(confirm).getByRole("button", { name: "Cancel" }));
    expect(requested("POST /api/models/2/promote")).toBe(0);

    await user.click(screen.getByRole("button", { name: "Promote challenger" }));
    await user.click(screen.getByRole("button", { name: "Confirm promotion" }));

    // Then the shadow's id is promoted, and the page asks what serves now
    await waitFor(() => expect(requested("POST /api/models/2/promote")).toBe(1));
    await waitFor(() => expect(requested("GET /api/models/active")).toBeGreaterThan(before));
    expect(screen.queryByRole("button", { name: "Confirm promotion" })).not.toBeInTheDocument();
  });

  it("shows the registry's 409 when the promotion is refused", async () => {
    const user = userEvent.setup();
    await open(
      withChallenger({
        "POST /api/models/2/promote": new Answer(409, {
          detail: "model version 2 does not load: weights changed",
        }),
      }),
    );
    await user.click(await screen.findByRole("button", { name: "Promote challenger" }));
    await user.click(screen.getByRole("button", { name: "Confirm promotion" }));

    const alert = await within(screen.getByTestId("challenger-card")).findByRole("alert");
    expect(alert).toHaveTextContent("model version 2 does not load: weights changed");
  });

  it("removes the challenger", async () => {
    const user = userEvent.setup();
    await open(withChallenger());
    const remove = await screen.findByRole("button", { name: "Remove challenger" });
    const before = requested("GET /api/models/active");

    await user.click(remove);

    // Then the shadow is deleted, without a confirmation, and the page asks the registry again
    await waitFor(() => expect(requested("DELETE /api/models/2/shadow")).toBe(1));
    await waitFor(() => expect(requested("GET /api/models/active")).toBeGreaterThan(before));
    expect(requests).not.toContain("POST /api/models/2/promote");
  });

  it("shows a signed-out visitor the figures but no buttons", async () => {
    await open(withChallenger({ "/api/session": { signed_in: false, token_configured: true } }));

    await waitFor(() => expect(cell("f1-last", "challenger")).toBe("0.470"));
    expect(await screen.findByTestId("challenger-sign-in")).toHaveTextContent("Sign in on the Train page");
    expect(screen.queryByRole("button", { name: "Promote challenger" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Remove challenger" })).not.toBeInTheDocument();
  });

  it("shows a challenger the registry names before inference scores it, as not scored yet", async () => {
    // Given the registry's shadow, which inference has not loaded yet
    await open(
      withChallenger({
        "/api/models/active": {
          model: CHAMPION,
          shadow: SHADOW,
          inference: { model_version: "v1", refused: [] },
        },
        "/api/live/scores": report(liveScores()),
      }),
    );

    const card = await screen.findByTestId("challenger-card");
    expect(within(card).getByTestId("challenger-pending")).toHaveTextContent(
      "Inference has not loaded the challenger yet",
    );
    expect(cell("f1-last", "challenger")).toBe("–");
    await waitFor(() => expect(cell("f1-last", "champion")).toBe("0.410"));
    expect(await within(card).findByRole("button", { name: "Remove challenger" })).toBeInTheDocument();
  });
});
