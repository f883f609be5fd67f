// Where the Bun binary from the @oven/bun-linux-x64 devDependency lives (its wrapper package's postinstall
// does not run under npm 11, so we call the platform binary directly).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function bunPath() {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@oven/bun-linux-x64/package.json")), "bin", "bun");
}
