// npm run soak -- [--cycles N]: the soak of npm test, longer (default 1,000 cycles), with the same code as the
// test. Exits non-zero on any failure or growth.
import { runBunScript } from "./bun-script.mjs";

runBunScript("soak/main.ts", { driver: true });
