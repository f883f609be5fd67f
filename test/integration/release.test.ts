// `npm run release`, built once into a temp dir: every archive and image is there with verifying checksums and
// exactly the expected files; the arm64 build runs VERSION and a host-local ADD/DEL under qemu user emulation,
// the baseline build the same natively; each image archive is a valid OCI layout whose digests match its blobs,
// and the multi-platform one imports into a private containerd as one tag holding both platforms, and copies
// whole through skopeo as a registry push would.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ContainerdNode } from "../helpers/containerd.ts";
import { ROOT } from "../helpers/paths.ts";
import { commit, version } from "../../scripts/compile.mjs";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";
import { type LauncherArch, launcherBytes } from "../../lib/launcher/launcher.ts";

const box = new Sandbox();
let runtime: ContainerdNode | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});
afterAll(() => box.cleanup());

const VERSION = version();
const PLUGINS = [...PLUGIN_NAMES].sort();
const BINS = ["cni", ...PLUGINS];
const TARGETS = ["linux-amd64", "linux-amd64-baseline", "linux-arm64"];
const IMAGES = ["amd64", "arm64"];
const PLATFORMS = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64", variant: "v8" },
];
const MULTI = `cni-${VERSION}-image.tar`;
const QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"];
/** The launcher each target's plugin names are (lib/launcher). */
const launcherOf = (target: string): LauncherArch => (target.endsWith("arm64") ? "arm64" : "x64");
const isLauncher = (path: string, arch: LauncherArch) => lstatSync(path).isFile() && readFileSync(path).equals(launcherBytes(arch));
let out = "";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Unpack an archive into a fresh dir; returns the dir. */
function unpack(file: string, flags = "-xzf"): string {
  const dir = box.tmpdir();
  execFileSync("tar", [flags, join(out, file), "-C", dir]);
  return dir;
}

beforeAll(() => {
  out = join(box.tmpdir(), "release");
  execFileSync(process.execPath, [join(ROOT, "scripts", "release.mjs"), "--out", out], { cwd: ROOT, stdio: "inherit" });
}, 600_000);

