// Debian packages the tests, the lab and the benchmarks need; installed with apt when missing, so a fresh
// Debian 12 machine (root) runs `npm test` and `npm run demo` as they are.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const DEBIAN_PACKAGES = [
  "iproute2", // ip netns / ip link, for test set-up and inspection (plugins use netlink directly)
  "iptables", // portmap and ipMasq rules
  "nftables", // nft: the nftables backend of bridge masquerade, portmap and macspoofchk
  "conntrack", // portmap's stale UDP entry flush
  "util-linux", // nsenter: enter only a network namespace
  "iputils-ping",
  "netcat-openbsd",
  "tcpdump", // the lab's proof that cross-node traffic is VXLAN
  "time", // /usr/bin/time -v for peak RSS in benchmarks
  "strace", // tests count the processes a delegation starts
  "binutils", // objdump: the glibc versions of the symbols the plugins bind
  "golang-go", // builds the libcni test driver
  "golang-github-appc-cni-dev", // libcni, the client containerd and cri-o use
  "containernetworking-plugins", // the Go reference plugins in /usr/lib/cni, for differential tests
  "golang-github-hanwen-go-fuse-dev", // a FUSE filesystem without hard links, for host-local's store tests
  "qemu-user-static", // runs the arm64 release build (qemu-aarch64-static -L /usr/aarch64-linux-gnu)
  "libc6-arm64-cross", // the arm64 C library and loader it runs with, without a multiarch set-up
  "containerd", // a real runtime (its ctr) imports our image and runs pods through our plugins
  "busybox-static", // the test pods' image, built by the test itself
  "musl", // a musl-only root (as Alpine is), which cni install must refuse
  "skopeo", // reads the release's multi-platform image archive as a registry push would (skopeo copy --all)
];

function missing() {
  return DEBIAN_PACKAGES.filter((p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format field, not a template
    const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" });
    return r.status !== 0 || !r.stdout.includes("install ok installed");
  });
}

export function ensureSystemDeps() {
  const need = missing();
  if (!need.length) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${need.join(" ")}; run as root (network namespaces need it anyway)`);
  }
  console.log(`installing Debian packages: ${need.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...need], { stdio: "inherit", env });
}

export function ensureNodeModules(root) {
  // Every package the manifest names, so a checkout whose package.json gained one gets it too.
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const needed = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
  const r = spawnSync(process.execPath, ["-e", `for (const p of ${JSON.stringify(needed)}) require.resolve(p + "/package.json")`], { cwd: root });
  if (r.status === 0) return;
  console.log("installing npm packages (npm ci)");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}
