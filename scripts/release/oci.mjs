// An OCI image archive made by hand (no daemon, no registry): a tar of an OCI image layout (oci-layout,
// index.json, blobs/sha256/<digest>) holding one gzip'd layer, a config with the entrypoint, and the manifest
// tying them together. The release's image holds /cni, its links and the C runtime, and its entrypoint installs
// them into the host folder mounted at /host/opt/cni/bin: the kube-flannel init-container pattern.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/** Put a JSON document into the blob store; returns its descriptor. */
function jsonBlob(blobs, mediaType, doc) {
  const bytes = Buffer.from(JSON.stringify(doc));
  const hex = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(join(blobs, hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

/**
 * Write `out` (an OCI archive) for an image of `names` in `stage`, called `name` (a full reference), for
 * `platform` ({ architecture, variant? }), with `labels` as config labels and manifest annotations.
 */
export async function ociImage({ stage, names, out, platform, mtime, name, labels = {}, entrypoint = ENTRYPOINT }) {
  const layout = `${out}.layout`;
  const blobs = join(layout, "blobs", "sha256");
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(blobs, { recursive: true });
  try {
    // The layer: its uncompressed digest is the config's diff_id, its gzip'd digest the manifest's.
    const plain = join(layout, "layer.tar");
    tar(stage, names, plain, mtime);
    const diffId = await fileDigest(plain, "sha256");
    const gz = join(layout, "layer.tar.gz");
    await gzip(plain, gz);
    rmSync(plain);
    const layerHex = await fileDigest(gz, "sha256");
    renameSync(gz, join(blobs, layerHex));
    const layer = { mediaType: MEDIA.layer, digest: `sha256:${layerHex}`, size: statSync(join(blobs, layerHex)).size };

    const created = new Date(mtime * 1000).toISOString();
    const config = jsonBlob(blobs, MEDIA.config, {
      created,
      os: "linux",
      ...platform,
      config: { Entrypoint: entrypoint, Labels: labels },
      rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
      history: [{ created, created_by: "npm run release" }],
    });
    const manifest = jsonBlob(blobs, MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer], annotations: labels });
    writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(layout, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests: [
          {
            ...manifest,
            platform: { os: "linux", ...platform },
            // containerd (ctr image import) names the image after the first, podman load after the second.
            annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name },
          },
        ],
      }),
    );
    const blobNames = readdirSync(blobs)
      .sort()
      .map((b) => `blobs/sha256/${b}`);
    tar(layout, ["oci-layout", "index.json", "blobs", "blobs/sha256", ...blobNames], out, mtime);
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}
