// `npm run release`, built once into a temp dir: every archive and image is there with verifying checksums and
// exactly the expected files; the arm64 build runs VERSION and a host-local ADD/DEL under qemu user emulation,
// the baseline build the same natively; the image is a valid OCI layout whose digests match its blobs.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.ts";
import { commit, version } from "../../scripts/compile.mjs";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const VERSION = version();
const PLUGINS = [...PLUGIN_NAMES].sort();
const BINS = ["cni", ...PLUGINS];
const TARGETS = ["linux-amd64", "linux-amd64-baseline", "linux-arm64"];
const IMAGES = ["amd64", "arm64"];
const QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"];
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
    const artefacts = [...TARGETS.map((t) => `cni-${VERSION}-${t}.tgz`), ...IMAGES.map((a) => `cni-${VERSION}-image-${a}.tar`)];
    expect(readdirSync(out).sort()).toEqual(artefacts.flatMap((a) => [a, `${a}.sha256`, `${a}.sha512`]).sort());
  });

  it("checksum files verify with sha256sum -c and sha512sum -c", () => {
    for (const tool of ["sha256sum", "sha512sum"]) {
      const files = readdirSync(out).filter((f) => f.endsWith(`.${tool.slice(0, 6)}`));
      expect(files).toHaveLength(TARGETS.length + IMAGES.length);
      for (const f of files) {
        expect(readFileSync(join(out, f), "utf8")).toMatch(new RegExp(`^[0-9a-f]{${tool === "sha256sum" ? 64 : 128}}  cni-[^/\\s]+\\n$`));
        const r = spawnSync(tool, ["-c", f], { cwd: out, encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
      }
    }
  });

  it.each(TARGETS)("%s: unpacks to exactly cni, its links, README.md and LICENSE", (target) => {
    const listing = execFileSync("tar", ["-tzf", join(out, `cni-${VERSION}-${target}.tgz`)])
      .toString()
      .trim()
      .split("\n");
    expect(listing.sort()).toEqual([...BINS, "LICENSE", "README.md"].sort());
    const dir = unpack(`cni-${VERSION}-${target}.tgz`);
    expect(lstatSync(join(dir, "cni")).mode & 0o777).toBe(0o755);
    for (const p of PLUGINS) expect(readlinkSync(join(dir, p))).toBe("cni");
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
    const version = runPlugin("host-local", { binDir: dir, wrap, node, env: { CNI_COMMAND: "VERSION" } });
    expect(version.json?.supportedVersions).toContain("1.1.0");
    const conf = { cniVersion: "1.0.0", name: "relnet", ipam: { type: "host-local", subnet: "10.77.0.0/24", dataDir: data } };
    const env = { CNI_CONTAINERID: "ctr-release", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: dir };
    const add = runPlugin("host-local", { binDir: dir, wrap, node, env: { ...env, CNI_COMMAND: "ADD" }, stdin: conf });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0].address).toBe("10.77.0.2/24");
    expect(readFileSync(join(data, "relnet", "10.77.0.2"), "utf8")).toMatch(/^ctr-release\r?\neth0$/);
    const del = runPlugin("host-local", { binDir: dir, wrap, node, env: { ...env, CNI_COMMAND: "DEL" }, stdin: conf });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(existsSync(join(data, "relnet", "10.77.0.2"))).toBe(false);
  });
});

describe.each(IMAGES)("the %s image", (arch) => {
  it("is an OCI layout whose digests and sizes match its blobs, with one layer holding cni, its links and its C runtime", () => {
    const dir = unpack(`cni-${VERSION}-image-${arch}.tar`, "-xf");
    const blob = (digest: string) => readFileSync(join(dir, "blobs", "sha256", digest.replace(/^sha256:/, "")));
    const verified = (d: { digest: string; size: number }) => {
      const b = blob(d.digest);
      expect(`sha256:${sha256(b)}`).toBe(d.digest);
      expect(b.length).toBe(d.size);
      return b;
    };
    expect(JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests).toHaveLength(1);
    const desc = index.manifests[0];
    expect(desc.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(desc.platform).toMatchObject({ os: "linux", architecture: arch });
    expect(desc.annotations["io.containerd.image.name"]).toBe(`localhost/cni:${VERSION}`);
    const manifest = JSON.parse(verified(desc).toString());
    expect(manifest.config.mediaType).toBe("application/vnd.oci.image.config.v1+json");
    const config = JSON.parse(verified(manifest.config).toString());
    // amd64's entrypoint is the baseline build: it starts on any x86-64 CPU, then installs the one this CPU runs.
    const entry = arch === "amd64" ? "/cni-baseline" : "/cni";
    expect(config).toMatchObject({
      os: "linux",
      architecture: arch,
      config: { Entrypoint: [entry, "install", "--host-root", "/host", "--dest", "/host/opt/cni/bin"] },
    });
    expect(config.config.Labels["org.opencontainers.image.version"]).toBe(VERSION);
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    const layer = gunzipSync(verified(manifest.layers[0]));
    expect(config.rootfs).toEqual({ type: "layers", diff_ids: [`sha256:${sha256(layer)}`] });
    // Every blob is referenced; nothing else is in the archive.
    const blobs = readdirSync(join(dir, "blobs", "sha256")).sort();
    expect(blobs).toEqual([desc.digest, manifest.config.digest, manifest.layers[0].digest].map((d: string) => d.slice(7)).sort());
    expect(readdirSync(dir).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
    // The layer: the executable of the same target's archive, its links and the C runtime it is linked against.
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
    for (const p of PLUGINS) expect(readlinkSync(join(layerDir, p))).toBe("cni");
    const archived = unpack(`cni-${VERSION}-linux-${arch}.tgz`);
    expect(readFileSync(join(layerDir, "cni")).equals(readFileSync(join(archived, "cni")))).toBe(true);
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
