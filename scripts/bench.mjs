// npm run bench: install what is missing, build ours and the libcni driver, then run scripts/bench with Bun.
import { runBunScript } from "./bun-script.mjs";

runBunScript("bench/main.ts", { driver: true });
