import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./client";

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Load `fetcher()` when `key` changes, optionally every `pollMs` while mounted. The last good data
 * stays on screen while a reload or poll fails, so a brief outage does not blank the page.
 */
export function useResource<T>(fetcher: () => Promise<T>, key: string, pollMs?: number): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const loadedKey = useRef(key);

  useEffect(() => {
    let live = true;
    if (loadedKey.current !== key) {
      // Another resource: never show the previous one's data under the new key.
      loadedKey.current = key;
      setData(undefined);
      setError(null);
    }
    setLoading(true);
    fetcherRef
      .current()
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if (!live) return;
        setError(e instanceof ApiError ? e : new ApiError(0, String(e)));
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [key, tick]);

  useEffect(() => {
    if (!pollMs) return;
    const timer = setInterval(reload, pollMs);
    return () => clearInterval(timer);
  }, [pollMs, reload]);

  return { data, error, loading, reload };
}
