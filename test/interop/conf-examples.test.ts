// Every shipped example runs ADD/CHECK/DEL against our binaries, state paths pointed at temp dirs: through libcni
// (Debian's 1.1.2 reads results up to 1.0.0), and 1.1.0 lists through `cni tool`, with GC and STATUS too.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, ROOT } from "../helpers/paths.ts";
import { Sandbox, inNs, libcni, nsPath, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());
const dir = join(ROOT, "conf-examples");

/** The example with every state path moved under `tmp` (and a lease for flannel). */
function localise(file: string, tmp: string): string {
  const list = JSON.parse(readFileSync(join(dir, file), "utf8"));
  for (const p of list.plugins) {
    if (p.type === "flannel") {
      writeFileSync(join(tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
      Object.assign(p, { subnetFile: join(tmp, "subnet.env"), dataDir: join(tmp, "flannel"), ipam: { dataDir: join(tmp, "ipam") } });
    }
    if (p.ipam) p.ipam.dataDir = join(tmp, "ipam");
  }
  const out = join(tmp, file);
  writeFileSync(out, JSON.stringify(list));
  return out;
}

describe("conf-examples through libcni", () => {
  it.each(readdirSync(dir).filter((f) => f.endsWith(".conflist")))("%s: validate, ADD, CHECK, DEL", (file) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const tmp = box.tmpdir();
    const conflist = localise(file, tmp);
    const ifname = file.includes("loopback") ? "lo" : "eth0";
    const env = {
      ...process.env,
      CNI_PATH: BIN,
      CNI_CACHE_DIR: join(tmp, "cache"),
      CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] }),
    };
    const version = JSON.parse(readFileSync(conflist, "utf8")).cniVersion as string;
    const viaTool = version === "1.1.0";
    const drive = (cmd: string) =>
      viaTool
        ? inNs(node, [join(BIN, "cni"), "tool", cmd, JSON.parse(readFileSync(conflist, "utf8")).name, nsPath(pod)], {
            env: { ...env, NETCONFPATH: tmp, CNI_IFNAME: ifname, CNI_CONTAINERID: "ctr-example" },
          })
        : libcni(node, cmd, conflist, pod, { id: "ctr-example", ifname, cacheDir: env.CNI_CACHE_DIR, capArgs: JSON.parse(env.CAP_ARGS) });
    const steps = [...(viaTool ? ["status"] : ["validate"]), "add", ...(version === "0.3.1" ? [] : ["check"]), ...(viaTool ? ["gc"] : []), "del"];
    for (const step of steps) {
      const r = drive(step);
      expect(r.status, `${step}: ${r.stdout} ${r.stderr}`).toBe(0);
      if (step === "add") expect(JSON.parse(r.stdout).ips.length).toBeGreaterThan(0);
    }
    expect(sh(node, "iptables-save -t nat")).not.toMatch(/CNI-DN-|-j CNI-[0-9a-f]/);
  });
});