describe("npm run release", () => {
  it("writes each archive and image with its .sha256 and .sha512, and nothing else", () => {
    const artefacts = [...TARGETS.map((t) => `cni-${VERSION}-${t}.tgz`), ...IMAGES.map((a) => `cni-${VERSION}-image-${a}.tar`), MULTI];
    expect(readdirSync(out).sort()).toEqual(artefacts.flatMap((a) => [a, `${a}.sha256`, `${a}.sha512`]).sort());
  });

  it("checksum files verify with sha256sum -c and sha512sum -c", () => {
    for (const tool of ["sha256sum", "sha512sum"]) {
      const files = readdirSync(out).filter((f) => f.endsWith(`.${tool.slice(0, 6)}`));
      expect(files).toHaveLength(TARGETS.length + IMAGES.length + 1);
      for (const f of files) {
        expect(readFileSync(join(out, f), "utf8")).toMatch(new RegExp(`^[0-9a-f]{${tool === "sha256sum" ? 64 : 128}}  cni-[^/\\s]+\\n$`));
        const r = spawnSync(tool, ["-c", f], { cwd: out, encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
      }
    }
  });

  it.each(TARGETS)("%s: unpacks to exactly cni, a launcher of it per plugin, README.md and LICENSE", (target) => {
    const listing = execFileSync("tar", ["-tzf", join(out, `cni-${VERSION}-${target}.tgz`)])
      .toString()
      .trim()
      .split("\n");
    expect(listing.sort()).toEqual([...BINS, "LICENSE", "README.md"].sort());
    const dir = unpack(`cni-${VERSION}-${target}.tgz`);
    expect(lstatSync(join(dir, "cni")).mode & 0o777).toBe(0o755);
    for (const p of PLUGINS) expect(isLauncher(join(dir, p), launcherOf(target)), p).toBe(true);
    for (const p of PLUGINS) expect(lstatSync(join(dir, p)).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toContain("Apache License");
    expect(readFileSync(join(dir, "README.md")).equals(readFileSync(join(ROOT, "README.md")))).toBe(true);
  });
});

describe.each([
  { target: "linux-amd64", wrap: [] as string[] },
  { target: "linux-amd64-baseline", wrap: [] as string[] },
  { target: "linux-arm64", wrap: QEMU },
])("the $target build", ({ target, wrap }) => {
  it("says its version, commit and target", () => {
    const dir = unpack(`cni-${VERSION}-${target}.tgz`);
    const [exe, ...args] = [...wrap, join(dir, "cni"), "--version"];
    const r = spawnSync(exe, args, { encoding: "utf8" });
    expect(r.stdout).toBe(`cni ${VERSION} (commit ${commit()}, ${target}); plugins: ${PLUGIN_NAMES.join(", ")}\n`);
  });

  it("answers VERSION and reserves then releases an address with host-local", () => {
    const dir = unpack(`cni-${VERSION}-${target}.tgz`);
    const node = box.netns("node");
    const pod = box.netns("pod");
    const data = box.tmpdir();
    // Under qemu-user the launcher's execve of the arm64 cni goes to the kernel, which cannot run it here: the
    // plugin is named as cni's first argument instead (the launcher runs under qemu in launcher.test.ts).
    const [plugin, args] = wrap.length ? ["cni", ["host-local"]] : ["host-local", []];
    const version = runPlugin(plugin, { binDir: dir, wrap, node, args, env: { CNI_COMMAND: "VERSION" } });
    expect(version.json?.supportedVersions).toContain("1.1.0");
    const conf = { cniVersion: "1.0.0", name: "relnet", ipam: { type: "host-local", subnet: "10.77.0.0/24", dataDir: data } };
    const env = { CNI_CONTAINERID: "ctr-release", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: dir };
    const add = runPlugin(plugin, { binDir: dir, wrap, node, args, env: { ...env, CNI_COMMAND: "ADD" }, stdin: conf });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0].address).toBe("10.77.0.2/24");
    expect(readFileSync(join(data, "relnet", "10.77.0.2"), "utf8")).toMatch(/^ctr-release\r?\neth0$/);
    const del = runPlugin(plugin, { binDir: dir, wrap, node, args, env: { ...env, CNI_COMMAND: "DEL" }, stdin: conf });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(existsSync(join(data, "relnet", "10.77.0.2"))).toBe(false);
  });
});

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** An unpacked image archive: its index.json's one entry, and its blobs read only through a digest check. */
function openArchive(file: string) {
  const dir = unpack(file, "-xf");
  const used = new Set<string>();
  const verified = (d: Descriptor) => {
    const b = readFileSync(join(dir, "blobs", "sha256", d.digest.replace(/^sha256:/, "")));
    expect(`sha256:${sha256(b)}`).toBe(d.digest);
    expect(b.length).toBe(d.size);
    used.add(d.digest.slice(7));
    return b;
  };
  expect(readdirSync(dir).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
  expect(JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  expect(index.schemaVersion).toBe(2);
  expect(index.manifests).toHaveLength(1);
  const top: Descriptor = index.manifests[0];
  /** Every blob in the archive was reached from index.json, and nothing else is there. */
  const allReached = () => expect(readdirSync(join(dir, "blobs", "sha256")).sort()).toEqual([...used].sort());
  return { top, verified, allReached };
}

/** Check the image manifest `desc` of `arch` (its config, its one layer); returns the layer, unpacked. */
function checkImage(desc: Descriptor, arch: string, verified: (d: Descriptor) => Buffer): string {
  expect(desc.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
  expect(desc.platform).toMatchObject({ os: "linux", architecture: arch });
  const manifest = JSON.parse(verified(desc).toString());
  expect(manifest.config.mediaType).toBe("application/vnd.oci.image.config.v1+json");
  const config = JSON.parse(verified(manifest.config).toString());
  // amd64's entrypoint is the baseline build: it starts on any x86-64 CPU, then installs the one this CPU runs.
  const entry = arch === "amd64" ? "/cni-baseline" : "/cni";
  expect(config).toMatchObject({
    ...desc.platform,
    config: { Entrypoint: [entry, "install", "--host-root", "/host", "--dest", "/host/opt/cni/bin"] },
  });
  expect(config.config.Labels["org.opencontainers.image.version"]).toBe(VERSION);
  expect(manifest.layers).toHaveLength(1);
  expect(manifest.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
  const layer = gunzipSync(verified(manifest.layers[0]));
  expect(config.rootfs).toEqual({ type: "layers", diff_ids: [`sha256:${sha256(layer)}`] });
  const layerDir = box.tmpdir();
  execFileSync("tar", ["-xf", "-", "-C", layerDir], { input: layer, maxBuffer: 1 << 30 });
  const listing = execFileSync("tar", ["-tf", "-"], { input: layer, maxBuffer: 1 << 30 })
    .toString()
    .trim()
    .split("\n")
    .sort();
  const libDir = arch === "amd64" ? "lib/x86_64-linux-gnu" : "lib/aarch64-linux-gnu";
  const loader = arch === "amd64" ? ["lib64/", "lib64/ld-linux-x86-64.so.2"] : ["lib/ld-linux-aarch64.so.1"];
  const libs = ["libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0"].map((l) => `${libDir}/${l}`);
  const builds = arch === "amd64" ? ["cni-baseline"] : [];
  expect(listing).toEqual([...BINS, ...builds, "lib/", `${libDir}/`, ...loader, ...libs].sort());
  for (const p of PLUGINS) expect(isLauncher(join(layerDir, p), arch === "amd64" ? "x64" : "arm64"), p).toBe(true);
  const archived = unpack(`cni-${VERSION}-linux-${arch}.tgz`);
  expect(readFileSync(join(layerDir, "cni")).equals(readFileSync(join(archived, "cni")))).toBe(true);
  return layerDir;
}

describe.each(IMAGES)("the %s image", (arch) => {
  it("is an OCI layout whose digests and sizes match its blobs, with one layer holding cni, its launchers and its C runtime", () => {
    const { top, verified, allReached } = openArchive(`cni-${VERSION}-image-${arch}.tar`);
    // Its own tag: importing one platform's archive never replaces the other's, nor the multi-platform tag.
    expect(top.annotations).toEqual({
      "io.containerd.image.name": `localhost/cni:${VERSION}-${arch}`,
      "org.opencontainers.image.ref.name": `localhost/cni:${VERSION}-${arch}`,
    });
    const layerDir = checkImage(top, arch, verified);
    allReached();
    // Nothing from outside the layer is needed to run it (but /proc, which every container has).
    mkdirSync(join(layerDir, "proc"));
    const chroot = `mount -t proc proc "$0/proc"; exec chroot "$0" /cni --version`;
    const alone =
      arch === "amd64"
        ? spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-ec", chroot, layerDir], { encoding: "utf8" })
        : spawnSync(QEMU[0], ["-L", layerDir, join(layerDir, "cni"), "--version"], { encoding: "utf8" });
    expect(alone.stdout, alone.stderr).toMatch(new RegExp(`^cni ${VERSION} \\(commit \\w+, linux-${arch}\\)`));
  });
});

describe("the amd64 image's entrypoint installs the build this CPU runs", () => {
  /** The image's layer unpacked; returns its dir. */
  function layerOf(): string {
    const dir = unpack(`cni-${VERSION}-image-amd64.tar`, "-xf");
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    const blob = (d: string) => join(dir, "blobs", "sha256", d.replace(/^sha256:/, ""));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
    const layer = box.tmpdir();
    execFileSync("tar", ["-xzf", blob(manifest.layers[0].digest), "-C", layer]);
    return layer;
  }

  /** Run the entrypoint's install (host root: this machine, dest: a temp dir) with `cpuinfo` over /proc/cpuinfo. */
  function entrypoint(layer: string, cpuinfo: string) {
    const dest = box.tmpdir();
    const fake = join(box.tmpdir(), "cpuinfo");
    writeFileSync(fake, cpuinfo);
    const script = `mount --bind "$1" /proc/cpuinfo; exec "$0/cni-baseline" install --host-root / --dest "$2"`;
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-ec", script, layer, fake, dest], { encoding: "utf8" });
    return { r, dest };
  }

  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");

  it.skipIf(!/^flags\s*:.* avx2( |$)/m.test(cpuinfo))("with AVX2: the AVX2 build lying beside it", () => {
    const layer = layerOf();
    const { r, dest } = entrypoint(layer, cpuinfo);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`build: the linux-amd64 build ${layer}/cni (this CPU has AVX2)`);
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(join(layer, "cni")))).toBe(true);
    expect(spawnSync(join(dest, "cni"), ["--version"], { encoding: "utf8" }).stdout).toContain(", linux-amd64)");
  });

  it("without AVX2 (the kernel's flags line without it): itself, the baseline build", () => {
    const layer = layerOf();
    const { r, dest } = entrypoint(layer, cpuinfo.replace(/ avx2(?= |$)/gm, ""));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("build: the linux-amd64-baseline build (this CPU has no AVX2)");
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(join(layer, "cni-baseline")))).toBe(true);
    expect(spawnSync(join(dest, "cni"), ["--version"], { encoding: "utf8" }).stdout).toContain(", linux-amd64-baseline)");
  });

  it("the AVX2 build refuses a CPU without AVX2, writing nothing, and names the build to use", () => {
    const layer = layerOf();
    const dest = box.tmpdir();
    const fake = join(box.tmpdir(), "cpuinfo");
    writeFileSync(fake, cpuinfo.replace(/ avx2(?= |$)/gm, ""));
    // No baseline build beside it: the AVX2 build alone, as the linux-amd64 archive holds it.
    const alone = box.tmpdir();
    execFileSync("cp", [join(layer, "cni"), join(alone, "cni")]);
    const script = `mount --bind "$1" /proc/cpuinfo; exec "$0" install --dest "$2"`;
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-ec", script, join(alone, "cni"), fake, dest], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("this CPU has no AVX2, and this linux-amd64 build needs it");
    expect(r.stderr).toContain("Install the linux-amd64-baseline build");
    expect(readdirSync(dest)).toEqual([]);
  });
});

