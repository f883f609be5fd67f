// npm run release [-- --out DIR]: offline, from the Bun executables of the npm registry's @oven/bun-* packages
// (devDependencies), builds for every target in scripts/release/targets.mjs
//   cni-<version>-<target>.tgz        cni, a link per plugin, README.md, LICENSE (extract into /opt/cni/bin)
//   cni-<version>-image-<arch>.tar    an OCI image archive whose entrypoint runs `cni install` (one layer: /cni,
//                                     its links and the C runtime the executable is linked against; amd64's
//                                     also /cni-baseline, its entrypoint, which installs the build the CPU runs)
// each with .sha256 and .sha512 beside it, into dist/release/. Runs on a Linux x86-64 machine.
import { copyFileSync, mkdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT, commit, compile, pluginNames, version } from "./compile.mjs";
import { ensureNodeModules } from "./system-deps.mjs";
import { writeChecksums } from "./release/checksums.mjs";
import { addCRuntime } from "./release/libc.mjs";
import { ENTRYPOINT, ociImage } from "./release/oci.mjs";
import { TARGETS, bunOf } from "./release/targets.mjs";
import { sourceDate, tgz } from "./release/tar.mjs";

ensureNodeModules(ROOT);
const outArg = process.argv.indexOf("--out");
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(ROOT, "dist", "release");
const v = version();
const rev = commit();
const mtime = sourceDate(ROOT);
const hostBun = bunOf("@oven/bun-linux-x64");
const PLUGINS = pluginNames(hostBun);
const DOCS = ["README.md", "LICENSE"];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const jobs = [];
for (const t of TARGETS) {
  const stage = join(out, `.stage-${t.name}`);
  mkdirSync(stage);
  compile({ outfile: join(stage, "cni"), target: t.name, bunTarget: t.bunTarget, bunExe: bunOf(t.pkg), hostBun });
  for (const p of PLUGINS) symlinkSync("cni", join(stage, p));
  for (const d of DOCS) copyFileSync(join(ROOT, d), join(stage, d));
  const bins = ["cni", ...PLUGINS];
  const archive = join(out, `cni-${v}-${t.name}.tgz`);
  jobs.push(tgz(stage, [...bins, ...DOCS], archive, mtime).then(() => [archive]));
  if (t.image) {
    const image = join(out, `cni-${v}-image-${t.image.architecture}.tar`);
    const runtime = addCRuntime(stage, t.image.architecture);
    const extra = t.imageCarries ? [t.imageCarries.file] : [];
    const entrypoint = t.imageCarries ? [`/${t.imageCarries.file}`, ...ENTRYPOINT.slice(1)] : ENTRYPOINT;
    if (t.imageCarries) {
      const c = TARGETS.find((x) => x.name === t.imageCarries.target);
      compile({ outfile: join(stage, t.imageCarries.file), target: c.name, bunTarget: c.bunTarget, bunExe: bunOf(c.pkg), hostBun });
    }
    const labels = {
      "org.opencontainers.image.title": "cni",
      "org.opencontainers.image.description": `${PLUGINS.slice(0, -1).join(", ")} and ${PLUGINS.at(-1)} CNI plugins; installs them into /host/opt/cni/bin`,
      "org.opencontainers.image.version": v,
      "org.opencontainers.image.revision": rev,
      "org.opencontainers.image.licenses": "Apache-2.0",
    };
    const o = { stage, names: [...bins, ...extra, ...runtime], out: image, platform: t.image, mtime, name: `localhost/cni:${v}`, labels, entrypoint };
    jobs.push(ociImage(o).then(() => [image]));
  }
  // Compression runs in the background while the next target compiles; the stage goes once both are done.
  const mine = jobs.slice(t.image ? -2 : -1);
  jobs.push(
    Promise.all(mine).then(() => {
      rmSync(stage, { recursive: true, force: true });
      return [];
    }),
  );
}
const artefacts = (await Promise.all(jobs)).flat();
for (const a of artefacts) await writeChecksums(a);
for (const a of artefacts) console.log(`${a}  ${(statSync(a).size / 2 ** 20).toFixed(1)} MiB`);
