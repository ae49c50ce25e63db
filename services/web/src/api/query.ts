// The REST reads go through TanStack Query (one QueryClient per tab, made in main.tsx). Its
// defaults are tuned to what the UI promised before it: a failed load shows at once, the polls keep
// running, and the last good data stays on screen while a poll fails (TanStack keeps `data` when a
// refetch errors). Each key holds its own data, so a new key never shows the previous key's.
import { QueryClient } from "@tanstack/react-query";
import type { ApiError } from "./client";

declare module "@tanstack/react-query" {
  // Every query function goes through `unwrap` (client.ts), which throws only ApiError.
  interface Register {
    defaultError: ApiError;
  }
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // The next poll is the retry; retrying first would hold back "Backend unavailable".
        retry: false,
        // Ask even when the browser says it is offline: the failed fetch is what the page shows.
        networkMode: "always",
        // Fetch on mount, on a poll and when asked (after an action or a live event), nothing else.
        refetchOnWindowFocus: false,
        refetchOnReconnect: false,
        // A run watched from a background tab is up to date when the tab comes back.
        refetchIntervalInBackground: true,
      },
    },
  });
}
