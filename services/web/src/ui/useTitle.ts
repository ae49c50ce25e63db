import { useEffect } from "react";

/** Name the tab after the page, so history and screen readers say where you are. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · DeepLOB Hub`;
  }, [title]);
}
