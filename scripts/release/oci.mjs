// OCI image archives made by hand (no daemon, no registry): a tar of an OCI image layout (oci-layout,
// index.json, blobs/sha256/<digest>). Images are first written into one blob store (addImage: a gzip'd layer,
// a config with the entrypoint, the manifest tying them; addIndex: an image index over several platforms'
// manifests), then any of them is archived under a name with only the blobs it reaches (writeArchive), so a
// multi-platform archive and the per-platform ones share one compression of each layer. The release's image
// holds /cni, its launchers and the C runtime, and its entrypoint installs them into the host folder mounted at
// /host/opt/cni/bin: the kube-flannel init-container pattern.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileDigest } from "./checksums.mjs";
import { gzip, tar } from "./tar.mjs";

// The host's / is mounted at /host (read-only will do): install checks the host's C library there.
export const ENTRYPOINT = ["/cni", "install", "--host-root", "/host", "--dest", "/host/opt/cni/bin"];
export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
};

const blobDir = (layout) => join(layout, "blobs", "sha256");
const blobPath = (layout, digest) => join(blobDir(layout), digest.replace(/^sha256:/, ""));

/** An empty OCI layout (the blob store images are added to) in a new folder beside `near`. */
export function newLayout(near) {
  const layout = mkdtempSync(`${near}.layout-`);
  mkdirSync(blobDir(layout), { recursive: true });
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return layout;
}

/** Put a JSON document into the blob store; returns its descriptor. */
function jsonBlob(layout, mediaType, doc) {
  const bytes = Buffer.from(JSON.stringify(doc));
  const hex = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(join(blobDir(layout), hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

/**
 * Add an image of `names` in `stage` for `platform` ({ architecture, variant? }), with `labels` as config labels
 * and manifest annotations; returns its manifest's descriptor, platform included (what an index lists).
 */
export async function addImage(layout, { stage, names, platform, mtime, labels = {}, entrypoint = ENTRYPOINT }) {
  // The layer: its uncompressed digest is the config's diff_id, its gzip'd digest the manifest's. Scratch names
  // are unique to this call, so several platforms' layers compress at once on several cores.
  const scratch = mkdtempSync(join(layout, "layer-"));
  try {
    const plain = join(scratch, "layer.tar");
    tar(stage, names, plain, mtime);
    const diffId = await fileDigest(plain, "sha256");
    const gz = join(scratch, "layer.tar.gz");
    await gzip(plain, gz);
    const layerHex = await fileDigest(gz, "sha256");
    renameSync(gz, join(blobDir(layout), layerHex));
    const layer = { mediaType: MEDIA.layer, digest: `sha256:${layerHex}`, size: statSync(join(blobDir(layout), layerHex)).size };

    const created = new Date(mtime * 1000).toISOString();
    const config = jsonBlob(layout, MEDIA.config, {
      created,
      os: "linux",
      ...platform,
      config: { Entrypoint: entrypoint, Labels: labels },
      rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
      history: [{ created, created_by: "npm run release" }],
    });
    const manifest = jsonBlob(layout, MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer], annotations: labels });
    return { ...manifest, platform: { os: "linux", ...platform } };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Add an image index over `manifests` (addImage's descriptors): one name, a platform each. */
export function addIndex(layout, manifests, annotations = {}) {
  return jsonBlob(layout, MEDIA.index, { schemaVersion: 2, mediaType: MEDIA.index, manifests, annotations });
}

/** The digests of the blobs `desc` reaches: itself, and a manifest's config and layers or an index's manifests. */
function reachable(layout, desc) {
  if (desc.mediaType === MEDIA.layer || desc.mediaType === MEDIA.config) return [desc.digest];
  const doc = JSON.parse(readFileSync(blobPath(layout, desc.digest), "utf8"));
  const children = desc.mediaType === MEDIA.index ? doc.manifests : [doc.config, ...doc.layers];
  return [desc.digest, ...children.flatMap((c) => reachable(layout, c))];
}

/** Write `out`, an OCI archive of `desc` (a manifest or an index in `layout`) called `name` (a full reference). */
export function writeArchive(layout, desc, { out, name, mtime }) {
  // containerd (ctr image import) names the image after the first annotation, podman load and skopeo after the
  // second. A manifest's entry keeps its platform; an index's platforms are on the manifests it lists.
  const top = { ...desc, annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name } };
  const dir = mkdtempSync(join(dirname(out), ".archive-"));
  try {
    mkdirSync(blobDir(dir), { recursive: true });
    const blobs = [...new Set(reachable(layout, desc))].sort();
    for (const d of blobs) copyFileSync(blobPath(layout, d), blobPath(dir, d));
    writeFileSync(join(dir, "oci-layout"), readFileSync(join(layout, "oci-layout")));
    writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [top] }));
    tar(dir, ["oci-layout", "index.json", "blobs", "blobs/sha256", ...blobs.map((d) => `blobs/sha256/${d.slice(7)}`)], out, mtime);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One platform's image archive in one call (the test images): addImage then writeArchive. */
export async function ociImage({ out, name, mtime, ...image }) {
  const layout = newLayout(out);
  try {
    writeArchive(layout, await addImage(layout, { ...image, mtime }), { out, name, mtime });
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}