describe("the multi-platform image", () => {
  /** The index and its manifests' descriptors, every blob checked. */
  function readIndex() {
    const archive = openArchive(MULTI);
    expect(archive.top.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(archive.top.platform).toBeUndefined();
    const index = JSON.parse(archive.verified(archive.top).toString());
    expect(index).toMatchObject({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json" });
    expect(index.annotations["org.opencontainers.image.version"]).toBe(VERSION);
    return { ...archive, manifests: index.manifests as Descriptor[] };
  }

  it("is one index named localhost/cni:<version> over linux/amd64 and linux/arm64 images, every digest matching its blob", () => {
    const { top, verified, allReached, manifests } = readIndex();
    expect(top.annotations).toEqual({
      "io.containerd.image.name": `localhost/cni:${VERSION}`,
      "org.opencontainers.image.ref.name": `localhost/cni:${VERSION}`,
    });
    expect(manifests.map((m) => m.platform)).toEqual(PLATFORMS);
    for (const [i, arch] of IMAGES.entries()) {
      checkImage(manifests[i], arch, verified);
      // The very image of that platform's own archive, not a second build of it.
      expect(manifests[i].digest).toBe(openArchive(`cni-${VERSION}-image-${arch}.tar`).top.digest);
    }
    allReached();
  });

  it("imports into containerd (ctr image import --all-platforms) as one tag with both platforms, which the per-platform archives leave in place", async () => {
    const { top, manifests, verified } = readIndex();
    const blobs = manifests.flatMap((m) => {
      const manifest = JSON.parse(verified(m).toString());
      return [m, manifest.config, ...manifest.layers].map((d: Descriptor) => d.digest);
    });
    const tmp = box.tmpdir();
    const rt = (runtime = new ContainerdNode(join(tmp, "node"), box.netns("node")));
    await rt.start();
    const ctr = (args: string[]) => {
      const r = rt.ctr(args);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    ctr(["image", "import", "--all-platforms", join(out, MULTI)]);
    // Every platform's manifest, config and layer is in the store, not only this machine's.
    const content = ctr(["content", "ls", "-q"]).trim().split("\n");
    for (const d of blobs) expect(content).toContain(d);
    const check = ctr(["images", "check", `name==localhost/cni:${VERSION}`]);
    expect(check, check).toMatch(/\scomplete \((\d+)\/\1\)/);
    // Import each platform's own archive afterwards: before, each was named localhost/cni:<version> and the
    // second replaced the first.
    for (const arch of IMAGES) ctr(["image", "import", "--all-platforms", join(out, `cni-${VERSION}-image-${arch}.tar`)]);
    const rows = ctr(["image", "ls"]).trim().split("\n").slice(1);
    // REF TYPE DIGEST SIZE (a number and a unit) PLATFORMS LABELS, padded with spaces.
    const row = (ref: string) => rows.map((r) => r.trim().split(/\s+/)).find((cols) => cols[0] === ref);
    const multi = row(`localhost/cni:${VERSION}`);
    expect(multi, rows.join("\n")).toBeDefined();
    expect(multi![1]).toBe("application/vnd.oci.image.index.v1+json");
    expect(multi![2]).toBe(top.digest);
    expect(multi!.at(-2)!.split(",").sort(), rows.join("\n")).toEqual(["linux/amd64", "linux/arm64/v8"]);
    for (const [i, arch] of IMAGES.entries()) expect(row(`localhost/cni:${VERSION}-${arch}`)?.[2]).toBe(manifests[i].digest);
    // Run as the init container by the one tag, containerd picks this machine's platform: the amd64 build.
    const dest = join(tmp, "opt-cni-bin");
    mkdirSync(dest);
    // As the DaemonSet mounts them: the host's / read-only at /host (its C library is checked there), its bin folder.
    ctr([
      "run",
      "--rm",
      "--mount",
      "type=bind,src=/,dst=/host,options=rbind:ro",
      "--mount",
      `type=bind,src=${dest},dst=/host/opt/cni/bin,options=rbind:rw`,
      `localhost/cni:${VERSION}`,
      "install-cni",
    ]);
    const archived = unpack(`cni-${VERSION}-linux-amd64.tgz`);
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(join(archived, "cni")))).toBe(true);
  }, 120_000);

  it("copies whole through skopeo (copy --all), keeping the index's digest, as a push of one tag would", () => {
    const { top, manifests } = readIndex();
    const raw = spawnSync("skopeo", ["inspect", "--raw", `oci-archive:${join(out, MULTI)}`], { encoding: "utf8" });
    expect(raw.status, raw.stderr).toBe(0);
    expect(`sha256:${sha256(Buffer.from(raw.stdout))}`).toBe(top.digest);
    const dest = join(box.tmpdir(), "copy");
    const copy = spawnSync("skopeo", ["copy", "--all", `oci-archive:${join(out, MULTI)}`, `oci:${dest}:${VERSION}`], { encoding: "utf8" });
    expect(copy.status, copy.stderr).toBe(0);
    const copied = JSON.parse(readFileSync(join(dest, "index.json"), "utf8")).manifests;
    expect(copied).toHaveLength(1);
    expect(copied[0].digest).toBe(top.digest);
    for (const m of manifests) {
      const manifest = JSON.parse(readFileSync(join(dest, "blobs", "sha256", m.digest.slice(7)), "utf8"));
      for (const d of [manifest.config, ...manifest.layers]) expect(existsSync(join(dest, "blobs", "sha256", d.digest.slice(7)))).toBe(true);
    }
  });
});
