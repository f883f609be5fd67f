// npm run fuzz -- [--count N] [--seed S] [--case I[,J…]] [--parallel P]: the fuzz suite of npm test, longer or
// replayed, with the same generator and checks as the test.
import { runBunScript } from "./bun-script.mjs";

runBunScript("fuzz/main.ts");
