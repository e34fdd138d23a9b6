import { defineConfig } from "vite";

// Preact's automatic JSX runtime through Vite's own transform (Oxc), so no framework plugin is
// needed. The hub serves the build at /ui/, same origin as the API, with a strict CSP: no inline
// scripts, no CDN.
export default defineConfig({
  root: "src/ui",
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../../dist/ui",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: { proxy: { "/v1": process.env.FLOTILLA_HUB ?? "http://127.0.0.1:8080" } },
});
