// `npm run test:unit`: the pure modules (codecs, IP math, config parsing) only. No global set-up, so no build, no
// Go driver and no root: it runs anywhere Node runs.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});
