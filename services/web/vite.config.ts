/// <reference types="vitest/config" />
// Build: `npm run build` writes dist/, which the gateway serves at /, /predict and /train.
// Dev: `npm run dev` proxies /api and /ws to a gateway on 127.0.0.1:8000 (override with LOB_GATEWAY).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const gateway = process.env.LOB_GATEWAY ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": gateway,
      "/ws": { target: gateway.replace(/^http/, "ws"), ws: true },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // recharts is the bulk of the bundle; it gets its own chunk so the Predict page loads without it.
    chunkSizeWarningLimit: 700,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    restoreMocks: true,
  },
});
