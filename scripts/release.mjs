// npm run release [-- --out DIR]: from the Bun executables of the npm registry's @oven/bun-* packages (installed
// devDependencies, or the lockfile's tarballs fetched once into npm's cache), builds for every target in
// scripts/release/targets.mjs
//   cni-<version>-<target>.tgz        cni, a launcher per plugin, README.md, LICENSE (extract into /opt/cni/bin)
//   cni-<version>-image.tar           an OCI image archive named localhost/cni:<version> whose index holds the
//                                     linux/amd64 and linux/arm64 images: one tag, both platforms
//   cni-<version>-image-<arch>.tar    one platform's image alone (half the download for an air-gapped node),
//                                     named localhost/cni:<version>-<arch> so it never replaces the other's tag
// Each image's entrypoint runs `cni install`; its one layer holds /cni, its launchers and the C runtime the
// executable is linked against (amd64's also /cni-baseline, its entrypoint, which installs the build the CPU
// runs). Each artefact has .sha256 and .sha512 beside it, in dist/release/. Runs on a Linux x86-64 machine.
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT, commit, compile, pluginNames, version, writeLaunchers } from "./compile.mjs";
import { ensureNodeModules } from "./system-deps.mjs";
import { writeChecksums } from "./release/checksums.mjs";
import { addCRuntime } from "./release/libc.mjs";
import { ENTRYPOINT, addImage, addIndex, newLayout, writeArchive } from "./release/oci.mjs";
import { TARGETS, bunOf } from "./release/targets.mjs";
import { sourceDate, tgz } from "./release/tar.mjs";

ensureNodeModules(ROOT);
const outArg = process.argv.indexOf("--out");
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(ROOT, "dist", "release");
const v = version();
const rev = commit();
const mtime = sourceDate(ROOT);
const hostBun = await bunOf("@oven/bun-linux-x64");
const PLUGINS = pluginNames(hostBun);
const DOCS = ["README.md", "LICENSE"];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const labels = {
  "org.opencontainers.image.title": "cni",
  "org.opencontainers.image.description": `${PLUGINS.slice(0, -1).join(", ")} and ${PLUGINS.at(-1)} CNI plugins; installs them into /host/opt/cni/bin`,
  "org.opencontainers.image.version": v,
  "org.opencontainers.image.revision": rev,
  "org.opencontainers.image.licenses": "Apache-2.0",
};

/** What target `t`'s image carries, from its stage: the one place to change a platform's layer. */
/** What a platform's image holds: the target's build and links, the C runtime, and on amd64 also the baseline
 *  build, which its entrypoint starts (it runs on every CPU) to install the build the CPU runs. */
async function imageContent(t, stage, bins) {
  const runtime = addCRuntime(stage, t.image.architecture);
  const extra = t.imageCarries ? [t.imageCarries.file] : [];
  const entrypoint = t.imageCarries ? [`/${t.imageCarries.file}`, ...ENTRYPOINT.slice(1)] : ENTRYPOINT;
  if (t.imageCarries) {
    const c = TARGETS.find((x) => x.name === t.imageCarries.target);
    compile({ outfile: join(stage, t.imageCarries.file), target: c.name, bunTarget: c.bunTarget, bunExe: await bunOf(c.pkg), hostBun });
  }
  return { stage, names: [...bins, ...extra, ...runtime], platform: t.image, labels, entrypoint };
}

// Every image goes into one blob store, so the multi-platform archive and the per-platform ones share each layer.
const layout = newLayout(join(out, ".oci"));
const jobs = [];
const manifests = [];
for (const t of TARGETS) {
  const stage = join(out, `.stage-${t.name}`);
  mkdirSync(stage);
  compile({ outfile: join(stage, "cni"), target: t.name, bunTarget: t.bunTarget, bunExe: await bunOf(t.pkg), hostBun });
  writeLaunchers(stage, PLUGINS, t.launcher, hostBun);
  for (const d of DOCS) copyFileSync(join(ROOT, d), join(stage, d));
  const bins = ["cni", ...PLUGINS];
  const archive = join(out, `cni-${v}-${t.name}.tgz`);
  // Compression runs in the background while the next target compiles; the stage goes once it is archived.
  const mine = [tgz(stage, [...bins, ...DOCS], archive, mtime).then(() => [archive])];
  if (t.image) {
    const arch = t.image.architecture;
    const manifest = addImage(layout, { ...(await imageContent(t, stage, bins)), mtime });
    manifests.push(manifest);
    const image = join(out, `cni-${v}-image-${arch}.tar`);
    const written = manifest.then((m) => writeArchive(layout, m, { out: image, name: `localhost/cni:${v}-${arch}`, mtime }));
    mine.push(written.then(() => [image]));
  }
  const cleaned = Promise.all(mine).then(() => rmSync(stage, { recursive: true, force: true }));
  jobs.push(
    ...mine,
    cleaned.then(() => []),
  );
}
const index = addIndex(layout, await Promise.all(manifests), labels);
const multi = join(out, `cni-${v}-image.tar`);
writeArchive(layout, index, { out: multi, name: `localhost/cni:${v}`, mtime });
const artefacts = [multi, ...(await Promise.all(jobs)).flat()];
rmSync(layout, { recursive: true, force: true });
for (const a of artefacts) await writeChecksums(a);
for (const a of artefacts) console.log(`${a}  ${(statSync(a).size / 2 ** 20).toFixed(1)} MiB`);
